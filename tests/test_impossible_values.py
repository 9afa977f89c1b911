"""Issue 11 item 1: a value no probe can have (a non-finite float; a depth or frequency that is not
positive) never gets past the host's receiver, whatever packet kind carries it (spec 3).

FRAME headers go through the real parser, driver and engine; REPLY readbacks, STATUS and the HELLO
descriptor through the real driver, behind a `LoopbackProbe` (tests/loopback_probe.py).
"""

from __future__ import annotations

import dataclasses
import json
import math
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.plp_codec import FrameHeader, PacketKind, encode_packet
from drivers.plp_driver import PlpProbeDriver
from drivers.sim.settings import sim_descriptor
from scanner_app.engine import EngineState, SettingApplied, SettingFailed
from scanner_app.frame import DataFormat, ImagingSettings
from scanner_app.probe import ProbeRefused, SettingKey
from tests.factories import SETTINGS, make_frame
from tests.loopback_probe import LoopbackProbe, streaming_engine

# The FRAME header's f32 fields by offset (spec 3), the reserved one included.
FLOAT_FIELDS = (
    "depth_mm", "width_mm", "fov_deg", "radius_mm", "frequency_mhz", "sampling_mhz", "gain_db",
    "focus_mm", "dynamic_range_db", "reserved",
)  # fmt: skip
MUST_BE_POSITIVE = ("depth_mm", "frequency_mhz")
NON_FINITE = (math.nan, math.inf, -math.inf)


def frame_packet(seq: int, fmt: int, geometry: int, bad: tuple[str, float] | None = None) -> bytes:
    """A well-formed FRAME for its format and geometry, or one with the field `bad[0]` set to `bad[1]`."""
    rows, cols = 8, 6
    beam_data_convex = geometry == 1 and fmt != 1
    header = FrameHeader(
        data_format=fmt,
        geometry=geometry,
        rows=rows,
        cols=cols,
        settings_id=1,
        depth_mm=40.0,
        width_mm=0.0 if beam_data_convex else 38.0,
        fov_deg=60.0 if beam_data_convex else 0.0,
        radius_mm=40.0 if geometry == 1 else 0.0,
        frequency_mhz=7.5,
        sampling_mhz=40.0 if fmt == 3 else 0.0,
        gain_db=6.0,
        focus_mm=20.0,
        dynamic_range_db=60.0 if fmt == 1 else 0.0,
    )
    raw = bytearray(header.pack())
    if bad is not None:
        struct.pack_into("<f", raw, 8 + 4 * FLOAT_FIELDS.index(bad[0]), bad[1])
    data = np.full((rows, cols), 100, dtype=DataFormat(fmt).dtype).tobytes()
    return encode_packet(PacketKind.FRAME, seq, 1000 * (seq + 1), bytes(raw) + data)


def bad_values() -> st.SearchStrategy[tuple[str, float]]:
    non_finite = st.tuples(st.sampled_from(FLOAT_FIELDS), st.sampled_from(NON_FINITE))
    not_positive = st.tuples(
        st.sampled_from(MUST_BE_POSITIVE), st.floats(min_value=-3e38, max_value=0.0, allow_nan=False)
    )
    return non_finite | not_positive


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])  # engine steps: machine-paced
@given(bad=bad_values(), fmt=st.sampled_from((1, 2, 3)), geometry=st.sampled_from((0, 1)))
def test_a_frame_with_an_impossible_header_value_is_dropped_counted_and_streaming_goes_on(
    bad: tuple[str, float], fmt: int, geometry: int
) -> None:
    probe = LoopbackProbe(
        [frame_packet(0, fmt, geometry), frame_packet(1, fmt, geometry, bad), frame_packet(2, fmt, geometry)]
    )
    engine, driver = streaming_engine(probe)
    for _ in range(10):
        engine.step()
        if engine.ring.newest_seq >= 1:
            break
    counters = driver.counters()
    assert counters["malformed"] == 1 and counters["frames"] == 2, counters
    assert counters["frames_dropped"] == 0  # seq 1 arrived (damaged): not also a lost frame
    assert engine.state == EngineState.STREAMING
    in_ring = [engine.ring.get(i) for i in range(engine.ring.newest_seq + 1)]
    assert [r.frame.seq for r in in_ring if r is not None] == [0, 2]  # the bad one never reached the ring
    engine.close()


@pytest.mark.parametrize("value", NON_FINITE)
def test_a_non_finite_readback_is_a_failed_setting_and_never_in_force(value: float) -> None:
    probe = LoopbackProbe()
    engine, driver = streaming_engine(probe)
    failed: list[SettingFailed] = []
    applied: list[SettingApplied] = []
    engine.setting_failed.connect(failed.append)
    engine.setting_applied.connect(applied.append)
    probe.readback = value
    engine.request_setting(SettingKey.GAIN_DB, 12.0)
    engine.step()
    assert not applied and len(failed) == 1
    assert "GAIN_DB" in failed[0].reason and "not a finite number" in failed[0].reason
    assert SettingKey.GAIN_DB not in engine.settings_in_force()
    assert SettingKey.GAIN_DB not in driver.applied_settings
    assert engine.state == EngineState.STREAMING
    probe.readback = None  # the next good readback goes through
    engine.request_setting(SettingKey.GAIN_DB, 12.0)
    engine.step()
    assert [a.applied for a in applied] == [12.0]
    engine.close()


@pytest.mark.parametrize(
    "text",
    [
        b'{"temperature_c": NaN, "tx_dropped": 3}',
        b'{"temperature_c": Infinity, "tx_dropped": 3}',
        b'{"temperature_c": -Infinity, "tx_dropped": 3}',
        b'{"temperature_c": 1e999, "tx_dropped": 3}',
    ],
)
def test_a_status_with_a_non_finite_number_is_a_bad_status(text: bytes) -> None:
    probe = LoopbackProbe()
    probe.statuses = [encode_packet(PacketKind.STATUS, 0, 0, text)]
    engine, driver = streaming_engine(probe)
    events = []
    engine.probe_event.connect(events.append)
    engine.step()
    counters = driver.counters()
    assert counters["bad_status"] == 1 and counters.get("status_reports", 0) == 0
    assert counters["probe_tx_dropped"] == 0  # nothing read from a STATUS that was refused
    assert events == []
    engine.close()


@pytest.mark.parametrize(
    "change",
    [
        {"frequencies_mhz": [5.0, float("nan")]},
        {"depth_mm": [10.0, float("inf")]},
        {"max_frame_rate_hz": "nan"},  # a string that float() would read as NaN
        {"radius_mm": "-inf"},
    ],
)
def test_a_descriptor_with_a_non_finite_number_is_refused(change: dict[str, object]) -> None:
    fields = {**sim_descriptor().to_json_dict(), **change}
    probe = LoopbackProbe(descriptor=json.dumps(fields).encode())  # json.dumps writes NaN, Infinity
    driver = PlpProbeDriver(probe, clock=probe.clock)
    with pytest.raises(ProbeRefused, match="unreadable descriptor"):
        driver.connect()


@pytest.mark.parametrize("field", ["depth_mm", "gain_db", "frequency_mhz", "focus_mm", "dynamic_range_db"])
@pytest.mark.parametrize("value", NON_FINITE)
def test_a_frame_refuses_non_finite_settings_from_any_source(field: str, value: float) -> None:
    good = make_frame()
    with pytest.raises(ValueError, match=field):
        dataclasses.replace(good, settings=dataclasses.replace(SETTINGS, **{field: value}))


@pytest.mark.parametrize(
    "settings",
    [
        ImagingSettings(depth_mm=0.0, gain_db=0, frequency_mhz=7.5, focus_mm=20, dynamic_range_db=60),
        ImagingSettings(depth_mm=40.0, gain_db=0, frequency_mhz=-1.0, focus_mm=20, dynamic_range_db=60),
    ],
)
def test_a_frame_refuses_a_depth_or_frequency_that_is_not_positive(settings: ImagingSettings) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        make_frame(settings=settings)


@pytest.mark.parametrize("spacing", [(math.nan, 0.2), (0.1, math.inf)])
def test_a_frame_refuses_a_non_finite_calibration(spacing: tuple[float, float]) -> None:
    with pytest.raises(ValueError, match="spacing_mm"):
        make_frame(spacing_mm=spacing)
