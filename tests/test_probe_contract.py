"""One contract for every probe driver, run against each: the PLP driver over the simulated probe's USB
backend and over a pty, the direct simulated probe, the scripted test driver, and real hardware when
--probe-usb or --probe-port names it (python-microscope's one-suite-for-every-device habit)."""

from __future__ import annotations

import dataclasses
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from drivers.base import BaseProbeDriver
from drivers.plp_driver import PlpProbeDriver
from drivers.sim.direct import DirectSimProbe
from drivers.sim.firmware import SimFirmware, small_params
from drivers.sim.pty_link import SimSerialDevice
from drivers.sim.settings import SimSettings
from drivers.sim.usb_backend import SimUsbBackend
from drivers.transports import SerialTransport, UsbTransport, parse_usb_id
from scanner_app.doppler import DopplerMode
from scanner_app.engine import AcquisitionEngine, EngineState
from scanner_app.frame import DataFormat, Geometry
from scanner_app.probe import ProbeDescriptor, ProbeEvent, ProbeEventKind, SettingKey
from scanner_app.ring import FrameRing
from tests.fake_driver import ScriptedDriver

TEST_BAUD = 3_000_000  # fast line for tests; the baud-pacing check runs slower on purpose


@dataclass
class Rig:
    driver: BaseProbeDriver
    press_button: Callable[[ProbeEventKind], None] | None  # None on real hardware: needs a finger


@pytest.fixture
def sim_usb() -> Iterator[Rig]:
    fw = SimFirmware(params=small_params(), frame_rate_hz=100.0, events_on_interrupt=True)
    backend = SimUsbBackend(fw)
    driver = PlpProbeDriver(UsbTransport(backend=backend), device=fw)
    yield Rig(driver, fw.press_button)
    driver.close()


@pytest.fixture
def sim_pty() -> Iterator[Rig]:
    fw = SimFirmware(params=small_params(), frame_rate_hz=100.0)
    device = SimSerialDevice(fw, baud=TEST_BAUD)
    driver = PlpProbeDriver(SerialTransport(device.port, TEST_BAUD), device=device)
    yield Rig(driver, fw.press_button)
    driver.close()
    device.close()


@pytest.fixture
def direct_sim() -> Iterator[Rig]:
    driver = DirectSimProbe(settings=SimSettings(small_params(), frame_rate_hz=100.0))
    yield Rig(driver, driver.press_button)
    driver.close()


@pytest.fixture
def scripted() -> Iterator[Rig]:
    driver = ScriptedDriver()
    yield Rig(driver, lambda kind: driver.events.append(ProbeEvent(kind)))
    driver.close()


@pytest.fixture
def hardware(request: pytest.FixtureRequest) -> Iterator[Rig]:
    usb_id = request.config.getoption("--probe-usb")
    port = request.config.getoption("--probe-port")
    if usb_id:
        transport: UsbTransport | SerialTransport = UsbTransport((parse_usb_id(usb_id),))
    else:
        name, _, baud = str(port).partition("@")
        transport = SerialTransport(name, int(baud or 921600))
    driver = PlpProbeDriver(transport)
    yield Rig(driver, None)
    driver.close()


@pytest.fixture(
    params=[
        "sim_usb",
        "sim_pty",
        "direct_sim",
        "scripted",
        pytest.param("hardware", marks=pytest.mark.hardware),
    ]
)
def rig(request: pytest.FixtureRequest) -> Rig:
    rig: Rig = request.getfixturevalue(request.param)
    return rig


def frames(driver: BaseProbeDriver, n: int, timeout_s: float = 2.0) -> list:
    out = []
    for _ in range(n * 10):
        f = driver.read_frame(timeout_s / 10)
        if f is not None:
            out.append(f)
            if len(out) == n:
                break
    assert len(out) == n, f"got {len(out)} of {n} frames"
    return out


def test_connect_gives_a_plp1_descriptor(rig: Rig) -> None:
    d = rig.driver.connect()
    assert isinstance(d, ProbeDescriptor) and d.protocol == 1
    assert d.geometry in ("linear", "convex") and d.formats and d.depth_range_mm[0] < d.depth_range_mm[1]


def test_set_clamps_and_readback_matches_get(rig: Rig) -> None:
    d = rig.driver.connect()
    applied = rig.driver.set_setting(SettingKey.DEPTH_MM, d.depth_range_mm[1] + 1000)
    assert applied == pytest.approx(d.depth_range_mm[1])
    assert rig.driver.get_setting(SettingKey.DEPTH_MM) == pytest.approx(applied)
    assert rig.driver.applied_settings[SettingKey.DEPTH_MM] == pytest.approx(applied)
    if isinstance(rig.driver, PlpProbeDriver):
        assert rig.driver.setpoints[SettingKey.DEPTH_MM] == d.depth_range_mm[1] + 1000


def test_stream_frames_in_order_with_their_settings(rig: Rig) -> None:
    rig.driver.connect()
    depth = rig.driver.set_setting(SettingKey.DEPTH_MM, 30.0)
    rig.driver.start()
    got = frames(rig.driver, 5)
    rig.driver.stop()
    seqs = [f.seq for f in got]
    assert seqs == sorted(seqs) and seqs[0] == 0
    f = got[-1]
    assert f.settings.depth_mm == pytest.approx(depth)
    assert f.rows * f.spacing_mm[0] == pytest.approx(depth)
    assert f.host_time_ns > 0 and f.device_time_us >= got[0].device_time_us
    counters = rig.driver.counters()
    assert all(isinstance(n, int) and n >= 0 for n in counters.values())
    if isinstance(rig.driver, PlpProbeDriver):  # a link: its counters include CRC errors
        assert counters["crc_errors"] == 0


def test_setting_change_while_streaming_shows_in_frames(rig: Rig) -> None:
    rig.driver.connect()
    rig.driver.start()
    frames(rig.driver, 1)
    gain = rig.driver.set_setting(SettingKey.GAIN_DB, 12.0)
    later = frames(rig.driver, 10)
    assert later[-1].settings.gain_db == pytest.approx(gain)
    rig.driver.stop()


@pytest.mark.parametrize("fmt", [DataFormat.ENVELOPE_U16, DataFormat.RF_I16])
def test_beam_formats(rig: Rig, fmt: DataFormat) -> None:
    d = rig.driver.connect()
    if int(fmt) not in d.formats:
        pytest.skip(f"probe does not offer {fmt.name}")
    rig.driver.set_setting(SettingKey.FORMAT, float(fmt))
    rig.driver.start()
    f = frames(rig.driver, 3)[-1]
    rig.driver.stop()
    assert f.data_format == fmt and f.pixels.dtype.itemsize == 2
    if f.beam.geometry == Geometry.CONVEX:
        assert f.beam.field_of_view_deg > 0 and f.beam.radius_mm > 0
    else:
        assert f.beam.width_mm > 0
    assert (f.beam.sampling_mhz > 0) == (fmt == DataFormat.RF_I16)


def test_doppler_capability_is_what_the_probe_does(rig: Rig) -> None:
    """Spec 10: a probe that lists Doppler modes takes each of them, and its IQ arrives with read_iq."""
    d = rig.driver.connect()
    if isinstance(rig.driver, PlpProbeDriver) and rig.driver.device is not None:
        assert d.doppler is not None  # the simulated firmware advertises Doppler
    if d.doppler is None:
        rig.driver.start()
        frames(rig.driver, 2)
        assert rig.driver.read_iq() == []  # no Doppler: never any IQ
        return
    cap = d.doppler
    assert cap.modes and set(cap.modes) <= {DopplerMode.FLOW, DopplerMode.PW}
    assert (
        0 < cap.prf_range_hz[0] <= cap.prf_range_hz[1] and 1 <= cap.ensemble_range[0] <= cap.ensemble_range[1]
    )
    assert cap.steer_angles_deg and cap.frequencies_mhz and min(cap.frequencies_mhz) > 0
    prf = rig.driver.set_setting(SettingKey.PRF_HZ, cap.prf_range_hz[1] * 10)
    assert prf == pytest.approx(cap.prf_range_hz[1])
    freq = rig.driver.set_setting(SettingKey.DOPPLER_FREQUENCY_MHZ, 0.0)
    assert freq in cap.frequencies_mhz
    for mode in cap.modes:
        assert rig.driver.set_setting(SettingKey.DOPPLER_MODE, float(mode)) == float(mode)
    rig.driver.start()
    got = []
    for _ in range(50):
        rig.driver.read_frames(0.1)
        got += rig.driver.read_iq()
        if got:
            break
    rig.driver.stop()
    assert got and got[0].mode == cap.modes[-1] and got[0].prf_hz == pytest.approx(prf)
    assert got[0].frequency_mhz == pytest.approx(freq)


def test_close_then_connect_again(rig: Rig) -> None:
    rig.driver.connect()
    if isinstance(rig.driver, PlpProbeDriver):
        rig.driver.ping()
    rig.driver.close()
    assert rig.driver.descriptor is None and not rig.driver.streaming
    assert rig.driver.connect().protocol == 1


def test_button_events(rig: Rig) -> None:
    if rig.press_button is None:
        pytest.skip("needs a finger on the hardware button")
    rig.driver.connect()
    rig.driver.start()
    rig.press_button(ProbeEventKind.BUTTON_FREEZE)
    events = []
    for _ in range(50):
        frames(rig.driver, 1)
        events += [e for e in rig.driver.poll_events() if e.kind is not None]
        if events:
            break
    rig.driver.stop()
    assert events[0].kind == ProbeEventKind.BUTTON_FREEZE


def test_through_the_engine(rig: Rig) -> None:
    states: queue.Queue[EngineState] = queue.Queue()
    engine = AcquisitionEngine(rig.driver, FrameRing(8, 64 * 1024))
    engine.state_changed.connect(lambda e: states.put(e.state))
    engine.start()
    try:
        assert _wait_state(states, EngineState.STREAMING, 3.0)
        assert engine.ring.wait_for_frame_after(2, 3.0)
    finally:
        engine.close()
    assert not engine.running
    assert threading.active_count() >= 1


def _wait_state(states: queue.Queue[EngineState], want: EngineState, timeout_s: float) -> bool:
    import time

    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        try:
            if states.get(timeout=left) == want:
                return True
        except queue.Empty:
            return False
    return False


@pytest.mark.parametrize("fmt", [DataFormat.ENVELOPE_U16, DataFormat.RF_I16])
def test_direct_sim_calibrates_convex_beam_data_as_the_firmware_does(fmt: DataFormat) -> None:
    """The direct probe and the PLP driver over the simulated firmware give the same geometry in mm."""
    params = dataclasses.replace(small_params(data_format=fmt), geometry=Geometry.CONVEX)
    fw = SimFirmware(params=params, frame_rate_hz=100.0)
    plp = PlpProbeDriver(UsbTransport(backend=SimUsbBackend(fw)), device=fw)
    direct = DirectSimProbe(settings=SimSettings(params, frame_rate_hz=100.0))
    got = []
    try:
        for driver in (plp, direct):
            assert driver.connect().geometry == "convex"
            driver.start()
            got.append(frames(driver, 1)[0])
            driver.stop()
    finally:
        plp.close()
        direct.close()
    over_the_link, direct_frame = got
    assert direct_frame.beam.geometry == over_the_link.beam.geometry == Geometry.CONVEX
    assert direct_frame.spacing_mm == pytest.approx(over_the_link.spacing_mm, rel=1e-5)
    assert dataclasses.astuple(direct_frame.beam) == pytest.approx(
        dataclasses.astuple(over_the_link.beam), rel=1e-5
    )
    assert direct_frame.beam.field_of_view_deg > 0 and direct_frame.beam.width_mm == 0.0
