"""Doppler values shared by driver, engine and processing: IQ packets, the probe's capability, Nyquist.

Spec section 10 (the Doppler extension of PLP/1). Qt-free and numpy-only: processing
(`scanner_app/doppler_processing.py`) works on `IqPacket` values; this module does no estimation.
"""

from __future__ import annotations

import enum
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from scanner_app.frame import Geometry

# Speed of sound the spec fixes for every velocity conversion (spec section 10), m/s.
SPEED_OF_SOUND_M_S = 1540.0


class DopplerMode(enum.IntEnum):
    """Values of SET key 16 `doppler_mode` and of an IQ packet's mode byte (spec section 10)."""

    OFF = 0
    FLOW = 1  # colour or power: the same IQ, the host chooses the display
    PW = 2  # pulsed wave, one gate

    @property
    def wire_name(self) -> str:
        """The name the descriptor's `doppler.modes` list uses ("flow", "pw"); "off" for OFF."""
        return self.name.lower()


def nyquist_velocity_m_s(prf_hz: float, f0_mhz: float) -> float:
    """The largest velocity along the beam seen without aliasing, in m/s: c · prf / (4 · f0).

    `prf_hz` is the Doppler pulse repetition frequency in Hz, `f0_mhz` the Doppler transmit centre
    frequency in MHz; c = 1540 m/s (spec section 10).
    """
    if not (prf_hz > 0 and f0_mhz > 0):
        raise ValueError(f"PRF {prf_hz} Hz and frequency {f0_mhz} MHz must be positive")
    return SPEED_OF_SOUND_M_S * prf_hz / (4.0 * f0_mhz * 1e6)


def velocity_m_s_from_shift(doppler_shift_hz: float, f0_mhz: float) -> float:
    """Velocity along the beam in m/s for a Doppler shift in Hz: v = c · f_D / (2 · f0) (spec section 10).

    Positive shift (and velocity) means flow toward the probe; `f0_mhz` is in MHz.
    """
    if not f0_mhz > 0:
        raise ValueError(f"frequency {f0_mhz} MHz must be positive")
    return SPEED_OF_SOUND_M_S * doppler_shift_hz / (2.0 * f0_mhz * 1e6)


def doppler_shift_hz(velocity_m_s: float, f0_mhz: float) -> float:
    """Doppler shift in Hz of a velocity along the beam in m/s (toward the probe positive)."""
    if not f0_mhz > 0:
        raise ValueError(f"frequency {f0_mhz} MHz must be positive")
    return 2.0 * f0_mhz * 1e6 * velocity_m_s / SPEED_OF_SOUND_M_S


BOX_MIN_HEIGHT_MM = 1.0  # a colour box kept inside a shallow image is still this tall


def box_within_image(top_mm: float, bottom_mm: float, depth_mm: float) -> tuple[float, float]:
    """A colour box's (top, bottom) in mm clamped to an image `depth_mm` deep, as a probe must keep it:
    no flow is acquired, computed or drawn below the image. The box keeps BOX_MIN_HEIGHT_MM."""
    top = min(top_mm, depth_mm - BOX_MIN_HEIGHT_MM)
    return top, min(max(bottom_mm, top + BOX_MIN_HEIGHT_MM), depth_mm)


@dataclass(frozen=True, slots=True)
class IqPacket:
    """One IQ packet as a frozen value (spec section 10): complex baseband samples with their geometry.

    `iq` is complex64, read-only, shape (lines, pulses, samples): flow, one ensemble of `pulses`
    pulses on each of `lines` lines across the box, samples from `top_mm` to `bottom_mm`; pw, one
    line of `pulses` consecutive pulses at `prf_hz` across the gate. `left`/`right` are mm for a
    linear array and degrees from the centre line for a convex one. `seq` is the IQ packets' own
    counter (0 at each START); `frame_seq` the B-mode FRAME a flow ensemble was interleaved with
    (pw: 0).
    """

    mode: DopplerMode
    geometry: Geometry
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
    frame_seq: int
    settings_id: int
    device_time_us: int
    host_time_ns: int
    seq: int
    iq: npt.NDArray[np.complex64]

    def __post_init__(self) -> None:
        iq = self.iq
        if iq.dtype != np.complex64:
            iq = iq.astype(np.complex64)
        if iq.shape != (self.lines, self.pulses, self.samples):
            raise ValueError(
                f"IQ packet {self.seq}: data shape {iq.shape} is not "
                f"(lines, pulses, samples) = ({self.lines}, {self.pulses}, {self.samples})"
            )
        _check_values(self)
        if iq.flags.writeable:
            # Hand out read-only arrays: a packet is a value shared between threads.
            iq = iq.view()
            iq.flags.writeable = False
        object.__setattr__(self, "iq", iq)

    @property
    def nyquist_velocity_m_s(self) -> float:
        """The aliasing velocity of this packet's PRF and frequency, m/s (spec section 10)."""
        return nyquist_velocity_m_s(self.prf_hz, self.frequency_mhz)

    @property
    def sample_spacing_mm(self) -> float:
        """Axial distance between range samples, mm (0 for a single sample)."""
        return (self.bottom_mm - self.top_mm) / (self.samples - 1) if self.samples > 1 else 0.0

    @property
    def duration_s(self) -> float:
        """Slow-time span of the packet's pulses, s."""
        return self.pulses / self.prf_hz


def _check_values(p: IqPacket) -> None:
    """Refuse an IQ packet no probe can make (spec section 10): processing trusts its numbers."""
    named = {
        "prf_hz": p.prf_hz,
        "top_mm": p.top_mm,
        "bottom_mm": p.bottom_mm,
        "left": p.left,
        "right": p.right,
        "steer_deg": p.steer_deg,
        "frequency_mhz": p.frequency_mhz,
    }
    for name, value in named.items():
        if not math.isfinite(value):
            raise ValueError(f"IQ packet {p.seq}: {name} is {value}, not a finite number")
    if p.mode not in (DopplerMode.FLOW, DopplerMode.PW):
        raise ValueError(f"IQ packet {p.seq}: mode {int(p.mode)} is neither flow (1) nor pw (2)")
    if p.prf_hz <= 0 or p.frequency_mhz <= 0:
        raise ValueError(
            f"IQ packet {p.seq}: PRF {p.prf_hz} Hz and frequency {p.frequency_mhz} MHz must be positive"
        )
    if p.top_mm >= p.bottom_mm:
        raise ValueError(f"IQ packet {p.seq}: top {p.top_mm} mm is not above bottom {p.bottom_mm} mm")
    if min(p.samples, p.lines, p.pulses) < 1:
        raise ValueError(f"IQ packet {p.seq}: {p.lines} × {p.pulses} × {p.samples} samples is empty")
    if p.mode == DopplerMode.PW and p.lines != 1:
        raise ValueError(f"IQ packet {p.seq}: a pw packet has one line, not {p.lines}")


@dataclass(frozen=True, slots=True)
class DopplerCapability:
    """What a probe's descriptor `doppler` field offers (spec section 10); absent means no Doppler."""

    modes: tuple[DopplerMode, ...]
    prf_range_hz: tuple[float, float]
    ensemble_range: tuple[int, int]
    steer_angles_deg: tuple[float, ...]
    frequencies_mhz: tuple[float, ...]

    @classmethod
    def from_json_dict(cls, d: Mapping[str, Any]) -> DopplerCapability:
        """Parse the descriptor's `doppler` object; anything missing or impossible raises ValueError."""
        try:
            by_name = {m.wire_name: m for m in (DopplerMode.FLOW, DopplerMode.PW)}
            modes = tuple(by_name[str(m)] for m in d["modes"])
            prf = (float(d["prf_hz"][0]), float(d["prf_hz"][1]))
            ensemble = (int(d["ensemble"][0]), int(d["ensemble"][1]))
            steer = tuple(float(a) for a in d["steer_deg"])
            freqs = tuple(float(f) for f in d["frequencies_mhz"])
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"descriptor field doppler is malformed: {exc!r}") from exc
        numbers = (*prf, *steer, *freqs)
        if not modes or not steer or not freqs:
            raise ValueError("descriptor field doppler lists no modes, steer angles or frequencies")
        if not all(math.isfinite(x) for x in numbers):
            raise ValueError("descriptor field doppler has a number that is not finite")
        if not (0 < prf[0] <= prf[1]) or not (1 <= ensemble[0] <= ensemble[1]) or min(freqs) <= 0:
            raise ValueError(f"doppler has impossible ranges: prf {prf}, ensemble {ensemble}")
        return cls(modes, prf, ensemble, steer, freqs)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "modes": [m.wire_name for m in self.modes],
            "prf_hz": list(self.prf_range_hz),
            "ensemble": list(self.ensemble_range),
            "steer_deg": list(self.steer_angles_deg),
            "frequencies_mhz": list(self.frequencies_mhz),
        }

    def offers(self, mode: DopplerMode) -> bool:
        """True for OFF (always possible) and for every mode the probe lists."""
        return mode == DopplerMode.OFF or mode in self.modes


@dataclass(frozen=True, slots=True)
class IqDrain:
    """What an `IqCursor` got: the packets in order, and how many it lost since its last drain."""

    packets: list[IqPacket]
    lost: int


class IqRing:
    """A bounded ring of IQ packets between the acquisition thread and Doppler processing.

    One writer pushes; readers peek the newest or drain in order with an `IqCursor`, told how many
    they lost when the writer lapped them. Packets are immutable values, so a short lock suffices.
    """

    def __init__(self, capacity: int = 512) -> None:
        if capacity < 2:
            raise ValueError(f"IQ ring capacity must be at least 2 packets, got {capacity}")
        self.capacity = capacity
        self._slots: list[IqPacket | None] = [None] * capacity
        self._next_seq = 0  # the ring seq the next push gets
        self._lock = threading.Lock()

    @property
    def newest_seq(self) -> int:
        """Ring seq of the newest packet; -1 when empty."""
        return self._next_seq - 1

    def push(self, packet: IqPacket) -> int:
        """Store a packet (overwriting the oldest when full); returns its ring seq."""
        with self._lock:
            seq = self._next_seq
            self._slots[seq % self.capacity] = packet
            self._next_seq = seq + 1
        return seq

    def peek_latest(self) -> IqPacket | None:
        with self._lock:
            return self._slots[(self._next_seq - 1) % self.capacity] if self._next_seq else None

    def cursor(self, from_newest: bool = True) -> IqCursor:
        """A reader that drains packets in order: from the next push, or from the oldest still held."""
        with self._lock:
            start = self._next_seq if from_newest else max(0, self._next_seq - self.capacity)
        return IqCursor(self, start)

    def _take(self, start: int, max_packets: int | None) -> tuple[list[IqPacket], int, int]:
        with self._lock:
            oldest = max(0, self._next_seq - self.capacity)
            lost = max(0, oldest - start)
            first = start + lost
            last = self._next_seq if max_packets is None else min(self._next_seq, first + max_packets)
            taken = [self._slots[s % self.capacity] for s in range(first, last)]
        return [p for p in taken if p is not None], lost, last


class IqCursor:
    """One reader's place in an `IqRing`."""

    def __init__(self, ring: IqRing, next_seq: int) -> None:
        self._ring = ring
        self._next_seq = next_seq

    def drain(self, max_packets: int | None = None) -> IqDrain:
        packets, lost, self._next_seq = self._ring._take(self._next_seq, max_packets)
        return IqDrain(packets, lost)
