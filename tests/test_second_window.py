"""A second window on a study folder another scanner-app has open is refused in one line with status 2,
as the headless run is, rather than running on plain files."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from scanner_app.studies import StudyStore
from tests.cli_support import run_main


def test_a_study_folder_in_use_stops_the_window_with_status_2(
    qtbot: QtBot, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with StudyStore(tmp_path / "studies"):  # the first scanner-app's hold on the folder
        run = run_main(["--study-dir", str(tmp_path / "studies")], capsys)
    assert run.code == 2
    lines = run.err.strip().splitlines()
    assert (
        len(lines) == 1
        and "in use by another scanner-app" in lines[0]
        and lines[0].startswith("scanner-app: error:")
    )
    assert "free space" not in run.err and "plain files" not in run.err
