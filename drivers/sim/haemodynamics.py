"""The virtual patient's circulation over time: cardiac and respiratory cycles and the manoeuvres.

Pure functions of scene time (seconds, the simulator's clock) and immutable values: `Circulation`
(heart and breathing rates), `Manoeuvres` (when the trainee last squeezed the calf, began and
released a Valsalva). The Doppler IQ synthesis (`drivers/sim/doppler_iq.py`) takes its flow
waveforms from here; the B-mode's pulsation and breathing (`vessel_motion.py`) use the same rates
and may take a vein's Valsalva calibre (`vein_calibre`), so both show one patient.
All functions take numpy arrays of times.

Shapes, normalised so a vessel model scales them by its own speed:
- limb arteries (high resistance): triphasic, a forward systolic peak of 1, a brief reversal of
  about a quarter of it in early diastole, a small late forward wave, then no flow;
- small vessels in inflamed tissue (low resistance): forward all through the cycle, 0.5 to 1;
- deep veins: 1 on average, phasic with respiration (flow falls as the diaphragm descends),
  a surge of several times that after a calf squeeze; a Valsalva stops the flow within a fraction
  of a second (with a brief small reflux as the valves close) and its release lets a surge through.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# Triphasic cycle as Gaussians in time after the cycle's start: (centre s, width s, amplitude).
TRIPHASIC = ((0.10, 0.035, 1.0), (0.26, 0.04, -0.25), (0.42, 0.05, 0.12))
RESPIRATORY_SWING = 0.6  # venous speed runs between 1 - this and 1 + this of its mean
AUGMENTATION_GAIN = 6.0  # the squeeze adds this many times the mean speed at its peak
AUGMENTATION_RISE_S = 0.35  # the surge peaks this long after the squeeze, then decays over ~1.5 s
VALSALVA_STOP_S = 0.3  # the flow stops over this long after the strain begins
VALSALVA_REFLUX = 0.3  # brief reversed flow (times the mean) as the valves close
VALSALVA_REFLUX_S = 0.12
RELEASE_RESUME_S = 0.5  # on release the phasic flow returns over this long …
RELEASE_SURGE = 2.5  # … with a surge of this many times the mean
RELEASE_SURGE_S = 0.4
VALSALVA_DISTENSION = 0.35  # a straining patient's leg veins widen by up to this fraction


class Manoeuvre(enum.Enum):
    """What a trainee asks the virtual patient to do (the wire and the UI use the values)."""

    AUGMENTATION = "augmentation"  # a calf squeeze
    VALSALVA = "valsalva"  # begin straining
    RELEASE = "release"  # stop straining


@dataclass(frozen=True, slots=True)
class Circulation:
    """The patient's rates: heart beats and breaths a minute."""

    heart_rate_per_min: float = 70.0
    breaths_per_min: float = 15.0

    @property
    def cardiac_period_s(self) -> float:
        return 60.0 / self.heart_rate_per_min

    @property
    def respiratory_period_s(self) -> float:
        return 60.0 / self.breaths_per_min


@dataclass(frozen=True, slots=True)
class Manoeuvres:
    """When (scene time, s) the manoeuvres last happened; None: never. A value; `after` makes the next."""

    squeeze_s: float | None = None
    strain_s: float | None = None
    release_s: float | None = None  # only meaningful after strain_s

    def after(self, manoeuvre: Manoeuvre, at_s: float) -> Manoeuvres:
        """The state once `manoeuvre` happened at `at_s` (a strain while straining changes nothing)."""
        if manoeuvre is Manoeuvre.AUGMENTATION:
            return replace(self, squeeze_s=at_s)
        if manoeuvre is Manoeuvre.VALSALVA:
            return self if self.straining(at_s) else replace(self, strain_s=at_s, release_s=None)
        if not self.straining(at_s):
            return self  # nothing to release
        return replace(self, release_s=at_s)

    def straining(self, at_s: float) -> bool:
        """Whether a Valsalva is held at `at_s`."""
        if self.strain_s is None or at_s < self.strain_s:
            return False
        return self.release_s is None or at_s < self.release_s


NORMAL = Circulation()
AT_REST = Manoeuvres()


def cardiac_phase(t_s: FloatArray, c: Circulation = NORMAL) -> FloatArray:
    """Fraction 0..1 of the cardiac cycle (0: the start of systole)."""
    out: FloatArray = np.mod(t_s / c.cardiac_period_s, 1.0)
    return out


def respiratory_phase(t_s: FloatArray, c: Circulation = NORMAL) -> FloatArray:
    """Fraction 0..1 of the breath (0: the start of inspiration)."""
    out: FloatArray = np.mod(t_s / c.respiratory_period_s, 1.0)
    return out


def arterial_flow(t_s: FloatArray, c: Circulation = NORMAL) -> FloatArray:
    """Triphasic limb-artery speed, forward systolic peak 1 (negative: reversed flow)."""
    tau = cardiac_phase(t_s, c) * c.cardiac_period_s
    out = np.zeros_like(tau)
    for centre, width, amplitude in TRIPHASIC:
        out += amplitude * np.exp(-0.5 * ((tau - centre) / width) ** 2)
    return out


def microvascular_flow(t_s: FloatArray, c: Circulation = NORMAL) -> FloatArray:
    """Low-resistance flow (hyperaemic small vessels): forward through the cycle, 0.5 to 1."""
    tau = cardiac_phase(t_s, c) * c.cardiac_period_s
    out: FloatArray = 0.5 + 0.5 * np.exp(-0.5 * ((tau - 0.12) / 0.08) ** 2)
    return out


def _surge(x_s: FloatArray, rise_s: float) -> FloatArray:
    """0 before x = 0, rising to 1 at `rise_s`, decaying after: (x/τ)·e^(1 - x/τ)."""
    u = np.maximum(x_s, 0.0) / rise_s
    out: FloatArray = u * np.exp(1.0 - u)
    return out


def _smoothstep(x: FloatArray) -> FloatArray:
    u = np.clip(x, 0.0, 1.0)
    out: FloatArray = u * u * (3.0 - 2.0 * u)
    return out


def _since(t_s: FloatArray, at_s: float | None) -> FloatArray:
    """Seconds since `at_s` (negative before it; far negative when it never happened)."""
    out: FloatArray = t_s - (at_s if at_s is not None else math.inf)
    return out


def venous_flow(t_s: FloatArray, m: Manoeuvres = AT_REST, c: Circulation = NORMAL) -> FloatArray:
    """Deep-vein speed toward the heart relative to its resting mean (negative: reflux)."""
    breath = respiratory_phase(t_s, c)
    # Inspiration (first ~40 % of the breath) raises abdominal pressure: leg venous flow falls.
    phasic = 1.0 + RESPIRATORY_SWING * np.cos(2.0 * math.pi * (breath - 0.7))
    strain, release = _since(t_s, m.strain_s), _since(t_s, m.release_s)
    held = _smoothstep(strain / VALSALVA_STOP_S)  # 0 before the strain, 1 once the flow has stopped
    if m.release_s is not None:
        held = held * (1.0 - _smoothstep(release / RELEASE_RESUME_S))
    out: FloatArray = phasic * (1.0 - held)
    out = out - VALSALVA_REFLUX * _surge(strain, VALSALVA_REFLUX_S)
    if m.release_s is not None:
        out = out + RELEASE_SURGE * _surge(release, RELEASE_SURGE_S)
    out = out + AUGMENTATION_GAIN * _surge(_since(t_s, m.squeeze_s), AUGMENTATION_RISE_S)
    return out


def vein_calibre(t_s: FloatArray, m: Manoeuvres = AT_REST, c: Circulation = NORMAL) -> FloatArray:
    """Leg-vein diameter relative to rest: wider during a Valsalva, a little with inspiration."""
    breath = respiratory_phase(t_s, c)
    breathing = 1.0 + 0.05 * np.clip(np.sin(2.0 * math.pi * breath), 0.0, None)
    strain, release = _since(t_s, m.strain_s), _since(t_s, m.release_s)
    held = _smoothstep(strain / 1.0)
    if m.release_s is not None:
        held = held * (1.0 - _smoothstep(release / 1.0))
    out: FloatArray = breathing * (1.0 + VALSALVA_DISTENSION * held)
    return out
