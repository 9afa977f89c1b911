"""Spectral Doppler measurements from the automatic trace: PSV, EDV and RI; venous phasicity and augmentation.

Plain functions over a velocity trace (cm/s) and its times (s), as `SpectrumLine`s give them; never
imports Qt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.ndimage import uniform_filter1d
from scipy.signal import find_peaks

from scanner_app.spectral import SpectrumLine

FloatArray = npt.NDArray[np.float64]

MIN_CYCLE_S = 0.3  # systolic peaks closer than this are one peak (200 beats/min)
FOOT_WINDOW = 0.2  # the end-diastolic point lies in the last fifth of a cycle before its peak


@dataclass(frozen=True, slots=True)
class TraceSeries:
    """The trace of a run of spectral columns, as arrays: times and the forward and reverse envelopes."""

    times_s: FloatArray
    forward_cm_s: FloatArray
    reverse_cm_s: FloatArray
    mean_cm_s: FloatArray  # NaN where nothing cleared the threshold


def trace_series(lines: Sequence[SpectrumLine]) -> TraceSeries:
    """Collect the trace values of `lines` (oldest first) into arrays."""
    return TraceSeries(
        np.array([ln.time_s for ln in lines], np.float64),
        np.array([ln.forward_cm_s for ln in lines], np.float64),
        np.array([ln.reverse_cm_s for ln in lines], np.float64),
        np.array([ln.mean_cm_s for ln in lines], np.float64),
    )


def _span(
    trace_cm_s: FloatArray, times_s: FloatArray, start_s: float | None, end_s: float | None
) -> tuple[FloatArray, FloatArray]:
    if trace_cm_s.shape != times_s.shape or trace_cm_s.ndim != 1:
        raise ValueError("trace and times must be 1-D and of one length")
    lo = -np.inf if start_s is None else start_s
    hi = np.inf if end_s is None else end_s
    keep = (times_s >= lo) & (times_s <= hi)
    if np.count_nonzero(keep) < 3:
        raise ValueError("the span holds fewer than three spectral columns")
    # No column above the threshold means no flow detected: zero velocity, not a gap.
    return np.nan_to_num(trace_cm_s[keep], nan=0.0), times_s[keep]


def resistive_index(psv_cm_s: float, edv_cm_s: float) -> float:
    """RI = (PSV - EDV) / PSV (Pourcelot)."""
    if psv_cm_s <= 0:
        raise ValueError(f"the resistive index needs a positive peak systolic velocity, got {psv_cm_s}")
    return (psv_cm_s - edv_cm_s) / psv_cm_s


@dataclass(frozen=True, slots=True)
class ArterialMeasurements:
    """Peak systolic and end-diastolic velocity (means over the cycles in the span) and their RI."""

    psv_cm_s: float
    edv_cm_s: float
    resistive_index: float
    cycles: int


def arterial_measurements(
    trace_cm_s: FloatArray, times_s: FloatArray, start_s: float | None = None, end_s: float | None = None
) -> ArterialMeasurements:
    """PSV, EDV and RI over a selected span of the trace in the direction of flow (positive).

    Systolic peaks are the trace's prominent maxima; each one's end-diastolic value is the lowest
    point in the stretch just before its upstroke (the last fifth of a cycle), so the flow reversal
    of a triphasic waveform, early in diastole, is not taken for end diastole.
    """
    v, t = _span(trace_cm_s, times_s, start_s, end_s)
    dt = float(np.median(np.diff(t)))
    prominence = 0.3 * float(v.max() - v.min())
    peaks, _ = find_peaks(v, prominence=max(prominence, 1e-6), distance=max(1, round(MIN_CYCLE_S / dt)))
    if peaks.size == 0:
        raise ValueError("no systolic peak in the span")
    cycle_s = float(np.median(np.diff(t[peaks]))) if peaks.size > 1 else 1.0
    foot = max(1, round(FOOT_WINDOW * cycle_s / dt))
    feet = [float(v[max(0, p - foot) : p + 1].min()) for p in peaks]  # one per cycle, not per sample
    psv, edv = float(v[peaks].mean()), float(np.mean(feet))
    return ArterialMeasurements(psv, edv, resistive_index(psv, edv), int(peaks.size))


@dataclass(frozen=True, slots=True)
class Phasicity:
    """Respiratory variation of venous flow: (max - min) / max of the smoothed speed over the span."""

    index: float  # 0: continuous (monophasic) flow; near 1: flow nearly stops between breaths
    max_cm_s: float
    min_cm_s: float


def phasicity(
    trace_cm_s: FloatArray,
    times_s: FloatArray,
    start_s: float | None = None,
    end_s: float | None = None,
    smoothing_s: float = 0.5,
) -> Phasicity:
    """The respiratory variation index of a venous trace (either direction).

    A moving mean over `smoothing_s` takes out cardiac ripple and trace noise, leaving the slow
    respiratory swing; loss of phasicity suggests an obstruction above the gate.
    """
    v, t = _span(trace_cm_s, times_s, start_s, end_s)
    dt = float(np.median(np.diff(t)))
    speed = uniform_filter1d(np.abs(v), max(1, round(smoothing_s / dt)), mode="nearest")
    top, bottom = float(speed.max()), float(speed.min())
    return Phasicity((top - bottom) / top if top > 0 else 0.0, top, bottom)


@dataclass(frozen=True, slots=True)
class Augmentation:
    """Response to a distal squeeze: the peak speed after it against the mean speed before it."""

    baseline_cm_s: float
    peak_cm_s: float
    ratio: float  # peak / baseline; inf when there was no flow before the squeeze


def augmentation_response(
    trace_cm_s: FloatArray,
    times_s: FloatArray,
    squeeze_s: float,
    baseline_s: float = 3.0,
    response_s: float = 3.0,
) -> Augmentation:
    """Mean speed over `baseline_s` before the squeeze and peak speed over `response_s` after it."""
    before, _ = _span(trace_cm_s, times_s, squeeze_s - baseline_s, squeeze_s)
    after, _ = _span(trace_cm_s, times_s, squeeze_s, squeeze_s + response_s)
    base, peak = float(np.abs(before).mean()), float(np.abs(after).max())
    return Augmentation(base, peak, peak / base if base > 0 else float("inf"))
