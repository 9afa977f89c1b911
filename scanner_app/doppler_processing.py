"""Colour and power Doppler processing: IQ ensembles (spec section 10) become `FlowFrame` values.

Wall filter along slow time (polynomial regression), lag-one autocorrelation (Kasai) mean velocity
and lag-zero power, thresholds, frame-to-frame persistence and the colour-write priority against the
B-mode. Runs on the acquisition thread on plain numpy arrays (a packet type adapts at the edge);
never imports Qt. Aliasing is kept: a flow faster than the Nyquist velocity wraps, as on any scanner.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.ndimage import uniform_filter1d

from scanner_app.frame import Geometry

SPEED_OF_SOUND_M_S = 1540.0  # spec section 10
IQ_FULL_SCALE = 32767.0  # i16 I and Q: power in dB is re one full-scale component squared
MIN_PULSES = 3  # lag-one needs two pairs after the wall filter has taken its share
_POWER_FLOOR = 1e-30  # keeps log10 finite where the filter left nothing

ComplexArray = npt.NDArray[np.complex64]
FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]


def nyquist_velocity_cm_s(prf_hz: float, f0_mhz: float) -> float:
    """Largest mean velocity along the beam the PRF can tell apart from its alias: c·prf/(4·f0)."""
    return 100.0 * SPEED_OF_SOUND_M_S * prf_hz / (4.0 * f0_mhz * 1e6)


def velocity_cm_s_from_doppler_hz(doppler_hz: float, f0_mhz: float) -> float:
    """v = c·f_D/(2·f0), positive toward the probe (spec section 10)."""
    return 100.0 * SPEED_OF_SOUND_M_S * doppler_hz / (2.0 * f0_mhz * 1e6)


def doppler_hz_from_velocity_cm_s(velocity_cm_s: float, f0_mhz: float) -> float:
    """The Doppler shift of a velocity along the beam: lets a wall filter be set in cm/s."""
    return velocity_cm_s / 100.0 * 2.0 * f0_mhz * 1e6 / SPEED_OF_SOUND_M_S


# --- wall filter --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegressionWallFilter:
    """Polynomial regression clutter filter for one ensemble length: x minus its fit of order `order`.

    Chosen over an IIR or FIR high-pass because colour ensembles are short (8-16 pulses): an IIR's
    start-up transient lasts about as long as the ensemble, and an FIR throws away its length in
    pulses. A projection uses every pulse, removes a stationary or linearly drifting echo exactly and
    is one small matrix product per ensemble. Its cut-off comes in steps (one per order); the filter
    reports the one it has (`cutoff_hz`), the -3 dB point of its mean response.
    """

    pulses: int
    order: int  # -1: no filter
    cutoff_fraction: float  # -3 dB frequency / PRF; 0 for no filter
    matrix: ComplexArray  # (pulses, pulses): I - Q Qᵀ, applied along slow time

    def cutoff_hz(self, prf_hz: float) -> float:
        return self.cutoff_fraction * prf_hz

    def __call__(self, iq: ComplexArray) -> ComplexArray:
        """Filter (lines, pulses, samples) along pulses."""
        if self.order < 0:
            return iq
        out: ComplexArray = np.matmul(self.matrix, iq)
        return out


def regression_wall_filter(pulses: int, prf_hz: float, cutoff_hz: float) -> RegressionWallFilter:
    """The regression filter whose -3 dB cut-off is nearest `cutoff_hz` (0 or less: no filter)."""
    if pulses < MIN_PULSES:
        raise ValueError(f"an ensemble needs at least {MIN_PULSES} pulses, got {pulses}")
    if prf_hz <= 0 or not math.isfinite(prf_hz):
        raise ValueError(f"PRF must be positive, got {prf_hz}")
    return _regression_filter(pulses, round(max(cutoff_hz, 0.0) / prf_hz, 4))


@functools.lru_cache(maxsize=32)
def _regression_filter(pulses: int, fraction: float) -> RegressionWallFilter:
    if fraction <= 0:
        return RegressionWallFilter(pulses, -1, 0.0, np.eye(pulses, dtype=np.complex64))
    n = np.arange(pulses)
    t = (n - (pulses - 1) / 2) / ((pulses - 1) / 2)  # centred and scaled: a well-conditioned basis
    f = np.linspace(0.0, 0.5, 1001)
    tones = np.exp(2j * np.pi * np.outer(n, f))
    best: RegressionWallFilter | None = None
    # Keep two degrees of freedom for the lag-one estimate.
    for order in range(pulses - 2):
        q, _ = np.linalg.qr(np.vander(t, order + 1, increasing=True))
        response = 1.0 - np.sum(np.abs(q.T @ tones) ** 2, axis=0) / pulses
        f3 = float(f[int(np.argmax(response >= 0.5))])
        matrix = (np.eye(pulses) - q @ q.T).astype(np.complex64)
        candidate = RegressionWallFilter(pulses, order, f3, matrix)
        if best is None or abs(f3 - fraction) < abs(best.cutoff_fraction - fraction):
            best = candidate
        if f3 >= fraction:
            break
    assert best is not None
    best.matrix.flags.writeable = False
    return best


# --- autocorrelation estimates ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Autocorrelation:
    """Lag-zero power and lag-one autocorrelation per (line, sample), averaged over slow time."""

    r0: FloatArray
    r1: ComplexArray


def autocorrelate(filtered: ComplexArray, range_average: int = 1) -> Autocorrelation:
    """R0 = ⟨|x|²⟩ and R1 = ⟨x[n+1]·conj(x[n])⟩ along pulses, then a moving mean over `range_average`.

    The moving mean runs along depth, over about one pulse length, where the echoes are correlated
    anyway: it steadies the estimate at no cost in resolution.
    """
    r0: FloatArray = np.asarray(np.mean(filtered.real**2 + filtered.imag**2, axis=1), np.float32)
    r1 = np.mean(filtered[:, 1:, :] * np.conj(filtered[:, :-1, :]), axis=1)
    if range_average > 1:
        r0 = uniform_filter1d(r0, range_average, axis=1, mode="nearest")
        r1 = uniform_filter1d(r1.real, range_average, axis=1, mode="nearest") + 1j * uniform_filter1d(
            r1.imag, range_average, axis=1, mode="nearest"
        )
    return Autocorrelation(r0.astype(np.float32, copy=False), r1.astype(np.complex64, copy=False))


def kasai_velocity_cm_s(r1: ComplexArray, prf_hz: float, f0_mhz: float) -> FloatArray:
    """Mean axial velocity from the phase of R1: wraps at ± the Nyquist velocity (aliasing kept)."""
    scale = nyquist_velocity_cm_s(prf_hz, f0_mhz) / math.pi
    v: FloatArray = (np.angle(r1) * scale).astype(np.float32)
    return v


def power_db(r0: FloatArray, gain_db: float = 0.0) -> FloatArray:
    """Lag-zero power in dB re a full-scale i16 component, plus the colour gain."""
    p: FloatArray = (10.0 * np.log10(np.maximum(r0, _POWER_FLOOR) / IQ_FULL_SCALE**2) + gain_db).astype(
        np.float32
    )
    return p


def normalised_variance(ac: Autocorrelation) -> FloatArray:
    """1 - |R1|/R0: 0 for one clean velocity, toward 1 for turbulence or noise (the colour map's green)."""
    ratio = np.abs(ac.r1) / np.maximum(ac.r0, _POWER_FLOOR)
    var: FloatArray = np.clip(1.0 - ratio, 0.0, 1.0).astype(np.float32)
    return var


# --- values -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FlowBox:
    """Where an ensemble's lines and samples lie: the IQ header's geometry (spec section 10)."""

    geometry: Geometry
    top_mm: float  # depth of the first sample
    bottom_mm: float  # depth of the last sample
    left: float  # first line: mm from the first column (linear) or degrees from the centre (convex)
    right: float
    steer_deg: float = 0.0


@dataclass(frozen=True, slots=True)
class ColorFlowSettings:
    """What the operator sets for colour and power Doppler."""

    wall_cutoff_hz: float = 50.0
    gain_db: float = 0.0  # added to the power before the threshold: the colour gain
    power_threshold_db: float = -70.0  # re full scale after gain; weaker pixels show no colour
    velocity_threshold_cm_s: float = 0.0  # |v| below this shows no colour (residual tissue motion)
    persistence: float = 0.0  # 0..<1: weight of the previous frame's autocorrelation
    range_average: int = 3  # samples in the moving mean along depth (about one pulse length)
    power_dynamic_range_db: float = 30.0  # power display: this range above the threshold

    def __post_init__(self) -> None:
        if not 0.0 <= self.persistence < 1.0:
            raise ValueError(f"persistence must be in [0, 1), got {self.persistence}")
        if self.range_average < 1 or self.power_dynamic_range_db <= 0:
            raise ValueError("range_average must be >= 1 and the power dynamic range positive")


@dataclass(frozen=True, slots=True)
class FlowFrame:
    """One colour/power Doppler estimate of the box: maps (lines × samples, read-only) with their scales.

    `velocity_cm_s` is the mean velocity along the beam, positive toward the probe, within ± the
    Nyquist velocity (aliased beyond). `valid` is where colour is shown (power and velocity
    thresholds); `power_valid` is where power Doppler is shown (power threshold only).
    """

    velocity_cm_s: FloatArray
    power_db: FloatArray
    variance: FloatArray
    valid: BoolArray
    power_valid: BoolArray
    box: FlowBox
    nyquist_cm_s: float
    prf_hz: float
    f0_mhz: float
    wall_cutoff_hz: float  # the cut-off the wall filter has (nearest to the one asked)
    frame_seq: int = 0  # the B-mode frame this ensemble was interleaved with
    host_time_ns: int = 0

    def __post_init__(self) -> None:
        for name in ("velocity_cm_s", "power_db", "variance", "valid", "power_valid"):
            array = getattr(self, name)
            if array.flags.writeable:
                view = array.view()
                view.flags.writeable = False
                object.__setattr__(self, name, view)

    @property
    def lines(self) -> int:
        return int(self.velocity_cm_s.shape[0])

    @property
    def samples(self) -> int:
        return int(self.velocity_cm_s.shape[1])


# --- the processor ------------------------------------------------------------------------------


class ColorFlowProcessor:
    """Turns successive IQ ensembles of one box into `FlowFrame`s; keeps the persistence state.

    One instance per stream, on the acquisition thread. A change of box shape, PRF or frequency
    starts persistence afresh (the old estimate describes another place or scale).
    """

    def __init__(self, settings: ColorFlowSettings | None = None) -> None:
        self.settings = settings or ColorFlowSettings()
        self._previous: Autocorrelation | None = None
        self._previous_key: tuple[object, ...] | None = None

    def reset(self) -> None:
        self._previous = None
        self._previous_key = None

    def process(  # noqa: PLR0917
        self,
        iq: ComplexArray,
        prf_hz: float,
        f0_mhz: float,
        box: FlowBox,
        frame_seq: int = 0,
        host_time_ns: int = 0,
    ) -> FlowFrame:
        """Estimate velocity and power from `iq` shaped (lines, pulses, samples), complex, in i16 units."""
        if iq.ndim != 3:
            raise ValueError(f"IQ must be (lines, pulses, samples), got shape {iq.shape}")
        if f0_mhz <= 0 or not math.isfinite(f0_mhz):
            raise ValueError(f"Doppler frequency must be positive, got {f0_mhz}")
        s = self.settings
        wall = regression_wall_filter(iq.shape[1], prf_hz, s.wall_cutoff_hz)
        ac = autocorrelate(wall(iq.astype(np.complex64, copy=False)), s.range_average)
        key = (iq.shape, prf_hz, f0_mhz, box)
        if s.persistence > 0 and self._previous is not None and self._previous_key == key:
            # Persist the autocorrelation, not the velocity: averaging phasors stays right across an
            # aliasing wrap, where averaging +0.9 and -0.9 Nyquist would show a false zero.
            a = np.float32(s.persistence)
            ac = Autocorrelation(
                a * self._previous.r0 + (1 - a) * ac.r0,
                (a * self._previous.r1 + (1 - a) * ac.r1).astype(np.complex64),
            )
        self._previous, self._previous_key = ac, key
        velocity = kasai_velocity_cm_s(ac.r1, prf_hz, f0_mhz)
        power = power_db(ac.r0, s.gain_db)
        power_valid = power >= s.power_threshold_db
        valid = power_valid & (np.abs(velocity) >= s.velocity_threshold_cm_s)
        return FlowFrame(
            velocity_cm_s=velocity,
            power_db=power,
            variance=normalised_variance(ac),
            valid=valid,
            power_valid=power_valid,
            box=box,
            nyquist_cm_s=nyquist_velocity_cm_s(prf_hz, f0_mhz),
            prf_hz=prf_hz,
            f0_mhz=f0_mhz,
            wall_cutoff_hz=wall.cutoff_hz(prf_hz),
            frame_seq=frame_seq,
            host_time_ns=host_time_ns,
        )


# --- display decisions --------------------------------------------------------------------------


def color_write_mask(valid: BoolArray, bmode_u8: npt.NDArray[np.uint8], priority_level: int) -> BoolArray:
    """Where colour is drawn over the B-mode: flow found and the echo no brighter than `priority_level`.

    Bright echoes (a vessel wall, bone) keep their grey so flash artefacts do not paint tissue; 255
    always writes colour, 0 only over black. Both maps must be on the same grid.
    """
    if valid.shape != bmode_u8.shape:
        raise ValueError(f"flow mask {valid.shape} and B-mode {bmode_u8.shape} differ in shape")
    mask: BoolArray = valid & (bmode_u8 <= np.uint8(np.clip(priority_level, 0, 255)))
    return mask


def power_doppler_levels(flow: FlowFrame, threshold_db: float, dynamic_range_db: float) -> FloatArray:
    """Power Doppler display value 0..1: 0 at the threshold (and where nothing is shown), 1 at DR above."""
    level = np.clip((flow.power_db - threshold_db) / dynamic_range_db, 0.0, 1.0)
    out: FloatArray = np.where(flow.power_valid, level, 0.0).astype(np.float32)
    return out
