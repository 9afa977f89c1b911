"""Convolution-model ultrasound physics in beam coordinates (reference/simulation.md §2).

Pipeline, each stage cached by the inputs it depends on (drivers/sim/patient.py does the caching):
1. `BeamGrid` + pose -> patient coordinates of every beam sample.
2. A complex scatterer field fixed in the patient in 3-D (`plane_field`: depth layers times hashed
   horizontal cells, bilinear between cells), integrated over the elevation slice, with the carrier
   phase of each layer's depth; tilted and convex planes sample it (drivers/sim/patient.py).
3. Echo amplitude per sample: tissue backscatter + texture + anisotropy, minus the two-way
   attenuation accumulated down each scan line (shadowing and enhancement come from this), plus
   specular interface echoes and point targets.
4. Separable PSF: real axial Gaussian (from bandwidth), banded lateral Gaussian (from F# and focus).
5. Per frame: electronic noise, envelope power, gain + TGC as a per-row factor, and a LUT straight
   from the float32 power's bits to grey (no full-image log or power-of-ten).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from drivers.sim.pose import ProbePose
from drivers.sim.shapes import Array
from drivers.sim.tissues import ALPHA_DB_CM_MHZ, IMPEDANCE_MRAYL, N_LABELS
from scanner_app.frame import Geometry

C_MM_PER_US = 1.54  # speed of sound assumed by the beamformer
LATTICE_MM = 0.04  # depth layer pitch of the speckle field; beam sampling finer than this repeats them
MID_GREY_DB = 4.0  # echo power (dB re muscle-like tissue at 0 dB) shown mid-grey; DR widens around it
NOISE_DB = -75.0  # electronic noise power before gain and TGC
ENVELOPE_SCALE = 1000.0  # ENVELOPE_U16 count of a 0 dB echo
RF_SCALE = 300.0  # RF_I16 amplitude of a 0 dB echo
SPECULAR_GAIN = 12.0  # amplitude of a perfect specular reflector relative to 0 dB speckle
SPECULAR_SIGMA_DEG = 30.0  # angular lobe of a specular reflection (PLUS UsSimulator)
ANISOTROPY_THETA0_DEG = 3.5  # Crass 1988 calibration: isoechoic to muscle at about 4.5 degrees
ANISOTROPY_MIN = 0.16  # tendon amplitude far off perpendicular, relative to perpendicular
N_LATERAL_BANDS = 8
MAX_DEPTH_GAIN_DB = 50.0  # ceiling of the automatic depth-gain ramp
ELEVATION_HEIGHT_MM = 4.0  # elevation aperture of the virtual linear probe (an L12-5-like lens)
ELEVATION_FOCUS_MM = 18.0  # fixed elevation lens focus
FIELD_RANK = 32  # speckle field = sum of FIELD_RANK depth x horizontal products (one GEMM a band)
FIELD_PITCH_MM = 0.05  # finest horizontal lattice of the speckle field, interpolated bilinearly
FIELD_PITCH_LINES = 2.0  # ... and never finer than this many line pitches, so lines do not alias it
FIELD_BITS = 15  # horizontal cells hashed into 2^15 rows of FIELD_RANK values (12 MiB)
DEPTH_LAYERS = 8192  # depth layers of the speckle field (LATTICE_MM apart), wrapping beyond 327 mm
AMP_LUT_MIN_DB = -160.0
AMP_LUT_STEP_DB = 0.05


@dataclass(frozen=True, slots=True)
class Psf:
    """Point-spread function of the imaging system for one set of beam settings."""

    frequency_mhz: float
    focus_mm: float
    bandwidth_frac: float = 0.6
    f_number: float = 2.0

    @property
    def wavelength_mm(self) -> float:
        return C_MM_PER_US / self.frequency_mhz

    @property
    def axial_fwhm_mm(self) -> float:
        """Pulse-echo axial resolution c / (2 B)."""
        return C_MM_PER_US / (2.0 * self.frequency_mhz * self.bandwidth_frac)

    def lateral_fwhm_mm(self, depth_mm: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Two-way beam width: lambda * F# at the focus, growing outside a depth of field ~14 lambda F#^2."""
        at_focus = self.wavelength_mm * self.f_number
        dof_mm = 14.2 * self.wavelength_mm * self.f_number**2
        growth = np.sqrt(1.0 + ((np.asarray(depth_mm, dtype=np.float64) - self.focus_mm) / dof_mm) ** 2)
        return at_focus * np.minimum(growth, 3.0)


def elevation_fwhm_mm(frequency_mhz: float, depth_mm: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Slice thickness (two-way elevation FWHM): lambda F_el at the lens focus, geometric away from it.

    The geometric term is the one-way aperture width h |1 - z/z_f| narrowed by sqrt(2) for two ways;
    both add in quadrature, and the slice is capped at twice the aperture height.
    """
    z = np.asarray(depth_mm, dtype=np.float64)
    at_focus = C_MM_PER_US / frequency_mhz * ELEVATION_FOCUS_MM / ELEVATION_HEIGHT_MM
    geometric = ELEVATION_HEIGHT_MM * np.abs(1.0 - z / ELEVATION_FOCUS_MM) / math.sqrt(2.0)
    result: npt.NDArray[np.float64] = np.minimum(np.hypot(at_focus, geometric), 2.0 * ELEVATION_HEIGHT_MM)
    return result


def gaussian_kernel(fwhm_samples: float) -> npt.NDArray[np.float32]:
    """Gaussian taps with the given FWHM (in samples), normalised to unit energy so speckle power is kept."""
    sigma = fwhm_samples / 2.3548
    if sigma < 0.25:
        taps = np.ones(1, dtype=np.float32)
        taps.flags.writeable = False  # cached and shared
        return taps
    half = max(1, math.ceil(2.2 * sigma))  # the tail beyond 2.2 sigma holds ~1% of the energy
    x = np.arange(-half, half + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    result: npt.NDArray[np.float32] = (k / np.sqrt(np.sum(k**2))).astype(np.float32)
    result.flags.writeable = False  # cached and shared
    return result


@dataclass(frozen=True, slots=True)
class BeamGrid:
    """Where the beam samples are: rows along each beam, lines across, with convolution margins."""

    geometry: Geometry
    rows: int
    lines: int
    depth_mm: float
    width_mm: float  # linear aperture
    fov_deg: float  # convex
    radius_mm: float  # convex
    pad_rows: int
    pad_lines: int

    def __post_init__(self) -> None:
        if self.rows < 8 or self.lines < 8:
            raise ValueError(f"beam grid needs at least 8 rows and 8 lines, got {self.rows} x {self.lines}")
        if self.depth_mm <= 0 or self.width_mm <= 0 or self.radius_mm <= 0 or not 0 < self.fov_deg < 180:
            raise ValueError(f"beam grid has a non-positive size: {self}")

    @property
    def dz_mm(self) -> float:
        return self.depth_mm / self.rows

    @property
    def line_pitch(self) -> float:
        """mm between linear lines, radians between convex lines."""
        if self.geometry == Geometry.LINEAR:
            return self.width_mm / self.lines
        return math.radians(self.fov_deg) / self.lines

    def z_mm(self) -> npt.NDArray[np.float32]:
        """Range of each padded row; the last unpadded row is at depth_mm."""
        i = np.arange(-self.pad_rows, self.rows + self.pad_rows, dtype=np.float32)
        return ((i + 1.0) * self.dz_mm).astype(np.float32)

    def line_pos(self) -> npt.NDArray[np.float32]:
        """Lateral position (mm, linear) or steering angle (rad, convex) of each padded line."""
        j = np.arange(-self.pad_lines, self.lines + self.pad_lines, dtype=np.float32)
        return ((j + 0.5 - self.lines / 2.0) * self.line_pitch).astype(np.float32)

    def lateral_pitch_mm(self, z_mm: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Distance between neighbouring lines at range z."""
        z = np.asarray(z_mm, dtype=np.float64)
        if self.geometry == Geometry.LINEAR:
            return np.full_like(z, self.line_pitch)
        return (self.radius_mm + np.maximum(z, 0.0)) * self.line_pitch


@dataclass(frozen=True, slots=True)
class PlaneCoords:
    """Patient coordinates of every padded beam sample, and each line's beam direction."""

    s: Array
    t: Array
    d: Array
    range_mm: Array  # (rows, 1): distance of each row from the array along its beam
    beam_dir: npt.NDArray[np.float32]  # (3, 1, lines) or (3, 1, 1): unit (s, t, d) of each line


def probe_axes(pose: ProbePose) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """In-plane lateral axis `a` and beam axis `b` of the probe in patient (s, t, d) coordinates."""
    rot, tilt = math.radians(pose.rotation_deg), math.radians(pose.tilt_deg)
    us, ut = math.cos(rot), math.sin(rot)
    a = np.array([math.cos(tilt) * us, math.cos(tilt) * ut, -math.sin(tilt)])
    b = np.array([math.sin(tilt) * us, math.sin(tilt) * ut, math.cos(tilt)])
    return a, b


def _combine(c0: float, ca: float, pa: Array, cb: float, pb: Array) -> Array:
    """c0 + ca*pa + cb*pb, skipping zero terms so aligned planes keep row/column-vector shapes."""
    out: Array = np.full((1, 1), c0, dtype=np.float32)
    if abs(ca) > 1e-12:
        out = out + np.float32(ca) * pa
    if abs(cb) > 1e-12:
        out = out + np.float32(cb) * pb
    return out.astype(np.float32, copy=False)


def plane_coords_beam(pose: ProbePose) -> npt.NDArray[np.float32]:
    """The beam direction (3, 1, 1) shared by every line of a linear probe at `pose`."""
    return probe_axes(pose)[1].astype(np.float32).reshape(3, 1, 1)


def plane_coords(grid: BeamGrid, pose: ProbePose) -> PlaneCoords:
    """Patient coordinates of the beam samples for a probe at `pose`."""
    a, b = probe_axes(pose)
    z = grid.z_mm()[:, None]
    pos = grid.line_pos()[None, :]
    if grid.geometry == Geometry.LINEAR:
        pa, pb = pos, z
        beam = b.astype(np.float32).reshape(3, 1, 1)
    else:
        r = np.float32(grid.radius_mm)
        pa = ((r + z) * np.sin(pos)).astype(np.float32)
        pb = ((r + z) * np.cos(pos) - r).astype(np.float32)
        beam = (np.sin(pos)[None] * a.reshape(3, 1, 1) + np.cos(pos)[None] * b.reshape(3, 1, 1)).astype(
            np.float32
        )
    s = _combine(pose.position_mm, a[0], pa, b[0], pb)
    t = _combine(pose.lateral_mm, a[1], pa, b[1], pb)
    d = _combine(0.0, a[2], pa, b[2], pb)
    return PlaneCoords(s, t, d, z, beam)


@lru_cache(maxsize=4)
def field_tables(seed: int) -> tuple[npt.NDArray[np.complex64], npt.NDArray[np.complex64]]:
    """The patient's speckle field factors: depth layers (power 1/FIELD_RANK) and horizontal cells (power 1).

    The field at (s, t, d) is sum_r depth[layer(d), r] * cell(s, t)[r]: circular Gaussian with unit
    power, white in depth (one layer every LATTICE_MM) and bilinear between horizontal cells.
    """
    rng = np.random.default_rng([seed, 0xF1E1D])

    def normal(n: int, power: float) -> npt.NDArray[np.complex64]:
        re = rng.standard_normal((n, FIELD_RANK), dtype=np.float32)
        im = rng.standard_normal((n, FIELD_RANK), dtype=np.float32)
        out: npt.NDArray[np.complex64] = ((re + 1j * im) * np.float32(math.sqrt(power / 2.0))).astype(
            np.complex64
        )
        out.flags.writeable = False  # cached and shared
        return out

    return normal(DEPTH_LAYERS, 1.0 / FIELD_RANK), normal(1 << FIELD_BITS, 1.0)


def _cell_hash(i: npt.NDArray[np.int64], j: npt.NDArray[np.int64]) -> npt.NDArray[np.intp]:
    h = ((i.astype(np.int32) * np.int32(73856093)) ^ (j.astype(np.int32) * np.int32(19349663))).view(
        np.uint32
    )
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x45D9F3B)
    h = h ^ (h >> np.uint32(16))
    out: npt.NDArray[np.intp] = (h & np.uint32((1 << FIELD_BITS) - 1)).astype(np.intp)
    return out


def elevation_taps(
    n0_mm: float, sigma_mm: npt.NDArray[np.float64], pitch_mm: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Patient-fixed elevation positions sampled across the slice, and each depth band's weights on them.

    Band b integrates its Gaussian slice profile (amplitude sigma_b, centred on the plane at n0) over
    taps on a lattice fixed in the patient, its spacing the power of two times the finest band's sigma
    nearest to sigma_b: thin and thick slices share most taps, and moving the plane only shifts the
    weights, so speckle decorrelates gradually over the slice thickness.
    """
    base = pitch_mm * max(1, round(float(sigma_mm.min()) / pitch_mm))  # whole cells: see _tap_corners
    per_band = []
    for sg in sigma_mm:
        step = 1 << max(0, round(math.log2(sg / base)))
        lo = math.ceil((n0_mm - 2.2 * sg) / (base * step))
        hi = math.floor((n0_mm + 2.2 * sg) / (base * step))
        ms = np.arange(lo, max(lo, hi) + 1, dtype=np.int64) * step
        per_band.append(ms)
    union = np.unique(np.concatenate(per_band))
    weights = np.zeros((sigma_mm.size, union.size))
    for b, (ms, sg) in enumerate(zip(per_band, sigma_mm, strict=True)):
        weights[b, np.searchsorted(union, ms)] = np.exp(-0.5 * ((ms * base - n0_mm) / sg) ** 2)
    return union * base, weights


def field_pitch_mm(grid: BeamGrid) -> float:
    """Horizontal cell pitch of the speckle field the grid's lines sample.

    The lines sample the field: cells at least two line pitches apart keep the bilinear field's
    spectrum (sinc^2, zero at 1/pitch) below the lines' Nyquist, so a sub-pitch slide moves it smoothly.
    Convex lines spread with range: the pitch is taken from the deepest, widest-spaced lines, so no
    line aliases the field (the shallow speckle is then up to a third wider than the beam with 256
    lines over 60 degrees; halving the cells there cost slides 0.01-0.02 of their correlation).
    """
    return max(FIELD_PITCH_MM, FIELD_PITCH_LINES * float(grid.lateral_pitch_mm(grid.depth_mm)))


def _bilinear_correlation(x_cells: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Correlation of linearly interpolated white noise at a lag of x cells (the cubic B-spline / B(0))."""
    a = np.abs(x_cells)
    inner = 2.0 / 3.0 - a**2 + a**3 / 2.0
    outer = np.maximum(2.0 - a, 0.0) ** 3 / 6.0
    return np.where(a <= 1.0, inner, outer) / (2.0 / 3.0)


@lru_cache(maxsize=32)
def field_lateral_kernels(
    psf: Psf, grid: BeamGrid, rotation_deg: float
) -> tuple[npt.NDArray[np.float32], ...]:
    """The lateral kernels scaled so speckle power after them is 1 on the plane field.

    The plane field is correlated across neighbouring lines (it is smooth between its cells), so a
    unit-energy kernel adds those lines partly coherently; its power gain is sum_m ac(m) rho(m), with
    ac the kernel's autocorrelation and rho the field's correlation at a lag of m lines.
    """
    rot = math.radians(rotation_deg)
    kernels, autocorrelations, lags = _kernel_lags(psf, grid)
    # Every band's lags at once (a probe turning in steps misses the cache every frame).
    rho = _bilinear_correlation(lags * abs(math.cos(rot))) * _bilinear_correlation(lags * abs(math.sin(rot)))
    out = []
    start = 0
    for k, ac in zip(kernels, autocorrelations, strict=True):
        gain = float(np.sum(ac * rho[start : start + ac.size]))
        start += ac.size
        scaled = (k / np.float32(math.sqrt(gain))).astype(np.float32)
        scaled.flags.writeable = False  # cached and shared
        out.append(scaled)
    return tuple(out)


@lru_cache(maxsize=32)
def _kernel_lags(
    psf: Psf, grid: BeamGrid
) -> tuple[tuple[npt.NDArray[np.float32], ...], tuple[npt.NDArray[np.float64], ...], npt.NDArray[np.float64]]:
    """The lateral kernels, their autocorrelations, and the lags of all of these (in field cells) one
    band after another: what `field_lateral_kernels` needs that does not turn with the probe."""
    # Cells per line in each band (convex lines spread with range, as in lateral_kernels).
    per_line = grid.lateral_pitch_mm(_band_centres_mm(grid)) / field_pitch_mm(grid)
    kernels = lateral_kernels(psf, grid)
    autocorrelations = tuple(
        np.correlate(k.astype(np.float64), k.astype(np.float64), "full") for k in kernels
    )
    lags = [
        np.arange(-(k.size - 1), k.size, dtype=np.float64) * c for k, c in zip(kernels, per_line, strict=True)
    ]
    all_lags = np.concatenate(lags)
    for a in (*autocorrelations, all_lags):
        a.flags.writeable = False  # cached and shared
    return kernels, autocorrelations, all_lags


@lru_cache(maxsize=8)
def _depth_factor(grid: BeamGrid, frequency_mhz: float, seed: int) -> npt.NDArray[np.complex64]:
    """Depth factor of every padded row (rows, FIELD_RANK), with the carrier phase of its layer's depth."""
    z = grid.z_mm().astype(np.float64)
    layer = np.floor(z / LATTICE_MM).astype(np.int64)
    cycles_per_mm = 2.0 * frequency_mhz / C_MM_PER_US
    phase = np.exp(2j * np.pi * cycles_per_mm * (layer + 0.5) * LATTICE_MM).astype(np.complex64)
    out: npt.NDArray[np.complex64] = field_tables(seed)[0].take(layer & (DEPTH_LAYERS - 1), axis=0)
    out *= phase[:, None]
    out.flags.writeable = False  # cached and shared
    return out


def _tap_corners(
    u: npt.NDArray[np.float64], e: npt.NDArray[np.float64], cr: float, sr: float, pitch: float
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]:
    """Hashed cells and bilinear weights (lines, taps, corners) of the points u a + e n on the skin plane.

    a = (cos, sin) lies in the image plane, n = (-sin, cos) across it. In long and short axis the
    taps fall on lattice lines (the tap spacing is a whole number of cells), so two corners suffice.
    """
    fs = (u[:, None] * cr - e[None, :] * sr) / pitch
    ft = (u[:, None] * sr + e[None, :] * cr) / pitch
    if sr == 0.0 or cr == 0.0:
        along, across = (fs, ft) if sr == 0.0 else (ft, fs)
        k0 = np.floor(along)
        w1 = (along - k0).astype(np.float32)
        k0i, ki = k0.astype(np.int64), np.rint(across).astype(np.int64)
        if sr == 0.0:
            idx = np.stack([_cell_hash(k0i, ki), _cell_hash(k0i + 1, ki)], axis=-1)
        else:
            idx = np.stack([_cell_hash(ki, k0i), _cell_hash(ki, k0i + 1)], axis=-1)
        return idx, np.stack([1.0 - w1, w1], axis=-1)
    i0, j0 = np.floor(fs), np.floor(ft)
    ws, wt = (fs - i0).astype(np.float32), (ft - j0).astype(np.float32)
    i0i, j0i = i0.astype(np.int64), j0.astype(np.int64)
    idx = np.stack(
        [
            _cell_hash(i0i, j0i),
            _cell_hash(i0i + 1, j0i),
            _cell_hash(i0i, j0i + 1),
            _cell_hash(i0i + 1, j0i + 1),
        ],
        axis=-1,
    )
    return idx, np.stack([(1 - ws) * (1 - wt), ws * (1 - wt), (1 - ws) * wt, ws * wt], axis=-1)


def plane_field(
    grid: BeamGrid, pose: ProbePose, frequency_mhz: float, seed: int
) -> npt.NDArray[np.complex64]:
    """Complex scatterer field of an untilted linear probe, integrated over the elevation slice.

    Every line samples the patient-fixed field at its exact position (bilinear between horizontal
    cells, so a slide of any size translates the speckle), summed over patient-fixed elevation taps
    weighted by the slice profile of its depth band. The field is a sum of FIELD_RANK products of a
    depth factor and a horizontal factor, so the whole image is one matrix product per depth band.
    """
    cell_tab = field_tables(seed)[1]
    rot = math.radians(pose.rotation_deg)
    cr, sr = math.cos(rot), math.sin(rot)
    cr, sr = (0.0 if abs(cr) < 1e-12 else cr), (0.0 if abs(sr) < 1e-12 else sr)  # exact long/short axis
    u = pose.position_mm * cr + pose.lateral_mm * sr + grid.line_pos().astype(np.float64)
    n0 = -pose.position_mm * sr + pose.lateral_mm * cr
    z = grid.z_mm().astype(np.float64)
    edges = np.linspace(0, z.size, N_LATERAL_BANDS + 1).round().astype(int)
    centres = (z[np.minimum(edges[:-1], z.size - 1)] + z[np.maximum(edges[1:] - 1, 0)]) / 2.0
    sigma = elevation_fwhm_mm(frequency_mhz, np.maximum(centres, 0.0)) / 2.3548
    pitch = field_pitch_mm(grid)
    e, band_w = elevation_taps(n0, sigma, pitch)
    band_w32 = band_w.astype(np.float32)
    a = _depth_factor(grid, frequency_mhz, seed)
    out = np.empty((z.size, u.size), dtype=np.complex64)

    idx, corner = _tap_corners(u, e, cr, sr, pitch)
    lines, taps, corners = corner.shape
    # Each line's horizontal factor at each tap (bilinear between cells, real weights on the I/Q
    # floats), then summed over the taps with each band's slice profile: (lines, bands, rank).
    g = cell_tab.take(idx.reshape(-1), axis=0).view(np.float32).reshape(lines, taps, corners, -1)
    at_taps = np.einsum("ltc,ltcr->ltr", corner, g)  # (lines, taps, 2 rank)
    b = np.matmul(band_w32, at_taps)  # (lines, bands, 2 rank)
    # Unit expected power on every line and band, whatever its place between cells and taps.
    energy = np.einsum("ltc,ltc->lt", corner, corner) @ (band_w32**2).T  # (lines, bands)
    b *= (1.0 / np.sqrt(energy))[:, :, None]
    b = b.view(np.complex64)
    for band in range(N_LATERAL_BANDS):
        r0, r1 = edges[band], edges[band + 1]
        if r1 > r0:  # b[:, band].T is (rank, lines) with a row stride: BLAS reads it transposed
            np.matmul(a[r0:r1], b[:, band].T, out=out[r0:r1])
    return out


@lru_cache(maxsize=1)
def amplitude_lut() -> npt.NDArray[np.float32]:
    """dB -> linear amplitude, AMP_LUT_STEP_DB apart from AMP_LUT_MIN_DB up to +60 dB."""
    db = AMP_LUT_MIN_DB + np.arange(int((60.0 - AMP_LUT_MIN_DB) / AMP_LUT_STEP_DB) + 1) * AMP_LUT_STEP_DB
    return (10.0 ** (db / 20.0)).astype(np.float32)


def db_to_amplitude(db: Array) -> Array:
    lut = amplitude_lut()
    idx = ((db - np.float32(AMP_LUT_MIN_DB)) * np.float32(1.0 / AMP_LUT_STEP_DB) + np.float32(0.5)).astype(
        np.int32
    )
    np.clip(idx, 0, lut.size - 1, out=idx)
    out: Array = lut.take(idx)
    return out


@lru_cache(maxsize=1)
def interface_tables() -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Per (deeper label, shallower label) pair: two-way transmission loss (dB) and amplitude reflection."""
    z = IMPEDANCE_MRAYL.astype(np.float64)
    r = ((z[:, None] - z[None, :]) / (z[:, None] + z[None, :])) ** 2  # intensity reflection
    loss_db = -20.0 * np.log10(1.0 - r)  # two-way: 1 - R each way
    return loss_db.astype(np.float32).ravel(), np.sqrt(r).astype(np.float32).ravel()


def attenuation_db(
    labels: npt.NDArray[np.uint8], frequency_mhz: float, dz_mm: float
) -> tuple[Array, Array, Array]:
    """Two-way loss reaching each sample, down each line (axis 0); and each sample's interface reflection.

    Returns (loss_db, loss_before_interface_db, reflection_amplitude).
    """
    per_sample = ALPHA_DB_CM_MHZ * np.float32(2.0 * frequency_mhz * dz_mm / 10.0)
    alpha = per_sample.take(labels)
    loss_tab, refl_tab = interface_tables()
    pair = np.empty(labels.shape, dtype=np.intp)
    np.multiply(labels[1:], N_LABELS, out=pair[1:], dtype=np.intp)
    pair[1:] += labels[:-1]
    np.multiply(labels[0], N_LABELS + 1, out=pair[0], dtype=np.intp)
    iface = loss_tab.take(pair)
    total = np.cumsum(alpha + iface, axis=0, dtype=np.float32)
    half_alpha = np.float32(0.5) * alpha
    before = total - iface
    before -= half_alpha
    total -= half_alpha
    return total, before, refl_tab.take(pair)


def anisotropy_db(
    fibre_dir: tuple[float, float, float] | npt.NDArray[np.float32], beam_dir: npt.NDArray[np.float32]
) -> Array:
    """Echo change (dB) of an anisotropic tissue: brightest with the beam perpendicular to its fibres.

    `fibre_dir` is one direction (3,) or a field of them (3, rows, columns) broadcasting with `beam_dir`.
    """
    f = np.asarray(fibre_dir, dtype=np.float32)
    f = f / np.linalg.norm(f, axis=0).astype(np.float32)
    if f.ndim == 1:
        cos_to_fibre = np.abs(np.tensordot(f, beam_dir, axes=(0, 0)))  # = sin(angle off perpendicular)
    else:
        cos_to_fibre = np.abs(np.sum(f * beam_dir, axis=0))
    theta_deg = np.degrees(np.arcsin(np.clip(cos_to_fibre, 0.0, 1.0)))
    rel = ANISOTROPY_MIN + (1.0 - ANISOTROPY_MIN) * np.exp(-((theta_deg / ANISOTROPY_THETA0_DEG) ** 2))
    result: Array = (20.0 * np.log10(rel)).astype(np.float32)
    return result


def specular_gain(beam_dir: npt.NDArray[np.float32]) -> Array:
    """Angle factor of a specular echo from an interface parallel to the skin (normal = depth axis)."""
    angle = np.degrees(np.arccos(np.clip(np.abs(beam_dir[2]), 0.0, 1.0)))
    result: Array = np.exp(-0.5 * (angle / SPECULAR_SIGMA_DEG) ** 2).astype(np.float32)
    return result


def convolve_axial(
    field: npt.NDArray[np.complex64], kernel: npt.NDArray[np.float32]
) -> npt.NDArray[np.complex64]:
    """Axial PSF along rows; the output loses len(kernel)//2 rows at each end (the padding)."""
    half = kernel.size // 2
    n = field.shape[0] - 2 * half
    xf = field.view(np.float32)
    out = np.empty((n, xf.shape[1]), dtype=np.float32)
    _convolve_rows(xf, kernel, out)
    result: npt.NDArray[np.complex64] = out.view(np.complex64)
    return result


def _convolve_rows(xf: Array, k: npt.NDArray[np.float32], out: Array) -> None:
    # Real taps on the interleaved float32 view (half the multiplies of complex arithmetic), as one
    # small matrix product per block of output rows: BLAS does the taps in one pass over the block.
    half = k.size // 2
    n = out.shape[0]
    block = _block_rows(k.size)
    taps = _toeplitz_block(k.tobytes(), block, 1).T  # (outputs, inputs)
    for r0 in range(0, n, block):
        r1 = min(n, r0 + block)
        np.matmul(taps[: r1 - r0, : r1 - r0 + 2 * half], xf[r0 : r1 + 2 * half], out=out[r0:r1])


def _block_rows(taps: int) -> int:
    """Outputs per block of a convolution as a matrix product: the banded matrix's zeros cost work, and
    blocks much narrower than the kernel repeat its inputs; about 1.5 kernel widths balances the two."""
    return max(16, 1 << math.ceil(math.log2(1.5 * taps)))


@lru_cache(maxsize=64)
def _toeplitz_block(kernel: bytes, block: int, stride: int) -> npt.NDArray[np.float32]:
    """The banded matrix (block + taps - 1, block) * stride that convolves `block` outputs at once.

    Output j takes inputs j .. j + taps - 1; with stride 2 the I and Q floats each take their own.
    """
    k = np.frombuffer(kernel, dtype=np.float32)
    m = np.zeros(((block + k.size - 1) * stride, block * stride), dtype=np.float32)
    for j in range(block):
        for c in range(stride):
            m[(j + np.arange(k.size)) * stride + c, j * stride + c] = k
    m.flags.writeable = False  # cached and shared
    return m


def convolve_lateral(
    field: npt.NDArray[np.complex64], kernels: Sequence[npt.NDArray[np.float32]], pad_lines: int
) -> npt.NDArray[np.complex64]:
    """Banded lateral PSF: row band i is convolved across lines with kernels[i]; margins are dropped."""
    rows, cols = field.shape[0], field.shape[1] - 2 * pad_lines
    out = np.empty((rows, 2 * cols), dtype=np.float32)
    xf = field.view(np.float32)  # (rows, 2 * lines): I and Q interleaved, so a line step is 2 floats
    edges = np.linspace(0, rows, len(kernels) + 1).round().astype(int)
    if any(k.size // 2 > pad_lines for k in kernels):
        raise ValueError(f"a lateral kernel's half-width exceeds the line padding {pad_lines}")

    def rows_of(r0: int, r1: int, k: npt.NDArray[np.float32]) -> None:
        # A banded matrix product per block of output lines (see _convolve_rows), I and Q apart.
        half = k.size // 2
        block = _block_rows(k.size)
        taps = _toeplitz_block(k.tobytes(), block, 2)
        x, o = xf[r0:r1], out[r0:r1]
        for j0 in range(0, cols, block):
            j1 = min(cols, j0 + block)
            src = x[:, 2 * (j0 + pad_lines - half) : 2 * (j1 + pad_lines + half)]
            np.matmul(src, taps[: 2 * (j1 - j0 + 2 * half), : 2 * (j1 - j0)], out=o[:, 2 * j0 : 2 * j1])

    for band, k in enumerate(kernels):
        if edges[band + 1] > edges[band]:
            rows_of(edges[band], edges[band + 1], k)
    result: npt.NDArray[np.complex64] = out.view(np.complex64)
    return result


@lru_cache(maxsize=32)
def lateral_kernels(psf: Psf, grid: BeamGrid) -> tuple[npt.NDArray[np.float32], ...]:
    """One lateral kernel per depth band, from the beam width at the band's centre depth."""
    centres = _band_centres_mm(grid)
    fwhm_mm = psf.lateral_fwhm_mm(centres)
    pitch = grid.lateral_pitch_mm(centres)
    return tuple(gaussian_kernel(float(f / p)) for f, p in zip(fwhm_mm, pitch, strict=True))


def _band_centres_mm(grid: BeamGrid) -> npt.NDArray[np.float64]:
    """Centre range of each lateral depth band."""
    return (np.arange(N_LATERAL_BANDS) + 0.5) * grid.depth_mm / N_LATERAL_BANDS


@lru_cache(maxsize=32)
def axial_kernel(psf: Psf, dz_mm: float) -> npt.NDArray[np.float32]:
    return gaussian_kernel(psf.axial_fwhm_mm / dz_mm)


def tgc_row_db(
    z_mm: npt.NDArray[np.float32],
    depth_mm: float,
    *,
    gain_db: float,
    tgc_db: tuple[float, ...],
    compensation_db_cm_mhz: float,
    frequency_mhz: float,
) -> npt.NDArray[np.float32]:
    """Receive gain of each row: gain + TGC sliders interpolated over depth + assumed-attenuation ramp."""
    if len(tgc_db) < 1:
        raise ValueError("tgc_db needs at least one band")
    centres = (np.arange(len(tgc_db)) + 0.5) * depth_mm / len(tgc_db)
    tgc = np.interp(z_mm, centres, np.asarray(tgc_db, dtype=np.float64))
    # A receiver's depth-gain range is finite; beyond it deep echoes sink into the noise, as on scanners.
    ramp = np.minimum(2.0 * compensation_db_cm_mhz * frequency_mhz * z_mm / 10.0, MAX_DEPTH_GAIN_DB)
    out: npt.NDArray[np.float32] = (gain_db + tgc + ramp).astype(np.float32)
    return out


@lru_cache(maxsize=16)
def grey_lut(dynamic_range_db: float) -> npt.NDArray[np.uint8]:
    """Grey level for every float32 power value, indexed by the power's top 17 bits (0.02 dB steps)."""
    bits = (np.arange(1 << 17, dtype=np.uint32) << np.uint32(15)) | np.uint32(1 << 14)
    with np.errstate(invalid="ignore"):
        power = bits.view(np.float32).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        db = 10.0 * np.log10(power)
    grey = (db - (MID_GREY_DB - dynamic_range_db / 2.0)) * (255.0 / dynamic_range_db)
    grey = np.nan_to_num(grey, nan=255.0, posinf=255.0, neginf=0.0)
    return np.clip(np.round(grey), 0, 255).astype(np.uint8)


def power_to_grey(power: Array, dynamic_range_db: float) -> npt.NDArray[np.uint8]:
    """Log compression and dynamic-range window in one table lookup."""
    idx = power.view(np.uint32) >> np.uint32(15)
    out: npt.NDArray[np.uint8] = grey_lut(round(float(dynamic_range_db), 3)).take(
        idx
    )  # take: ~2x fancy indexing
    return out


@lru_cache(maxsize=8)
def noise_bank(shape: tuple[int, int], seed: int) -> npt.NDArray[np.complex64]:
    """Electronic noise larger than a frame; each frame takes a window at a time-dependent offset."""
    rng = np.random.default_rng([seed, 0x5EED])
    scale = np.float32(math.sqrt(10.0 ** (NOISE_DB / 10.0) / 2.0))
    re = rng.standard_normal(shape, dtype=np.float32)
    im = rng.standard_normal(shape, dtype=np.float32)
    return ((re + 1j * im) * scale).astype(np.complex64)


def frame_noise(shape: tuple[int, int], seed: int, time_s: float) -> npt.NDArray[np.complex64]:
    """A noise window for the frame at `time_s` (deterministic for seed and time)."""
    margin = 64
    bank = noise_bank((shape[0] + margin, shape[1] + margin), seed)
    tick = round(time_s * 1000.0)
    rng = np.random.default_rng([seed, tick & 0xFFFFFFFF])
    r0, c0 = (int(v) for v in rng.integers(0, margin, size=2))
    return bank[r0 : r0 + shape[0], c0 : c0 + shape[1]]


@dataclass(frozen=True, slots=True)
class ScanConversion:
    """Precomputed convex polar-to-Cartesian map: four source indices and weights per display pixel."""

    index: npt.NDArray[np.intp]  # (4, rows*cols) flat indices into the beam image (+1 sentinel)
    weight: npt.NDArray[np.float32]  # (4, rows*cols)
    nearest: npt.NDArray[np.intp]  # (rows*cols,) flat index of the nearest beam sample or sentinel
    rows: int
    cols: int
    width_mm: float


@lru_cache(maxsize=8)
def scan_conversion(grid: BeamGrid, rows: int, cols: int) -> ScanConversion:
    """Map a convex beam image (grid.rows x grid.lines) onto a rows x cols image 0..depth deep."""
    r, half = grid.radius_mm, math.radians(grid.fov_deg) / 2.0
    width_mm = 2.0 * (r + grid.depth_mm) * math.sin(half)
    y = (np.arange(rows) + 1.0) * grid.depth_mm / rows
    x = (np.arange(cols) + 0.5 - cols / 2.0) * width_mm / cols
    yy, xx = np.meshgrid(y, x, indexing="ij")
    rng = np.hypot(xx, yy + r) - r
    ang = np.arctan2(xx, yy + r)
    fr = rng / grid.dz_mm - 1.0
    fc = ang / grid.line_pitch + grid.lines / 2.0 - 0.5
    valid = (fr >= 0) & (fr <= grid.rows - 1) & (fc >= 0) & (fc <= grid.lines - 1)
    r0 = np.clip(np.floor(fr), 0, grid.rows - 2).astype(np.intp)
    c0 = np.clip(np.floor(fc), 0, grid.lines - 2).astype(np.intp)
    wr, wc = np.clip(fr - r0, 0, 1), np.clip(fc - c0, 0, 1)
    sentinel = grid.rows * grid.lines
    idx = np.stack(
        [
            r0 * grid.lines + c0,
            r0 * grid.lines + c0 + 1,
            (r0 + 1) * grid.lines + c0,
            (r0 + 1) * grid.lines + c0 + 1,
        ]
    )
    w = np.stack([(1 - wr) * (1 - wc), (1 - wr) * wc, wr * (1 - wc), wr * wc]).astype(np.float32)
    idx = np.where(valid[None], idx, sentinel).reshape(4, -1)
    near = np.where(valid, np.rint(fr).astype(np.intp) * grid.lines + np.rint(fc).astype(np.intp), sentinel)
    return ScanConversion(idx, w.reshape(4, -1), near.ravel(), rows, cols, width_mm)


def scan_convert(beam_image: Array, conv: ScanConversion, fill: float = 0.0) -> Array:
    flat = np.append(beam_image.ravel(), np.float32(fill))
    out: Array = flat[conv.index[0]] * conv.weight[0]
    for k in range(1, 4):
        out += flat[conv.index[k]] * conv.weight[k]
    result: Array = out.reshape(conv.rows, conv.cols)
    return result


def scan_convert_nearest(
    beam_image: npt.NDArray[np.uint8], conv: ScanConversion, fill: int = 0
) -> npt.NDArray[np.uint8]:
    flat = np.append(beam_image.ravel(), np.uint8(fill))
    out: npt.NDArray[np.uint8] = flat[conv.nearest].reshape(conv.rows, conv.cols)
    return out
