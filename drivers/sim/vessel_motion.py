"""Vessel calibre over time: arterial pulsation with the heartbeat, venous calibre with breathing.

Pure functions of time (seconds) returning a diameter scale (1.0 = the calibre the scene data gives).
Rates and swings are typical resting adult values [engineering approximation, DK]: heart ~70/min with
a peripheral artery distending ~8 % in systole; breathing ~15/min with limb-vein calibre varying
~±10 %. Leg veins widen on inspiration (abdominal pressure slows outflow); neck and arm veins near the
thorax narrow on inspiration (the negative intrathoracic pressure draws blood in) [DK].
"""

from __future__ import annotations

import math

from drivers.sim.haemodynamics import NORMAL

# One patient, one set of rates: the Doppler flow (haemodynamics.py) beats and breathes with the B-mode.
HEART_RATE_PER_MIN = NORMAL.heart_rate_per_min
RESPIRATORY_RATE_PER_MIN = NORMAL.breaths_per_min
ARTERIAL_DISTENSION = 0.08  # systolic diameter increase, fraction of diastolic
VENOUS_SWING = 0.10  # peak-to-mean respiratory change of venous diameter, fraction

_SYSTOLIC_RISE = 0.12  # fraction of the cycle from diastole to peak systole
_DECAY = 0.18  # diastolic run-off time constant, fraction of the cycle
_NOTCH_AT, _NOTCH_WIDTH, _NOTCH_SIZE = 0.38, 0.04, 0.12  # dicrotic wave


def cardiac_waveform(time_s: float, rate_per_min: float = HEART_RATE_PER_MIN) -> float:
    """Arterial distension 0 (end diastole) .. 1 (peak systole): fast upstroke, dicrotic wave, run-off."""
    phase = (time_s * rate_per_min / 60.0) % 1.0
    if phase < _SYSTOLIC_RISE:
        return math.sin(0.5 * math.pi * phase / _SYSTOLIC_RISE) ** 2
    end = math.exp(-(1.0 - _SYSTOLIC_RISE) / _DECAY)
    decay = (math.exp(-(phase - _SYSTOLIC_RISE) / _DECAY) - end) / (1.0 - end)
    notch = _NOTCH_SIZE * math.exp(-(((phase - _NOTCH_AT) / _NOTCH_WIDTH) ** 2))
    return min(1.0, max(0.0, decay + notch))


def respiratory_waveform(time_s: float, rate_per_min: float = RESPIRATORY_RATE_PER_MIN) -> float:
    """Inspiration -1 (end expiration) .. +1 (end inspiration), a smooth breathing cycle."""
    return -math.cos(2.0 * math.pi * time_s * rate_per_min / 60.0)


def arterial_diameter_scale(time_s: float, distension: float = ARTERIAL_DISTENSION) -> float:
    """An artery's diameter at `time_s` relative to its diastolic diameter."""
    return 1.0 + distension * cardiac_waveform(time_s)


def venous_diameter_scale(time_s: float, inspiration: float = 1.0, swing: float = VENOUS_SWING) -> float:
    """A vein's diameter at `time_s` relative to its mean (`inspiration` +1: wider breathing in)."""
    return 1.0 + swing * inspiration * respiratory_waveform(time_s)
