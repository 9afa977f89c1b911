import threading
import time
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from drivers.sim.direct import DirectSimProbe
from scanner_app.engine import AcquisitionEngine, EngineState, StateChanged
from scanner_app.frame import Frame
from scanner_app.preferences import Preferences
from scanner_app.probe import SettingKey
from scanner_app.ring import FrameRing
from tests.factories import make_frame
from tests.fake_driver import ScriptedDriver
from tests.ui_support import window_models
from ui.main_window import MainWindow


def _window(qtbot: QtBot, driver, tmp_path: Path) -> MainWindow:
    engine = AcquisitionEngine(driver, FrameRing(32, 512 * 512))
    window = MainWindow(engine, window_models(engine, tmp_path))
    qtbot.addWidget(window)
    window.show()
    return window


def test_frames_appear_and_status_bar_follows_engine(qtbot: QtBot, tmp_path: Path) -> None:
    window = _window(qtbot, DirectSimProbe(), tmp_path)
    window.engine.start()
    try:
        qtbot.waitUntil(lambda: window.view.current is not None, timeout=5000)
        qtbot.waitUntil(lambda: window.state_label.text() == "streaming", timeout=5000)
        qtbot.waitUntil(lambda: window.rate_label.text() != "— frames/s", timeout=5000)
        frame = window.view.current.frame
        assert window.view.image.image.shape == frame.pixels.shape
        # The image sits in mm: its rectangle is the frame's physical size.
        rect = window.view.image.mapRectToParent(window.view.image.boundingRect())
        assert abs(rect.height() - frame.height_mm) < 1e-6
        assert abs(rect.width() - frame.width_mm) < 1e-6
    finally:
        window.close()
    assert not window.engine.running


def test_closing_the_window_stops_the_engine_and_joins_its_thread(qtbot: QtBot, tmp_path: Path) -> None:
    window = _window(qtbot, DirectSimProbe(), tmp_path)
    window.engine.start()
    qtbot.waitUntil(lambda: window.view.draws > 0, timeout=5000)
    window.close()
    assert not window.engine.running
    assert not any(t.name == "acquisition" for t in threading.enumerate())


class _SlowFrameDriver(ScriptedDriver):
    """Each frame takes 1.5 s whatever interrupt() says: a frame on a heavily loaded machine."""

    def _do_read_frame(self, timeout_s: float) -> Frame | None:
        self.reading.set()
        threading.Event().wait(1.5)  # the driver's work, not the test waiting
        return make_frame(0)


def test_closing_waits_for_a_slow_last_frame_and_the_window_hears_the_engine_no_more(
    qtbot: QtBot, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    driver = _SlowFrameDriver()
    window = _window(qtbot, driver, tmp_path)
    window.engine.start()
    assert driver.reading.wait(5)
    window.close()
    # The thread finished its frame and stopped before the window's objects could go.
    assert not window.engine.running and "did not stop" not in caplog.text
    assert not any(t.name == "acquisition" for t in threading.enumerate())
    # A late event (a thread that outlived even that wait) reaches no Qt object of the window.
    with qtbot.assertNotEmitted(window.bridge.state_changed, wait=50):
        window.engine.state_changed.emit(StateChanged(EngineState.DISCONNECTED, "late"))


def test_fast_probe_is_drawn_no_more_often_than_the_display_refreshes(qtbot: QtBot, tmp_path: Path) -> None:
    driver = DirectSimProbe(paced=False)  # as fast as it renders: hundreds of frames a second
    window = _window(qtbot, driver, tmp_path)
    view = window.view
    window.engine.start()
    try:
        qtbot.waitUntil(lambda: window.engine.ring.newest_seq > 100, timeout=10000)
        start_draws, start_seq, start_s = view.draws, window.engine.ring.newest_seq, time.perf_counter()
        qtbot.waitUntil(lambda: window.engine.ring.newest_seq > start_seq + 150, timeout=10000)
        draws, elapsed_s = view.draws - start_draws, time.perf_counter() - start_s
    finally:
        window.close()
    frames = window.engine.ring.newest_seq - start_seq
    assert draws >= 1
    assert draws < frames  # coalesced, not one draw per frame
    # At most one draw per display period (the periods the interval touches).
    assert draws <= elapsed_s / view.display_period_s + 2


def test_state_label_shows_error_reason(qtbot: QtBot, tmp_path: Path) -> None:
    driver = ScriptedDriver()
    driver.raise_on_read = RuntimeError("broken firmware")
    window = _window(qtbot, driver, tmp_path)
    window.engine.start()
    try:
        qtbot.waitUntil(lambda: "broken firmware" in window.state_label.text(), timeout=5000)
        assert window.state_label.text().startswith("error")
    finally:
        window.close()


def test_setting_request_reaches_probe_from_window_engine(qtbot: QtBot, tmp_path: Path) -> None:
    driver = DirectSimProbe()
    window = _window(qtbot, driver, tmp_path)
    # The window applies its own settings too (preferences, defaults): wait for this request's readback.
    with qtbot.waitSignal(
        window.bridge.setting_applied,
        timeout=5000,
        check_params_cb=lambda e: e.key == SettingKey.DEPTH_MM and e.requested == 25.0,
    ) as blocker:
        window.engine.request_setting(SettingKey.DEPTH_MM, 25.0)
        window.engine.start()
    try:
        assert blocker.args[0].applied == 25.0
    finally:
        window.close()


def test_window_preferences_are_applied_before_a_later_request(qtbot: QtBot, tmp_path: Path) -> None:
    """The race behind the once-flaky test above, made certain: the window pushes its preference
    settings when it is built, the engine applies queued requests in order on connect, so a request
    made after the window exists is the second DEPTH readback, and the one that stays."""
    prefs = Preferences(tmp_path / "config" / "preferences.json")
    prefs.set("settings", {"DEPTH_MM": 40.0})
    prefs.save()
    driver = DirectSimProbe()
    window = _window(qtbot, driver, tmp_path)
    depths: list[tuple[float, float]] = []
    window.bridge.setting_applied.connect(
        lambda e: depths.append((e.requested, e.applied)) if e.key == SettingKey.DEPTH_MM else None
    )
    window.engine.request_setting(SettingKey.DEPTH_MM, 25.0)
    window.engine.start()
    try:
        qtbot.waitUntil(lambda: len(depths) >= 2, timeout=5000)
        assert depths[:2] == [(40.0, 40.0), (25.0, 25.0)]
        assert driver.sim_settings.get(SettingKey.DEPTH_MM) == 25.0
    finally:
        window.close()
