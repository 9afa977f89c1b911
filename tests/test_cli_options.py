"""Command-line options: each works with every other or is refused in one line; start-up store errors.

The table below is the specification, written independently of main.py's own: for each kind of run,
which options it uses. An option given to a run that would not use it must be refused (one line,
exit status 2), never silently ignored.
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
from pathlib import Path

import pytest

import main
from scanner_app.studies import StudyStore
from tests.test_studies_faults import read_only_store

OPTIONS: dict[str, list[str]] = {
    "--probe": ["--probe", "sim-serial"],
    "--usb-backend": ["--usb-backend", "usb.backend.libusb1:get_backend"],
    "--list-probes": ["--list-probes"],
    "--headless": ["--headless"],
    "--seconds": ["--seconds", "2"],
    "--stats-json": ["--stats-json", "STATS"],
    "--protocol": ["--protocol", "knee"],
    "--capture-every": ["--capture-every", "1"],
    "--study-dir": ["--study-dir", "STUDIES"],
    "--check-protocols": ["--check-protocols"],
    "--frame-rate": ["--frame-rate", "20"],
    "--cine-seconds": ["--cine-seconds", "5"],
    "--doppler": ["--doppler", "pw"],
    "-v": ["-v"],
}
ACQUIRING = {"window", "headless", "exam"}
USED_BY: dict[str, set[str]] = {
    "--probe": ACQUIRING,
    "--usb-backend": set(),  # only with --probe usb or --list-probes: checked separately
    "--list-probes": {"list"},
    "--headless": {"headless", "exam"},
    "--seconds": {"headless", "exam"},
    "--stats-json": {"headless", "exam"},
    "--protocol": {"exam"},
    "--capture-every": {"exam"},
    "--study-dir": {"window", "exam"},
    "--check-protocols": {"check"},
    "--frame-rate": ACQUIRING,
    "--cine-seconds": ACQUIRING,
    "--doppler": {"headless"},
    "-v": {*ACQUIRING, "list", "check"},
}


def _run_of(names: set[str]) -> str:
    if "--check-protocols" in names:
        return "check"
    if "--list-probes" in names:
        return "list"
    if "--headless" in names:
        return "exam" if "--protocol" in names else "headless"
    return "window"


def _argv(names: tuple[str, ...], tmp_path: Path) -> list[str]:
    values = {"STATS": str(tmp_path / "stats.json"), "STUDIES": str(tmp_path / "studies")}
    return [values.get(part, part) for name in names for part in OPTIONS[name]]


def _check(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    parser = main.build_parser()
    try:
        main.check_options(parser, parser.parse_args(argv))
    except SystemExit as exc:
        return int(exc.code or 0), capsys.readouterr().err
    return 0, capsys.readouterr().err


def _main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main.main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("pair", list(itertools.combinations(OPTIONS, 2)), ids="+".join)
def test_every_option_pair_works_together_or_is_refused_in_one_line(
    pair: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = set(pair)
    run = _run_of(names)
    usb_ok = "--list-probes" in names  # no pair here gives --probe usb
    expected_ok = all(run in USED_BY[n] or (n == "--usb-backend" and usb_ok) for n in names)
    code, err = _check(_argv(pair, tmp_path), capsys)
    if expected_ok:
        assert code == 0, err
    else:
        assert code == 2, f"{pair} accepted, but {run} would ignore one of them"
        assert err.strip().count("\n") == 0 and any(n in err for n in pair), err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--capture-every", "1"], "--capture-every does nothing with the window"),
        (["--headless", "--capture-every", "1"], "--capture-every does nothing with --headless without"),
        (["--seconds", "5"], "--seconds does nothing with the window"),
        (["--headless", "--study-dir", "x"], "--study-dir does nothing with --headless without --protocol"),
        (["--headless", "--seconds", "0"], "--seconds must be a positive finite number"),
        (["--headless", "--seconds", "-3"], "--seconds must be a positive finite number"),
        (["--headless", "--seconds", "nan"], "--seconds must be a positive finite number"),
        (["--headless", "--protocol", "knee", "--capture-every", "-1"], "--capture-every must be a posit"),
        (["--frame-rate", "0"], "--frame-rate must be a positive finite number"),
        (["--headless", "--stats-json", "/no/such/folder/s.json"], "no folder /no/such/folder"),
        (["--headless", "--stats-json", "/tmp"], "is a folder"),
        (["--list-probes", "--headless"], "--headless does nothing with --list-probes"),
        (["--check-protocols", "--probe", "sim"], "--probe does nothing with --check-protocols"),
    ],
)
def test_options_that_make_no_sense_are_refused(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _main(argv, capsys)
    assert code == 2 and says in err and err.strip().count("\n") == 0, err


def test_stats_json_with_a_protocol_has_the_acquisition_and_the_exam(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stats = tmp_path / "stats.json"
    code, out, err = _main(
        ["--headless", "--protocol", "knee", "--seconds", "2", "--capture-every", "0.4",
         "--study-dir", str(tmp_path / "studies"), "--stats-json", str(stats)],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    s = json.loads(stats.read_text())
    assert s["frames_received"] > 0 and s["descriptor"]["protocol"] == 1
    exam = s["exam"]
    with StudyStore(tmp_path / "studies") as store:
        (study,) = store.list_studies()
        assert exam["study_uid"] == study.study_uid and exam["captures"] == len(study.captures) > 0
        assert exam["complete"] == bool(study.protocol_record and study.protocol_record["complete"])
    assert exam["protocol_id"] == "knee" and exam["frames_seen"] > 0
    assert study.study_uid in out


def test_headless_exam_on_a_read_only_folder_is_one_line_and_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with read_only_store(tmp_path) as root:
        before = (root / "index.sqlite").read_bytes()
        code, _, err = _main(
            ["--headless", "--protocol", "knee", "--seconds", "1", "--study-dir", str(root)], capsys
        )
        assert code == 2
        assert err.strip().count("\n") == 0 and "read-only" in err and "Traceback" not in err
        assert "rebuilding" not in err
        assert (root / "index.sqlite").read_bytes() == before


def test_headless_exam_on_a_folder_in_use_names_the_holder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with StudyStore(tmp_path / "studies"):
        code, _, err = _main(
            ["--headless", "--protocol", "knee", "--seconds", "1", "--study-dir", str(tmp_path / "studies")],
            capsys,
        )
    assert code == 2 and f"process {os.getpid()}" in err and err.strip().count("\n") == 0


def test_headless_exam_on_a_locked_index_is_one_line_and_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A database that is locked by another program: one line and status 2, not a traceback."""
    root = tmp_path / "studies"
    StudyStore(root).close()
    holder = sqlite3.connect(root / "index.sqlite", isolation_level=None, timeout=0.1)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        code, _, err = _main(
            ["--headless", "--protocol", "knee", "--seconds", "1", "--study-dir", str(root)], capsys
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert code == 2 and "database is locked" in err and err.strip().count("\n") == 0, err
