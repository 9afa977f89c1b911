"""PLP/1 codec: packet and payload encoding, and the streaming parser both host and firmware use.

The parser applies the receiver rules of spec section 1 and counts what it skipped, in a shared
`Counter` so a driver's counters and its parser's are one and the same object:

| key | meaning |
|---|---|
| `resyncs` | a sync word whose header failed its CRC (or declared N > 16 MiB): skipped one byte |
| `bytes_discarded` | bytes that were not part of any packet (noise, false syncs) |
| `crc_errors` | packets with a good header but a bad payload CRC (dropped) |
| `unknown_packets` | packets of a kind this receiver does not know (skipped) |
| `malformed` | FRAME packets whose payload does not fit their header or holds an impossible value (dropped) |
| `frames_dropped` | FRAME sequence numbers missing from the stream |
| `iq_malformed` | IQ packets (spec 10) whose payload does not fit their header or holds an impossible value |
| `iq_dropped` | IQ sequence numbers missing from the stream (IQ packets have their own seq, spec 10) |

Sequence gaps only mean something within one stream (seq is 0 at each START), so a driver feeds
FRAME seqs to `note_frame_seq` itself, in order, while it streams; with `count_frame_gaps=True` the
parser does it for every FRAME it sees (tests, benchmarks). Damaged FRAMEs (bad payload CRC or
malformed) come out as packets with `damaged=True` and no payload, so their seq still counts.
A value no probe can have is a non-finite float, or a depth or frequency that is not positive (spec 3);
a REPLY's f32 and the JSON of HELLO and STATUS are held to finite numbers too. IQ packets (spec 10)
are handled alike with their own counters: `note_iq_seq`, `expect_iq_seq`, damaged ones with no payload.
The one IQ check that needs the probe's descriptor (the samples' depths within its range) is the
driver's, through `iq_payload_ok(payload, max_depth_mm)`.
"""

from __future__ import annotations

import enum
import json
import math
import re
import struct
import zlib
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from scanner_app.frame import DataFormat

SYNC = b"USPL"
PROTOCOL_VERSION = 1
HEADER_SIZE = 28
TRAILER_SIZE = 4
MAX_PAYLOAD = 16 * 1024 * 1024
FRAME_HEADER_SIZE = 48
IQ_HEADER_SIZE = 48

_HEADER = struct.Struct("<4sBBHIQI")  # sync, version, kind, reserved, seq, device time, N
_CRC = struct.Struct("<I")
_FRAME_HEADER = struct.Struct("<BBHHHffffffffff")
_FRAME_FLOATS = struct.Struct("<10f")  # every f32 of the frame header, depth_mm to reserved
_SET_ARGS = struct.Struct("<Bf")
_F32 = struct.Struct("<f")
_ELEMENT_SIZE = {1: 1, 2: 2, 3: 2}
# mode, geometry, samples, lines, pulses; prf, top, bottom, left, right, steer, frequency; frame_seq,
# settings id, 6 reserved bytes (spec 10)
_IQ_HEADER = struct.Struct("<BBHHHfffffffIH6x")
_IQ_FLOATS = struct.Struct("<7f")  # every f32 of the IQ header, prf_hz to frequency_mhz
IQ_SAMPLE_DTYPE = np.dtype("<i2")  # I then Q, each a little-endian i16


class PacketKind(enum.IntEnum):
    """Packet kinds (spec section 1)."""

    FRAME = 0x01
    REPLY = 0x02
    EVENT = 0x03
    STATUS = 0x04
    IQ = 0x05  # Doppler extension (spec 10)
    COMMAND = 0x10


class Opcode(enum.IntEnum):
    """Command opcodes (spec section 2), with the simulated probe's extensions (drivers/sim/firmware)."""

    HELLO = 0x01
    START = 0x02
    STOP = 0x03
    SET = 0x04
    GET = 0x05
    PING = 0x06
    SIM_SET_POSE = 0x80
    SIM_SET_SCENE = 0x81
    SIM_MANOEUVRE = 0x82


class ReplyStatus(enum.IntEnum):
    """REPLY status codes (spec section 2)."""

    OK = 0
    UNKNOWN_OPCODE = 1
    BAD_ARGUMENT = 2
    BUSY = 3
    NOT_STREAMING = 4
    HARDWARE_FAULT = 5


@dataclass(frozen=True, slots=True)
class Packet:
    """One packet that passed both CRCs. `payload` is its own bytes, or for a FRAME or IQ packet read
    into a handed-over buffer a read-only view of that buffer (see `PacketParser`)."""

    kind: int
    seq: int
    device_time_us: int
    payload: bytes | memoryview
    version: int = PROTOCOL_VERSION
    damaged: bool = False  # a FRAME or IQ whose payload failed its CRC or layout check (already counted)

    @property
    def data(self) -> bytes:
        """The payload as bytes: itself for the small kinds (already bytes), a copy of a view."""
        return self.payload if isinstance(self.payload, bytes) else bytes(self.payload)


@dataclass(frozen=True, slots=True)
class FrameHeader:
    """The 48-byte FRAME payload header (spec section 3)."""

    data_format: int
    geometry: int
    rows: int
    cols: int
    settings_id: int
    depth_mm: float
    width_mm: float
    fov_deg: float = 0.0
    radius_mm: float = 0.0
    frequency_mhz: float = 0.0
    sampling_mhz: float = 0.0
    gain_db: float = 0.0
    focus_mm: float = 0.0
    dynamic_range_db: float = 0.0

    def pack(self) -> bytes:
        return _FRAME_HEADER.pack(
            self.data_format, self.geometry, self.rows, self.cols, self.settings_id,
            self.depth_mm, self.width_mm, self.fov_deg, self.radius_mm, self.frequency_mhz,
            self.sampling_mhz, self.gain_db, self.focus_mm, self.dynamic_range_db, 0.0,
        )  # fmt: skip

    @classmethod
    def unpack(cls, payload: bytes | memoryview) -> FrameHeader:
        f = _FRAME_HEADER.unpack_from(payload, 0)
        return cls(*f[:14])


@dataclass(frozen=True, slots=True)
class IqHeader:
    """The 48-byte IQ payload header (spec section 10)."""

    mode: int  # 1 flow, 2 pw
    geometry: int  # 0 linear, 1 convex
    samples: int
    lines: int
    pulses: int
    prf_hz: float
    top_mm: float
    bottom_mm: float
    left: float
    right: float
    steer_deg: float
    frequency_mhz: float
    frame_seq: int = 0
    settings_id: int = 0

    def pack(self) -> bytes:
        return _IQ_HEADER.pack(
            self.mode, self.geometry, self.samples, self.lines, self.pulses,
            self.prf_hz, self.top_mm, self.bottom_mm, self.left, self.right, self.steer_deg,
            self.frequency_mhz, self.frame_seq, self.settings_id,
        )  # fmt: skip

    @classmethod
    def unpack(cls, payload: bytes | memoryview) -> IqHeader:
        return cls(*_IQ_HEADER.unpack_from(payload, 0))

    @property
    def data_bytes(self) -> int:
        return self.lines * self.pulses * self.samples * 2 * IQ_SAMPLE_DTYPE.itemsize


class MalformedPayload(ValueError):
    """A payload that passed its CRC but does not have the layout its kind requires."""


# -- packets ---------------------------------------------------------------------------------


def encode_header(
    kind: int, seq: int, device_time_us: int, length: int, version: int = PROTOCOL_VERSION
) -> bytes:
    """The 28-byte packet header with its CRC."""
    head = _HEADER.pack(SYNC, version, kind, 0, seq & 0xFFFFFFFF, device_time_us & 0xFFFFFFFFFFFFFFFF, length)
    return head + _CRC.pack(zlib.crc32(head))


def encode_packet_parts(
    kind: int, seq: int, device_time_us: int, payload: bytes | memoryview, version: int = PROTOCOL_VERSION
) -> tuple[bytes, bytes | memoryview, bytes]:
    """Header, payload and trailer, so a large payload can be sent without a concatenating copy."""
    return (
        encode_header(kind, seq, device_time_us, len(payload), version),
        payload,
        _CRC.pack(zlib.crc32(payload)),
    )


def encode_packet(
    kind: int,
    seq: int,
    device_time_us: int,
    payload: bytes | memoryview = b"",
    version: int = PROTOCOL_VERSION,
) -> bytes:
    return b"".join(encode_packet_parts(kind, seq, device_time_us, payload, version))


def encode_command(seq: int, opcode: int, args: bytes = b"", device_time_us: int = 0) -> bytes:
    return encode_packet(PacketKind.COMMAND, seq, device_time_us, bytes([opcode]) + args)


def encode_reply(  # noqa: PLR0917
    seq: int,
    opcode: int,
    status: int,
    data: bytes = b"",
    device_time_us: int = 0,
    version: int = PROTOCOL_VERSION,
) -> bytes:
    return encode_packet(PacketKind.REPLY, seq, device_time_us, bytes([opcode, status]) + data, version)


def encode_event(
    seq: int, code: int, text: str = "", device_time_us: int = 0, version: int = PROTOCOL_VERSION
) -> bytes:
    return encode_packet(PacketKind.EVENT, seq, device_time_us, bytes([code]) + text.encode("utf-8"), version)


def set_args(key: int, value: float) -> bytes:
    return _SET_ARGS.pack(key, value)


def f32(value: float) -> bytes:
    return _F32.pack(value)


def decode_f32(data: bytes) -> float:
    """A REPLY's f32 value (SET readback, GET): a non-finite one is malformed, as in a FRAME (spec 3)."""
    if len(data) != 4:
        raise MalformedPayload(f"expected a 4-byte f32, got {len(data)} bytes")
    value = float(_F32.unpack(data)[0])
    if not math.isfinite(value):
        raise MalformedPayload(f"the value {value} is not a finite number")
    return value


def decode_set_args(args: bytes) -> tuple[int, float]:
    if len(args) != _SET_ARGS.size:
        raise MalformedPayload(f"SET takes 5 argument bytes, got {len(args)}")
    key, value = _SET_ARGS.unpack(args)
    return int(key), float(value)


def decode_command(payload: bytes) -> tuple[int, bytes]:
    """(opcode, argument bytes)."""
    if not payload:
        raise MalformedPayload("empty COMMAND payload")
    return payload[0], payload[1:]


def decode_reply(payload: bytes) -> tuple[int, int, bytes]:
    """(opcode, status, data)."""
    if len(payload) < 2:
        raise MalformedPayload(f"REPLY payload of {len(payload)} bytes; at least 2 expected")
    return payload[0], payload[1], payload[2:]


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses to inf
        raise ValueError(f"the number {text} is out of range")
    return value


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")  # Python's json would accept NaN and Infinity


def decode_json_object(payload: bytes) -> dict[str, Any]:
    """A UTF-8 JSON object (HELLO descriptor, STATUS): strict JSON, so every number in it is finite."""
    try:
        value = json.loads(payload.decode("utf-8"), parse_float=_finite_float, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise MalformedPayload(f"not a JSON object: {exc}") from None
    if not isinstance(value, dict):
        raise MalformedPayload(f"not a JSON object but a {type(value).__name__}")
    return value


def decode_event(payload: bytes) -> tuple[int, str]:
    """(code, text); undecodable text is replaced, not an error."""
    if not payload:
        raise MalformedPayload("empty EVENT payload")
    return payload[0], payload[1:].decode("utf-8", errors="replace")


# -- frames ----------------------------------------------------------------------------------


def encode_frame_payload(header: FrameHeader, data: npt.NDArray[np.generic]) -> bytes:
    """Frame header then the data in C order, little-endian."""
    dtype = DataFormat(header.data_format).dtype
    arr = np.ascontiguousarray(data, dtype=dtype)
    if arr.shape != (header.rows, header.cols):
        raise ValueError(f"frame data shape {arr.shape} does not match header {header.rows}x{header.cols}")
    return header.pack() + arr.tobytes()


def frame_payload_ok(payload: bytes | memoryview) -> bool:
    """True if a FRAME payload has a known format and geometry, exactly the length its header implies,
    only finite floats in its header, a positive depth and frequency (spec 3), and a size the host can
    calibrate: at least one row and column, a positive width where the format uses it, and a sector
    angle for convex beam data (an empty or uncalibrated image is malformed for the same reason).
    """
    if len(payload) < FRAME_HEADER_SIZE:
        return False
    fmt, geometry, rows, cols = payload[0], payload[1], *struct.unpack_from("<HH", payload, 2)
    size = _ELEMENT_SIZE.get(fmt)
    if size is None or geometry not in (0, 1) or len(payload) != FRAME_HEADER_SIZE + rows * cols * size:
        return False
    floats: tuple[float, ...] = _FRAME_FLOATS.unpack_from(payload, 8)
    if not all(map(math.isfinite, floats)):
        return False  # NaN or inf anywhere: display, capture and DICOM must never see it
    depth_mm, width_mm, fov_deg, radius_mm, frequency_mhz = floats[:5]
    if rows == 0 or cols == 0 or depth_mm <= 0 or frequency_mhz <= 0:
        return False
    if geometry == 1 and fmt != 1:  # convex beam lines: scan-converted by the host
        return 0 < fov_deg <= 180 and radius_mm >= 0
    return width_mm > 0


def decode_frame_payload(payload: bytes | memoryview) -> tuple[FrameHeader, npt.NDArray[np.generic]]:
    """Header and a read-only rows x cols array viewing `payload` (no copy)."""
    if not frame_payload_ok(payload):
        raise MalformedPayload(
            "FRAME payload does not match its header (length, format, geometry, or an impossible value)"
        )
    header = FrameHeader.unpack(payload)
    dtype = DataFormat(header.data_format).dtype
    pixels = np.frombuffer(payload, dtype=dtype, offset=FRAME_HEADER_SIZE).reshape(header.rows, header.cols)
    return header, pixels


# -- IQ (Doppler, spec 10) ------------------------------------------------------------------


def encode_iq_payload(header: IqHeader, iq: npt.NDArray[np.generic]) -> bytes:
    """IQ header then the data: (lines, pulses, samples) complex values as i16 I then i16 Q, C order.

    `iq` is complex (rounded and saturated to i16) or already i16 of shape (lines, pulses, samples, 2).
    """
    shape = (header.lines, header.pulses, header.samples)
    data: npt.NDArray[np.int16]
    if np.iscomplexobj(iq):
        if iq.shape != shape:
            raise ValueError(f"IQ data shape {iq.shape} does not match header {shape}")
        pairs = np.stack([iq.real, iq.imag], axis=-1)
        data = np.clip(np.rint(pairs), -32768, 32767).astype(IQ_SAMPLE_DTYPE)
    else:
        if iq.shape != (*shape, 2):
            raise ValueError(f"IQ data shape {iq.shape} does not match header {(*shape, 2)}")
        data = np.ascontiguousarray(iq, dtype=IQ_SAMPLE_DTYPE)
    return header.pack() + data.tobytes()


def iq_payload_ok(payload: bytes | memoryview, max_depth_mm: float | None = None) -> bool:
    """True if an IQ payload is well formed (spec 10): a known mode and geometry, exactly the length its
    header implies, at least one sample, line and pulse (pw: one line), only finite floats, a positive
    PRF and frequency, top above bottom and, given the probe's deepest depth, every sample between the
    skin (0) and `max_depth_mm` (a gate or box outside the descriptor's depth range).
    """
    if len(payload) < IQ_HEADER_SIZE:
        return False
    mode, geometry, samples, lines, pulses = payload[0], payload[1], *struct.unpack_from("<HHH", payload, 2)
    if mode not in (1, 2) or geometry not in (0, 1) or min(samples, lines, pulses) == 0:
        return False
    if mode == 2 and lines != 1:
        return False
    if len(payload) != IQ_HEADER_SIZE + lines * pulses * samples * 2 * IQ_SAMPLE_DTYPE.itemsize:
        return False
    floats: tuple[float, ...] = _IQ_FLOATS.unpack_from(payload, 8)
    if not all(map(math.isfinite, floats)):
        return False
    prf_hz, top_mm, bottom_mm, _, _, _, frequency_mhz = floats
    if prf_hz <= 0 or frequency_mhz <= 0 or top_mm >= bottom_mm:
        return False
    return max_depth_mm is None or (top_mm >= 0 and bottom_mm <= max_depth_mm)


def decode_iq_payload(
    payload: bytes | memoryview, max_depth_mm: float | None = None
) -> tuple[IqHeader, npt.NDArray[np.complex64]]:
    """Header and the samples as a new complex64 array of shape (lines, pulses, samples)."""
    if not iq_payload_ok(payload, max_depth_mm):
        raise MalformedPayload(
            "IQ payload does not match its header (length, mode, geometry, depths, or an impossible value)"
        )
    header = IqHeader.unpack(payload)
    pairs = np.frombuffer(payload, dtype=IQ_SAMPLE_DTYPE, offset=IQ_HEADER_SIZE).astype(np.float32)
    iq = pairs.view(np.complex64).reshape(header.lines, header.pulses, header.samples)
    return header, iq


# -- the streaming parser --------------------------------------------------------------------

_KNOWN_KINDS = frozenset(int(k) for k in PacketKind)
_SYNC_SEARCH = re.compile(re.escape(SYNC)).search  # finds the sync word in any buffer, memoryviews too


class PacketParser:
    """Turns bytes, as they come, into packets; never raises on its input and never waits for more
    than one declared packet length.

    `feed()` returns the complete packets now available. FRAME packets are checked for a well-formed
    payload here (spec 3) and their sequence gaps counted, so every receiver counts alike.

    Packets are found in place, in the bytes as they were read: CRCs run on memoryviews, and a FRAME's
    or IQ packet's payload is a read-only view of the read buffer itself when the buffer is handed
    over (`bytes`, or `owned=True`: the caller never writes into it again while a view of it lives),
    so its pixels are copied once, into the ring. Only a packet split across two reads is gathered
    into a buffer of its own (one more copy of that packet); other kinds are small and copied out.
    """

    def __init__(self, counts: Counter[str] | None = None, *, count_frame_gaps: bool = False) -> None:
        self.counts: Counter[str] = counts if counts is not None else Counter()
        self._count_frame_gaps = count_frame_gaps
        # The start of a packet (or of a sync word) whose rest is still to come; never written again
        # once scanned, since payload views may point into it.
        self._carry = bytearray()
        self._carried = 0  # bytes of `_carry` in use
        self._next_frame_seq: int | None = None
        self._next_iq_seq: int | None = None

    def reset(self) -> None:
        """Forget buffered bytes (after a reconnect or a stream reset); counters are kept."""
        self._carry = bytearray()
        self._carried = 0
        self._next_frame_seq = None
        self._next_iq_seq = None

    def expect_frame_seq(self, seq: int | None) -> None:
        """The seq the next FRAME should have (0 after START); None takes the next one as it comes."""
        self._next_frame_seq = seq

    def expect_iq_seq(self, seq: int | None) -> None:
        """The seq the next IQ packet should have (0 after START, spec 10); None takes the next one."""
        self._next_iq_seq = seq

    @property
    def buffered(self) -> int:
        return self._carried

    def feed(self, data: bytes | bytearray | memoryview, *, owned: bool = False) -> list[Packet]:
        """The packets `data` completes. `owned`: the buffer is handed over (see the class)."""
        out: list[Packet] = []
        owned = owned or isinstance(data, bytes)
        with memoryview(data) as raw:
            view = raw.cast("B") if raw.format != "B" or raw.ndim != 1 else raw
            while self._carried:
                need = self._carry_need()
                if need:
                    if not view:
                        break
                    take = min(need, len(view))
                    self._carry[self._carried : self._carried + take] = view[:take]
                    self._carried += take
                    view = view[take:]
                    continue
                carry, carried = self._carry, self._carried
                pos = self._scan(carry, carried, out, owned=True)
                self._carry = bytearray(carry[pos:carried])  # a new buffer: views may point into the old
                self._carried = carried - pos
            if view and not self._carried:
                pos = self._scan(view, len(view), out, owned=owned)
                if pos < len(view):
                    self._carry = bytearray(view[pos:])
                    self._carried = len(view) - pos
        return out

    def _carry_need(self) -> int:
        """Bytes the carry still needs before it can be scanned (0: scan it now); sizes it once the
        packet's length is known, so gathering a large packet copies each byte once."""
        carried = self._carried
        if carried < HEADER_SIZE:
            # Carried as the possible start of a sync word split across reads: once the next bytes
            # show it is not one, scan now (discarding it as a single read would), not at 28 bytes.
            n = min(carried, len(SYNC))
            if self._carry[:n] != SYNC[:n]:
                return 0
            if len(self._carry) < HEADER_SIZE:
                self._carry += bytes(HEADER_SIZE - len(self._carry))
            return HEADER_SIZE - carried
        carry = self._carry
        (sync, _, _, _, _, _, length) = _HEADER.unpack_from(carry, 0)
        (hcrc,) = _CRC.unpack_from(carry, 24)
        with memoryview(carry) as view, view[:24] as header:
            if sync != SYNC or length > MAX_PAYLOAD or zlib.crc32(header) != hcrc:
                return 0  # the scan resyncs
        total = HEADER_SIZE + int(length) + TRAILER_SIZE
        if len(carry) < total:
            grown = bytearray(total)
            grown[:carried] = carry[:carried]
            self._carry = grown
        return total - carried

    def _scan(self, buf: bytearray | memoryview, end: int, out: list[Packet], *, owned: bool) -> int:
        """Parse the packets in buf[:end] into `out`; returns where the unfinished tail begins."""
        counts = self.counts
        pos = 0
        with memoryview(buf) as view:
            while True:
                found = _SYNC_SEARCH(view, pos, end)
                if found is None:
                    # Keep a tail that may be the start of a sync word split across reads.
                    keep = 0
                    for k in (3, 2, 1):
                        if end - pos >= k and view[end - k : end] == SYNC[:k]:
                            keep = k
                            break
                    counts["bytes_discarded"] += end - pos - keep
                    return end - keep
                start = found.start()
                if start > pos:
                    counts["bytes_discarded"] += start - pos
                    pos = start
                if end - pos < HEADER_SIZE:
                    return pos
                (_, version, kind, _, seq, dev_us, length) = _HEADER.unpack_from(view, pos)
                (hcrc,) = _CRC.unpack_from(view, pos + 24)
                if length > MAX_PAYLOAD or zlib.crc32(view[pos : pos + 24]) != hcrc:
                    counts["resyncs"] += 1
                    counts["bytes_discarded"] += 1
                    pos += 1
                    continue
                stop = pos + HEADER_SIZE + length + TRAILER_SIZE
                if end < stop:
                    return pos
                (pcrc,) = _CRC.unpack_from(view, stop - TRAILER_SIZE)
                payload_view = view[pos + HEADER_SIZE : stop - TRAILER_SIZE]
                pos = stop
                if zlib.crc32(payload_view) != pcrc:
                    counts["crc_errors"] += 1
                    if kind in (PacketKind.FRAME, PacketKind.IQ):
                        self._emit(out, kind, seq, dev_us, b"", version, damaged=True)
                    continue
                if kind not in _KNOWN_KINDS:
                    counts["unknown_packets"] += 1
                    continue
                bulk = kind in (PacketKind.FRAME, PacketKind.IQ)
                # Views only of a handed-over buffer; anything else (and every small packet) is copied.
                payload = payload_view.toreadonly() if bulk and owned else bytes(payload_view)
                damaged = False
                if version == PROTOCOL_VERSION:
                    if kind == PacketKind.FRAME and not frame_payload_ok(payload):
                        counts["malformed"] += 1
                        damaged = True
                    elif kind == PacketKind.IQ and not iq_payload_ok(payload):
                        counts["iq_malformed"] += 1
                        damaged = True
                self._emit(out, kind, seq, dev_us, b"" if damaged else payload, version, damaged=damaged)

    def _emit(  # noqa: PLR0917
        self, out: list[Packet], kind: int, seq: int, dev_us: int, payload: bytes | memoryview, version: int,
        *, damaged: bool,
    ) -> None:  # fmt: skip
        if self._count_frame_gaps:
            if kind == PacketKind.FRAME:
                self.note_frame_seq(seq)
            elif kind == PacketKind.IQ:
                self.note_iq_seq(seq)
        self.counts["packets"] += not damaged
        out.append(Packet(kind, seq, dev_us, payload, version, damaged))

    def note_frame_seq(self, seq: int) -> None:
        """Count the FRAME seqs missing before `seq` in the current stream."""
        # A FRAME with a good header has a trustworthy seq even when its payload is bad, so a
        # CRC error or malformed frame is counted as that, not also as a dropped frame.
        expected = self._next_frame_seq
        if expected is not None:
            gap = (seq - expected) & 0xFFFFFFFF
            if gap < 0x80000000:  # a seq going backwards means the probe restarted its count
                self.counts["frames_dropped"] += gap
        self._next_frame_seq = (seq + 1) & 0xFFFFFFFF

    def note_iq_seq(self, seq: int) -> None:
        """Count the IQ seqs missing before `seq` in the current stream (spec 10: their own counter)."""
        expected = self._next_iq_seq
        if expected is not None:
            gap = (seq - expected) & 0xFFFFFFFF
            if gap < 0x80000000:  # backwards: the probe restarted its count
                self.counts["iq_dropped"] += gap
        self._next_iq_seq = (seq + 1) & 0xFFFFFFFF
