"""A source that sets depth, gain and the rest itself (a replayed case): the window shows them read-only,
a preset it cannot apply is shown as not applied, and the image goes on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pytestqt.qtbot import QtBot

from drivers.replay import ReplayProbeDriver
from scanner_app.sequence_file import SequenceWriter
from tests.factories import make_frame
from tests.ui_support import make_engine, open_window, wait_streaming


def test_replayed_case_shows_its_settings_read_only(qtbot: QtBot, tmp_path: Path) -> None:
    path = tmp_path / "case.igs.nrrd"
    writer = SequenceWriter(path)
    for i in range(4):
        writer.write(make_frame(i, pixels=np.full((128, 96), 20 * i, dtype=np.uint8)))
    writer.close()
    window = open_window(qtbot, tmp_path, make_engine(ReplayProbeDriver(path)))
    try:
        wait_streaming(qtbot, window)
        c = window.controls
        qtbot.waitUntil(lambda: not c.depth_control.isEnabled(), timeout=3000)
        assert not c.gain_control.isEnabled() and not c.tgc.isEnabled()
        assert "read-only" in c.depth_control.toolTip()
        window.toggle_freeze()
        window.toggle_freeze()  # unfreezing turns acquisition controls back on, but not these
        assert not c.depth_control.isEnabled()
        window.apply_preset({"name": "test", "depth_mm": 30.0})
        qtbot.waitUntil(lambda: "DEPTH_MM not applied" in window.message_label.text(), timeout=3000)
        assert "recording" in window.message_label.text()
        draws = window.view.draws
        qtbot.waitUntil(lambda: window.view.draws > draws, timeout=3000)  # the image goes on
    finally:
        window.close()
