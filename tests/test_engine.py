import queue
import threading

import numpy as np
import pytest

from drivers.sim.direct import DirectSimProbe
from scanner_app.engine import (
    AcquisitionEngine,
    EngineState,
    FrameReady,
    ProbeConnected,
    ProbeEventReceived,
    SettingApplied,
    SettingFailed,
    StateChanged,
    StatusReport,
)
from scanner_app.probe import ProbeError, ProbeEvent, ProbeEventKind, ProbeRefused, SettingKey
from scanner_app.ring import FrameRing
from tests.fake_driver import ScriptedDriver


class FakeClock:
    def __init__(self) -> None:
        self.now_ns = 1_000_000_000

    def __call__(self) -> int:
        return self.now_ns

    def advance(self, seconds: float) -> None:
        self.now_ns += int(seconds * 1e9)


def make_engine(driver, clock=None) -> tuple[AcquisitionEngine, list[object]]:
    """An engine and the list of everything it emits, in order."""
    events: list[object] = []
    kwargs = {"clock_ns": clock} if clock is not None else {}
    engine = AcquisitionEngine(driver, FrameRing(16, 64 * 48), **kwargs)
    for signal in (
        engine.state_changed,
        engine.probe_connected,
        engine.frame_ready,
        engine.setting_applied,
        engine.setting_failed,
        engine.probe_event,
        engine.status_reported,
    ):
        signal.connect(events.append)
    return engine, events


def test_stepping_without_a_thread_connects_then_fills_the_ring() -> None:
    engine, events = make_engine(ScriptedDriver())
    engine.step()
    assert engine.state == EngineState.STREAMING
    assert any(isinstance(e, ProbeConnected) for e in events)
    for _ in range(5):
        engine.step()
    assert engine.ring.newest_seq == 4
    assert [e.ring_seq for e in events if isinstance(e, FrameReady)] == [0, 1, 2, 3, 4]
    assert engine.status().frames_received == 5


def test_setting_goes_through_to_the_probe_and_reports_clamped_readback() -> None:
    driver = ScriptedDriver()
    engine, events = make_engine(driver)
    engine.step()
    engine.request_setting(SettingKey.DEPTH_MM, 200.0)
    engine.step()
    applied = [e for e in events if isinstance(e, SettingApplied)]
    assert applied == [SettingApplied(SettingKey.DEPTH_MM, 200.0, 80.0)]
    assert engine.settings_in_force() == {SettingKey.DEPTH_MM: 80.0}


def test_setting_requested_before_connect_is_applied_on_connect() -> None:
    driver = ScriptedDriver()
    engine, _ = make_engine(driver)
    engine.request_setting(SettingKey.GAIN_DB, 12.0)
    engine.step()
    assert driver.set_calls == [(SettingKey.GAIN_DB, 12.0)]


def test_sequence_gaps_are_counted_as_drops() -> None:
    driver = ScriptedDriver()
    engine, _ = make_engine(driver)
    engine.step()
    engine.step()
    driver.seq += 3
    engine.step()
    assert engine.status().frames_dropped == 3


def test_probe_buttons_become_engine_events() -> None:
    driver = ScriptedDriver()
    engine, events = make_engine(driver)
    engine.step()
    driver.events.append(ProbeEvent(ProbeEventKind.BUTTON_FREEZE))
    engine.step()
    assert ProbeEventReceived(ProbeEvent(ProbeEventKind.BUTTON_FREEZE)) in events


def test_driver_that_raises_puts_engine_in_error_with_reason() -> None:
    driver = ScriptedDriver()
    driver.raise_on_read = RuntimeError("firmware exploded")
    engine, _ = make_engine(driver)
    waiter = threading.Event()
    engine.state_changed.connect(lambda e: waiter.set() if e.state == EngineState.ERROR else None)
    engine.start()
    try:
        assert waiter.wait(5)
        assert "firmware exploded" in engine.reason
    finally:
        engine.stop()
    assert not engine.running


def test_refused_probe_is_an_error_not_retried() -> None:
    driver = ScriptedDriver()
    engine, _ = make_engine(driver)
    engine.step()
    driver.raise_on_read = ProbeRefused("probe speaks PLP/2, host speaks PLP/1")
    engine.step()
    assert engine.state == EngineState.ERROR and "PLP/2" in engine.reason
    engine.step()
    assert driver.connects == 1


def test_unplug_then_replug_reconnects_with_settings_in_force() -> None:
    clock = FakeClock()
    driver = ScriptedDriver()
    engine, _events = make_engine(driver, clock)
    engine.step()
    engine.request_setting(SettingKey.DEPTH_MM, 30.0)
    engine.step()
    kept = engine.ring.peek_latest()  # the newest frame before the unplug
    assert kept is not None
    driver.unplug()
    engine.step()
    assert engine.state == EngineState.DISCONNECTED
    engine.step()  # too early to look again
    assert driver.connects == 1
    clock.advance(0.6)
    engine.step()  # still unplugged
    assert engine.state == EngineState.DISCONNECTED
    driver.plugged = True
    driver.set_calls.clear()
    clock.advance(0.6)
    engine.step()
    assert engine.state == EngineState.STREAMING
    assert driver.set_calls == [(SettingKey.DEPTH_MM, 30.0)]
    assert engine.status().reconnects == 1
    # What was captured before the unplug is kept: that very frame, pixels and all.
    again = engine.ring.get(kept.ring_seq)
    assert again is not None and again.frame.seq == kept.frame.seq
    np.testing.assert_array_equal(again.frame.pixels, kept.frame.pixels)


def test_a_setting_refused_after_a_reconnect_is_a_failed_setting_not_an_engine_error() -> None:
    """A probe that comes back and refuses a setting in force (a bad readback) keeps imaging."""
    clock = FakeClock()
    driver = ScriptedDriver()
    engine, _ = make_engine(driver, clock)
    failed: list[SettingFailed] = []
    engine.setting_failed.connect(failed.append)
    engine.step()
    engine.request_setting(SettingKey.GAIN_DB, 12.0)
    engine.step()
    driver.unplug()
    engine.step()
    driver.plugged = True
    refuse = driver._do_set

    def bad_readback(key: SettingKey, value: float) -> float:
        if key == SettingKey.GAIN_DB:
            raise ProbeError("answered SET GAIN_DB=12 with a bad value (nan); not applied")
        return refuse(key, value)

    driver._do_set = bad_readback
    clock.advance(0.6)
    engine.step()
    assert engine.state == EngineState.STREAMING
    assert [(f.key, f.requested) for f in failed] == [(SettingKey.GAIN_DB, 12.0)]
    assert "bad value" in failed[0].reason
    assert SettingKey.GAIN_DB not in engine.settings_in_force()
    engine.step()
    assert engine.status().frames_received >= 2


def test_no_frames_for_a_second_is_a_stall_and_recovers() -> None:
    clock = FakeClock()
    driver = ScriptedDriver()
    engine, events = make_engine(driver, clock)
    engine.step()
    driver.no_frames = True
    engine.step()
    assert engine.state == EngineState.STREAMING
    clock.advance(1.1)
    engine.step()
    assert StateChanged(EngineState.STALLED, "no frame for over 1 s") in events
    assert driver.connects == 2  # stop, reset + HELLO, start
    driver.no_frames = False
    engine.step()
    assert engine.state == EngineState.STREAMING


def test_stop_returns_quickly_while_the_driver_is_blocked_in_a_read() -> None:
    driver = ScriptedDriver()
    driver.block_reads = True
    engine, _ = make_engine(driver)
    engine.start()
    assert driver.reading.wait(5)
    stopped = threading.Event()
    threading.Thread(target=lambda: (engine.close(), stopped.set()), name="closer").start()
    assert stopped.wait(1.0), "close() took longer than 1 s"
    assert not engine.running
    assert engine.state == EngineState.DISCONNECTED


def test_threaded_run_with_direct_sim_reports_status() -> None:
    driver = DirectSimProbe(paced=False)
    engine = AcquisitionEngine(driver, FrameRing(8, 512 * 512))
    reports: queue.Queue[StatusReport] = queue.Queue()
    engine.status_reported.connect(lambda e: reports.put(e) if e.frames_received > 5 else None)
    engine.start()
    try:
        report = reports.get(timeout=10)
    finally:
        engine.close()
    assert report.state == EngineState.STREAMING
    assert report.frame_rate_hz > 0
    # Latency beyond the fastest recent frame, in ms: finite, ordered, and far below a second for a
    # probe in the same process (a raw clock difference or a unit slip would be enormous).
    assert 0 <= report.latency_p50_ms <= report.latency_p99_ms < 1000
    assert report.frames_dropped == 0


def test_a_failing_listener_does_not_stop_acquisition() -> None:
    engine, _events = make_engine(ScriptedDriver())

    def bad(_: object) -> None:
        raise ValueError("listener bug")

    engine.state_changed.connect(bad)
    engine.frame_ready.connect(bad)
    engine.step()
    engine.step()
    assert engine.state == EngineState.STREAMING


@pytest.mark.parametrize("rate_hz", [50.0])
def test_paced_direct_sim_keeps_its_rate(rate_hz: float) -> None:
    driver = DirectSimProbe()
    engine = AcquisitionEngine(driver, FrameRing(8, 512 * 512))
    engine.request_setting(SettingKey.FRAME_RATE_HZ, rate_hz)
    got: queue.Queue[StatusReport] = queue.Queue()
    engine.status_reported.connect(lambda e: got.put(e) if e.frames_received >= 30 else None)
    engine.start()
    try:
        report = got.get(timeout=10)
    finally:
        engine.close()
    assert report.frame_rate_hz == pytest.approx(rate_hz, rel=0.2)


def test_status_reports_continue_while_waiting_to_reconnect() -> None:
    clock = FakeClock()
    driver = ScriptedDriver()
    engine, events = make_engine(driver, clock)
    engine.step()
    driver.unplug()
    engine.step()
    events.clear()
    for _ in range(3):
        clock.advance(0.5)
        engine.step()  # the probe is still away: look again, and report
    reports = [e for e in events if isinstance(e, StatusReport)]
    assert len(reports) == 3 and all(r.state == EngineState.DISCONNECTED for r in reports)
    assert reports[-1].frame_rate_hz == 0.0


def test_a_frame_processing_cannot_handle_is_dropped_and_counted_not_fatal() -> None:
    calls = []

    def processor(frame):
        calls.append(frame.seq)
        if frame.seq == 1:
            raise ZeroDivisionError("an image with no rows")
        return frame

    engine = AcquisitionEngine(ScriptedDriver(), FrameRing(8, 64 * 48), processor=processor)
    for _ in range(4):
        engine.step()
    assert engine.state == EngineState.STREAMING
    assert calls == [0, 1, 2]
    assert [engine.ring.get(i).frame.seq for i in range(2)] == [0, 2]
    assert engine.status().errors == 1


class _StuckDriver(ScriptedDriver):
    """A driver stuck in a command that ignores interrupt() until the test lets it go."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.closed = 0

    def _do_read_frame(self, timeout_s: float):
        self.reading.set()
        self.release.wait(10)
        return None

    def _do_close(self) -> None:
        self.closed += 1


def test_replacing_a_stuck_driver_waits_for_it_and_never_hands_its_thread_the_new_one() -> None:
    old, new = _StuckDriver(), ScriptedDriver()
    engine = AcquisitionEngine(old, FrameRing(8, 64 * 48))
    engine.start()
    assert old.reading.wait(5)
    swapped = threading.Event()
    replacer = threading.Thread(target=lambda: (engine.replace_driver(new), swapped.set()), name="replacer")
    replacer.start()
    assert not swapped.wait(1.5)  # stop() gave up after 1 s, but the swap waits for the old thread
    assert engine.driver is old
    old.release.set()
    assert swapped.wait(5)
    replacer.join(5)
    assert engine.driver is new and old.closed >= 1 and new.connects == 0
    got = queue.Queue()
    engine.frame_ready.connect(got.put)
    engine.start()
    try:
        assert isinstance(got.get(timeout=5), FrameReady)
    finally:
        engine.close()
