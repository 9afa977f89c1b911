"""The simulated probe's Doppler IQ: what one IQ packet is to hold, and a placeholder model that makes it.

The firmware (`drivers/sim/firmware.py`) builds an `IqRequest` from its Doppler settings and asks an
`IqModel` for the samples: `synthesize(request, truth, time_s) -> complex64 (lines, pulses, samples)`,
in i16 counts. Swapping the physics means handing the firmware another `IqModel`.

`PlaceholderIqModel` is deliberately simple: stationary tissue clutter fixed in space, blood inside
the scene's vessel lumens (from the B-mode ground truth labels, linear arrays) or, with no ground
truth, a fixed test vessel 15-21 mm deep; a parabolic profile across each vessel; vessels taken to
run at `VESSEL_ANGLE_DEG` to the skin (so an unsteered beam sees flow), arteries toward the last
column with a pulsatile waveform, veins the other way with respiratory phasicity, the test vessel a
steady 0.3 m/s; and white noise. The phase of every blood sample is the integral of its velocity, so
consecutive pw packets join without a jump. Spec 10: positive Doppler shift is flow toward the probe.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from drivers.sim.tissues import Label
from scanner_app.doppler import SPEED_OF_SOUND_M_S, DopplerMode
from scanner_app.frame import Geometry

FULL_SCALE_COUNTS = 8000.0  # i16 counts of tissue clutter of amplitude 1
TISSUE_CLUTTER = 1.0
LUMEN_CLUTTER = 0.005  # what is left of the tissue signal inside a lumen (sidelobes, reverberation)
BLOOD = 0.02  # blood backscatter, about 34 dB under tissue
NOISE = 0.0005
VESSEL_ANGLE_DEG = 30.0  # vessels rise toward the skin toward the last column at this angle
TEST_VESSEL_MM = (15.0, 21.0)  # depth of the fixed test vessel when there is no ground truth
TEST_FLOW_M_S = 0.3

_TISSUE, _VEIN, _ARTERY, _TEST = 0, 1, 2, 3
_DIRECTION = np.array([0.0, -1.0, 1.0, 1.0])  # veins run against arteries


@dataclass(frozen=True, slots=True)
class IqRequest:
    """What one IQ packet is to hold (the fields of its header, spec 10)."""

    mode: DopplerMode
    geometry: Geometry
    samples: int
    lines: int
    pulses: int
    prf_hz: float
    top_mm: float
    bottom_mm: float
    left: float  # linear: mm from the first column; convex: degrees from the centre line
    right: float
    steer_deg: float
    frequency_mhz: float


@dataclass(frozen=True, slots=True)
class SceneTruth:
    """Simulator ground truth at the current pose: tissue labels on the B-mode grid (linear arrays).

    `labels` rows span depth 0 to `depth_mm`, columns the `width_mm` from the first column.
    """

    labels: npt.NDArray[np.uint8]
    depth_mm: float
    width_mm: float


class IqModel(Protocol):
    """Anything that makes IQ for a request; the firmware calls it on its own thread."""

    def synthesize(
        self, request: IqRequest, truth: SceneTruth | None, time_s: float
    ) -> npt.NDArray[np.complex64]:
        """Samples (lines, pulses, samples) in i16 counts; `time_s` is the scene time of the first pulse."""
        ...


def velocity_m_s(kind: npt.NDArray[np.intp], t_s: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Centre-line flow speed of each vessel kind at times `t_s` (the waveforms the placeholder uses)."""
    return _waveform(kind, t_s, integral=False)


def _waveform(
    kind: npt.NDArray[np.intp], t: npt.NDArray[np.float64], *, integral: bool
) -> npt.NDArray[np.float64]:
    """Flow speed (or its integral over time, for the phase) of each kind, `kind` and `t` broadcast:
    sums of sinusoids, so the integral is exact. Arterial: 1 Hz with a reversed-flow dip; venous:
    0.25 Hz respiration; the test vessel steady."""
    wh, wb = 2 * math.pi * 1.0, 2 * math.pi * 0.25
    if integral:
        artery = 0.20 * t - 0.35 / wh * np.cos(wh * t) + 0.15 / (2 * wh) * np.sin(2 * wh * t)
        vein = 0.12 * t - 0.04 / wb * np.cos(wb * t)
        test = TEST_FLOW_M_S * t
    else:
        artery = 0.20 + 0.35 * np.sin(wh * t) + 0.15 * np.cos(2 * wh * t)
        vein = 0.12 + 0.04 * np.sin(wb * t)
        test = np.full_like(t, TEST_FLOW_M_S)
    out: npt.NDArray[np.float64] = np.where(
        kind == _ARTERY, artery, np.where(kind == _VEIN, vein, np.where(kind == _TEST, test, 0.0))
    )
    return out


class PlaceholderIqModel:
    """Clutter, parabolic vessel flow and noise (see the module docstring); stands in for real physics."""

    def __init__(self, seed: int = 0) -> None:
        self._seed = seed
        self._noise_rng = np.random.default_rng(seed + 1)

    def synthesize(
        self, request: IqRequest, truth: SceneTruth | None, time_s: float
    ) -> npt.NDArray[np.complex64]:
        r = request
        depths = np.linspace(r.top_mm, r.bottom_mm, r.samples)
        laterals = np.linspace(r.left, r.right, r.lines)
        use_truth = truth is not None and r.geometry == Geometry.LINEAR
        kind, profile = _vessels(truth if use_truth else None, depths, laterals)  # (lines, samples)
        clutter = self._speckle(r, 0) * np.where(kind > 0, LUMEN_CLUTTER, TISSUE_CLUTTER)
        blood = self._speckle(r, 1) * np.where(kind > 0, BLOOD, 0.0)
        # Velocity toward the probe per unit flow speed: the vessel's direction against the beam's.
        toward = math.sin(math.radians(VESSEL_ANGLE_DEG - r.steer_deg))
        along = profile * _DIRECTION[kind] * toward  # (lines, samples)
        t = time_s + np.arange(r.pulses) / r.prf_hz  # (pulses,)
        travelled = _waveform(kind[:, None, :], t[None, :, None], integral=True)  # (lines, pulses, samples)
        k = 4 * math.pi * r.frequency_mhz * 1e6 / SPEED_OF_SOUND_M_S  # phase per metre toward the probe
        phase = k * along[:, None, :] * travelled
        iq = clutter[:, None, :] + blood[:, None, :] * np.exp(1j * phase)
        shape = (r.lines, r.pulses, r.samples)
        noise = self._noise_rng.standard_normal((*shape, 2)) * (NOISE / math.sqrt(2))
        iq = iq + noise[..., 0] + 1j * noise[..., 1]
        out: npt.NDArray[np.complex64] = (iq * FULL_SCALE_COUNTS).astype(np.complex64)
        return out

    def _speckle(self, r: IqRequest, layer: int) -> npt.NDArray[np.complex128]:
        """Complex scattering amplitudes fixed in space while the box or gate stays where it is."""
        key = (self._seed, layer, r.lines, r.samples, round(r.top_mm * 100), round(r.left * 100))
        rng = np.random.default_rng([abs(int(x)) for x in key])
        z = rng.standard_normal((r.lines, r.samples, 2)) / math.sqrt(2)
        return z[..., 0] + 1j * z[..., 1]


def _vessels(
    truth: SceneTruth | None, depths: npt.NDArray[np.float64], laterals: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]:
    """Vessel kind and parabolic flow profile (1 on the centre line, 0 at the wall) at each
    (line, sample): from the ground truth's lumen labels, or the fixed test vessel."""
    lines, samples = laterals.size, depths.size
    if truth is None:
        top, bottom = TEST_VESSEL_MM
        u = (depths - top) / (bottom - top)
        inside = (u > 0) & (u < 1)
        kind = np.where(inside, _TEST, _TISSUE)[None, :].repeat(lines, axis=0)
        profile = np.where(inside, 1 - (2 * u - 1) ** 2, 0.0)[None, :].repeat(lines, axis=0)
        return kind.astype(np.intp), profile
    rows, cols = truth.labels.shape
    row_of = np.floor(depths / (truth.depth_mm / rows)).astype(np.intp)
    col_of = np.floor(laterals / (truth.width_mm / cols)).astype(np.intp)
    kind = np.zeros((lines, samples), np.intp)
    profile = np.zeros((lines, samples))
    in_rows = (row_of >= 0) & (row_of < rows)
    for line, col in enumerate(col_of):
        if not 0 <= col < cols:
            continue
        column_kind = _column_kind(truth.labels[:, col])
        column_profile = _run_profile(column_kind)
        kind[line, in_rows] = column_kind[row_of[in_rows]]
        profile[line, in_rows] = column_profile[row_of[in_rows]]
    return kind, profile


def _column_kind(labels: npt.NDArray[np.uint8]) -> npt.NDArray[np.intp]:
    kind = np.zeros(labels.shape, np.intp)
    kind[labels == Label.VEIN_LUMEN] = _VEIN
    kind[labels == Label.ARTERY_LUMEN] = _ARTERY
    return kind


def _run_profile(kind: npt.NDArray[np.intp]) -> npt.NDArray[np.float64]:
    """1 - x² across each run of lumen along the column (x from -1 at one wall to 1 at the other)."""
    profile = np.zeros(kind.shape)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], (kind > 0).astype(np.int8), [0]])))
    for start, stop in zip(edges[0::2], edges[1::2], strict=True):
        x = (np.arange(start, stop) + 0.5 - start) / (stop - start) * 2 - 1
        profile[start:stop] = 1 - x**2
    return profile
