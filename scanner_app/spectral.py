"""Pulsed-wave spectral Doppler: the gate's slow-time signal becomes a stream of `SpectrumLine`s.

An IIR high-pass wall filter whose state runs on across packets, a short-time Fourier transform
(Hann window), angle correction, baseline shift and invert, and an automatic maximum-velocity
trace. Runs on the acquisition thread on plain numpy arrays; never imports Qt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view
from scipy import fft, signal

from scanner_app.doppler_processing import (
    IQ_FULL_SCALE,
    nyquist_velocity_cm_s,
    velocity_cm_s_from_doppler_hz,
)

MAX_ANGLE_DEG = 70.0  # beyond this 1/cos θ magnifies any angle error too much to measure velocity
WALL_FILTER_ORDER = 4

ComplexArray = npt.NDArray[np.complex64]
FloatArray = npt.NDArray[np.float32]


def angle_correction_factor(angle_deg: float) -> float:
    """1/cos θ for the beam-to-flow angle θ; refused beyond 70°."""
    if not math.isfinite(angle_deg) or abs(angle_deg) > MAX_ANGLE_DEG:
        raise ValueError(f"angle correction beyond ±{MAX_ANGLE_DEG:.0f}° is refused, got {angle_deg}")
    return 1.0 / math.cos(math.radians(angle_deg))


def gate_signal(iq: ComplexArray) -> ComplexArray:
    """The sample volume's slow-time signal: IQ (…, pulses, samples) summed coherently across the gate."""
    if iq.ndim < 2:
        raise ValueError(f"IQ must end in (pulses, samples), got shape {iq.shape}")
    pulses, samples = iq.shape[-2], iq.shape[-1]
    gate: ComplexArray = iq.reshape(-1, pulses, samples).mean(axis=(0, 2)).astype(np.complex64)
    return gate


@dataclass(frozen=True, slots=True)
class SpectralSettings:
    """What the operator sets for the spectrum, and the analysis window.

    Default window: 128 pulses with 75 % overlap (a hop of 32). At 5 kHz PRF that is 25.6 ms of
    signal per column, short against the fastest systolic rise (~50 ms) so the envelope stays sharp,
    with 39 Hz bins (about 0.6 cm/s at 5 MHz); a hop of 6.4 ms gives 156 columns/s, two to three
    per 60 Hz display refresh, so the sweep scrolls smoothly without steps.
    """

    window_pulses: int = 128
    overlap: float = 0.75
    wall_cutoff_hz: float = 50.0  # 0: no wall filter
    angle_deg: float = 0.0  # beam-to-flow angle for angle correction (the angle cursor)
    baseline: float = 0.0  # zero-line shift as a fraction of the Nyquist: +0.5 gives more room above
    invert: bool = False  # show flow away from the probe above the baseline
    trace_threshold_db: float = 12.0  # the max trace follows bins this far above the noise floor
    trace_below_peak_db: float = 15.0  # … and no more than this far below the column's strongest bin

    def __post_init__(self) -> None:
        if self.window_pulses < 8 or not 0.0 <= self.overlap < 1.0:
            raise ValueError("window must be >= 8 pulses and overlap in [0, 1)")
        if not -0.95 <= self.baseline <= 0.95:
            raise ValueError(f"baseline must be within ±0.95 of the Nyquist, got {self.baseline}")
        angle_correction_factor(self.angle_deg)

    @property
    def hop_pulses(self) -> int:
        return max(1, round(self.window_pulses * (1.0 - self.overlap)))


@dataclass(frozen=True, slots=True)
class SpectrumLine:
    """One spectral column: power per velocity bin (dB re full scale) on an ascending axis in cm/s.

    Velocities are as displayed: angle-corrected, with the baseline shift and invert applied, so
    `velocity_cm_s` runs from the bottom of the display to the top. The axis array is shared
    between the lines of one setting (read-only). `max_cm_s` and `mean_cm_s` are NaN where no bin
    clears the trace threshold.
    """

    power_db: FloatArray
    velocity_cm_s: FloatArray
    time_s: float  # centre of the window, on the pulse clock since the processor started
    max_cm_s: float  # the automatic trace: the above-threshold velocity farthest from zero
    forward_cm_s: float  # the envelope above the zero line (0 when no flow there)
    reverse_cm_s: float  # the envelope below the zero line (0 when no flow there)
    mean_cm_s: float  # power-weighted mean of the above-threshold bins
    noise_floor_db: float
    nyquist_cm_s: float  # angle-corrected half-width of the scale
    angle_deg: float
    inverted: bool

    def __post_init__(self) -> None:
        for name in ("power_db", "velocity_cm_s"):
            array = getattr(self, name)
            if array.flags.writeable:
                view = array.view()
                view.flags.writeable = False
                object.__setattr__(self, name, view)


def stft_power(slow_time: ComplexArray, window: FloatArray, hop: int) -> FloatArray:
    """|FFT|² of every full window of `slow_time` every `hop` pulses (columns × bins, FFT order).

    Scaled so a tone of amplitude A has A² in its peak bin.
    """
    frames = sliding_window_view(slow_time, window.size)[::hop]
    spectra = fft.fft(frames * window, axis=1)
    power: FloatArray = (np.abs(spectra) ** 2 / np.float32(window.sum() ** 2)).astype(np.float32)
    return power


def display_bins(
    bins: int, prf_hz: float, f0_mhz: float, settings: SpectralSettings
) -> tuple[npt.NDArray[np.intp], FloatArray]:
    """Which FFT bin goes to each display row, and the display velocity of each row (ascending).

    The baseline shift chooses which alias of each frequency is shown: the display spans one PRF
    from (baseline - 1)·Nyquist. Invert shows the bin at -f where f would be.
    """
    df = prf_hz / bins
    lowest_hz = (settings.baseline - 1.0) * prf_hz / 2.0
    first = math.ceil(lowest_hz / df - 1e-9)
    rows = first + np.arange(bins)
    source = (-rows if settings.invert else rows) % bins
    cm_s_per_row = velocity_cm_s_from_doppler_hz(df, f0_mhz) * angle_correction_factor(settings.angle_deg)
    axis = (rows * cm_s_per_row).astype(np.float32)
    return source.astype(np.intp), axis


@dataclass(frozen=True, slots=True)
class SpectralTrace:
    """Per-column envelope values of a block of spectral columns (cm/s, display velocities)."""

    forward_cm_s: FloatArray  # highest above-threshold velocity above the zero line; 0 if none
    reverse_cm_s: FloatArray  # lowest above-threshold velocity below the zero line; 0 if none
    max_cm_s: FloatArray  # whichever of the two is farther from zero; NaN where no bin clears
    mean_cm_s: FloatArray  # power-weighted mean of the above-threshold bins; NaN where none
    noise_floor_db: FloatArray


def max_velocity_trace(
    power: FloatArray, axis_cm_s: FloatArray, threshold_db: float, below_peak_db: float
) -> SpectralTrace:
    """The automatic trace: per column, the velocities whose power clears the noise floor by `threshold_db`.

    The noise floor is the median bin (flow fills a minority of bins); a three-bin mean across
    velocity steadies the comparison so single noise bins rarely cross. Forward and reverse
    envelopes are kept apart so a triphasic waveform's reversal does not pass for its systole.
    """
    smooth = (power + np.roll(power, 1, axis=1) + np.roll(power, -1, axis=1)) / 3.0
    floor = np.median(power, axis=1, keepdims=True)
    level = np.maximum(
        floor * 10.0 ** (threshold_db / 10.0),
        smooth.max(axis=1, keepdims=True) * 10.0 ** (-below_peak_db / 10.0),
    )
    above = smooth > level
    found = above.any(axis=1)
    forward = np.maximum(np.where(above, axis_cm_s, -np.inf).max(axis=1), 0.0)
    reverse = np.minimum(np.where(above, axis_cm_s, np.inf).min(axis=1), 0.0)
    farthest = np.where(forward >= -reverse, forward, reverse)
    weights = np.where(above, power, 0.0)
    total = np.where(found, weights.sum(axis=1), 1.0)
    return SpectralTrace(
        forward_cm_s=forward.astype(np.float32),
        reverse_cm_s=reverse.astype(np.float32),
        max_cm_s=np.where(found, farthest, np.nan).astype(np.float32),
        mean_cm_s=np.where(found, (weights @ axis_cm_s) / total, np.nan).astype(np.float32),
        noise_floor_db=(10.0 * np.log10(np.maximum(floor[:, 0], 1e-30) / IQ_FULL_SCALE**2)).astype(
            np.float32
        ),
    )


class SpectralProcessor:
    """Turns the stream of pulsed-wave packets from one gate into `SpectrumLine`s.

    One instance per stream, on the acquisition thread. The wall filter's state and the pulses not
    yet in a full window carry over between packets, so columns are evenly spaced whatever the packet
    size. A new PRF or frequency needs a new processor (the scale and filter are built for one);
    display settings (angle, baseline, invert) apply from the next column.
    """

    def __init__(self, prf_hz: float, f0_mhz: float, settings: SpectralSettings | None = None) -> None:
        if prf_hz <= 0 or f0_mhz <= 0 or not math.isfinite(prf_hz * f0_mhz):
            raise ValueError(f"PRF and frequency must be positive, got {prf_hz} Hz, {f0_mhz} MHz")
        self.prf_hz = prf_hz
        self.f0_mhz = f0_mhz
        self._settings = settings or SpectralSettings()
        self._configure()
        self.reset()

    @property
    def settings(self) -> SpectralSettings:
        return self._settings

    @settings.setter
    def settings(self, value: SpectralSettings) -> None:
        restart = (value.window_pulses, value.overlap, value.wall_cutoff_hz) != (
            self._settings.window_pulses,
            self._settings.overlap,
            self._settings.wall_cutoff_hz,
        )
        self._settings = value
        self._configure()
        if restart:
            self.reset()

    def _configure(self) -> None:
        s = self._settings
        self._window = signal.windows.hann(s.window_pulses, sym=False).astype(np.float32)
        self._source, self._axis = display_bins(s.window_pulses, self.prf_hz, self.f0_mhz, s)
        self._axis.flags.writeable = False
        scale = angle_correction_factor(s.angle_deg)
        self._nyquist_cm_s = nyquist_velocity_cm_s(self.prf_hz, self.f0_mhz) * scale
        nyquist_hz = self.prf_hz / 2.0
        if 0 < s.wall_cutoff_hz < nyquist_hz:
            self._sos: npt.NDArray[np.float64] | None = signal.butter(
                WALL_FILTER_ORDER, s.wall_cutoff_hz, "highpass", fs=self.prf_hz, output="sos"
            )
        else:
            self._sos = None

    def reset(self) -> None:
        """Forget the stream: filter state, pending pulses and the pulse clock."""
        self._zi: npt.NDArray[np.complex128] | None = None
        self._pending = np.zeros(0, np.complex64)
        self._pulses_consumed = 0

    def _wall_filter(self, x: ComplexArray) -> ComplexArray:
        if self._sos is None or x.size == 0:
            return x
        if self._zi is None:
            # Start in the steady state for the first sample: a stationary echo then gives no
            # start-up transient, which would otherwise smear clutter over the first columns.
            self._zi = signal.sosfilt_zi(self._sos)[:, :] * x[0]
        y, self._zi = signal.sosfilt(self._sos, x, zi=self._zi)
        out: ComplexArray = y.astype(np.complex64)
        return out

    def feed(self, iq: ComplexArray) -> list[SpectrumLine]:
        """Add the next packet's IQ (…, pulses, samples); return the columns it completes, oldest first."""
        s = self._settings
        x = np.concatenate([self._pending, self._wall_filter(gate_signal(iq))])
        width, hop = s.window_pulses, s.hop_pulses
        if x.size < width:
            self._pending = x
            return []
        power = stft_power(x, self._window, hop)[:, self._source]
        columns = power.shape[0]
        trace = max_velocity_trace(power, self._axis, s.trace_threshold_db, s.trace_below_peak_db)
        power_db = (10.0 * np.log10(np.maximum(power, 1e-30) / IQ_FULL_SCALE**2)).astype(np.float32)
        start = self._pulses_consumed
        lines = [
            SpectrumLine(
                power_db=power_db[i],
                velocity_cm_s=self._axis,
                time_s=(start + i * hop + width / 2) / self.prf_hz,
                max_cm_s=float(trace.max_cm_s[i]),
                forward_cm_s=float(trace.forward_cm_s[i]),
                reverse_cm_s=float(trace.reverse_cm_s[i]),
                mean_cm_s=float(trace.mean_cm_s[i]),
                noise_floor_db=float(trace.noise_floor_db[i]),
                nyquist_cm_s=self._nyquist_cm_s,
                angle_deg=s.angle_deg,
                inverted=s.invert,
            )
            for i in range(columns)
        ]
        self._pending = x[columns * hop :].copy()
        self._pulses_consumed = start + columns * hop
        return lines
