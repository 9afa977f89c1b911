"""Stall recovery against a probe that pauses mid-stream and resumes by itself (issue 11 item 5).

The real PLP driver over the simulated USB bus and over the pseudo-terminal with the serial probe's
own frame size (128 x 256 at 921600 baud: a frame takes about 0.36 s on the line, longer than the
engine's read timeout). The firmware stops acquiring for 3 s of its clock and then resumes, whatever
the host does meanwhile. Every frame the firmware sent must be received or counted as dropped, and
the host must not restart the stream once frames flow again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from drivers.plp_driver import PlpProbeDriver
from drivers.sim.firmware import SimFirmware, small_params
from drivers.sim.pty_link import SimSerialDevice
from drivers.sim.usb_backend import SimUsbBackend
from drivers.transports import SerialTransport, Transport, UsbTransport
from scanner_app.engine import AcquisitionEngine, FrameReady
from scanner_app.ring import FrameRing

PAUSE_S = 3.0
SLACK_S = 0.05  # a restart decided while the link was quiet may cross the resume by this much


class RestartSpy(PlpProbeDriver):
    """The PLP driver, noting when each STOP goes out (the start of every restart)."""

    def __init__(self, transport: Transport, **kwargs: object) -> None:
        super().__init__(transport, **kwargs)  # type: ignore[arg-type]
        self.stops: list[float] = []

    def _do_stop(self) -> None:
        self.stops.append(time.monotonic())
        super()._do_stop()


@dataclass
class Rig:
    fw: SimFirmware
    driver: RestartSpy
    ring_px: int


@pytest.fixture(params=["usb", "serial"])
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    if request.param == "usb":
        fw = SimFirmware(params=small_params(), frame_rate_hz=30.0)
        driver = RestartSpy(UsbTransport(backend=SimUsbBackend(fw)), device=fw)
        yield Rig(fw, driver, 64 * 48)
        driver.close()
        return
    fw = SimFirmware(params=small_params(128, 256), frame_rate_hz=2.0)
    device = SimSerialDevice(fw, baud=921600)
    driver = RestartSpy(SerialTransport(device.port, device.baud), device=device)
    yield Rig(fw, driver, 128 * 256)
    driver.close()
    device.close()


@pytest.mark.slow
def test_a_pause_is_recovered_with_every_frame_counted_and_no_restart_once_frames_flow(rig: Rig) -> None:
    fw, driver = rig.fw, rig.driver
    engine = AcquisitionEngine(driver, FrameRing(64, rig.ring_px))
    received_at: list[float] = []
    arrived = threading.Event()

    def on_frame(_: FrameReady) -> None:
        received_at.append(time.monotonic())  # the firmware's clock is time.monotonic too
        arrived.set()

    engine.frame_ready.connect(on_frame)
    engine.start()
    try:
        assert arrived.wait(5.0), "no frame before the pause"
        fw.inject_pause(PAUSE_S)  # just after a frame: the host sees a full 3 s without one
        resumed_at = fw.paused_until
        deadline = time.monotonic() + PAUSE_S + 3.0
        # Two frames of the resumed stream: the first may still be crossing the line at the resume.
        while sum(t > resumed_at for t in received_at) < 2 and time.monotonic() < deadline:
            arrived.wait(0.2)
            arrived.clear()
        assert sum(t > resumed_at for t in received_at) >= 2, "the stream did not come back"
    finally:
        closing_at = time.monotonic()
        engine.close()
    status = engine.status()
    restarts = [t for t in driver.stops if t < closing_at]  # the STOP after them is the close
    late = [round(t - resumed_at, 3) for t in restarts if t > resumed_at + SLACK_S]
    assert not late, f"restarted {late} s after the probe resumed sending"
    assert len(restarts) >= 2, "a 3 s pause should have been seen as a stall"
    sent = fw.injected["frames_sent"]
    assert sent == status.frames_received + status.frames_dropped, (sent, status)
    assert status.counters["frames_dropped"] == 0  # nothing was lost on the link itself
    assert status.counters["stall_restarts"] == len(restarts)
