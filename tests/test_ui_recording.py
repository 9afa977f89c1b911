"""Recording from the window: Ctrl+R starts and stops a session recording with its progress in the
status bar; Ctrl+Shift+R saves the cine; both read back as sequence files."""

from __future__ import annotations

from pathlib import Path

from pytestqt.qtbot import QtBot

from scanner_app.sequence_file import read_sequence
from tests.ui_support import ROWS, open_window, wait_streaming
from ui.recording_control import RecordingControl


def test_record_and_save_cine_from_the_window(qtbot: QtBot, tmp_path: Path) -> None:
    window = open_window(qtbot, tmp_path)
    control = RecordingControl(window.engine.ring, tmp_path / "recordings")
    control.attach(window)
    try:
        wait_streaming(qtbot, window)
        control.toggle()
        assert control.recording
        qtbot.waitUntil(
            lambda: "REC" in control.label.text() and " 0 frames" not in control.label.text(), timeout=5000
        )
        control.toggle()
        assert not control.recording and control.label.text() == ""
        assert "Recorded" in window.message_label.text()
        control.save_cine()
        assert "Saved" in window.message_label.text()
    finally:
        window.close()
    files = sorted((tmp_path / "recordings").glob("*.igs.nrrd"))
    assert [f.name.split("-")[0] for f in files] == ["cine", "session"]
    for f in files:
        info, frames = read_sequence(f)
        assert info.frame_count >= 1 and info.rows == ROWS
        assert [fr.timestamp_s for fr in frames] == sorted(fr.timestamp_s for fr in frames)
    assert not list((tmp_path / "recordings").glob("*.partial"))
