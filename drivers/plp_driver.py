"""PlpProbeDriver: the Probe Link Protocol (PLP/1) over any transport: handshake, commands, frames, IQ."""

from __future__ import annotations

import collections
import math
import threading
import time
from collections.abc import Callable
from typing import Protocol

import numpy as np
import numpy.typing as npt

from drivers.base import BaseProbeDriver
from drivers.plp_codec import (
    PROTOCOL_VERSION,
    FrameHeader,
    IqHeader,
    MalformedPayload,
    Opcode,
    Packet,
    PacketKind,
    PacketParser,
    ReplyStatus,
    decode_event,
    decode_f32,
    decode_frame_payload,
    decode_iq_payload,
    decode_json_object,
    decode_reply,
    encode_command,
    set_args,
)
from drivers.transports import Transport
from scanner_app.doppler import DopplerMode, IqPacket
from scanner_app.frame import BeamGeometry, DataFormat, Frame, Geometry, ImagingSettings, ProbeIdentity
from scanner_app.probe import (
    LinkFault,
    ProbeDescriptor,
    ProbeError,
    ProbeEvent,
    ProbeEventKind,
    ProbeNotFound,
    ProbeRefused,
    SettingKey,
)

REPLY_TIMEOUT_S = 0.2  # spec 2: every command is answered within 200 ms
COMMAND_ATTEMPTS = 2  # spec 2: a lost command is retried once
MAX_PENDING_FRAMES = 8  # frames that arrive while waiting for a reply, kept for read_frame
# IQ packets kept between two reads: pw at 78 packets/s for about 3 s (spec 10), so a slow
# setting change or a burst never costs Doppler data; older ones beyond it count as `iq_overrun`.
MAX_PENDING_IQ = 256
# A packet still arriving when a read's timeout ends (a big frame on a slow serial line) may take this
# much longer: a frame on its way is not "no frame", so the engine does not restart a flowing stream.
MID_PACKET_GRACE_S = 1.0
MID_PACKET_QUIET_S = 0.05  # ... and the line is quiet once a read this long brings nothing
DRAIN_MAX_S = 0.1  # reading what the link already holds never takes longer than this
IN_FLIGHT_QUIET_S = 0.02  # after STOP: the link is quiet once a read this long brings nothing
IN_FLIGHT_MAX_S = 1.0
COUNTER_KEYS = (
    "frames", "frames_dropped", "crc_errors", "resyncs", "malformed", "unknown_packets", "link_faults",
    "probe_tx_dropped", "frames_overrun", "frames_discarded",
    "iq_packets", "iq_dropped", "iq_malformed",
)  # fmt: skip
# IQ (spec 10): `iq_packets` handed out, `iq_dropped` seq gaps, `iq_malformed` dropped as impossible;
# `iq_overrun` (the host fell behind) and `iq_discarded` (in flight at a stop) appear when they happen.
# `probe_tx_dropped`: frames the probe itself could not send (STATUS `tx_dropped`, spec 5), summed
# over the probe's power cycles: a saturated link, invisible in the seq gaps the host counts.


class PoweredDevice(Protocol):
    """Something the driver powers with its link: the in-process simulated probe."""

    def power_on(self) -> None: ...

    def power_off(self) -> None: ...


class PlpProbeDriver(BaseProbeDriver):
    """Speaks PLP/1 over a `Transport`; frames come out as `Frame` values with their calibration.

    `device`, when given, is powered on at connect and off at close (the simulated probe, so it lives
    and dies with the link). `clock` gives seconds for reply deadlines (tests inject a fake one).
    """

    def __init__(
        self,
        transport: Transport,
        *,
        device: PoweredDevice | None = None,
        clock: Callable[[], float] = time.monotonic,
        host_time_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        super().__init__(transport.name)
        self.transport = transport
        self._device = device
        self._clock = clock
        self._host_time_ns = host_time_ns
        for key in COUNTER_KEYS:
            self._counts[key] = 0  # present from the start, so reports always show them
        self._parser = PacketParser(self._counts)
        # A transport whose reads fill a buffer nothing writes again while it is viewed lets frames
        # keep views of it: their pixels are then copied once, into the ring (see PacketParser).
        self._owned_reads = bool(getattr(transport, "hands_over_reads", False))
        self._event_parser = PacketParser(self._counts)
        self._cmd_seq = 0
        self._frames: collections.deque[Frame] = collections.deque()
        self._iq: collections.deque[IqPacket] = collections.deque()
        self._events: collections.deque[ProbeEvent] = collections.deque()
        self._setpoints: dict[SettingKey, float] = {}
        self._wake = threading.Event()
        self._accepting = False  # frames belong to the current stream: from START's reply to STOP
        self._taking_all = False  # in read_frames: every frame read is handed out
        self._identity = ProbeIdentity("", "", "")
        self._tx_dropped_last = 0  # the probe's own tx_dropped in its latest STATUS
        self._tx_dropped_before = 0  # what it had counted before it last restarted its count

    @property
    def device(self) -> PoweredDevice | None:
        """The in-process device this driver powers, if any (the simulated probe)."""
        return self._device

    @property
    def setpoints(self) -> dict[SettingKey, float]:
        """What the host last asked for, by key (compare `applied_settings`, the probe's readback)."""
        return dict(self._setpoints)

    # -- hooks --------------------------------------------------------------------------------

    def _do_connect(self) -> ProbeDescriptor:
        if self._device is not None:
            self._device.power_on()
        self.transport.open()
        # Spec 7: RESET_STREAM before HELLO (on serial this only discards input, spec 6).
        self.transport.reset_stream()
        self.transport.discard_input()
        self._parser.reset()
        self._event_parser.reset()
        self._discard_pending()
        self._accepting = False
        reply = self._hello()
        if reply.version != PROTOCOL_VERSION:
            raise self._refused_version(reply.version)
        _, status, data = decode_reply(reply.data)
        if status != ReplyStatus.OK:
            raise ProbeRefused(f"{self.display_name} refused HELLO ({_status_name(status)})")
        try:
            descriptor = ProbeDescriptor.from_json_dict(decode_json_object(data))
            _check_finite(descriptor)
        except ValueError as exc:  # MalformedPayload included
            raise ProbeRefused(f"{self.display_name} sent an unreadable descriptor at HELLO: {exc}") from None
        if descriptor.protocol != PROTOCOL_VERSION:
            raise self._refused_version(descriptor.protocol)
        self._identity = descriptor.identity
        return descriptor

    def _refused_version(self, version: int) -> ProbeRefused:
        return ProbeRefused(
            f"{self.display_name} speaks PLP/{version} but this app speaks PLP/{PROTOCOL_VERSION}: "
            "update the probe firmware or the app so both speak the same version"
        )

    def _hello(self) -> Packet:
        t = self.transport
        try:
            return self._command_packet(
                Opcode.HELLO, bytes([PROTOCOL_VERSION]), t.hello_timeout_s, t.hello_attempts, any_version=True
            )
        except LinkFault:
            raise ProbeNotFound(
                f"no PLP/{PROTOCOL_VERSION} probe answered on {t.name}: "
                "check it is a PLP probe, powered, and on this port or id"
            ) from None

    def _do_start(self) -> None:
        self._discard_pending()
        self._accepting = False
        self._command(Opcode.START)  # _handle starts accepting frames at the START reply

    def _do_stop(self) -> None:
        self._accepting = False  # frames still in flight belong to the stream we stop
        self._discard_pending()
        self._command(Opcode.STOP)
        # Spec 2: frames already in flight may still arrive. Read them now, counted as discarded,
        # rather than leave them for a RESET_STREAM or an input flush to lose without a count.
        self._read_until_quiet()

    def _do_close(self) -> None:
        try:
            self.transport.close()
        finally:
            self._discard_pending()
            if self._device is not None:
                self._device.power_off()

    def _discard_pending(self) -> None:
        """Frames received but never handed out are counted, so every frame sent is accounted for."""
        self._counts["frames_discarded"] += len(self._frames)
        self._frames.clear()
        if self._iq:
            self._counts["iq_discarded"] += len(self._iq)
            self._iq.clear()

    def _do_interrupt(self) -> None:
        self._wake.set()

    def _do_set(self, key: SettingKey, value: float) -> float:
        self._setpoints[key] = value
        what = f"SET {key.name}={value:g}"
        return self._readback(self._command(Opcode.SET, set_args(key, value), what=what), what)

    def _do_get(self, key: SettingKey) -> float:
        what = f"GET {key.name}"
        return self._readback(self._command(Opcode.GET, bytes([key]), what=what), what)

    def _readback(self, data: bytes, what: str) -> float:
        """The value a SET or GET reply carries; one no probe can have is a failed setting, not a value."""
        try:
            return decode_f32(data)
        except MalformedPayload as exc:
            self._counts["bad_replies"] += 1
            raise ProbeError(
                f"{self.display_name} answered {what} with a bad value ({exc}); not applied"
            ) from None

    def ping(self) -> None:
        """Keep-alive: raises LinkFault if the probe does not answer."""
        self._command(Opcode.PING)

    def send_command(self, opcode: int, args: bytes = b"") -> tuple[int, bytes]:
        """Send any command (vendor or simulator extension) and return (status, reply data)."""
        _, status, data = decode_reply(self._command_packet(opcode, args).data)
        return status, data

    def _do_poll_events(self) -> list[ProbeEvent]:
        data = self.transport.read_events()
        if data:
            self._handle(self._event_parser.feed(data), None, None)
        out = list(self._events)
        self._events.clear()
        return out

    def _do_read_frame(self, timeout_s: float) -> Frame | None:
        if not self._frames:
            self._wait_for_frame(timeout_s)
        return self._frames.popleft() if self._frames else None

    def _do_read_frames(self, timeout_s: float) -> list[Frame]:
        # Every frame read here is handed out, so the pending queue's cap (for frames that pile up
        # while nobody reads) does not apply: a read of a large transfer brings many at once.
        self._taking_all = True
        try:
            if not self._frames:
                self._wait_for_frame(timeout_s)
            if (self._frames or self._iq) and self._parser.buffered:
                # A packet is on its way behind these: the caller wants the newest too. A read that
                # ended on a packet boundary took what the link held (a USB read that returns less
                # than asked is a short transfer: the device had no more), so asking again would
                # only wait a whole read timeout (1 ms on USB) on every step for nothing.
                self._read_available()
        finally:
            self._taking_all = False
        frames = list(self._frames)
        self._frames.clear()
        return frames

    def _do_read_iq(self) -> list[IqPacket]:
        packets = list(self._iq)
        self._iq.clear()
        return packets

    def _wait_for_frame(self, timeout_s: float) -> None:
        """Read until a frame (or an IQ packet) is queued, `interrupt()`, or the timeout ends with no
        packet arriving. IQ ends the wait too: pw packets come far more often than B-mode frames, and
        Doppler must not wait for the next frame to be processed."""
        deadline = self._clock() + timeout_s
        first = True
        while not self._frames and not self._iq and not self._wake.is_set():
            remaining = deadline - self._clock()
            if remaining > 0:
                wait_s = min(remaining, 0.1)
            elif self._parser.buffered and remaining > -MID_PACKET_GRACE_S:
                wait_s = MID_PACKET_QUIET_S  # a packet is on its way: go on while its bytes come
            elif first:
                wait_s = 0.0  # a zero timeout still looks at what the link holds
            else:
                break
            first = False
            data = self.transport.read(wait_s)
            if data:
                self._handle(self._parser.feed(data, owned=self._owned_reads), None, None)
            elif remaining <= 0:
                break
        if not self._frames:
            self._wake.clear()

    def _read_available(self) -> None:
        """Parse what the link holds now, without waiting for more."""
        deadline = self._clock() + DRAIN_MAX_S
        while not self._wake.is_set() and self._clock() < deadline and len(self._frames) < MAX_PENDING_FRAMES:
            data = self.transport.read(0.0)
            if not data:
                return
            self._handle(self._parser.feed(data, owned=self._owned_reads), None, None)

    def _read_until_quiet(self) -> None:
        deadline = self._clock() + IN_FLIGHT_MAX_S
        while self._clock() < deadline:
            data = self.transport.read(IN_FLIGHT_QUIET_S)
            if not data:
                return
            self._handle(self._parser.feed(data, owned=self._owned_reads), None, None)

    # -- commands -----------------------------------------------------------------------------

    def _command(self, opcode: Opcode, args: bytes = b"", what: str = "") -> bytes:
        _, status, data = decode_reply(self._command_packet(opcode, args).data)
        if status != ReplyStatus.OK:
            raise ProbeError(f"{self.display_name} refused {what or opcode.name}: {_status_name(status)}")
        return data

    def _command_packet(
        self,
        opcode: int,
        args: bytes = b"",
        timeout_s: float = REPLY_TIMEOUT_S,
        attempts: int = COMMAND_ATTEMPTS,
        *,
        any_version: bool = False,
    ) -> Packet:
        """Send a command and wait for its REPLY (matched by seq and opcode), retrying on silence."""
        self._cmd_seq = (self._cmd_seq + 1) & 0xFFFFFFFF
        seq = self._cmd_seq
        packet = encode_command(seq, opcode, args)
        name = Opcode(opcode).name if opcode in Opcode._value2member_map_ else f"opcode 0x{opcode:02x}"
        for _ in range(attempts):
            self.transport.write(packet)
            deadline = self._clock() + timeout_s
            while True:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    break
                data = self.transport.read(min(remaining, 0.1))
                if not data:
                    continue
                reply = self._handle(
                    self._parser.feed(data, owned=self._owned_reads), seq, opcode, any_version=any_version
                )
                if reply is not None:
                    return reply
        self._counts["link_faults"] += 1
        raise LinkFault(
            f"{self.display_name}: no reply to {name} within {timeout_s * 1000:.0f} ms "
            f"({attempts} attempts): check the cable and that the probe is powered"
        )

    # -- incoming packets ---------------------------------------------------------------------

    def _handle(
        self, packets: list[Packet], seq: int | None, opcode: int | None, *, any_version: bool = False
    ) -> Packet | None:
        """Sort packets into frames, events and replies; returns the awaited reply if among them."""
        found: Packet | None = None
        for p in packets:
            if p.version != PROTOCOL_VERSION and not (any_version and p.kind == PacketKind.REPLY):
                self._counts["unknown_packets"] += 1  # another protocol's packets: skip, never fail
                continue
            kind = p.kind
            if kind == PacketKind.FRAME:
                self._on_frame(p)
            elif kind == PacketKind.REPLY:
                if found is None and p.seq == seq and len(p.payload) >= 2 and p.payload[0] == opcode:
                    found = p
                    if opcode == Opcode.START and p.payload[1] == ReplyStatus.OK:
                        # Frames right behind the reply, maybe in this very batch, are the new stream.
                        self._accepting = True
                        self._parser.expect_frame_seq(0)  # spec 1: FRAME seq is 0 at each START
                        self._parser.expect_iq_seq(0)  # spec 10: so is the IQ packets' own seq
                else:
                    self._counts["stale_replies"] += 1  # a late answer to an earlier attempt
            elif kind == PacketKind.EVENT:
                self._on_event(p)
            elif kind == PacketKind.STATUS:
                self._on_status(p)
            elif kind == PacketKind.IQ:
                self._on_iq(p)
            else:
                self._counts["unknown_packets"] += 1  # a COMMAND has no business coming to the host
        return found

    def _on_frame(self, p: Packet) -> None:
        if not self._accepting:
            # A frame in flight after STOP, or before START's reply: not this stream's, but counted.
            self._counts["frames_discarded"] += not p.damaged
            return
        self._parser.note_frame_seq(p.seq)
        if p.damaged:
            return  # already counted as a CRC error or malformed
        try:
            h, pixels = decode_frame_payload(p.payload)
        except MalformedPayload:
            self._counts["malformed"] += 1
            return
        try:
            frame = self._frame(p, h, pixels)
        except ValueError:  # Frame refuses what the payload check let through: still malformed
            self._counts["malformed"] += 1
            return
        self._counts["frames"] += 1
        if len(self._frames) >= MAX_PENDING_FRAMES and not self._taking_all:
            self._frames.popleft()
            self._counts["frames_overrun"] += 1  # the host fell behind the probe
        self._frames.append(frame)

    def _frame(self, p: Packet, h: FrameHeader, pixels: npt.NDArray[np.generic]) -> Frame:
        fmt = DataFormat(h.data_format)
        geometry = Geometry(h.geometry)
        axial = h.depth_mm / h.rows if h.rows else 0.0
        if fmt == DataFormat.BMODE_U8 or geometry == Geometry.LINEAR:
            lateral = h.width_mm / h.cols if h.cols else 0.0
        else:
            lateral = h.radius_mm * math.radians(h.fov_deg) / h.cols if h.cols else 0.0
        return Frame(
            seq=p.seq,
            device_time_us=p.device_time_us,
            host_time_ns=self._host_time_ns(),
            pixels=pixels,
            spacing_mm=(axial, lateral),
            data_format=fmt,
            settings=ImagingSettings(
                depth_mm=h.depth_mm,
                gain_db=h.gain_db,
                frequency_mhz=h.frequency_mhz,
                focus_mm=h.focus_mm,
                dynamic_range_db=h.dynamic_range_db,
                settings_id=h.settings_id,
            ),
            probe=self._identity,
            beam=BeamGeometry(
                geometry=geometry,
                width_mm=h.width_mm,
                field_of_view_deg=h.fov_deg,
                radius_mm=h.radius_mm,
                sampling_mhz=h.sampling_mhz,
            ),
        )

    def _on_iq(self, p: Packet) -> None:
        if not self._accepting:
            self._counts["iq_discarded"] += not p.damaged  # in flight after STOP or before START's reply
            return
        self._parser.note_iq_seq(p.seq)
        if p.damaged:
            return  # already counted as a CRC error or IQ malformed
        descriptor = self.descriptor
        if descriptor is None or descriptor.doppler is None:
            self._counts["unknown_packets"] += 1  # IQ from a probe that said it does no Doppler
            return
        try:
            # Spec 10: samples outside the descriptor's depth range make the packet malformed.
            h, iq = decode_iq_payload(p.payload, descriptor.depth_range_mm[1])
            packet = self._iq_packet(p, h, iq)
        except ValueError:  # MalformedPayload, or IqPacket refusing what the payload check let through
            self._counts["iq_malformed"] += 1
            return
        self._counts["iq_packets"] += 1
        if len(self._iq) >= MAX_PENDING_IQ:
            self._iq.popleft()
            self._counts["iq_overrun"] += 1  # the host fell behind the probe
        self._iq.append(packet)

    def _iq_packet(self, p: Packet, h: IqHeader, iq: npt.NDArray[np.complex64]) -> IqPacket:
        return IqPacket(
            mode=DopplerMode(h.mode),
            geometry=Geometry(h.geometry),
            samples=h.samples,
            lines=h.lines,
            pulses=h.pulses,
            prf_hz=h.prf_hz,
            top_mm=h.top_mm,
            bottom_mm=h.bottom_mm,
            left=h.left,
            right=h.right,
            steer_deg=h.steer_deg,
            frequency_mhz=h.frequency_mhz,
            frame_seq=h.frame_seq,
            settings_id=h.settings_id,
            device_time_us=p.device_time_us,
            host_time_ns=self._host_time_ns(),
            seq=p.seq,
            iq=iq,
        )

    def _on_event(self, p: Packet) -> None:
        try:
            code, text = decode_event(p.data)
            kind = ProbeEventKind(code)
        except (MalformedPayload, ValueError):
            self._counts["unknown_packets"] += 1
            return
        self._counts["events"] += 1
        self._events.append(ProbeEvent(kind, text))

    def _on_status(self, p: Packet) -> None:
        try:
            status = decode_json_object(p.data)  # NaN or Infinity in it: not JSON, a bad STATUS
        except MalformedPayload:
            self._counts["bad_status"] += 1
            return
        self._counts["status_reports"] += 1
        self._note_tx_dropped(status.get("tx_dropped"))
        self._events.append(ProbeEvent(None, status=status))

    def _note_tx_dropped(self, value: object) -> None:
        """Spec 5: `tx_dropped` is the probe's count since it powered on; keep a sum that never goes back."""
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return  # absent or not a count: nothing learnt
        if value < self._tx_dropped_last:
            self._tx_dropped_before += self._tx_dropped_last  # the probe restarted its count
        self._tx_dropped_last = value
        self._counts["probe_tx_dropped"] = self._tx_dropped_before + value


def _check_finite(descriptor: ProbeDescriptor) -> None:
    """A descriptor's numbers, as a probe could send them as strings ("nan"): each must be finite."""
    numbers = (
        *descriptor.frequencies_mhz,
        *descriptor.depth_range_mm,
        descriptor.max_frame_rate_hz,
        descriptor.radius_mm,
    )  # the doppler capability checks its own numbers
    if not all(math.isfinite(x) for x in numbers):
        raise ValueError("a number in it is not finite")


def _status_name(status: int) -> str:
    try:
        return ReplyStatus(status).name
    except ValueError:
        return f"status {status}"
