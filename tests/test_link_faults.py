"""Fault matrix: for each fault the simulated firmware injects, the host counts exactly what was injected
and the next good frame arrives; stall and unplug recovery through the engine."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator

import pytest

from drivers.plp_driver import PlpProbeDriver
from drivers.sim.firmware import SimFirmware, small_params
from drivers.sim.pty_link import SimSerialDevice
from drivers.sim.usb_backend import SimUsbBackend
from drivers.transports import SerialTransport, UsbTransport
from scanner_app.engine import AcquisitionEngine, EngineState
from scanner_app.probe import LinkFault, ProbeRefused, SettingKey
from scanner_app.ring import FrameRing


@pytest.fixture
def usb() -> Iterator[tuple[PlpProbeDriver, SimFirmware, SimUsbBackend]]:
    fw = SimFirmware(params=small_params(), frame_rate_hz=200.0, events_on_interrupt=True)
    backend = SimUsbBackend(fw)
    driver = PlpProbeDriver(UsbTransport(backend=backend), device=fw)
    yield driver, fw, backend
    driver.close()


def read_past(driver: PlpProbeDriver, seq: int, timeout_s: float = 3.0) -> int:
    """Read frames until one with seq > `seq` arrives; returns its seq."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        f = driver.read_frame(0.1)
        if f is not None and f.seq > seq:
            return f.seq
    raise AssertionError(f"no good frame after seq {seq} within {timeout_s} s")


def stream_with_fault(driver: PlpProbeDriver, fw: SimFirmware, injected_key: str, **fault: int) -> None:
    driver.connect()
    driver.start()
    read_past(driver, -1)
    fw.set_faults(**fault)
    deadline = time.monotonic() + 3.0
    while fw.injected[injected_key] < 5 and time.monotonic() < deadline:
        driver.read_frame(0.1)
    fw.set_faults(**{k: 0 for k in fault})
    read_past(driver, fw.frame_seq)  # every faulted frame is behind us now
    driver.stop()
    assert fw.injected[injected_key] >= 5


@pytest.mark.parametrize(
    ("fault", "injected_key", "host_key"),
    [
        ("noise_every", "noise_bursts", "resyncs"),
        ("corrupt_every", "corrupted", "crc_errors"),
        ("drop_every", "dropped", "frames_dropped"),
        ("malformed_every", "malformed", "malformed"),
    ],
)
def test_stream_fault_counts_match(usb, fault: str, injected_key: str, host_key: str) -> None:
    driver, fw, _ = usb
    stream_with_fault(driver, fw, injected_key, **{fault: 2})
    counts = driver.counters()
    assert counts[host_key] == fw.injected[injected_key]
    others = {"resyncs", "crc_errors", "frames_dropped", "malformed"} - {host_key}
    assert all(counts[k] == 0 for k in others), counts
    if fault == "noise_every":
        assert counts["bytes_discarded"] == fw.injected["noise_bytes"]


def test_noise_on_the_serial_line_too() -> None:
    fw = SimFirmware(params=small_params(16, 16), frame_rate_hz=200.0)
    device = SimSerialDevice(fw, baud=3_000_000)
    driver = PlpProbeDriver(SerialTransport(device.port, 3_000_000), device=device)
    try:
        stream_with_fault(driver, fw, "noise_bursts", noise_every=1)
        assert driver.counters()["resyncs"] == fw.injected["noise_bursts"]
        assert driver.counters()["bytes_discarded"] == fw.injected["noise_bytes"]
    finally:
        driver.close()
        device.close()


def test_lost_reply_is_retried(usb) -> None:
    driver, fw, _ = usb
    driver.connect()
    fw.set_faults(lose_replies=1)
    assert driver.set_setting(SettingKey.GAIN_DB, 5.0) == 5.0
    assert fw.injected["lost_replies"] == 1 and driver.counters()["link_faults"] == 0


def test_two_lost_replies_are_a_link_fault(usb) -> None:
    driver, fw, _ = usb
    driver.connect()
    fw.set_faults(lose_replies=2)
    with pytest.raises(LinkFault):
        driver.ping()
    assert driver.counters()["link_faults"] == 1 == fw.injected["lost_replies"] - 1


def test_late_reply_is_answered_by_the_retry_and_the_late_one_ignored(usb) -> None:
    driver, fw, _ = usb
    driver.connect()
    driver.start()
    fw.set_faults(late_replies=1, late_reply_s=0.3)
    driver.ping()
    deadline = time.monotonic() + 2.0
    while driver.counters().get("stale_replies", 0) < 1 and time.monotonic() < deadline:
        driver.read_frame(0.1)
    driver.stop()
    assert fw.injected["late_replies"] == 1 and driver.counters()["stale_replies"] == 1


def test_another_protocol_version_is_refused_at_hello(usb) -> None:
    driver, fw, _ = usb
    fw.set_faults(protocol_version=2)
    with pytest.raises(ProbeRefused, match=r"PLP/2.*PLP/1"):
        driver.connect()


def states_of(engine: AcquisitionEngine) -> queue.Queue[EngineState]:
    q: queue.Queue[EngineState] = queue.Queue()
    engine.state_changed.connect(lambda e: q.put(e.state))
    return q


def wait_state(q: queue.Queue[EngineState], want: EngineState, timeout_s: float) -> float:
    """Seconds until the engine reached `want`; fails after `timeout_s`."""
    t0 = time.monotonic()
    while (left := t0 + timeout_s - time.monotonic()) > 0:
        try:
            if q.get(timeout=left) == want:
                return time.monotonic() - t0
        except queue.Empty:
            break
    raise AssertionError(f"engine not {want.value} within {timeout_s} s")


def test_stall_is_recovered_by_the_engine(usb) -> None:
    driver, fw, _ = usb
    engine = AcquisitionEngine(driver, FrameRing(8, 64 * 1024))
    q = states_of(engine)
    engine.start()
    try:
        wait_state(q, EngineState.STREAMING, 3.0)
        fw.inject_stall()
        wait_state(q, EngineState.STALLED, 2.0)
        wait_state(q, EngineState.STREAMING, 2.0)
        n = engine.ring.newest_seq
        assert engine.ring.wait_for_frame_after(n, 2.0)
    finally:
        engine.close()


def test_unplug_while_streaming_then_replug_restores_settings(usb) -> None:
    driver, fw, backend = usb
    engine = AcquisitionEngine(driver, FrameRing(8, 64 * 1024))
    q = states_of(engine)
    engine.request_setting(SettingKey.DEPTH_MM, 33.0)
    engine.request_setting(SettingKey.GAIN_DB, 7.0)
    engine.start()
    try:
        wait_state(q, EngineState.STREAMING, 3.0)
        assert engine.ring.wait_for_frame_after(2, 2.0)
        backend.unplug()
        assert wait_state(q, EngineState.DISCONNECTED, 1.0) < 1.0
        assert fw.settings.get(SettingKey.DEPTH_MM) == 33.0  # not reset until the replug
        backend.replug()
        assert fw.settings.get(SettingKey.DEPTH_MM) != 33.0  # a fresh probe has its defaults
        assert wait_state(q, EngineState.STREAMING, 2.0) < 2.0
        n = engine.ring.newest_seq
        assert engine.ring.wait_for_frame_after(n, 2.0)
        frame = engine.ring.peek_latest()
        assert frame is not None and frame.frame.settings.depth_mm == 33.0
        assert frame.frame.settings.gain_db == 7.0
        assert engine.status().reconnects == 1
    finally:
        engine.close()
    assert not fw.running


def test_serial_unplug_stays_disconnected_until_replug() -> None:
    fw = SimFirmware(params=small_params(32, 48), frame_rate_hz=20.0)
    device = SimSerialDevice(fw, baud=3_000_000)
    driver = PlpProbeDriver(SerialTransport(device.port, device.baud), device=device)
    engine = AcquisitionEngine(driver, FrameRing(8, 64 * 1024))
    q = states_of(engine)
    engine.start()
    try:
        wait_state(q, EngineState.STREAMING, 5.0)
        device.unplug()
        wait_state(q, EngineState.DISCONNECTED, 2.0)
        # The engine keeps looking every 500 ms; with the cable out, nothing it does brings it back.
        with pytest.raises(AssertionError, match="not streaming"):
            wait_state(q, EngineState.STREAMING, 2.0)
        assert engine.state in (EngineState.DISCONNECTED, EngineState.CONNECTING)
        device.replug()
        wait_state(q, EngineState.STREAMING, 5.0)
        assert engine.status().reconnects == 1
    finally:
        engine.close()
        device.close()
