#!/usr/bin/env bash
# Sets up everything the app and its tests need, idempotently:
#   1. Debian/Ubuntu system packages (Qt's runtime libraries; for tests also Xvfb, Orthanc, dicom3tools),
#      installed only when missing, with apt-get (as root, or through sudo);
#   2. a virtual environment in .venv with the project and its extras installed from pyproject.toml.
# Usage: scripts/setup.sh [app|test]
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-app}"

# Qt 6 (xcb and offscreen platforms) needs these at run time; DejaVu Sans is the screen's font and the
# one burned into key images.
app_packages=(libegl1 libgl1 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1
  libxcb-shape0 libxcb-randr0 libxcb-render-util0 libxcb-image0 libxcb-xinerama0 libdbus-1-3
  libfontconfig1 fonts-dejavu-core fonts-dejavu-extra python3-venv)
# Tests also start a real PACS (Orthanc) and a PostgreSQL server, validate DICOM (dciodvfy), read
# report PDFs (pdftotext) and take screenshots under Xvfb.
test_packages=(xvfb orthanc dicom3tools postgresql poppler-utils)

packages=("${app_packages[@]}")
[ "$what" = "test" ] && packages+=("${test_packages[@]}")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing system packages: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -q
  "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
target="."
[ "$what" = "test" ] && target=".[test,dev]"
stamp=".venv/.installed-$what"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  # The editable install's build notes (it is one) go to a log, not the user's terminal.
  .venv/bin/python -m pip install -q -e "$target" > .venv/install.log 2>&1 || { cat .venv/install.log; exit 1; }
  touch "$stamp"
fi
