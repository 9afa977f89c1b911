"""IQ packets (spec 10): byte tables both ways, the parser's counters, the driver's checks, and a fuzz.

The expected bytes are written out from the spec's table by hand (f32 values as their IEEE-754 bytes),
not produced by the codec under test.
"""

from __future__ import annotations

import json
import math
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.plp_codec import (
    IQ_HEADER_SIZE,
    IqHeader,
    MalformedPayload,
    Opcode,
    PacketKind,
    PacketParser,
    decode_iq_payload,
    encode_iq_payload,
    encode_packet,
)
from drivers.sim.settings import sim_descriptor
from scanner_app.doppler import DopplerMode
from scanner_app.frame import Geometry
from tests.test_plp_codec import frame_packet
from tests.test_plp_protocol import HELLO, cmd, ok, protocol

DOPPLER_DESCRIPTOR = json.dumps(sim_descriptor(doppler=True).to_json_dict()).encode()
HELLO_DOPPLER = (cmd(1, Opcode.HELLO, b"\x01"), ok(1, Opcode.HELLO, DOPPLER_DESCRIPTOR))

# pw, linear, 3 samples, 1 line, 2 pulses, 5000 Hz, 17-19 mm, lateral 19 mm, steer -10°, 6.25 MHz,
# frame_seq 0, settings id 0x0102.
PW_HEADER_HEX = (
    "02" "00" "0300" "0100" "0200"
    "00409c45" "00008841" "00009841" "00009841" "00009841" "000020c1" "0000c840"
    "00000000" "0201" "000000000000"
)  # fmt: skip
PW_DATA = np.array([[[1 + 2j, -1 - 2j, 300 - 400j], [32767 - 32768j, 0, 7]]], np.complex64)
PW_DATA_HEX = "01000200fffffeff2c0170feff7f00800000000007000000"
PW_HEADER = IqHeader(2, 0, 3, 1, 2, 5000.0, 17.0, 19.0, 19.0, 19.0, -10.0, 6.25, 0, 0x0102)

# flow, convex, 2 samples, 2 lines, 1 pulse, 2500 Hz... as the header of an ensemble after FRAME 0x01020304.
FLOW_HEADER_HEX = (
    "01" "01" "0200" "0200" "0100"
    "00401c45" "00007041" "0000f041" "000070c1" "00007041" "00000000" "00002040"
    "04030201" "0000" "000000000000"
)  # fmt: skip
FLOW_HEADER = IqHeader(1, 1, 2, 2, 1, 2500.0, 15.0, 30.0, -15.0, 15.0, 0.0, 2.5, 0x01020304, 0)


def test_pw_payload_is_the_spec_table_byte_for_byte() -> None:
    payload = encode_iq_payload(PW_HEADER, PW_DATA)
    assert len(bytes.fromhex(PW_HEADER_HEX)) == IQ_HEADER_SIZE == 48
    assert payload == bytes.fromhex(PW_HEADER_HEX + PW_DATA_HEX)


def test_pw_bytes_decode_to_the_values() -> None:
    header, iq = decode_iq_payload(bytes.fromhex(PW_HEADER_HEX + PW_DATA_HEX))
    assert header == PW_HEADER
    assert iq.dtype == np.complex64 and iq.shape == (1, 2, 3)
    assert np.array_equal(iq, PW_DATA)


def test_flow_header_both_ways() -> None:
    data = np.zeros((2, 1, 2), np.complex64)
    assert encode_iq_payload(FLOW_HEADER, data) == bytes.fromhex(FLOW_HEADER_HEX) + bytes(16)
    header, iq = decode_iq_payload(bytes.fromhex(FLOW_HEADER_HEX) + bytes(16))
    assert header == FLOW_HEADER and header.frame_seq == 0x01020304 and iq.shape == (2, 1, 2)


def test_samples_beyond_i16_saturate() -> None:
    payload = encode_iq_payload(PW_HEADER, PW_DATA * 1000)
    pairs = struct.unpack_from("<12h", payload, 48)
    assert pairs[4:6] == (32767, -32768) and pairs[6:8] == (32767, -32768)


def test_an_iq_packet_is_kind_5() -> None:
    payload = bytes.fromhex(PW_HEADER_HEX + PW_DATA_HEX)
    packet = encode_packet(PacketKind.IQ, 7, 1000, payload)
    assert packet[5] == 0x05 and packet[8:12] == bytes.fromhex("07000000")
    assert packet[28:-4] == payload and packet[-4:] == zlib.crc32(payload).to_bytes(4, "little")
    (p,) = PacketParser().feed(packet)
    assert p.kind == PacketKind.IQ and p.seq == 7 and p.payload == payload and not p.damaged


def _with_float(offset: int, value: float) -> bytes:
    b = bytearray.fromhex(PW_HEADER_HEX + PW_DATA_HEX)
    struct.pack_into("<f", b, offset, value)
    return bytes(b)


MALFORMED = {
    "one byte short": bytes.fromhex(PW_HEADER_HEX + PW_DATA_HEX)[:-1],
    "one byte long": bytes.fromhex(PW_HEADER_HEX + PW_DATA_HEX) + b"\0",
    "header only": bytes.fromhex(PW_HEADER_HEX),
    "mode 3": bytes.fromhex("03" + PW_HEADER_HEX[2:] + PW_DATA_HEX),
    "mode 0": bytes.fromhex("00" + PW_HEADER_HEX[2:] + PW_DATA_HEX),
    "geometry 2": bytes.fromhex("0202" + PW_HEADER_HEX[4:] + PW_DATA_HEX),
    "NaN prf": _with_float(8, math.nan),
    "inf top": _with_float(12, math.inf),
    "-inf steer": _with_float(28, -math.inf),
    "NaN frequency": _with_float(32, math.nan),
    "top = bottom": _with_float(12, 19.0),
    "top below bottom": _with_float(12, 25.0),
    "zero prf": _with_float(8, 0.0),
    "negative frequency": _with_float(32, -6.25),
}


@pytest.mark.parametrize("payload", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_iq_is_dropped_and_counted(payload: bytes) -> None:
    with pytest.raises(MalformedPayload):
        decode_iq_payload(payload)
    parser = PacketParser(count_frame_gaps=True)
    got = parser.feed(encode_packet(PacketKind.IQ, 0, 0, payload) + frame_packet(0))
    assert [p.damaged for p in got] == [True, False] and got[0].payload == b""
    assert parser.counts["iq_malformed"] == 1 and parser.counts["malformed"] == 0
    assert parser.counts["iq_dropped"] == 0 and parser.counts["packets"] == 1


def test_a_gate_outside_the_descriptors_depth_range_is_malformed() -> None:
    good = bytes.fromhex(PW_HEADER_HEX + PW_DATA_HEX)  # 17-19 mm
    decode_iq_payload(good, max_depth_mm=19.0)
    with pytest.raises(MalformedPayload):
        decode_iq_payload(good, max_depth_mm=18.5)
    with pytest.raises(MalformedPayload):
        decode_iq_payload(_with_float(12, -1.0), max_depth_mm=80.0)


def test_iq_seq_gaps_are_their_own_count_with_wraparound() -> None:
    payload = bytes.fromhex(PW_HEADER_HEX + PW_DATA_HEX)
    parser = PacketParser(count_frame_gaps=True)
    seqs = [2**32 - 2, 2**32 - 1, 1, 2, 5]
    stream = b"".join(encode_packet(PacketKind.IQ, s, 0, payload) for s in seqs)
    stream += frame_packet(0) + frame_packet(1)  # frames count apart: no gap between them
    parser.feed(stream)
    assert parser.counts["iq_dropped"] == 1 + 2 and parser.counts["frames_dropped"] == 0


def test_an_iq_packet_with_a_bad_crc_counts_as_that_not_as_dropped() -> None:
    payload = bytes.fromhex(PW_HEADER_HEX + PW_DATA_HEX)
    bad = bytearray(encode_packet(PacketKind.IQ, 1, 0, payload))
    bad[40] ^= 0xFF
    parser = PacketParser(count_frame_gaps=True)
    got = parser.feed(
        encode_packet(PacketKind.IQ, 0, 0, payload) + bytes(bad) + encode_packet(PacketKind.IQ, 2, 0, payload)
    )
    assert [p.damaged for p in got] == [False, True, False]
    assert parser.counts["crc_errors"] == 1 and parser.counts["iq_dropped"] == 0


# -- through the driver (scripted bytes) ---------------------------------------------------------


def iq_packet(seq: int, header: IqHeader = PW_HEADER, data: np.ndarray = PW_DATA) -> bytes:
    return encode_packet(PacketKind.IQ, seq, 9000 + seq, encode_iq_payload(header, data))


def test_the_driver_hands_out_iq_packets_as_values() -> None:
    stream = iq_packet(0) + iq_packet(1) + iq_packet(4)
    table = [HELLO_DOPPLER, (cmd(2, Opcode.START), ok(2, Opcode.START) + stream)]
    with protocol(table) as (driver, _):
        driver.connect()
        driver.start()
        assert driver.read_frames(0.1) == []  # IQ alone ends the wait
        got = driver.read_iq()
        got += driver.read_iq()
    assert [p.seq for p in got] == [0, 1, 4]
    p = got[0]
    assert p.mode == DopplerMode.PW and p.geometry == Geometry.LINEAR
    assert (p.samples, p.lines, p.pulses) == (3, 1, 2) and p.prf_hz == 5000.0
    assert (p.top_mm, p.bottom_mm, p.left, p.right) == (17.0, 19.0, 19.0, 19.0)
    assert p.steer_deg == -10.0 and p.frequency_mhz == 6.25 and p.settings_id == 0x0102
    assert p.device_time_us == 9000 and p.host_time_ns > 0
    assert np.array_equal(p.iq, PW_DATA) and not p.iq.flags.writeable
    counts = driver.counters()
    assert counts["iq_packets"] == 3 and counts["iq_dropped"] == 2 and counts["iq_malformed"] == 0


def test_iq_outside_the_probes_depth_range_is_malformed_in_the_driver() -> None:
    deep = IqHeader(2, 0, 3, 1, 2, 5000.0, 79.0, 81.0, 19.0, 19.0, 0.0, 6.25)  # the sim probe goes to 80 mm
    table = [HELLO_DOPPLER, (cmd(2, Opcode.START), ok(2, Opcode.START) + iq_packet(0, deep) + iq_packet(1))]
    with protocol(table) as (driver, _):
        driver.connect()
        driver.start()
        driver.read_frames(0.1)
        got = driver.read_iq()
    assert [p.seq for p in got] == [1]
    assert driver.counters()["iq_malformed"] == 1 and driver.counters()["iq_dropped"] == 0


def test_iq_before_the_start_reply_is_not_this_streams() -> None:
    table = [HELLO_DOPPLER, (cmd(2, Opcode.START), iq_packet(9) + ok(2, Opcode.START) + iq_packet(0))]
    with protocol(table) as (driver, _):
        driver.connect()
        driver.start()
        driver.read_frames(0.1)
        got = driver.read_iq()
    assert [p.seq for p in got] == [0]
    assert driver.counters()["iq_discarded"] == 1 and driver.counters()["iq_dropped"] == 0


def test_iq_from_a_probe_that_does_no_doppler_is_an_unknown_packet() -> None:
    table = [HELLO, (cmd(2, Opcode.START), ok(2, Opcode.START) + iq_packet(0) + frame_packet(0))]
    with protocol(table) as (driver, _):
        driver.connect()
        driver.start()
        assert driver.descriptor is not None and driver.descriptor.doppler is None
        assert len(driver.read_frames(0.1)) == 1
        assert driver.read_iq() == []
    assert driver.counters()["unknown_packets"] == 1 and driver.counters()["iq_packets"] == 0


# -- fuzz ---------------------------------------------------------------------------------------

floats_st = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.sampled_from([0.0, -1.0, 17.0, 19.0, 80.0, 81.0, 5000.0]),
)
header_st = st.builds(
    IqHeader,
    st.integers(0, 255),
    st.integers(0, 3),
    st.integers(0, 6),
    st.integers(0, 3),
    st.integers(0, 6),
    *[floats_st] * 7,
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**16 - 1),
)


def _fuzz_payload(header: IqHeader, length_change: int, raw: bytes | None) -> bytes:
    if raw is not None:
        return raw
    payload = header.pack() + bytes(range(256)) * (header.data_bytes // 256 + 1)
    return payload[: IQ_HEADER_SIZE + max(0, header.data_bytes + length_change)]


@given(
    st.lists(
        st.tuples(
            header_st, st.sampled_from([0, 0, 0, -1, 1, -4]), st.one_of(st.none(), st.binary(max_size=80))
        ),
        min_size=1,
        max_size=6,
    )
)
def test_any_iq_payload_is_a_packet_or_counted_and_never_impossible(
    cases: list[tuple[IqHeader, int, bytes | None]],
) -> None:
    payloads = [_fuzz_payload(*case) for case in cases]
    stream = b"".join(encode_packet(PacketKind.IQ, i, 0, p) for i, p in enumerate(payloads))
    table = [HELLO_DOPPLER, (cmd(2, Opcode.START), ok(2, Opcode.START) + stream + frame_packet(0))]
    with protocol(table) as (driver, _):
        driver.connect()
        driver.start()
        got = []
        while not driver.read_frames(0.1):
            got += driver.read_iq()
        got += driver.read_iq()
    counts = driver.counters()
    assert counts["iq_packets"] == len(got)
    assert counts["iq_packets"] + counts["iq_malformed"] == len(payloads)
    assert counts["iq_dropped"] == 0
    for p in got:
        numbers = (p.prf_hz, p.top_mm, p.bottom_mm, p.left, p.right, p.steer_deg, p.frequency_mhz)
        assert all(map(math.isfinite, numbers)) and np.isfinite(p.iq).all()
        assert 0 <= p.top_mm < p.bottom_mm <= 80.0 and p.prf_hz > 0 and p.frequency_mhz > 0
        assert p.iq.shape == (p.lines, p.pulses, p.samples) and min(p.iq.shape) >= 1
