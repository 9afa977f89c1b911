"""A needle in the virtual patient: its shape, what it adds to the echo field, and where its tip is.

The needle is fixed in patient coordinates (s along the limb, t across, d depth; see pose.py): it
enters the skin at `entry_mm`, heads `heading_deg` over the skin (0 = +s, 90 = +t) and dips at
`angle_deg` to the skin, `inserted_mm` of it inside, bending sideways a little as it goes in. The
probe moves over it: an in-plane needle lies in the slice, an out-of-plane one crosses it.

`needle_echo` is a pure function of (needle, the image plane's sample geometry, frequency) giving
what the needle does to the pre-PSF echo field: an anechoic collection where injectate is, a partial
acoustic shadow under the shaft, and the shaft's specular echo (brightest with the beam
perpendicular to the shaft, falling fast as the incidence moves off it), reverberation bands under
it spaced by the shaft's diameter along the beam, faint repeats between the probe and a shallow
shaft at multiples of its depth (artefacts.py), and a brighter bevelled tip. Each point of the
shaft is weighted by the elevation beam profile, so an out-of-plane needle shows only a dot where
it crosses the slice, and a dimmer one when it only reaches the slice's edge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from drivers.sim import physics as ph
from drivers.sim.anatomy import Scene, paint, structure_names
from drivers.sim.artefacts import probe_repeats
from drivers.sim.pose import ProbePose
from drivers.sim.tissues import Label
from scanner_app.frame import Geometry

Vec = tuple[float, float, float]
F64 = npt.NDArray[np.float64]

C_MM_PER_US = 1.54
MIN_ANGLE_DEG, MAX_ANGLE_DEG = 5.0, 85.0
MAX_INSERTED_MM = 90.0
BEND_REFERENCE_MM = 50.0  # `bend_mm` is the sideways deflection with this much of the needle in
OUTER_DIAMETER_MM = {18: 1.27, 20: 0.91, 21: 0.82, 22: 0.72, 23: 0.64, 25: 0.51}
SLICE_FWHM_MM = 1.0  # elevation (slice) thickness of a linear MSK probe near its lens focus
SHAFT_AMP = 8.0  # a steel shaft at perpendicular incidence, relative to 0 dB speckle (sums along the line)
SHAFT_LOBE_DEG = 18.0  # the specular lobe of a smooth cylinder: the echo falls steeply off perpendicular
SHAFT_DIFFUSE = 0.35  # what the shaft's roughness and the beam's width return at any angle (x cos)
TIP_AMP = 25.0  # the bevel scatters back from every angle: brighter than any shaft
REVERB_BANDS = 5
REVERB_RATIO = 0.35  # each reverberation between the walls returns this fraction of the one before
STEEL_REFLECTION = 0.93  # amplitude reflection of steel in soft tissue (45 vs 1.6 MRayl)
SHADOW_DEPTH = 0.65  # amplitude lost below an in-plane shaft (the beam is wider than the needle)
FLUID_AMP = 0.04  # injectate: anechoic, what is left is the PSF's tails
GENERIC_ALPHA_DB_CM_MHZ = 0.6  # two-way loss to the shaft, soft tissue on average


@dataclass(frozen=True, slots=True)
class Collection:
    """Injectate: a roughly spherical anechoic collection around where the tip was."""

    centre_mm: Vec
    volume_ml: float

    @property
    def radius_mm(self) -> float:
        """The radius of a sphere of this volume (1 ml = 1000 mm³: 6.2 mm)."""
        return float((3.0 * self.volume_ml * 1000.0 / (4.0 * math.pi)) ** (1.0 / 3.0))


@dataclass(frozen=True, slots=True)
class Needle:
    """A needle in the patient. Raises ValueError for an angle, length, bend or gauge out of range."""

    entry_mm: Vec
    heading_deg: float
    angle_deg: float
    inserted_mm: float = 0.0
    bend_mm: float = 0.3
    gauge: int = 22
    injectate: tuple[Collection, ...] = field(default=())

    def __post_init__(self) -> None:
        if not MIN_ANGLE_DEG <= self.angle_deg <= MAX_ANGLE_DEG:
            limits = f"{MIN_ANGLE_DEG:g}..{MAX_ANGLE_DEG:g}"
            raise ValueError(f"needle angle must be {limits}°, got {self.angle_deg}")
        if not 0.0 <= self.inserted_mm <= MAX_INSERTED_MM:
            raise ValueError(f"needle inserted_mm must be 0..{MAX_INSERTED_MM:g}, got {self.inserted_mm}")
        if abs(self.bend_mm) > 5.0:
            raise ValueError(f"needle bend_mm must be within ±5 mm, got {self.bend_mm}")
        if self.gauge not in OUTER_DIAMETER_MM:
            raise ValueError(f"needle gauge {self.gauge} unknown; known {sorted(OUTER_DIAMETER_MM)}")

    @property
    def diameter_mm(self) -> float:
        return OUTER_DIAMETER_MM[self.gauge]

    def advanced(self, mm: float) -> Needle:
        """Pushed in by `mm` (withdrawn when negative), kept between the skin and full length."""
        return replace(self, inserted_mm=min(MAX_INSERTED_MM, max(0.0, self.inserted_mm + mm)))

    def angled(self, delta_deg: float) -> Needle:
        """Pivoted about the skin entry by `delta_deg` (steeper when positive), kept in range."""
        angle = min(MAX_ANGLE_DEG, max(MIN_ANGLE_DEG, self.angle_deg + delta_deg))
        return replace(self, angle_deg=angle)

    def injected(self, ml: float) -> Needle:
        """`ml` more injectate at the tip (joining the collection already there)."""
        if ml <= 0:
            raise ValueError(f"inject a positive volume, got {ml} ml")
        tip = self.tip_mm()
        for i, c in enumerate(self.injectate):
            if math.dist(c.centre_mm, tip) < 0.5 * c.radius_mm:
                grown = Collection(c.centre_mm, c.volume_ml + ml)
                return replace(self, injectate=(*self.injectate[:i], grown, *self.injectate[i + 1 :]))
        return replace(self, injectate=(*self.injectate, Collection(tip, ml)))

    def _axes(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        h, a = math.radians(self.heading_deg), math.radians(self.angle_deg)
        forward = np.array([math.cos(a) * math.cos(h), math.cos(a) * math.sin(h), math.sin(a)])
        side = np.array([-math.sin(h), math.cos(h), 0.0])  # horizontal, across the shaft: the bend's way
        return forward, side

    def shaft(self, step_mm: float) -> tuple[F64, F64, F64]:
        """(points (N, 3), unit tangents (N, 3), length from the skin (N,)) every `step_mm` to the tip."""
        n = max(2, math.ceil(self.inserted_mm / step_mm) + 1)
        length = np.linspace(0.0, self.inserted_mm, n)
        forward, side = self._axes()
        curvature = 2.0 * self.bend_mm / BEND_REFERENCE_MM**2  # deflection = curvature l² / 2
        bend = (0.5 * curvature * length**2)[:, None] * side
        points = np.asarray(self.entry_mm) + length[:, None] * forward + bend
        tangents = forward + (curvature * length)[:, None] * side
        tangents /= np.linalg.norm(tangents, axis=1, keepdims=True)
        return points, tangents, length

    def tip_mm(self) -> Vec:
        p = self.shaft(max(self.inserted_mm, 1.0))[0][-1]
        return (float(p[0]), float(p[1]), float(p[2]))


@dataclass(frozen=True, slots=True)
class ImagePlane:
    """Where the beam samples of one frame are: the probe's axes in patient mm and the (padded) grid.

    Rows are at depth (r - pad_rows + 1) dz_mm along each beam; linear lines are `line_pitch` mm
    apart, centred on the probe; convex lines `line_pitch` radians apart, from a virtual apex
    `radius_mm` above the skin.
    """

    origin_mm: Vec  # the centre of the array face
    lateral: Vec  # unit, along the array
    beam: Vec  # unit, into the patient
    geometry: Geometry
    rows: int
    lines: int
    dz_mm: float
    line_pitch: float
    pad_rows: int = 0
    pad_lines: int = 0
    radius_mm: float = 0.0

    @property
    def normal(self) -> npt.NDArray[np.float64]:
        return np.cross(np.asarray(self.lateral), np.asarray(self.beam))

    def in_plane(self, points: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], ...]:
        """(x lateral, y along the centre beam, e elevation) of patient points, in mm from the origin."""
        rel = points - np.asarray(self.origin_mm)
        return rel @ np.asarray(self.lateral), rel @ np.asarray(self.beam), rel @ self.normal

    def to_grid(
        self, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """(padded row, padded line, range mm) of in-plane points, fractional."""
        if self.geometry == Geometry.LINEAR:
            rng, lat = y, x / self.line_pitch
        else:
            rng = np.hypot(x, y + self.radius_mm) - self.radius_mm
            lat = np.arctan2(x, y + self.radius_mm) / self.line_pitch
        return rng / self.dz_mm - 1.0 + self.pad_rows, lat + self.lines / 2.0 - 0.5 + self.pad_lines, rng

    def beam_dirs(self, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """The beam direction (N, 3) of the line through each in-plane point."""
        a, b = np.asarray(self.lateral), np.asarray(self.beam)
        if self.geometry == Geometry.LINEAR:
            return np.broadcast_to(b, (x.size, 3))
        theta = np.arctan2(x, y + self.radius_mm)
        dirs: F64 = np.sin(theta)[:, None] * a + np.cos(theta)[:, None] * b
        return dirs

    def sample_xy(self, r: npt.NDArray[np.intp], j: npt.NDArray[np.intp]) -> tuple[F64, F64]:
        """In-plane (x, y) of padded samples (rows `r` as a column, lines `j` as a row)."""
        rng = (r[:, None] - self.pad_rows + 1.0) * self.dz_mm
        pos = (j[None, :] - self.pad_lines + 0.5 - self.lines / 2.0) * self.line_pitch
        if self.geometry == Geometry.LINEAR:
            return np.broadcast_to(pos, (r.size, j.size)), np.broadcast_to(rng, (r.size, j.size))
        radius = self.radius_mm + rng
        return radius * np.sin(pos), radius * np.cos(pos) - self.radius_mm


def image_plane(grid: ph.BeamGrid, pose: ProbePose) -> ImagePlane:
    """The sample geometry of the renderer's beam grid at `pose` (see physics.plane_coords)."""
    a, b = ph.probe_axes(pose)
    return ImagePlane(
        (pose.position_mm, pose.lateral_mm, 0.0),
        (float(a[0]), float(a[1]), float(a[2])),
        (float(b[0]), float(b[1]), float(b[2])),
        grid.geometry,
        grid.rows,
        grid.lines,
        grid.dz_mm,
        grid.line_pitch,
        grid.pad_rows,
        grid.pad_lines,
        grid.radius_mm if grid.geometry == Geometry.CONVEX else 0.0,
    )


def elevation_weight(e_mm: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The two-way elevation beam profile: 1 in the slice, 0.5 at SLICE_FWHM_MM / 2 off it."""
    sigma = SLICE_FWHM_MM / 2.3548
    out: npt.NDArray[np.float64] = np.exp(-0.5 * (e_mm / sigma) ** 2)
    return out


def shaft_amplitude(incidence_deg: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Echo amplitude of the shaft for the beam `incidence_deg` away from perpendicular to it."""
    theta = np.radians(np.asarray(incidence_deg, dtype=np.float64))
    lobe = np.exp(-((np.degrees(theta) / SHAFT_LOBE_DEG) ** 2))
    out: npt.NDArray[np.float64] = SHAFT_AMP * (lobe + SHAFT_DIFFUSE * np.cos(theta) * (1.0 - lobe))
    return out


@dataclass(frozen=True, slots=True)
class NeedleEcho:
    """What a needle does to one frame's echo field (padded beam grid), sparse."""

    add_rows: npt.NDArray[np.intp]
    add_lines: npt.NDArray[np.intp]
    add_values: npt.NDArray[np.complex64]
    shadow_lines: npt.NDArray[np.intp]
    shadow_from_row: npt.NDArray[np.intp]  # rows deeper than this lose amplitude
    shadow_gain: npt.NDArray[np.float32]
    voids: tuple[tuple[slice, slice, npt.NDArray[np.bool_]], ...]  # injectate: (rows, lines, mask)

    @property
    def empty(self) -> bool:
        return self.add_values.size == 0 and self.shadow_lines.size == 0 and not self.voids

    def applied(self, field_iq: npt.NDArray[np.complex64]) -> npt.NDArray[np.complex64]:
        """A copy of `field_iq` with the injectate, the shadow and the needle's echoes in it."""
        out = field_iq.copy()
        for rows, lines, mask in self.voids:
            box = out[rows, lines]
            box[mask] *= np.float32(FLUID_AMP)
        if self.shadow_lines.size:  # one block multiply over the lines the shaft crosses
            l0, l1 = int(self.shadow_lines.min()), int(self.shadow_lines.max()) + 1
            r0 = int(self.shadow_from_row.min()) + 1
            gain = np.ones(l1 - l0, dtype=np.float32)
            start = np.full(l1 - l0, out.shape[0], dtype=np.intp)
            gain[self.shadow_lines - l0] = self.shadow_gain
            start[self.shadow_lines - l0] = self.shadow_from_row
            below = np.arange(r0, out.shape[0])[:, None] > start[None, :]
            out[r0:, l0:l1] *= np.where(below, gain[None, :], np.float32(1.0))
        np.add.at(out, (self.add_rows, self.add_lines), self.add_values)
        return out


_EMPTY_I = np.zeros(0, dtype=np.intp)


def needle_echo(needle: Needle, plane: ImagePlane, frequency_mhz: float) -> NeedleEcho:
    """The needle's effect on the echo field of `plane` at `frequency_mhz` (pure)."""
    voids = tuple(v for c in needle.injectate if (v := _void(c, plane)) is not None)
    h, w = plane.rows + 2 * plane.pad_rows, plane.lines + 2 * plane.pad_lines
    step = 0.5 * min(plane.dz_mm, _pitch_mm(plane))
    points, tangents, length = needle.shaft(step)
    x, y, e = plane.in_plane(points)
    weight = elevation_weight(e)
    row_f, line_f, rng = plane.to_grid(x, y)
    row, line = np.rint(row_f).astype(np.intp), np.rint(line_f).astype(np.intp)
    keep = (weight > 0.05) & (rng > 0) & (row >= 0) & (row < h) & (line >= 0) & (line < w)
    if needle.inserted_mm <= 0 or not keep.any():
        empty_f = np.zeros(0, dtype=np.float32)
        return NeedleEcho(_EMPTY_I, _EMPTY_I, np.zeros(0, np.complex64), _EMPTY_I, _EMPTY_I, empty_f, voids)
    x, y, weight, rng, row, line = x[keep], y[keep], weight[keep], rng[keep], row[keep], line[keep]
    row_f = row_f[keep]
    tangents, length = tangents[keep], length[keep]
    beam = plane.beam_dirs(x, y)
    cos_to_shaft = np.abs(np.sum(beam * tangents, axis=1)).clip(0.0, 1.0)
    incidence_deg = np.degrees(np.arcsin(cos_to_shaft))  # 0 = the beam perpendicular to the shaft
    loss = 10.0 ** (-2.0 * GENERIC_ALPHA_DB_CM_MHZ * frequency_mhz * rng / 10.0 / 20.0)
    # Each point stands for `step` mm of shaft; a sample sums the shaft inside it, per lateral pitch,
    # so an in-plane shaft gives SHAFT_AMP a sample and one crossing the slice square-on sums the
    # whole elevation beam (the bright dot of an out-of-plane needle).
    per_point = weight * loss * (step / _pitch_mm(plane))
    amp = shaft_amplitude(incidence_deg) * per_point
    ring = SHAFT_AMP * np.exp(-((incidence_deg / SHAFT_LOBE_DEG) ** 2)) * per_point  # only square-on rings
    cells, first, inverse = np.unique(row * w + line, return_index=True, return_inverse=True)
    amp_cell = np.bincount(inverse, weights=amp, minlength=cells.size)
    ring_cell = np.bincount(inverse, weights=ring, minlength=cells.size)
    row_c, line_c, row_fc = row[first], line[first], row_f[first]
    # The bevel at the tip: one point scatterer, bright from any angle.
    tip = int(np.argmax(length))
    if length[tip] >= needle.inserted_mm - step:
        at = int(inverse[tip])
        amp_cell[at] += TIP_AMP * weight[tip] * loss[tip]

    # Each echo takes its sample's carrier phase, as the physics' interface echoes do: the specular
    # lobe already says how much a tilted shaft returns, so the phase must not cancel it again.
    k2 = 4.0 * math.pi * frequency_mhz / C_MM_PER_US
    spacing = needle.diameter_mm / np.maximum(np.sqrt(1.0 - cos_to_shaft[first] ** 2), 0.3)
    row_mm = (row_c - plane.pad_rows + 1.0) * plane.dz_mm
    rows, lines, values = [row_c], [line_c], [amp_cell * np.exp(1j * k2 * row_mm)]
    for k in range(1, REVERB_BANDS + 1):  # ring-down between the walls, under the shaft
        r = np.rint(row_fc + k * spacing / plane.dz_mm).astype(np.intp)
        depth = (r - plane.pad_rows + 1.0) * plane.dz_mm
        inside = r < h
        rows.append(r[inside])
        lines.append(line_c[inside])
        values.append((ring_cell * REVERB_RATIO**k * np.exp(1j * k2 * depth))[inside])
    for k, factor in probe_repeats(row_mm, loss[first], STEEL_REFLECTION):
        # Between the probe face and a shallow shaft: faint copies at 2x, 3x .. its range.
        depth = k * row_mm
        r = np.rint(depth / plane.dz_mm - 1.0 + plane.pad_rows).astype(np.intp)
        inside = (r < h) & (factor > 0.0)
        rows.append(r[inside])
        lines.append(line_c[inside])
        values.append((ring_cell * factor * np.exp(1j * k2 * depth))[inside])

    # The shadow under each line the shaft crosses, from its shallowest sample there.
    by_line = np.lexsort((row, line))
    starts = np.r_[True, line[by_line][1:] != line[by_line][:-1]]
    shadow_lines = line[by_line][starts]
    shadow_from = row[by_line][starts]
    strongest = np.maximum.reduceat(weight[by_line], np.flatnonzero(starts))
    shadow_gain = (1.0 - SHADOW_DEPTH * strongest).astype(np.float32)
    return NeedleEcho(
        np.concatenate(rows),
        np.concatenate(lines),
        np.concatenate(values).astype(np.complex64),
        shadow_lines,
        shadow_from,
        shadow_gain,
        voids,
    )


def _pitch_mm(plane: ImagePlane) -> float:
    if plane.geometry == Geometry.LINEAR:
        return plane.line_pitch
    return plane.radius_mm * plane.line_pitch


def _void(c: Collection, plane: ImagePlane) -> tuple[slice, slice, npt.NDArray[np.bool_]] | None:
    """The samples of `plane` inside the collection, as a box and a mask in it."""
    x, y, e = (v[0] for v in plane.in_plane(np.asarray([c.centre_mm])))
    if abs(e) >= c.radius_mm:
        return None
    rho = math.sqrt(c.radius_mm**2 - e**2)  # the circle where the sphere cuts the slice
    h, w = plane.rows + 2 * plane.pad_rows, plane.lines + 2 * plane.pad_lines
    corners_x = np.array([x - rho, x + rho, x - rho, x + rho, x])
    corners_y = np.array([y - rho, y - rho, y + rho, y + rho, y + rho])
    rf, lf, _ = plane.to_grid(corners_x, corners_y)
    r0, r1 = max(0, int(np.floor(rf.min())) - 1), min(h, int(np.ceil(rf.max())) + 2)
    l0, l1 = max(0, int(np.floor(lf.min())) - 1), min(w, int(np.ceil(lf.max())) + 2)
    if r0 >= r1 or l0 >= l1:
        return None
    sx, sy = plane.sample_xy(np.arange(r0, r1), np.arange(l0, l1))
    mask = (sx - x) ** 2 + (sy - y) ** 2 < rho**2
    return slice(r0, r1), slice(l0, l1), mask


# -- ground truth -----------------------------------------------------------------------------------


def structure_at(scene: Scene, point_mm: Vec) -> str:
    """The name of the structure at a patient point ("coupling gel" outside the body)."""
    s, t, d = (np.full((1, 1), v, dtype=np.float32) for v in point_mm)
    return structure_names(scene)[int(paint(scene, s, t, d)[0, 0])]


def structures_along(scene: Scene, needle: Needle, step_mm: float = 0.25) -> tuple[str, ...]:
    """The structures the shaft passes through, skin to tip, each once, in order."""
    if needle.inserted_mm <= 0:
        return ()
    points = needle.shaft(step_mm)[0].astype(np.float32)
    index = paint(scene, points[:, 0:1], points[:, 1:2], points[:, 2:3])[:, 0]
    names = structure_names(scene)
    return tuple(dict.fromkeys(names[i] for i in index if i > 0))


def is_vessel_or_nerve(scene: Scene, name: str) -> bool:
    """Whether a needle through this structure is a complication to score (a vessel, its wall
    included, or a nerve)."""
    vascular = (Label.NERVE, Label.VEIN_LUMEN, Label.ARTERY_LUMEN, Label.VESSEL_WALL)
    return any(st.name == name and (st.vessel is not None or st.label in vascular) for st in scene.structures)


def tip_visible(needle: Needle, plane: ImagePlane) -> bool:
    """Whether the tip is in the slice (within half its thickness) and inside the image."""
    if needle.inserted_mm <= 0:
        return False
    x, y, e = plane.in_plane(np.asarray([needle.tip_mm()]))
    row, line, rng = plane.to_grid(x, y)
    in_image = (
        plane.pad_rows - 0.5 <= row[0] < plane.pad_rows + plane.rows - 0.5
        and plane.pad_lines - 0.5 <= line[0] < plane.pad_lines + plane.lines - 0.5
    )
    return bool(abs(e[0]) <= SLICE_FWHM_MM / 2.0 and rng[0] > 0 and in_image)


NEAR_MM = 1.0  # a tip this close to a structure's edge is beside it (a perineural target)


def needle_masks(needle: Needle, plane: ImagePlane) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """The ground truth of the needle over the unpadded image (rows x lines): (shaft, injectate).

    The shaft owns the samples its points fall in where they lie within half the slice thickness
    (so an in-plane needle is a line and an out-of-plane one a dot where it crosses); the injectate
    owns the samples inside the collections the slice cuts.
    """
    shaft = np.zeros((plane.rows, plane.lines), dtype=np.bool_)
    fluid = np.zeros_like(shaft)
    for rows, lines, mask in (v for c in needle.injectate if (v := _void(c, plane)) is not None):
        # The collection's box on the padded grid, cut to the image.
        r0, r1 = max(rows.start, plane.pad_rows), min(rows.stop, plane.pad_rows + plane.rows)
        l0, l1 = max(lines.start, plane.pad_lines), min(lines.stop, plane.pad_lines + plane.lines)
        if r0 < r1 and l0 < l1:
            box = fluid[
                r0 - plane.pad_rows : r1 - plane.pad_rows, l0 - plane.pad_lines : l1 - plane.pad_lines
            ]
            box |= mask[r0 - rows.start : r1 - rows.start, l0 - lines.start : l1 - lines.start]
    if needle.inserted_mm <= 0:
        return shaft, fluid
    points = needle.shaft(0.5 * min(plane.dz_mm, _pitch_mm(plane)))[0]
    x, y, e = plane.in_plane(points)
    row_f, line_f, rng = plane.to_grid(x, y)
    row = np.rint(row_f).astype(np.intp) - plane.pad_rows
    line = np.rint(line_f).astype(np.intp) - plane.pad_lines
    keep = (np.abs(e) <= SLICE_FWHM_MM / 2.0) & (rng > 0)
    keep &= (row >= 0) & (row < plane.rows) & (line >= 0) & (line < plane.lines)
    shaft[row[keep], line[keep]] = True
    return shaft, fluid


def structures_near(scene: Scene, point_mm: Vec, radius_mm: float = NEAR_MM) -> frozenset[str]:
    """The structures within `radius_mm` of a patient point (sampled every quarter millimetre)."""
    k = np.arange(-radius_mm, radius_mm + 1e-6, 0.25, dtype=np.float32)
    ds, dt, dd = np.meshgrid(k, k, k, indexing="ij")
    ball = ds**2 + dt**2 + dd**2 <= radius_mm**2
    s, t, d = (np.float32(p) + o[ball][:, None] for p, o in zip(point_mm, (ds, dt, dd), strict=True))
    index = paint(scene, s, t, d)
    names = structure_names(scene)
    return frozenset(names[i] for i in np.unique(index) if i > 0)
