"""Issue 11 item 2: a probe that vanishes at any step of connecting leaves the engine DISCONNECTED and
looking again every 500 ms (spec 7), never in ERROR; when it comes back, it streams again.

The device really goes away (the pty is closed, the simulated USB cable pulled), so the errors are
the ones pyserial and pyusb raise (`termios.error`, OSError, SerialException, USBError), each of which
the transport must turn into a disconnect. `HangUpAt` hands every call to the real transport and
pulls the cable just before the chosen step.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator

import pytest

from drivers.plp_driver import PlpProbeDriver
from drivers.sim.firmware import SimFirmware, small_params
from drivers.sim.pty_link import SimSerialDevice
from drivers.sim.usb_backend import SimUsbBackend
from drivers.transports import SerialTransport, Transport, UsbTransport
from scanner_app.engine import AcquisitionEngine, EngineState, StateChanged
from scanner_app.ring import FrameRing

CONNECT_STEPS = ("open", "flush", "hello", "reply", "start")


class HangUpAt:
    """A real transport whose device is unplugged once, just before `step` of the connect sequence:
    open, flush (the input discard / RESET_STREAM), hello (the HELLO write), reply (the first read
    after it), start (the START write)."""

    def __init__(self, transport: Transport, step: str, unplug: Callable[[], None]) -> None:
        assert step in CONNECT_STEPS
        self.inner = transport
        self.step = step
        self._unplug = unplug
        self.hung_up = False
        self._writes = 0
        self.hello_timeout_s = transport.hello_timeout_s
        self.hello_attempts = transport.hello_attempts

    @property
    def name(self) -> str:
        return self.inner.name

    def _at(self, step: str) -> None:
        if step == self.step and not self.hung_up:
            self.hung_up = True
            self._unplug()

    def open(self) -> None:
        self._at("open")
        self.inner.open()

    def close(self) -> None:
        self.inner.close()

    def reset_stream(self) -> None:
        self._at("flush")
        self.inner.reset_stream()

    def discard_input(self) -> None:
        self.inner.discard_input()

    def write(self, data: bytes) -> None:
        self._writes += 1
        self._at("hello" if self._writes == 1 else "start")
        self.inner.write(data)

    def read(self, timeout_s: float) -> bytes | memoryview:
        if self._writes == 1:
            self._at("reply")
        return self.inner.read(timeout_s)

    def read_events(self) -> bytes | memoryview:
        return self.inner.read_events()


def states_of(engine: AcquisitionEngine) -> queue.Queue[StateChanged]:
    q: queue.Queue[StateChanged] = queue.Queue()
    engine.state_changed.connect(q.put)
    return q


def next_settled(q: queue.Queue[StateChanged], timeout_s: float = 10.0) -> StateChanged:
    """The next state change that is not CONNECTING."""
    while True:
        event = q.get(timeout=timeout_s)
        if event.state != EngineState.CONNECTING:
            return event


def hang_up_then_come_back(
    engine: AcquisitionEngine, hung_up: Callable[[], bool], replug: Callable[[], None]
) -> None:
    q = states_of(engine)
    engine.start()
    try:
        first = next_settled(q)
        assert hung_up()
        assert first.state == EngineState.DISCONNECTED, f"{first.state}: {first.reason}"
        # Looking again every 500 ms while the device is away: still DISCONNECTED, never ERROR.
        again = next_settled(q)
        assert again.state == EngineState.DISCONNECTED, f"{again.state}: {again.reason}"
        replug()
        while (event := next_settled(q)).state != EngineState.STREAMING:
            assert event.state == EngineState.DISCONNECTED, f"{event.state}: {event.reason}"
        assert engine.ring.wait_for_frame_after(-1, timeout_s=5.0)
    finally:
        engine.close()


@pytest.fixture
def serial_device() -> Iterator[SimSerialDevice]:
    device = SimSerialDevice(SimFirmware(params=small_params(16, 16), frame_rate_hz=50.0), baud=3_000_000)
    yield device
    device.close()


@pytest.mark.parametrize("step", CONNECT_STEPS)
def test_serial_hang_up_at_each_connect_step_is_a_disconnect(
    serial_device: SimSerialDevice, step: str
) -> None:
    transport = HangUpAt(SerialTransport(serial_device.port, serial_device.baud), step, serial_device.unplug)
    driver = PlpProbeDriver(transport, device=serial_device)
    engine = AcquisitionEngine(driver, FrameRing(16, 4096))
    hang_up_then_come_back(engine, lambda: transport.hung_up, serial_device.replug)


@pytest.fixture
def usb_backend() -> SimUsbBackend:
    return SimUsbBackend(
        SimFirmware(params=small_params(16, 16), frame_rate_hz=50.0, events_on_interrupt=True)
    )


@pytest.mark.parametrize("step", CONNECT_STEPS)
def test_usb_unplug_at_each_connect_step_is_a_disconnect(usb_backend: SimUsbBackend, step: str) -> None:
    transport = HangUpAt(UsbTransport(backend=usb_backend), step, usb_backend.unplug)
    driver = PlpProbeDriver(transport, device=usb_backend.firmware)
    engine = AcquisitionEngine(driver, FrameRing(16, 4096))
    hang_up_then_come_back(engine, lambda: transport.hung_up, usb_backend.replug)


@pytest.mark.parametrize(
    "call",
    ["open_device", "get_configuration", "claim_interface", "ctrl_transfer", "bulk_write", "bulk_read"],
)
def test_usb_unplug_inside_each_backend_call_is_a_disconnect(usb_backend: SimUsbBackend, call: str) -> None:
    """The cable pulled in the middle of a libusb call pyusb makes while opening and greeting the probe."""
    driver = PlpProbeDriver(UsbTransport(backend=usb_backend), device=usb_backend.firmware)
    engine = AcquisitionEngine(driver, FrameRing(16, 4096))
    usb_backend.unplug_at(call)
    hang_up_then_come_back(engine, lambda: usb_backend.unplugs == 1, usb_backend.replug)
