"""Freeze and cine review: from the keyboard, the toolbar and the probe's button; stepping, scrubbing,
playing, looping, unfreezing to live, and a probe that goes away while frozen."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PyQt6.QtCore import QPoint, QPointF, Qt
from PyQt6.QtGui import QWheelEvent
from PyQt6.QtWidgets import QApplication, QToolButton
from pytestqt.qtbot import QtBot

from drivers.sim.direct import DirectSimProbe
from scanner_app.engine import EngineState
from scanner_app.probe import ProbeEventKind
from tests.ui_support import make_engine, open_window, small_sim_probe, wait_streaming, window_fixture
from ui.main_window import MainWindow


@pytest.fixture
def window(qtbot: QtBot, tmp_path: Path) -> Iterator[MainWindow]:
    yield from window_fixture(qtbot, tmp_path)


def _frames_made(w: MainWindow) -> int:
    return w.engine.driver.counters().get("frames", 0)


def _wait_cine(qtbot: QtBot, w: MainWindow, n: int = 10) -> None:
    qtbot.waitUntil(lambda: w.engine.ring.newest_seq >= n, timeout=5000)


def test_freeze_key_holds_the_ring_while_the_probe_keeps_streaming(qtbot: QtBot, window: MainWindow) -> None:
    wait_streaming(qtbot, window)
    _wait_cine(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_F)
    assert window.cine.frozen and window.engine.ring_held and window.view.frozen
    newest = window.engine.ring.newest_seq
    made = _frames_made(window)
    qtbot.waitUntil(lambda: _frames_made(window) >= made + 5, timeout=3000)  # the link stays alive
    assert window.engine.ring.newest_seq == newest  # ...but the cine does not move
    assert window.view.current is not None and window.view.current.ring_seq == window.cine.last_seq
    assert window.view.frozen_label.isVisible()
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert not window.cine.frozen and not window.engine.ring_held
    qtbot.waitUntil(
        lambda: window.view.current is not None and window.view.current.ring_seq > newest, timeout=3000
    )
    assert not window.view.frozen_label.isVisible()


def test_freeze_from_toolbar_and_from_the_probe_button(qtbot: QtBot, window: MainWindow) -> None:
    wait_streaming(qtbot, window)
    toolbar_button = next(
        b for b in window.findChildren(QToolButton) if b.defaultAction() is window.actions_by_name["freeze"]
    )
    qtbot.mouseClick(toolbar_button, Qt.MouseButton.LeftButton)
    assert window.cine.frozen
    driver = window.engine.driver
    assert isinstance(driver, DirectSimProbe)
    driver.press_button(ProbeEventKind.BUTTON_FREEZE)
    qtbot.waitUntil(lambda: not window.cine.frozen, timeout=3000)
    driver.press_button(ProbeEventKind.BUTTON_FREEZE)
    qtbot.waitUntil(lambda: window.cine.frozen, timeout=3000)


def test_arrow_keys_wheel_and_slider_step_the_cine(qtbot: QtBot, window: MainWindow) -> None:
    wait_streaming(qtbot, window)
    _wait_cine(qtbot, window, 20)
    qtbot.keyClick(window, Qt.Key.Key_F)
    c = window.cine
    last = c.last_seq
    qtbot.keyClick(window, Qt.Key.Key_Left)
    qtbot.keyClick(window, Qt.Key.Key_Left)
    assert c.position == last - 2 and window.view.current.ring_seq == last - 2
    qtbot.keyClick(window, Qt.Key.Key_Right)
    assert window.view.current.ring_seq == last - 1
    wheel = QWheelEvent(
        QPointF(50, 50), QPointF(50, 50), QPoint(0, 0), QPoint(0, 120), Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False,
    )  # fmt: skip
    QApplication.sendEvent(window.view.viewport(), wheel)
    assert window.view.current.ring_seq == last - 2
    window.cine_bar.slider.setValue(3)
    assert c.index == 3 and window.view.current.ring_seq == c.first_seq + 3
    qtbot.keyClick(window, Qt.Key.Key_Home)
    assert window.view.current.ring_seq == c.first_seq
    qtbot.keyClick(window, Qt.Key.Key_Left)  # clamped at the oldest frame
    assert window.view.current.ring_seq == c.first_seq
    qtbot.keyClick(window, Qt.Key.Key_End)
    assert window.view.current.ring_seq == last
    assert window.cine_bar.slider.value() == c.length - 1
    assert f"{c.length}/{c.length}" in window.cine_bar.position_label.text()
    # The newest frame is "newest", not "−0.00 s"; while frozen the status line says frozen, not 0 frames/s.
    assert window.cine_bar.position_label.text().endswith("newest")
    assert window.rate_label.text() == "frozen"
    qtbot.keyClick(window, Qt.Key.Key_Left)
    one_back = window.cine_bar.position_label.text()
    assert "−0.0" in one_back and "newest" not in one_back


def test_left_arrow_while_live_freezes_and_steps_back(qtbot: QtBot, window: MainWindow) -> None:
    wait_streaming(qtbot, window)
    _wait_cine(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_Left)
    assert window.cine.frozen and window.cine.position == window.cine.last_seq - 1


def test_play_loops_and_stops_at_the_end_without_loop(qtbot: QtBot, window: MainWindow) -> None:
    wait_streaming(qtbot, window)
    _wait_cine(qtbot, window, 12)
    qtbot.keyClick(window, Qt.Key.Key_F)
    c = window.cine
    c.seek(c.last_seq - 2)
    assert c.loop
    qtbot.keyClick(window, Qt.Key.Key_P)
    assert c.playing and window.cine_bar.timer.isActive()
    qtbot.waitUntil(lambda: c.position < c.last_seq - 2, timeout=3000)  # wrapped round
    shown = []
    window.view.painted_frame = lambda f: shown.append(f.seq)
    qtbot.keyClick(window, Qt.Key.Key_L)
    assert not c.loop and not window.cine_bar.loop.isChecked()
    qtbot.waitUntil(lambda: not c.playing, timeout=5000)
    assert c.position == c.last_seq
    assert not window.cine_bar.timer.isActive()
    window.cine_bar.play.click()  # playing again without loop starts from the first frame
    assert c.playing and c.position <= c.first_seq + 1
    qtbot.keyClick(window, Qt.Key.Key_F)  # unfreeze stops playback and goes live
    assert not c.playing and not window.cine_bar.timer.isActive()


def test_disconnect_while_frozen_keeps_the_cine_usable(qtbot: QtBot, tmp_path: Path) -> None:
    driver = small_sim_probe()
    w = open_window(qtbot, tmp_path, make_engine(driver))
    wait_streaming(qtbot, w)
    _wait_cine(qtbot, w, 10)
    qtbot.keyClick(w, Qt.Key.Key_F)
    driver.unplug()
    qtbot.waitUntil(lambda: w.engine.state == EngineState.DISCONNECTED, timeout=3000)
    qtbot.waitUntil(w.view.banner.isVisible, timeout=3000)
    assert "DISCONNECTED" in w.view.banner.text()
    assert w.view.image.opacity() < 0.5  # the stale image is dimmed
    assert w.probe_panel.state_label.text() == "● disconnected"
    # the cine still works while the probe is gone
    before = w.view.current.ring_seq
    qtbot.keyClick(w, Qt.Key.Key_Left)
    qtbot.keyClick(w, Qt.Key.Key_Left)
    assert w.view.current.ring_seq == before - 2
    w.cine_bar.slider.setValue(0)
    assert w.view.current.ring_seq == w.cine.first_seq
    assert w.cine.current() is not None
    # plugged back in: it reconnects by itself; unfreezing goes live again
    driver.replug()
    qtbot.waitUntil(lambda: w.engine.state == EngineState.STREAMING, timeout=5000)
    qtbot.waitUntil(lambda: not w.view.banner.isVisible(), timeout=3000)
    assert w.view.image.opacity() == 1.0
    last = w.cine.last_seq
    qtbot.keyClick(w, Qt.Key.Key_F)
    qtbot.waitUntil(lambda: w.view.current.ring_seq > last, timeout=3000)
    qtbot.waitUntil(lambda: w.probe_panel.counters["reconnects"].text() == "1", timeout=3000)
    w.close()
