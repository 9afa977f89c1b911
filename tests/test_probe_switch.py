"""A probe switch never blocks the GUI (issue 11 item 7): the old probe may be stuck for seconds; the
switch completes in the background while the window says what it is doing."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

from PyQt6.QtCore import QTimer
from pytestqt.qtbot import QtBot

from scanner_app.engine import AcquisitionEngine, EngineState
from scanner_app.frame import Frame
from scanner_app.ring import FrameRing
from tests.fake_driver import ScriptedDriver
from tests.ui_support import window_models
from ui.main_window import MainWindow

TICK_MS = 20


class StuckDriver(ScriptedDriver):
    """Stuck in a read that ignores interrupt() until the test lets it go (a wedged USB transfer)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def _do_read_frame(self, timeout_s: float) -> Frame | None:
        self.reading.set()
        self.release.wait(10)
        return None


def test_switching_away_from_a_stuck_probe_keeps_the_window_turning(qtbot: QtBot, tmp_path: Path) -> None:
    old, new = StuckDriver(), ScriptedDriver()
    engine = AcquisitionEngine(old, FrameRing(16, 64 * 48))
    w = MainWindow(
        engine,
        window_models(engine, tmp_path),
        switch_probe=lambda spec: engine.switch_driver(new),
        probe_specs=["sim", "scripted"],
    )
    qtbot.addWidget(w)
    engine.start()
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(TICK_MS)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    try:
        assert old.reading.wait(5)
        panel = w.probe_panel
        panel.picker.setCurrentText("scripted")
        timer.start()
        clicked_at = time.monotonic()
        panel.connect_button.click()
        assert time.monotonic() - clicked_at < 0.2, "the click waited on the old probe"
        assert panel.switch_status.text() == "Switching to scripted…"
        assert not panel.picker.isEnabled() and not panel.connect_button.isEnabled()
        # stop() gives up on the stuck driver after 1 s; the switch goes on waiting for it to let go,
        # and all that while the event loop keeps turning.
        qtbot.waitUntil(lambda: bool(ticks) and ticks[-1] - clicked_at > 1.5, timeout=5000)
        assert engine.driver is old and not panel.connect_button.isEnabled()
        gaps = [b - a for a, b in itertools.pairwise(ticks)]
        assert max(gaps) < 0.25, f"the event loop stalled for {max(gaps):.2f} s"
        old.release.set()
        qtbot.waitUntil(panel.connect_button.isEnabled, timeout=5000)
        assert engine.driver is new
        assert panel.switch_status.text() == "Using scripted" and panel.switch_error.text() == ""
        assert w.prefs.get("probe_spec") == "scripted"
        qtbot.waitUntil(lambda: engine.state == EngineState.STREAMING and new.seq > 0, timeout=5000)
    finally:
        timer.stop()
        old.release.set()
        w.close()


def test_a_switch_that_fails_says_why_and_keeps_the_old_probe(qtbot: QtBot, tmp_path: Path) -> None:
    old, new = StuckDriver(), ScriptedDriver()
    engine = AcquisitionEngine(old, FrameRing(16, 64 * 48))
    w = MainWindow(
        engine,
        window_models(engine, tmp_path),
        switch_probe=lambda spec: engine.switch_driver(new, timeout_s=0.3),
        probe_specs=["sim", "scripted"],
    )
    qtbot.addWidget(w)
    engine.start()
    try:
        assert old.reading.wait(5)
        w.probe_panel.picker.setCurrentText("scripted")
        w.probe_panel.connect_button.click()
        qtbot.waitUntil(w.probe_panel.connect_button.isEnabled, timeout=5000)
        assert "did not let go" in w.probe_panel.switch_error.text()
        assert w.probe_panel.switch_status.text() == ""
        assert engine.driver is old and new.connects == 0
    finally:
        old.release.set()
        w.close()
