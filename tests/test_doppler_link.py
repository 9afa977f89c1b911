"""Doppler end to end on the wire (spec 10): the simulated probe's IQ through the real driver over the
simulated USB backend and the pty, settings 16-27 with readback through the engine, the IQ ring, the
IQ physics' test vessel, and the headless run's counters."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import main
from drivers.plp_driver import PlpProbeDriver
from drivers.sim.doppler_iq import TEST_FLOW_M_S, VESSEL_ANGLE_DEG, AnatomyIqModel, IqRequest
from drivers.sim.firmware import PW_PULSES_PER_PACKET, SimFirmware, small_params
from drivers.sim.pty_link import SimSerialDevice
from drivers.sim.usb_backend import SimUsbBackend
from drivers.transports import SerialTransport, UsbTransport
from scanner_app.doppler import (
    DopplerCapability,
    DopplerMode,
    IqPacket,
    IqRing,
    nyquist_velocity_m_s,
    velocity_m_s_from_shift,
)
from scanner_app.doppler_pipeline import DopplerPipeline
from scanner_app.engine import AcquisitionEngine, EngineState, IqReady, SettingApplied
from scanner_app.frame import Frame, Geometry
from scanner_app.probe import DOPPLER_SETTING_FIELDS, ProbeDescriptor, SettingKey
from scanner_app.ring import FrameRing
from tests.fake_driver import ScriptedDriver
from tests.test_engine import FakeClock
from tests.test_probe_contract import TEST_BAUD


@pytest.fixture
def usb() -> Iterator[tuple[PlpProbeDriver, SimFirmware]]:
    fw = SimFirmware(params=small_params(), frame_rate_hz=30.0, events_on_interrupt=True)
    driver = PlpProbeDriver(UsbTransport(backend=SimUsbBackend(fw)), device=fw)
    yield driver, fw
    driver.close()


@pytest.fixture
def pty() -> Iterator[tuple[PlpProbeDriver, SimFirmware]]:
    fw = SimFirmware(params=small_params(rows=32, cols=32), frame_rate_hz=5.0)
    device = SimSerialDevice(fw, baud=TEST_BAUD)
    driver = PlpProbeDriver(SerialTransport(device.port, TEST_BAUD), device=device)
    yield driver, fw
    driver.close()
    device.close()


def collect_iq(driver: PlpProbeDriver, n: int, timeout_s: float = 5.0) -> list[IqPacket]:
    """Read until `n` IQ packets came (each read waits on the link, never a sleep)."""
    got: list[IqPacket] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < n and time.monotonic() < deadline:
        driver.read_frames(0.1)
        got += driver.read_iq()
    assert len(got) >= n, f"got {len(got)} of {n} IQ packets"
    return got


@pytest.mark.parametrize("link", ["usb", "pty"])
def test_pw_iq_through_the_real_driver(link: str, request: pytest.FixtureRequest) -> None:
    driver, fw = request.getfixturevalue(link)
    d = driver.connect()
    assert d.doppler is not None and DopplerMode.PW in d.doppler.modes
    depth = driver.set_setting(SettingKey.GATE_DEPTH_MM, 25.0)
    size = driver.set_setting(SettingKey.GATE_SIZE_MM, 3.0)
    prf = driver.set_setting(SettingKey.PRF_HZ, 4000.0)
    assert driver.set_setting(SettingKey.DOPPLER_MODE, 2) == 2
    driver.start()
    got = collect_iq(driver, 8)
    seqs = [p.seq for p in got]
    # Their own counter from 0 at START; a packet the line could not carry (serial) is a gap.
    assert seqs == sorted(set(seqs)) and seqs[0] >= 0
    for p in got:
        assert p.mode == DopplerMode.PW and p.lines == 1 and p.pulses == PW_PULSES_PER_PACKET
        assert p.prf_hz == prf and p.frame_seq == 0
        assert p.top_mm == pytest.approx(depth - size / 2) and p.bottom_mm == pytest.approx(depth + size / 2)
        assert p.iq.shape == (1, PW_PULSES_PER_PACKET, p.samples) and np.abs(p.iq).max() > 0
    # Consecutive packets are consecutive pulses at the PRF on the probe's clock.
    dt_us = got[-1].device_time_us - got[0].device_time_us
    assert dt_us == pytest.approx((seqs[-1] - seqs[0]) * PW_PULSES_PER_PACKET / prf * 1e6, rel=0.5)
    counts = driver.counters()
    assert counts["iq_packets"] == len(got) and counts["iq_malformed"] == 0
    assert counts["iq_dropped"] == seqs[-1] + 1 - len(got) <= fw.injected["iq_tx_dropped"]
    if link == "usb":
        assert counts["iq_dropped"] == 0  # a bulk pipe with room: nothing lost


def test_flow_iq_follows_each_frame_with_its_box(usb: tuple[PlpProbeDriver, SimFirmware]) -> None:
    driver, _ = usb
    driver.connect()
    ensemble = driver.set_setting(SettingKey.ENSEMBLE, 8)
    top = driver.set_setting(SettingKey.BOX_TOP_MM, 12.0)
    bottom = driver.set_setting(SettingKey.BOX_BOTTOM_MM, 20.0)
    left = driver.set_setting(SettingKey.BOX_LEFT_MM, 10.0)
    right = driver.set_setting(SettingKey.BOX_RIGHT_MM, 20.0)
    steer = driver.set_setting(SettingKey.STEER_DEG, -10.0)
    driver.set_setting(SettingKey.DOPPLER_MODE, 1)
    driver.start()
    frame_seqs: set[int] = set()
    got: list[IqPacket] = []
    deadline = time.monotonic() + 5.0
    while len(got) < 4 and time.monotonic() < deadline:
        frame_seqs |= {f.seq for f in driver.read_frames(0.1)}
        got += driver.read_iq()
    assert len(got) >= 4
    for p in got:
        assert p.mode == DopplerMode.FLOW and p.pulses == ensemble and p.steer_deg == steer
        assert (p.top_mm, p.bottom_mm, p.left, p.right) == (top, bottom, left, right)
        assert p.lines >= 2 and p.samples >= 2
        assert p.frame_seq in frame_seqs  # the B-mode FRAME this ensemble was interleaved with


def test_the_flow_box_stays_inside_the_image_when_the_depth_shrinks(
    usb: tuple[PlpProbeDriver, SimFirmware],
) -> None:
    """The newcomer's popliteal fossa: a 10-30 mm box, then the image made 25 mm deep. The probe clamps
    the box to its image (readback says so) and sends no flow sample deeper than the image."""
    driver, fw = usb
    driver.connect()
    assert driver.set_setting(SettingKey.BOX_TOP_MM, 10.0) == 10.0
    assert driver.set_setting(SettingKey.BOX_BOTTOM_MM, 30.0) == 30.0
    depth = driver.set_setting(SettingKey.DEPTH_MM, 25.0)
    assert depth == 25.0
    assert driver.get_setting(SettingKey.BOX_TOP_MM) == 10.0
    assert driver.get_setting(SettingKey.BOX_BOTTOM_MM) == depth  # the box shrank with the image
    # A box asked for past the image is clamped to it, as any setting to the probe's range.
    assert driver.set_setting(SettingKey.BOX_BOTTOM_MM, 35.0) == depth
    assert driver.set_setting(SettingKey.BOX_TOP_MM, 40.0) < depth
    driver.set_setting(SettingKey.BOX_TOP_MM, 10.0)
    driver.set_setting(SettingKey.DOPPLER_MODE, 1)
    driver.start()
    got = collect_iq(driver, 3)
    assert all(p.top_mm == 10.0 and p.bottom_mm <= depth for p in got)
    # Even a box the settings still hold deeper than the image (read before the depth changed) is
    # cut to the image in the IQ it is acquired for.
    deep = dataclasses.replace(fw.settings.doppler, box_top_mm=20.0, box_bottom_mm=60.0)
    request = fw._flow_request(deep, fw.settings.params)
    assert request.top_mm == 20.0 and request.bottom_mm <= depth


def test_injected_iq_faults_are_counted_exactly(usb: tuple[PlpProbeDriver, SimFirmware]) -> None:
    driver, fw = usb
    driver.connect()
    driver.set_setting(SettingKey.DOPPLER_MODE, 2)
    fw.set_faults(iq_malformed_every=3, iq_drop_every=5)
    driver.start()
    collect_iq(driver, 20)
    driver.set_setting(SettingKey.DOPPLER_MODE, 0)
    counts = driver.counters()
    deadline = time.monotonic() + 5.0
    # Everything the firmware sent arrives: wait until the host has seen each of them.
    while (
        counts["iq_packets"] + counts["iq_malformed"] < fw.injected["iq_sent"] and time.monotonic() < deadline
    ):
        driver.read_frames(0.1)
        driver.read_iq()
        counts = driver.counters()
    assert fw.injected["iq_malformed"] >= 5 and fw.injected["iq_tx_dropped"] == 0
    assert counts["iq_malformed"] == fw.injected["iq_malformed"]
    assert counts["iq_dropped"] == fw.injected["iq_dropped"]
    assert counts["iq_packets"] == fw.injected["iq_sent"] - fw.injected["iq_malformed"]


# Keys 16-27: a value outside the simulated probe's capability, and what it must apply (its ranges:
# PRF 500-20000 Hz, depths 0-80 mm, the box's no deeper than the image (40 mm here), lateral 0-38 mm,
# gate 0.5-10 mm, ensemble 4-32, steer and frequency snapped to its lists).
READBACK = {
    SettingKey.DOPPLER_MODE: (7.0, 2.0),
    SettingKey.PRF_HZ: (1e6, 20000.0),
    SettingKey.BOX_TOP_MM: (-5.0, 0.0),
    SettingKey.BOX_BOTTOM_MM: (500.0, 40.0),
    SettingKey.BOX_LEFT_MM: (-3.0, 0.0),
    SettingKey.BOX_RIGHT_MM: (100.0, 38.0),
    SettingKey.STEER_DEG: (13.0, 10.0),
    SettingKey.GATE_DEPTH_MM: (0.0, 1.0),
    SettingKey.GATE_SIZE_MM: (50.0, 10.0),
    SettingKey.GATE_LATERAL_MM: (12.5, 12.5),
    SettingKey.ENSEMBLE: (12.4, 12.0),
    SettingKey.DOPPLER_FREQUENCY_MHZ: (7.0, 7.5),
}


def test_settings_16_to_27_go_through_the_readback_path(usb: tuple[PlpProbeDriver, SimFirmware]) -> None:
    driver, _ = usb
    assert set(READBACK) == set(DOPPLER_SETTING_FIELDS) == {SettingKey(k) for k in range(16, 28)}
    engine = AcquisitionEngine(driver, FrameRing(4, 64 * 48))
    applied: list[SettingApplied] = []
    engine.setting_applied.connect(applied.append)
    for key, (asked, _) in READBACK.items():
        engine.request_setting(key, asked)
    try:
        for _ in range(5):
            engine.step()
            if len(applied) == len(READBACK):
                break
        assert {a.key: (a.requested, a.applied) for a in applied} == READBACK
        in_force = engine.settings_in_force()
        for key, (_, expected) in READBACK.items():
            assert in_force[key] == expected and driver.get_setting(key) == expected
    finally:
        engine.close()


def test_the_engine_puts_iq_in_its_ring_and_reports_counters(usb: tuple[PlpProbeDriver, SimFirmware]) -> None:
    driver, _ = usb
    engine = AcquisitionEngine(driver, FrameRing(8, 64 * 48), iq_ring=IqRing(64))
    ready: list[IqReady] = []
    engine.iq_ready.connect(ready.append)
    cursor = engine.iq_ring.cursor()
    engine.request_setting(SettingKey.DOPPLER_MODE, 2)
    try:
        deadline = time.monotonic() + 5.0
        while sum(r.count for r in ready) < 10 and time.monotonic() < deadline:
            engine.step()
        drained = cursor.drain()
        status = engine.status()
    finally:
        engine.close()
    assert drained.lost == 0 and len(drained.packets) == sum(r.count for r in ready) >= 10
    assert ready[-1].ring_seq == engine.iq_ring.newest_seq
    assert [p.seq for p in drained.packets] == list(range(len(drained.packets)))
    assert status.iq_packets >= len(drained.packets) and status.iq_malformed == 0 and status.iq_dropped == 0


def test_iq_ring_counts_what_a_slow_reader_lost() -> None:
    ring = IqRing(4)
    cursor = ring.cursor()
    packets = [_packet(seq) for seq in range(10)]
    for p in packets[:3]:
        ring.push(p)
    assert [p.seq for p in cursor.drain().packets] == [0, 1, 2]
    for p in packets[3:]:
        ring.push(p)
    lapped = cursor.drain()
    assert lapped.lost == 3 and [p.seq for p in lapped.packets] == [6, 7, 8, 9]
    assert ring.peek_latest() is packets[9] and ring.newest_seq == 9
    assert cursor.drain().packets == []


def _packet(seq: int) -> IqPacket:
    return IqPacket(
        DopplerMode.PW, Geometry.LINEAR, 2, 1, 4, 5000.0, 17.0, 19.0, 19.0, 19.0, 0.0, 6.25, 0, 0, 0, 0, seq,
        np.zeros((1, 4, 2), np.complex64),
    )  # fmt: skip


def test_iq_packet_refuses_what_no_probe_sends() -> None:
    with pytest.raises(ValueError, match="shape"):
        IqPacket(**{**_fields(), "iq": np.zeros((1, 4, 3), np.complex64)})
    with pytest.raises(ValueError, match="finite"):
        IqPacket(**{**_fields(), "prf_hz": math.nan})
    with pytest.raises(ValueError, match="above"):
        IqPacket(**{**_fields(), "top_mm": 19.0})


def _fields() -> dict[str, object]:
    p = _packet(0)
    return {name: getattr(p, name) for name in p.__dataclass_fields__}


def test_nyquist_and_velocity_follow_spec_10() -> None:
    # c · prf / (4 · f0) and v = c · f_D / (2 · f0), c = 1540 m/s
    assert nyquist_velocity_m_s(5000.0, 6.25) == pytest.approx(1540 * 5000 / (4 * 6.25e6))
    assert velocity_m_s_from_shift(1000.0, 5.0) == pytest.approx(1540 * 1000 / (2 * 5e6))
    assert velocity_m_s_from_shift(-1000.0, 5.0) < 0
    with pytest.raises(ValueError):
        nyquist_velocity_m_s(0.0, 5.0)


def test_the_descriptors_doppler_field_round_trips_and_bad_ones_are_refused() -> None:
    field = {"modes": ["flow", "pw"], "prf_hz": [500, 20000], "ensemble": [4, 32], "steer_deg": [-20, 0, 20],
             "frequencies_mhz": [5.0, 6.25]}  # fmt: skip
    base = {"vendor": "v", "model": "m", "serial": "s", "protocol": 1, "depth_mm": [10, 80]}
    d = ProbeDescriptor.from_json_dict({**base, "doppler": field})
    assert d.doppler == DopplerCapability(
        (DopplerMode.FLOW, DopplerMode.PW), (500.0, 20000.0), (4, 32), (-20.0, 0.0, 20.0), (5.0, 6.25)
    )
    assert ProbeDescriptor.from_json_dict(d.to_json_dict()) == d and "doppler" not in d.extra
    assert ProbeDescriptor.from_json_dict(base).doppler is None
    for bad in (
        {**field, "modes": ["cw"]},
        {**field, "prf_hz": [20000, 500]},
        {**field, "ensemble": [0, 4]},
        {**field, "frequencies_mhz": []},
        {k: v for k, v in field.items() if k != "steer_deg"},
        "flow",
    ):
        with pytest.raises(ValueError):
            ProbeDescriptor.from_json_dict({**base, "doppler": bad})


def test_the_test_vessel_iq_has_the_doppler_shift_of_its_test_flow() -> None:
    """Lag-one autocorrelation after removing the stationary clutter gives back the model's velocity."""
    prf, f0, steer = 5000.0, 6.25, 10.0
    request = IqRequest(DopplerMode.PW, Geometry.LINEAR, 11, 1, 64, prf, 17.0, 19.0, 19.0, 19.0, steer, f0)
    iq = AnatomyIqModel().synthesize(request, None, 0.3)
    centre = iq[0, :, 5] - iq[0, :, 5].mean()  # 18 mm: the test vessel's centre line (15-21 mm)
    shift_hz = np.angle(np.sum(centre[1:] * np.conj(centre[:-1]))) * prf / (2 * np.pi)
    expected = TEST_FLOW_M_S * math.sin(math.radians(VESSEL_ANGLE_DEG - steer))
    assert velocity_m_s_from_shift(shift_hz, f0) == pytest.approx(expected, rel=0.03)
    assert expected < nyquist_velocity_m_s(prf, f0)
    tissue = AnatomyIqModel().synthesize(
        IqRequest(DopplerMode.PW, Geometry.LINEAR, 5, 1, 64, prf, 30.0, 31.0, 19.0, 19.0, steer, f0),
        None,
        0.3,
    )
    moving = tissue[0] - tissue[0].mean(axis=0)
    assert np.abs(moving).max() < 0.01 * np.abs(tissue).mean()  # outside a vessel: clutter and noise only


def test_headless_pw_writes_iq_counters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "stats.json"
    argv = ["--headless", "--probe", "sim", "--seconds", "1", "--doppler", "pw", "--gate-depth-mm", "22"]
    assert main.main([*argv, "--stats-json", str(out)]) == 0
    stats = json.loads(out.read_text())
    assert stats["iq_packets"] > 0 and stats["iq_malformed"] == 0 and stats["iq_dropped"] == 0
    assert stats["doppler_settings"] == {"doppler_mode": 2.0, "gate_depth_mm": 22.0}
    assert stats["descriptor"]["doppler"]["modes"] == ["flow", "pw"]
    assert f"IQ packets: {stats['iq_packets']}" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--headless", "--gate-depth-mm", "20"], "--gate-depth-mm sets the pulsed-wave gate"),
        (["--headless", "--doppler", "flow", "--angle-deg", "60"], "--angle-deg sets the pulsed-wave gate"),
        (["--headless", "--doppler", "pw", "--angle-deg", "95"], "--angle-deg must be between -90 and 90"),
        (["--headless", "--doppler", "pw", "--gate-depth-mm", "nan"], "--gate-depth-mm must be a positive"),
        (["--doppler", "pw"], "--doppler does nothing with the window"),
        (
            ["--headless", "--protocol", "knee", "--doppler", "pw"],
            "--doppler does nothing with --headless --protocol",
        ),
    ],
)
def test_doppler_options_that_make_no_sense_are_refused(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main.main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert code == 2 and says in err and err.strip().count("\n") == 0, err


class IqOnlyDriver(ScriptedDriver):
    """A probe in pw that sends IQ and no B-mode frames (spec 10 allows it)."""

    def __init__(self) -> None:
        super().__init__()
        self.no_frames = True
        self.iq_seq = 0

    def _do_read_frame(self, timeout_s: float) -> Frame | None:
        return None  # its IQ is what came: no waiting for frames that will not come

    def _do_read_iq(self) -> list[IqPacket]:
        self.iq_seq += 1
        return [_packet(self.iq_seq - 1)]


def test_iq_alone_is_a_flowing_stream_not_a_stall() -> None:
    clock = FakeClock()
    driver = IqOnlyDriver()
    engine = AcquisitionEngine(driver, FrameRing(4, 64 * 48), clock_ns=clock)
    try:
        engine.step()  # connect
        for _ in range(8):
            clock.advance(0.5)
            engine.step()
        assert engine.state == EngineState.STREAMING and driver.connects == 1
        assert engine.iq_ring.newest_seq == 7 and engine.status().counters["stall_restarts"] == 0
    finally:
        engine.close()


class DeepBoxDriver(ScriptedDriver):
    """A probe that does not keep its colour box inside its image: with every B-mode frame (40 mm deep)
    an ensemble 10-60 mm deep, flowing at every sample."""

    def _do_read_iq(self) -> list[IqPacket]:
        if self.seq == 0:
            return []
        samples, lines, pulses = 101, 4, 8
        rng = np.random.default_rng(self.seq)
        speckle = np.exp(2j * np.pi * rng.random((lines, 1, samples)))
        iq = 4000.0 * speckle * np.exp(1j * 0.8 * np.arange(pulses))[None, :, None]
        packet = IqPacket(
            DopplerMode.FLOW, Geometry.LINEAR, samples, lines, pulses, 5000.0, 10.0, 60.0, 5.0, 10.0,
            0.0, 6.25, self.seq - 1, 0, 0, time.monotonic_ns(), self.seq - 1, iq.astype(np.complex64),
        )  # fmt: skip
        return [packet]


def test_the_host_colours_nothing_below_the_image_whatever_box_the_probe_sends() -> None:
    driver = DeepBoxDriver()
    engine = AcquisitionEngine(driver, FrameRing(4, 64 * 48), clock_ns=FakeClock())
    pipeline = DopplerPipeline(engine)
    try:
        for _ in range(4):
            engine.step()
        flow = pipeline.newest_flow()
        assert flow is not None and pipeline.packets_processed >= 2
    finally:
        engine.close()
    depth = driver.settings.params.depth_mm
    assert depth == 40.0
    # Cut at the image's last row: computed, drawn and kept for the cine and captures only above it.
    assert flow.box.top_mm == 10.0 and depth - 0.5 <= flow.box.bottom_mm <= depth
    assert flow.frame.box == flow.box and flow.rgba.shape[0] == flow.frame.velocity_cm_s.shape[1]
    assert flow.coloured_pixels > 0 and flow.rgba[-1, :, 3].any()  # the flow reaches the image's bottom
    overlay = pipeline.overlay_for(flow.frame.frame_seq)
    assert overlay is not None and overlay.box.bottom_mm <= depth and overlay.samples == flow.rgba.shape[0]
