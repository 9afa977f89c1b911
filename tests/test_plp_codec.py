"""PLP/1 codec and streaming parser: receiver rules of spec 1, and properties over arbitrary bytes."""

from __future__ import annotations

import os
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from drivers.plp_codec import (
    MAX_PAYLOAD,
    SYNC,
    FrameHeader,
    MalformedPayload,
    Opcode,
    PacketKind,
    PacketParser,
    decode_command,
    decode_frame_payload,
    decode_reply,
    encode_command,
    encode_frame_payload,
    encode_header,
    encode_packet,
    encode_reply,
    set_args,
)

settings.register_profile("ci", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=10_000, deadline=None, suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def frame_packet(seq: int, rows: int = 4, cols: int = 3, fmt: int = 1) -> bytes:
    dtype = {1: np.uint8, 2: np.uint16, 3: np.int16}[fmt]
    data = (np.arange(rows * cols) % 200).astype(dtype).reshape(rows, cols)
    header = FrameHeader(fmt, 0, rows, cols, 7, 40.0, 38.0, frequency_mhz=10.0, gain_db=3.0)
    return encode_packet(PacketKind.FRAME, seq, 1000 + seq, encode_frame_payload(header, data))


def test_header_layout_is_the_spec_table() -> None:
    packet = encode_packet(PacketKind.REPLY, 0x01020304, 0x1122334455667788, b"\x06\x00")
    assert packet[:4] == b"USPL" and packet[4] == 1 and packet[5] == 0x02 and packet[6:8] == b"\0\0"
    assert packet[8:12] == bytes.fromhex("04030201")
    assert packet[12:20] == bytes.fromhex("8877665544332211")
    assert packet[20:24] == bytes.fromhex("02000000")
    assert packet[24:28] == zlib.crc32(packet[:24]).to_bytes(4, "little")
    assert packet[28:30] == b"\x06\x00"
    assert packet[30:34] == zlib.crc32(b"\x06\x00").to_bytes(4, "little")


def test_frame_payload_round_trip_and_layout() -> None:
    header = FrameHeader(2, 1, 5, 2, 9, 80.0, 0.0, 60.0, 40.0, 3.5, 0.0, 6.0, 50.0, 0.0)
    data = np.arange(10, dtype=np.uint16).reshape(5, 2) * 1000
    payload = encode_frame_payload(header, data)
    assert len(payload) == 48 + 20
    assert payload[0] == 2 and payload[1] == 1 and payload[2:4] == b"\x05\0" and payload[4:6] == b"\x02\0"
    h, px = decode_frame_payload(payload)
    assert h == header
    assert np.array_equal(px, data) and not px.flags.writeable
    with pytest.raises(MalformedPayload):
        decode_frame_payload(payload[:-1])


def test_command_and_reply_payloads() -> None:
    assert decode_command(encode_command(5, Opcode.SET, set_args(1, 50.0))[28:-4]) == (
        Opcode.SET,
        bytes([1]) + np.float32(50.0).tobytes(),
    )
    assert decode_reply(encode_reply(5, Opcode.GET, 0, b"abcd")[28:-4]) == (Opcode.GET, 0, b"abcd")
    with pytest.raises(MalformedPayload):
        decode_reply(b"\x01")


def test_split_packets_and_several_per_read() -> None:
    stream = frame_packet(0) + encode_command(1, Opcode.PING) + frame_packet(1)
    whole = PacketParser(count_frame_gaps=True).feed(stream)
    assert [p.kind for p in whole] == [PacketKind.FRAME, PacketKind.COMMAND, PacketKind.FRAME]
    parser = PacketParser(count_frame_gaps=True)
    got = []
    for i in range(0, len(stream), 7):
        got += parser.feed(stream[i : i + 7])
    assert got == whole
    assert parser.counts["frames_dropped"] == 0 and parser.buffered == 0


def test_garbage_and_false_sync_resync() -> None:
    parser = PacketParser()
    noise = b"\x00\xffUSPL" + bytes(30) + b"US"
    got = parser.feed(noise + frame_packet(0))
    assert len(got) == 1 and got[0].kind == PacketKind.FRAME
    assert parser.counts["resyncs"] == 1
    assert parser.counts["bytes_discarded"] == len(noise)


def test_oversized_length_is_a_false_sync() -> None:
    head = encode_header(PacketKind.FRAME, 0, 0, MAX_PAYLOAD + 1)
    parser = PacketParser()
    got = parser.feed(head + frame_packet(3))
    assert [p.seq for p in got] == [3] and parser.counts["resyncs"] == 1


def test_bad_payload_crc_dropped_and_counted_not_as_dropped_frame() -> None:
    bad = bytearray(frame_packet(1))
    bad[40] ^= 1
    parser = PacketParser(count_frame_gaps=True)
    got = parser.feed(frame_packet(0) + bytes(bad) + frame_packet(2))
    assert [(p.seq, p.damaged) for p in got] == [(0, False), (1, True), (2, False)]
    assert parser.counts["crc_errors"] == 1 and parser.counts["frames_dropped"] == 0


def test_sequence_gaps_counted_with_wraparound() -> None:
    parser = PacketParser(count_frame_gaps=True)
    parser.feed(frame_packet(0xFFFFFFFE) + frame_packet(1) + frame_packet(5))
    assert parser.counts["frames_dropped"] == 2 + 3  # FFFFFFFF, 0 missing; then 2, 3, 4


def test_malformed_frame_and_unknown_kind() -> None:
    header = FrameHeader(1, 0, 4, 4, 0, 40.0, 38.0)
    short = encode_packet(PacketKind.FRAME, 0, 0, header.pack() + bytes(15))
    bad_format = encode_packet(PacketKind.FRAME, 1, 0, FrameHeader(9, 0, 1, 1, 0, 1.0, 1.0).pack() + b"x")
    unknown = encode_packet(0x7E, 0, 0, b"future")
    parser = PacketParser(count_frame_gaps=True)
    got = parser.feed(short + bad_format + unknown + frame_packet(2))
    assert [(p.seq, p.damaged) for p in got] == [(0, True), (1, True), (2, False)]
    assert parser.counts["malformed"] == 2 and parser.counts["unknown_packets"] == 1
    assert parser.counts["frames_dropped"] == 0


@pytest.mark.parametrize(
    "header",
    [
        FrameHeader(2, 0, 0, 0, 0, 40.0, 38.0, frequency_mhz=5.0),  # no rows, no columns
        FrameHeader(2, 0, 4, 4, 0, 0.0, 38.0, frequency_mhz=5.0),  # no depth
        FrameHeader(1, 0, 4, 4, 0, 40.0, float("nan"), frequency_mhz=5.0),  # no width
        FrameHeader(
            2, 1, 4, 4, 0, 40.0, 0.0, fov_deg=0.0, radius_mm=40.0, frequency_mhz=5.0
        ),  # convex without a sector
    ],
)
def test_frames_that_cannot_be_calibrated_are_malformed(header: FrameHeader) -> None:
    data = bytes(header.rows * header.cols * (1 if header.data_format == 1 else 2))
    parser = PacketParser()
    got = parser.feed(encode_packet(PacketKind.FRAME, 0, 0, header.pack() + data) + frame_packet(1))
    assert [(p.seq, p.damaged) for p in got] == [(0, True), (1, False)]
    assert parser.counts["malformed"] == 1


def test_other_protocol_version_passes_through_for_the_driver_to_judge() -> None:
    packet = encode_reply(1, Opcode.HELLO, 0, b"{}", version=2)
    (p,) = PacketParser().feed(packet)
    assert p.version == 2


def test_large_frame_in_64k_reads() -> None:
    rows, cols = 512, 512
    data = np.random.default_rng(1).integers(0, 256, (rows, cols), dtype=np.uint8)
    packet = encode_packet(
        PacketKind.FRAME,
        0,
        0,
        encode_frame_payload(FrameHeader(1, 0, rows, cols, 0, 40, 38, frequency_mhz=5.0), data),
    )
    parser = PacketParser()
    got = []
    for i in range(0, len(packet), 65536):
        got += parser.feed(packet[i : i + 65536])
    (p,) = got
    assert np.array_equal(decode_frame_payload(p.payload)[1], data)


# -- properties -------------------------------------------------------------------------------

packets_st = st.lists(
    st.one_of(
        st.integers(0, 2**32 - 1).map(frame_packet),
        st.builds(encode_command, st.integers(0, 2**32 - 1), st.integers(0, 255)),
        st.builds(
            lambda s, b: encode_packet(PacketKind.STATUS, s, 0, b), st.integers(0, 99), st.binary(max_size=40)
        ),
    ),
    max_size=6,
)
noise_st = st.binary(max_size=60).map(lambda b: b.replace(b"U", b"u"))  # noise holds no sync start


@given(st.binary(max_size=2000), st.lists(st.integers(1, 64), max_size=40))
# A "U" at a read's end was carried as a possible sync start and, once the next byte showed it was
# not one, still held back until 28 bytes came: at the stream's end it went uncounted (found in CI).
@example(b"\x00\x00\x00\x00U\x00", [5])
@example(b"US\x01P", [1, 1, 1])
def test_any_bytes_never_raise_and_feeding_in_pieces_changes_nothing(data: bytes, cuts: list[int]) -> None:
    whole = PacketParser(count_frame_gaps=True)
    expected = whole.feed(data)
    pieces = PacketParser(count_frame_gaps=True)
    got = []
    i = 0
    for c in cuts:
        got += pieces.feed(data[i : i + c])
        i += c
    got += pieces.feed(data[i:])
    assert got == expected
    assert pieces.counts == whole.counts


@given(st.lists(st.tuples(noise_st, packets_st), max_size=5), st.integers(1, 300))
def test_every_packet_between_noise_is_recovered(chunks: list[tuple[bytes, list[bytes]]], step: int) -> None:
    stream = b"".join(noise + b"".join(pk) for noise, pk in chunks)
    wanted = [p for _, pk in chunks for p in pk]
    parser = PacketParser()
    got = []
    for i in range(0, len(stream), step):
        got += parser.feed(stream[i : i + step])
    assert [encode_packet(p.kind, p.seq, p.device_time_us, p.payload) for p in got] == wanted
    assert parser.counts["bytes_discarded"] == sum(len(n) for n, _ in chunks)
    assert parser.counts["crc_errors"] == 0


@given(packets_st, st.data())
def test_corruption_anywhere_is_contained(pk: list[bytes], data: st.DataObject) -> None:
    stream = bytearray(b"".join(pk) + frame_packet(0))
    pos = data.draw(
        st.integers(0, len(stream) - 1 - len(frame_packet(0)))
        if len(stream) > len(frame_packet(0))
        else st.just(0)
    )
    stream[pos] ^= data.draw(st.integers(1, 255))
    got = PacketParser().feed(bytes(stream) + SYNC[:0] + frame_packet(1))
    # Whatever the damage, the parser finds the packets after it.
    assert got and got[-1].seq == 1 and not got[-1].damaged
