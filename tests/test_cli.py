import json
import subprocess
import sys
from pathlib import Path

import pytest

import main

ROOT = Path(__file__).resolve().parents[1]


def test_headless_run_writes_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "stats.json"
    rc = main.main(
        ["--headless", "--probe", "sim", "--seconds", "1", "--frame-rate", "40", "--stats-json", str(out)]
    )
    assert rc == 0
    stats = json.loads(out.read_text())
    assert stats["frames_received"] >= 20
    assert stats["frames_dropped"] == 0 and stats["errors"] == 0
    assert stats["latency_ms"]["p50"] is not None and stats["latency_ms"]["p99"] >= stats["latency_ms"]["p50"]
    assert stats["descriptor"]["protocol"] == 1
    printed = capsys.readouterr().out
    assert "frames received" in printed and "latency" in printed


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--probe", "nonsense", "--headless"], "unknown probe 'nonsense'"),
        (["--frobnicate"], "unrecognized arguments: --frobnicate"),
        (["--headless", "--seconds", "-1"], "must be positive"),
        (["--headless", "--seconds", "inf"], "must be positive"),
        (["--headless", "--cine-seconds", "nan"], "must be positive"),
        (["--headless", "--cine-seconds", "1e9"], "shorter --cine-seconds"),
        (["--headless", "--probe", "usb", "--usb-backend", "os:getcwd"], "not a pyusb backend"),
    ],
)
def test_bad_command_line_is_one_line_and_exit_2(args: list[str], needle: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *args], capture_output=True, text=True, timeout=30, cwd=ROOT
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0]
