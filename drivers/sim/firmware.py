"""SimFirmware: the device side of PLP/1 for the simulated probe, reachable through real transports.

It answers commands, streams frames from a `FrameRenderer` on deadlines of an injectable clock,
reports STATUS about once a second, raises button EVENTs, and injects link faults on request,
counting each one so tests can compare with what the host counted. It knows nothing about USB or
serial: it reads host bytes from `receive()` and writes its packets to `ByteQueue`s that the
simulated USB backend (`usb_backend`) or the pseudo-terminal (`pty_link`) drain.

Simulator extension commands (spec 2 allows `0x80`-`0xFF`):

| opcode | name | arguments | reply data |
|---|---|---|---|
| `0x80` | SIM_SET_POSE | UTF-8 JSON, pose fields to change: `{"position_mm": 10, "pressure": 0.5}` | none |
| `0x81` | SIM_SET_SCENE | UTF-8 JSON object `{"scene": str, "variant": str}` | none |
| `0x82` | SIM_MANOEUVRE | UTF-8 JSON `{"manoeuvre": "augmentation"}` (or "valsalva", "release") | none |

With a Doppler mode set (SET key 16, spec 10) it also sends IQ packets: flow, one ensemble after each
B-mode FRAME (its `frame_seq`); pw, packets of `PW_PULSES_PER_PACKET` pulses paced at the PRF, beside
the frames. The samples come from an `IqModel` (`drivers/sim/doppler_iq.py`), fed the latest frame's
ground truth (labels, and the renderer's scene and pose) and the manoeuvres under way (`perform`,
or SIM_MANOEUVRE), timed on the scene clock the IQ is made on.

Both answer BAD_ARGUMENT to a payload that is not a JSON object (or, for SET_SCENE, lacks a string
`scene`), or that the renderer rejects (an unknown pose field or scene). If the renderer has
`set_pose(mapping)` / `set_scene(scene, variant)`, it is told.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from drivers.plp_codec import (
    PROTOCOL_VERSION,
    FrameHeader,
    IqHeader,
    MalformedPayload,
    Opcode,
    PacketKind,
    PacketParser,
    ReplyStatus,
    decode_command,
    decode_set_args,
    encode_iq_payload,
    encode_packet,
    encode_packet_parts,
    f32,
)
from drivers.sim.anatomy import Scene
from drivers.sim.doppler_iq import AnatomyIqModel, IqModel, IqRequest, SceneTruth
from drivers.sim.haemodynamics import AT_REST, Manoeuvre, Manoeuvres
from drivers.sim.pose import ProbePose
from drivers.sim.renderer import FrameRenderer, RenderedFrame, RenderParams, SpeckleLayersRenderer
from drivers.sim.settings import SETTING_RANGES, SimDopplerSettings, SimSettings, sim_descriptor
from scanner_app.doppler import DopplerMode
from scanner_app.frame import DataFormat, Geometry
from scanner_app.probe import ProbeEventKind, SettingKey

STATUS_EVERY_S = 1.0
PW_PULSES_PER_PACKET = 64  # spec 10's example: 64 pulses a packet, 78 packets a second at 5 kHz
IQ_SAMPLE_SPACING_MM = 0.2  # range samples of the flow box and the pw gate
FLOW_LINE_SPACING = {Geometry.LINEAR: 0.5, Geometry.CONVEX: 1.0}  # mm or degrees between box lines
MAX_IQ_SAMPLES, MAX_IQ_LINES = 256, 128


class ByteQueue:
    """A thread-safe FIFO of packets with a soft capacity, read out as a byte stream in any sizes.

    Packets go in whole, so a reset never leaves half a packet behind; an `urgent` packet (a reply)
    goes ahead of every packet not yet begun, as a firmware answers between frames rather than
    after its whole backlog.
    """

    def __init__(self, capacity_bytes: int) -> None:
        self.capacity_bytes = capacity_bytes
        self._packets: collections.deque[collections.deque[memoryview]] = collections.deque()
        self._head_started = False
        self._size = 0
        self._cond = threading.Condition()
        self._closed = False

    @property
    def size(self) -> int:
        return self._size

    def has_room(self, nbytes: int) -> bool:
        return self._size == 0 or self._size + nbytes <= self.capacity_bytes

    def put(self, parts: tuple[bytes | memoryview, ...], *, urgent: bool = False) -> None:
        packet = collections.deque(memoryview(p).cast("B") for p in parts if len(p))
        if not packet:
            return
        with self._cond:
            if self._closed:
                return
            if urgent:
                self._packets.insert(1 if self._head_started else 0, packet)
            else:
                self._packets.append(packet)
            self._size += sum(len(c) for c in packet)
            self._cond.notify_all()

    def wait_for_room(self, nbytes: int, timeout_s: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._closed or self.has_room(nbytes), timeout_s)

    def read_into(self, out: memoryview, timeout_s: float) -> int:
        """Copy up to len(out) bytes into `out`; 0 after `timeout_s` with nothing queued (or closed)."""
        with self._cond:
            if not self._packets and not self._cond.wait_for(
                lambda: self._closed or bool(self._packets), timeout_s
            ):
                return 0
            n = 0
            want = len(out)
            packets = self._packets
            while packets and n < want:
                chunks = packets[0]
                chunk = chunks[0]
                take = min(len(chunk), want - n)
                out[n : n + take] = chunk[:take]
                n += take
                if take == len(chunk):
                    chunks.popleft()
                    if not chunks:
                        packets.popleft()
                        self._head_started = False
                        continue
                else:
                    chunks[0] = chunk[take:]
                self._head_started = True
            self._size -= n
            self._cond.notify_all()
            return n

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        buf = bytearray(max_bytes)
        n = self.read_into(memoryview(buf), timeout_s)
        return bytes(buf[:n])

    def clear(self) -> None:
        with self._cond:
            self._packets.clear()
            self._head_started = False
            self._size = 0
            self._cond.notify_all()

    def close(self) -> None:
        """Wake every waiter (power off); reads return 0 and puts are dropped until `reopen`."""
        with self._cond:
            self._closed = True
            self._packets.clear()
            self._head_started = False
            self._size = 0
            self._cond.notify_all()

    def reopen(self) -> None:
        with self._cond:
            self._closed = False


@dataclass
class FaultSwitches:
    """Link faults to inject; each can be switched on or off while streaming.

    Rates are "every n-th frame" (0 = off). One-shot faults are armed with a count.
    """

    noise_every: int = 0  # a burst of noise (with a false sync word) before every n-th frame
    corrupt_every: int = 0  # flip a payload byte of every n-th frame (after its CRC)
    drop_every: int = 0  # skip a frame seq every n-th frame
    malformed_every: int = 0  # send every n-th frame with a payload shorter than its header says
    lose_replies: int = 0  # swallow the next n replies
    late_replies: int = 0  # delay the next n replies by `late_reply_s`
    late_reply_s: float = 0.35
    protocol_version: int = PROTOCOL_VERSION  # a probe that speaks another version
    iq_drop_every: int = 0  # skip an IQ seq every n-th IQ packet
    iq_malformed_every: int = 0  # send every n-th IQ packet one byte short of what its header says


class SimFirmware:
    """The simulated probe's firmware loop; `start()`/`stop()` run it on its own thread.

    `clock` gives seconds (device time is derived from it); `paced=False` streams as fast as the
    output queue drains (tests, benchmarks), blocking instead of dropping.
    """

    def __init__(
        self,
        renderer: FrameRenderer | None = None,
        params: RenderParams | None = None,
        *,
        frame_rate_hz: float = 30.0,
        serial: str = "SIM-0001",
        clock: Callable[[], float] = time.monotonic,
        paced: bool = True,
        out_capacity_bytes: int = 2 * 1024 * 1024,
        events_on_interrupt: bool = False,
        seed: int = 0,
        iq_model: IqModel | None = None,
    ) -> None:
        self._renderer = renderer or SpeckleLayersRenderer()
        self.iq_model: IqModel = iq_model or AnatomyIqModel(seed)
        self._initial_params = params or RenderParams()
        self._initial_rate_hz = frame_rate_hz
        self.settings = SimSettings(self._initial_params, frame_rate_hz)
        self._serial = serial
        self._clock = clock
        self.paced = paced
        self.out = ByteQueue(out_capacity_bytes)  # bulk IN / serial line
        self.interrupt_out = ByteQueue(64 * 1024)  # interrupt IN (USB only)
        self._events_on_interrupt = events_on_interrupt
        self.faults = FaultSwitches()
        self.injected: collections.Counter[str] = collections.Counter()
        self.pose: dict[str, object] = {}
        self.renderer = self._renderer  # the composition root hands it to the simulator panel
        self.scene: tuple[str, str] = ("default", "")
        self._rng = np.random.default_rng(seed)
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._parser = PacketParser()
        self._commands: collections.deque[tuple[int, bytes]] = collections.deque()
        self._late: list[tuple[float, tuple[bytes, ...]]] = []
        self._t0 = clock()
        self._streaming = False
        self._stalled = False
        self._paused_until = 0.0
        self._frame_seq = 0
        self._next_frame_t = 0.0
        self._next_status_t = 0.0
        self._frames_rendered = 0
        self._event_seq = 0
        self._status_seq = 0
        self._tx_dropped = 0
        self.tx_dropped_reported: list[int] = []  # `tx_dropped` of each STATUS sent, in order
        self._iq_seq = 0
        self._iq_sent = 0
        self._next_iq_t = 0.0
        self._pw_time_s: float | None = None  # scene time of the next pw pulse; None: restart
        self._truth: SceneTruth | None = None  # ground truth of the latest frame, for the IQ model
        self._manoeuvres: Manoeuvres = AT_REST

    # -- power and thread ---------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def streaming(self) -> bool:
        return self._streaming

    @property
    def tx_dropped(self) -> int:
        """Frames this probe could not send since it was made (the link could not carry them)."""
        return self._tx_dropped

    @property
    def frame_seq(self) -> int:
        """The seq the next frame will carry."""
        return self._frame_seq

    @property
    def iq_seq(self) -> int:
        """The seq the next IQ packet will carry (0 at each START, spec 10)."""
        return self._iq_seq

    def start(self) -> None:
        """Run the firmware loop on its own thread (idempotent)."""
        if self.running:
            return
        self._stop.clear()
        self.out.reopen()
        self.interrupt_out.reopen()
        self._thread = threading.Thread(target=self._run, name="sim-firmware", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the loop and join its thread; queued output is dropped. The renderer lets go of
        what it holds while the probe is off (a band worker process)."""
        self._stop.set()
        self._wake.set()
        self.out.close()
        self.interrupt_out.close()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None
        close = getattr(self._renderer, "close", None)
        if close is not None:
            close()

    power_on = start
    power_off = stop

    def power_cycle(self) -> None:
        """What a replug does: settings back to defaults, streaming off, device clock restarted."""
        with self._lock:
            self.settings = SimSettings(self._initial_params, self._initial_rate_hz)
            self._streaming = False
            self._stalled = False
            self._parser.reset()
            self._commands.clear()
            self._late.clear()
            self._t0 = self._clock()
            self.out.clear()
            self.interrupt_out.clear()

    def reset_stream(self) -> None:
        """RESET_STREAM (USB vendor request): stop streaming and discard queued data."""
        with self._lock:
            self._streaming = False
            self._stalled = False
            self._late.clear()
            self.out.clear()
            self.interrupt_out.clear()
        self._wake.set()

    # -- host side entry points ---------------------------------------------------------------

    def receive(self, data: bytes | memoryview) -> None:
        """Bytes from the host (bulk OUT or the serial line); commands are handled on the firmware thread."""
        with self._lock:
            for p in self._parser.feed(data):
                if p.kind == PacketKind.COMMAND and not p.damaged:
                    self._commands.append((p.seq, p.data))
        self._wake.set()

    def press_button(self, kind: ProbeEventKind, text: str = "") -> None:
        """A button press (or another event) on the probe: sent as an EVENT packet."""
        with self._lock:
            payload = bytes([int(kind)]) + text.encode("utf-8")
            packet = encode_packet(
                PacketKind.EVENT, self._event_seq, self._device_us(), payload, self._version
            )
            self._event_seq = (self._event_seq + 1) & 0xFFFFFFFF
            (self.interrupt_out if self._events_on_interrupt else self.out).put((packet,))

    def inject_stall(self) -> None:
        """Stop sending frames while still streaming, until a RESET_STREAM, STOP or START."""
        with self._lock:
            self._stalled = True
            self.injected["stalls"] += 1

    def inject_pause(self, seconds: float) -> None:
        """Acquire no frames for `seconds` of the firmware's clock, then resume by itself; commands
        are still answered, and a restart (STOP, RESET_STREAM, START) does not end it."""
        with self._lock:
            self._paused_until = self._clock() + seconds
            self.injected["pauses"] += 1
        self._wake.set()

    @property
    def paused_until(self) -> float:
        """When the injected pause ends, on the firmware's clock (0 if none was injected)."""
        return self._paused_until

    def set_faults(self, **changes: object) -> None:
        """Switch faults on or off (field names of `FaultSwitches`), safely while streaming."""
        with self._lock:
            self.faults = dataclasses.replace(self.faults, **changes)  # type: ignore[arg-type]

    @property
    def manoeuvres(self) -> Manoeuvres:
        """The virtual patient's manoeuvres so far (scene times), as the IQ model sees them."""
        return self._manoeuvres

    def perform(self, manoeuvre: Manoeuvre) -> None:
        """The virtual patient does `manoeuvre` now: on the scene clock of the IQ being made (a pw
        stream's pulses run ahead of the wall clock when unpaced)."""
        with self._lock:
            self._manoeuvres = self._manoeuvres.after(manoeuvre, self._scene_time_s())

    def straining(self) -> bool:
        """Whether the virtual patient holds a Valsalva now."""
        with self._lock:
            return self._manoeuvres.straining(self._scene_time_s())

    def _scene_time_s(self) -> float:
        return self._pw_time_s if self._pw_time_s is not None else self._clock() - self._t0

    @property
    def _version(self) -> int:
        return self.faults.protocol_version

    def _device_us(self) -> int:
        return max(0, int((self._clock() - self._t0) * 1e6))

    # -- the loop -----------------------------------------------------------------------------

    def _run(self) -> None:
        now = self._clock()
        self._next_status_t = now + STATUS_EVERY_S
        while not self._stop.is_set():
            self._wake.clear()
            self._handle_commands()
            now = self._clock()
            wait_s = self._flush_late(now)
            if now >= self._next_status_t:
                self._send_status()
                self._next_status_t = now + STATUS_EVERY_S
            wait_s = min(wait_s, self._next_status_t - now)
            if self._streaming and not self._stalled:
                wait_s = min(wait_s, self._stream_step(now))
            if wait_s > 0:
                self._wake.wait(wait_s)

    def _stream_step(self, now: float) -> float:
        """Send a frame (and pw IQ) if due; returns how long until the next one could be."""
        wait_s = self._frame_step(now)
        if now >= self._paused_until and self.settings.doppler.mode == DopplerMode.PW:
            wait_s = min(wait_s, self._pw_step(now))
        else:
            self._pw_time_s = None
        return wait_s

    def _frame_step(self, now: float) -> float:
        """Send a frame if one is due; returns how long until the next one could be."""
        if now < self._paused_until:
            self._next_frame_t = self._paused_until  # nothing acquired while paused: no burst after it
            return self._paused_until - now
        if self.paced and now < self._next_frame_t:
            return self._next_frame_t - now
        params = self.settings.params
        est_bytes = (
            28 + 48 + params.rows * params.cols * (1 if params.data_format == DataFormat.BMODE_U8 else 2) + 4
        )
        if not self.out.has_room(est_bytes):
            if self.paced:
                # The link cannot keep up: the probe itself drops the frame (STATUS tx_dropped).
                self._tx_dropped += 1
                self._advance_deadline(now)
                return max(0.0, self._next_frame_t - now)
            self.out.wait_for_room(est_bytes, 0.05)  # unpaced: back-pressure, but keep answering commands
            return 0.0
        self._send_frame(params, now)
        self._advance_deadline(now)
        return max(0.0, self._next_frame_t - self._clock()) if self.paced else 0.0

    def _advance_deadline(self, now: float) -> None:
        self._next_frame_t += 1.0 / self.settings.frame_rate_hz
        if self._next_frame_t < now - 1.0:
            self._next_frame_t = now  # fell far behind (suspend, debugger): do not burst

    def _send_frame(self, params: RenderParams, now: float) -> None:
        rendered = self._renderer.render(params, now - self._t0)
        self._truth = _truth(params, rendered, self._renderer)
        self._frames_rendered += 1
        faults = self.faults
        n = self._frames_rendered
        fmt = params.data_format
        convex = params.geometry == Geometry.CONVEX
        pixels = rendered.pixels
        header = FrameHeader(
            data_format=int(fmt),
            geometry=int(params.geometry),
            rows=pixels.shape[0],
            cols=pixels.shape[1],
            settings_id=self.settings.settings_id,
            depth_mm=rendered.depth_mm,
            width_mm=0.0 if convex and fmt != DataFormat.BMODE_U8 else rendered.width_mm,
            fov_deg=rendered.fov_deg if convex and fmt != DataFormat.BMODE_U8 else 0.0,
            radius_mm=rendered.radius_mm if convex else 0.0,
            frequency_mhz=params.frequency_mhz,
            sampling_mhz=rendered.sampling_mhz if fmt == DataFormat.RF_I16 else 0.0,
            gain_db=params.gain_db,
            focus_mm=params.focus_mm,
            dynamic_range_db=params.dynamic_range_db if fmt == DataFormat.BMODE_U8 else 0.0,
        )
        data = np.ascontiguousarray(pixels, dtype=DataFormat(fmt).dtype)
        payload: bytes | memoryview = header.pack() + data.tobytes()
        if faults.drop_every and n % faults.drop_every == 0:
            self._frame_seq = (self._frame_seq + 1) & 0xFFFFFFFF  # a frame lost on the way
            self.injected["dropped"] += 1
        if faults.malformed_every and n % faults.malformed_every == 0:
            payload = payload[: len(payload) - 1]  # one byte short of what the header says
            self.injected["malformed"] += 1
        device_us = self._device_us()
        stamp = getattr(self._renderer, "stamp", None)  # a virtual patient keeps each frame's pose
        if callable(stamp):
            stamp(device_us)
        parts = list(
            encode_packet_parts(PacketKind.FRAME, self._frame_seq, device_us, payload, self._version)
        )
        if faults.corrupt_every and n % faults.corrupt_every == 0:
            damaged = bytearray(parts[1])
            damaged[len(damaged) // 2] ^= 0x5A
            parts[1] = bytes(damaged)
            self.injected["corrupted"] += 1
        if faults.noise_every and n % faults.noise_every == 0:
            noise = self._noise()
            parts.insert(0, noise)
            self.injected["noise_bursts"] += 1
            self.injected["noise_bytes"] += len(noise)
        frame_seq = self._frame_seq
        self._frame_seq = (self._frame_seq + 1) & 0xFFFFFFFF
        self.injected["frames_sent"] += 1
        self.out.put(tuple(parts))
        doppler = self.settings.doppler
        if doppler.mode == DopplerMode.FLOW:
            self._send_iq(self._flow_request(doppler, params), now - self._t0, frame_seq)

    # -- Doppler IQ (spec 10) -------------------------------------------------------------------

    def _pw_step(self, now: float) -> float:
        """Send a pw packet if one is due; returns how long until the next one."""
        doppler = self.settings.doppler
        period_s = PW_PULSES_PER_PACKET / doppler.prf_hz
        if self._pw_time_s is None:  # pw just began: its pulses start now
            self._pw_time_s = now - self._t0
            self._next_iq_t = now
        if self.paced and now < self._next_iq_t:
            return self._next_iq_t - now
        request = self._pw_request(doppler, self.settings.params)
        self._send_iq(request, self._pw_time_s, 0)
        self._pw_time_s += period_s
        self._next_iq_t += period_s
        if self._next_iq_t < now - 1.0:
            self._next_iq_t = now  # fell far behind: do not burst
        return max(0.0, self._next_iq_t - self._clock()) if self.paced else 0.0

    def _flow_request(self, d: SimDopplerSettings, params: RenderParams) -> IqRequest:
        geometry = params.geometry
        # No flow sample deeper than the image this ensemble goes with (settings read before a depth
        # change may still hold a deeper box).
        d = d.box_within(params.depth_mm)
        top, bottom = sorted((d.box_top_mm, d.box_bottom_mm))
        bottom = max(bottom, top + IQ_SAMPLE_SPACING_MM)  # a box of no height still has two samples
        left, right = sorted((d.box_left_mm, d.box_right_mm))
        samples = _count(bottom - top, IQ_SAMPLE_SPACING_MM, MAX_IQ_SAMPLES)
        lines = _count(right - left, FLOW_LINE_SPACING[geometry], MAX_IQ_LINES)
        return IqRequest(
            DopplerMode.FLOW, geometry, samples, lines, int(d.ensemble), d.prf_hz,
            top, bottom, left, right, d.steer_deg, d.doppler_frequency_mhz,
        )  # fmt: skip

    def _pw_request(self, d: SimDopplerSettings, params: RenderParams) -> IqRequest:
        half = d.gate_size_mm / 2
        top = max(0.0, d.gate_depth_mm - half)
        bottom = max(d.gate_depth_mm + half, top + IQ_SAMPLE_SPACING_MM)
        samples = _count(bottom - top, IQ_SAMPLE_SPACING_MM, MAX_IQ_SAMPLES)
        return IqRequest(
            DopplerMode.PW, params.geometry, samples, 1, PW_PULSES_PER_PACKET, d.prf_hz,
            top, bottom, d.gate_lateral_mm, d.gate_lateral_mm, d.steer_deg, d.doppler_frequency_mhz,
        )  # fmt: skip

    def _send_iq(self, r: IqRequest, time_s: float, frame_seq: int) -> None:
        header = IqHeader(
            int(r.mode), int(r.geometry), r.samples, r.lines, r.pulses, r.prf_hz, r.top_mm, r.bottom_mm,
            r.left, r.right, r.steer_deg, r.frequency_mhz, frame_seq, self.settings.settings_id,
        )  # fmt: skip
        size = 28 + header.data_bytes + 48 + 4
        if not self.out.has_room(size) and self.paced:
            # The link cannot carry it: the pulses were acquired, the packet is lost, so its seq is
            # spent and the host counts the gap as a dropped IQ packet.
            self._iq_seq = (self._iq_seq + 1) & 0xFFFFFFFF
            self.injected["iq_tx_dropped"] += 1
            return
        truth = self._truth
        if truth is not None:
            truth = dataclasses.replace(truth, manoeuvres=self._manoeuvres)
        payload = encode_iq_payload(header, self.iq_model.synthesize(r, truth, time_s))
        self._iq_sent += 1
        faults = self.faults
        if faults.iq_drop_every and self._iq_sent % faults.iq_drop_every == 0:
            self._iq_seq = (self._iq_seq + 1) & 0xFFFFFFFF
            self.injected["iq_dropped"] += 1
        if faults.iq_malformed_every and self._iq_sent % faults.iq_malformed_every == 0:
            payload = payload[:-1]
            self.injected["iq_malformed"] += 1
        packet = encode_packet_parts(PacketKind.IQ, self._iq_seq, self._device_us(), payload, self._version)
        self._iq_seq = (self._iq_seq + 1) & 0xFFFFFFFF
        self.injected["iq_sent"] += 1
        self.out.put(packet)

    def _noise(self) -> bytes:
        """Random bytes that begin with a false sync word and hold no other."""
        body = self._rng.integers(0, 256, size=int(self._rng.integers(8, 64)), dtype=np.uint8).tobytes()
        body = body.replace(b"USPL", b"uspl").replace(b"U", b"u")  # no second sync, not even across
        return b"USPL" + body

    def _send_status(self) -> None:
        status = {
            "temperature_c": round(33.0 + 0.5 * math.sin(self._clock() / 30.0), 2),
            "tx_dropped": self._tx_dropped,
        }
        payload = json.dumps(status).encode("utf-8")
        self.out.put(
            (encode_packet(PacketKind.STATUS, self._status_seq, self._device_us(), payload, self._version),)
        )
        self.tx_dropped_reported.append(self._tx_dropped)
        self._status_seq = (self._status_seq + 1) & 0xFFFFFFFF

    def _flush_late(self, now: float) -> float:
        with self._lock:
            due = [parts for t, parts in self._late if t <= now]
            self._late = [(t, parts) for t, parts in self._late if t > now]
            later = min((t for t, _ in self._late), default=now + 1.0)
        for parts in due:
            self.out.put(parts, urgent=True)
        return later - now

    # -- commands -----------------------------------------------------------------------------

    def _handle_commands(self) -> None:
        while True:
            with self._lock:
                if not self._commands:
                    return
                seq, payload = self._commands.popleft()
                try:
                    opcode, args = decode_command(payload)
                except MalformedPayload:
                    continue  # an empty command cannot even be answered with its opcode
                status, data = self._execute(opcode, args)
                self._reply(seq, opcode, status, data)

    def _reply(self, seq: int, opcode: int, status: int, data: bytes) -> None:
        packet = encode_packet(
            PacketKind.REPLY, seq, self._device_us(), bytes([opcode, status]) + data, self._version
        )
        faults = self.faults
        if faults.lose_replies > 0:
            self.faults = dataclasses.replace(faults, lose_replies=faults.lose_replies - 1)
            self.injected["lost_replies"] += 1
            return
        if faults.late_replies > 0:
            self.faults = dataclasses.replace(faults, late_replies=faults.late_replies - 1)
            self.injected["late_replies"] += 1
            self._late.append((self._clock() + faults.late_reply_s, (packet,)))
            return
        self.out.put((packet,), urgent=True)

    def _execute(self, opcode: int, args: bytes) -> tuple[int, bytes]:
        ok, bad = ReplyStatus.OK, ReplyStatus.BAD_ARGUMENT
        if opcode == Opcode.HELLO:
            if len(args) != 1:
                return bad, b""
            d = sim_descriptor(self._initial_params.geometry, self._serial, doppler=True).to_json_dict()
            d["protocol"] = self._version
            d["max_frame_rate_hz"] = SETTING_RANGES[SettingKey.FRAME_RATE_HZ][1]
            return ok, json.dumps(d).encode("utf-8")
        if opcode == Opcode.START:
            self._streaming = True
            self._stalled = False
            self._frame_seq = 0
            self._iq_seq = 0  # spec 10: IQ packets count from 0 at each START too
            self._pw_time_s = None
            self._next_frame_t = self._clock()
            return ok, b""
        if opcode == Opcode.STOP:
            self._streaming = False
            self._stalled = False
            return ok, b""
        if opcode == Opcode.SET:
            try:
                key_code, value = decode_set_args(args)
                key = SettingKey(key_code)
            except (MalformedPayload, ValueError):
                return bad, b""
            if not math.isfinite(value):
                return bad, b""
            return ok, f32(self.settings.set(key, value))
        if opcode == Opcode.GET:
            try:
                if len(args) != 1:
                    raise ValueError
                key = SettingKey(args[0])
            except ValueError:
                return bad, b""
            return ok, f32(self.settings.get(key))
        if opcode == Opcode.PING:
            return ok, b""
        if opcode == Opcode.SIM_SET_POSE:
            pose = _json_object(args)
            if pose is None:
                return bad, b""
            set_pose = getattr(self._renderer, "set_pose", None)
            if callable(set_pose):
                try:
                    set_pose(pose)
                except (TypeError, ValueError):
                    return bad, b""  # an unknown field or an out-of-range value
            self.pose = pose
            return ok, b""
        if opcode == Opcode.SIM_SET_SCENE:
            req = _json_object(args)
            if req is None or not isinstance(req.get("scene"), str):
                return bad, b""
            variant = str(req.get("variant", ""))
            scene = str(req["scene"])
            set_scene = getattr(self._renderer, "set_scene", None)
            if callable(set_scene):
                try:
                    set_scene(scene, variant or None)
                except (KeyError, ValueError):
                    return bad, b""  # no such scene, or a variant the scene does not have
            self.scene = (scene, variant)
            return ok, b""
        if opcode == Opcode.SIM_MANOEUVRE:
            req = _json_object(args)
            try:
                manoeuvre = Manoeuvre(req.get("manoeuvre") if req is not None else None)
            except ValueError:
                return bad, b""
            self.perform(manoeuvre)
            return ok, b""
        return ReplyStatus.UNKNOWN_OPCODE, b""


def _count(span: float, spacing: float, most: int) -> int:
    """Points at `spacing` over `span`, ends included: at least 2 (a box has two edges), at most `most`."""
    return max(2, min(most, round(span / spacing) + 1))


def _truth(params: RenderParams, rendered: RenderedFrame, renderer: object) -> SceneTruth | None:
    """The frame's ground truth for the IQ model: the renderer's virtual patient (scene and pose) when
    it has one, and the labels of a linear array (their grid is in mm)."""
    scene, pose = getattr(renderer, "scene", None), getattr(renderer, "pose", None)
    if not isinstance(scene, Scene) or not isinstance(pose, ProbePose):
        scene, pose = None, None
    linear = params.geometry == Geometry.LINEAR
    labels = rendered.labels if linear else None
    if labels is None and scene is None:
        return None
    return SceneTruth(labels, rendered.depth_mm, params.width_mm, scene, pose, radius_mm=params.radius_mm)


def _json_object(args: bytes) -> dict[str, object] | None:
    try:
        value = json.loads(args.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def small_params(
    rows: int = 64, cols: int = 48, data_format: DataFormat = DataFormat.BMODE_U8
) -> RenderParams:
    """Small frames for tests and the serial line."""
    return RenderParams(rows=rows, cols=cols, data_format=data_format)
