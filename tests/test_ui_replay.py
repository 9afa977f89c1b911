"""The Replay tab while the source is a recorded case: pause holds the image, the slider seeks, play
goes on; the tab goes when the control does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pytestqt.qtbot import QtBot

from drivers.replay import ReplayProbeDriver
from scanner_app.sequence_file import SequenceWriter
from tests.factories import make_frame
from tests.ui_support import make_engine, open_window, wait_streaming
from ui.replay_panel import ReplayPanel


def shown_value(panel_window) -> int:  # type: ignore[no-untyped-def]
    current = panel_window.view.current
    return -1 if current is None else int(current.frame.pixels[0, 0])


def test_pause_seek_and_play(qtbot: QtBot, tmp_path: Path) -> None:
    writer = SequenceWriter(tmp_path / "case.igs.nrrd")
    for i in range(6):
        frame = make_frame(i, pixels=np.full((128, 96), 10 * (i + 1), dtype=np.uint8))
        writer.write(frame)
    driver = ReplayProbeDriver(writer.close())
    window = open_window(qtbot, tmp_path, make_engine(driver))
    panel = ReplayPanel(window)
    try:
        wait_streaming(qtbot, window)
        panel.set_control(driver)
        assert panel.play_button.text() == "Pause"
        panel.play_button.click()
        assert driver.paused and panel.play_button.text() == "Play"
        panel.seek(3)
        qtbot.waitUntil(lambda: shown_value(window) == 40, timeout=3000)
        draws = window.view.draws
        qtbot.waitUntil(lambda: window.view.draws > draws, timeout=3000)  # still live, held on frame 4
        assert shown_value(window) == 40
        panel.refresh()
        assert panel.slider.value() == 3 and "frame 4 of 6" in panel.position_label.text()
        panel.play_button.click()
        assert not driver.paused
        qtbot.waitUntil(lambda: shown_value(window) not in (-1, 40), timeout=3000)
        panel.set_control(None)
        assert panel.control is None
    finally:
        window.close()
