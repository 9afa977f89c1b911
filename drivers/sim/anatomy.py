"""The virtual patient's structure map: named structures painted into a label field, and vein compression.

A scene is an ordered list of named structures; later ones paint over earlier ones. Compression
by the probe is a displacement of the *sampling* coordinates around each vessel, so labels and the
patient-fixed speckle deform together instead of re-randomising.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from drivers.sim.pose import ProbePose
from drivers.sim.shapes import Array, Bounds, Shape, Slab, Span, Tube
from drivers.sim.tissues import TISSUES, Label
from drivers.sim.vessel_motion import (
    HEART_RATE_PER_MIN,
    RESPIRATORY_RATE_PER_MIN,
    arterial_diameter_scale,
    venous_diameter_scale,
)


class VesselKind(enum.Enum):
    """How a vessel responds to probe pressure."""

    VEIN = "vein"  # collapses completely at gentle pressure
    THROMBOSED_VEIN = "thrombosed vein"  # keeps its lumen
    ARTERY = "artery"  # barely changes at normal pressure


# Pressure (0..1 of firm compression) at which a patent vein's walls touch: "gentle pressure".
VEIN_COLLAPSE_PRESSURE = 0.6
MIN_LUMEN_FRACTION = 0.02  # walls touching still leave a sliver the sampling grid cannot see


@dataclass(frozen=True, slots=True)
class Structure:
    """One named structure: a tissue label filling a shape."""

    name: str
    label: Label
    shape: Shape
    fibre_dir: tuple[float, float, float] = (1.0, 0.0, 0.0)  # (s, t, d), used by anisotropic tissue
    vessel: VesselKind | None = None
    point_target: bool = False  # a wire: rendered as a coherent point where the plane crosses it
    inspiration: float = 1.0  # a vein's calibre on breathing in: +1 wider (leg), -1 narrower (neck, arm)
    # Fibres run along the shape's own course (a tube's centre line, a layer's mid-surface along s)
    # instead of `fibre_dir`: a tendon curving round a bone darkens where it turns from the beam.
    fibres_follow_shape: bool = False


@dataclass(frozen=True, slots=True)
class Scene:
    """A virtual patient region, possibly with a pathology variant switched on."""

    scene_id: str
    title: str
    structures: tuple[Structure, ...]
    views: dict[str, ProbePose] = field(default_factory=dict)
    depth_mm: float = 40.0
    variant: str | None = None
    variant_title: str | None = None

    def __post_init__(self) -> None:
        if len(self.structures) > 254:
            raise ValueError(f"scene {self.scene_id}: at most 254 structures, got {len(self.structures)}")

    @property
    def default_pose(self) -> ProbePose:
        return next(iter(self.views.values()), ProbePose())


@dataclass(frozen=True, slots=True)
class SceneSpec:
    """A region's scene as data: its structures (built for a variant), named views, depth and variants."""

    title: str
    build: Callable[[str | None], list[Structure]]
    views: dict[str, ProbePose]
    depth_mm: float
    variants: dict[str, str]  # variant id -> title
    variant_views: dict[str, str] = field(default_factory=dict)  # variant -> the view that best shows it
    sources: tuple[str, ...] = ()  # what the anatomy follows: reference/clinical.md sections, [DK] items


def vessels_at(scene: Scene, time_s: float) -> Scene:
    """The scene with every vessel's calibre at `time_s`: arteries pulse, patent veins breathe.

    Scales each vessel lumen (and the wall painted just before it, keeping its thickness) by
    drivers/sim/vessel_motion.py's diameter scale; thrombosed veins do not change. Pure: a new Scene.
    """
    return _vessels_scaled(scene, time_s, time_s, moving_vessels(scene))


# The renderer draws the vessels at the centre of the cardiac and respiratory phase bins a frame falls
# in, so consecutive frames in one bin reuse the anatomy: at 70/min a cardiac bin lasts ~71 ms (two
# frames at 30 Hz; the systolic upstroke spans two bins), at 15/min a breath bin 0.25 s (the venous
# diameter steps by at most ~4 %).
CARDIAC_PHASES = 12
RESPIRATORY_PHASES = 16


@dataclass(frozen=True, slots=True)
class VesselPhase:
    """Which cardiac and respiratory phase bin a moment falls in."""

    cardiac: int
    respiratory: int

    def centre_times_s(self) -> tuple[float, float]:
        """Times (s, within the first cycles) at the centre of the cardiac and the respiratory bin."""
        cardiac_s = 60.0 / HEART_RATE_PER_MIN * (self.cardiac + 0.5) / CARDIAC_PHASES
        breath_s = 60.0 / RESPIRATORY_RATE_PER_MIN * (self.respiratory + 0.5) / RESPIRATORY_PHASES
        return cardiac_s, breath_s


def vessel_phase(time_s: float) -> VesselPhase:
    """The phase bins of scene time `time_s` (seconds)."""
    cardiac = math.floor((time_s * HEART_RATE_PER_MIN / 60.0) % 1.0 * CARDIAC_PHASES)
    breath = math.floor((time_s * RESPIRATORY_RATE_PER_MIN / 60.0) % 1.0 * RESPIRATORY_PHASES)
    return VesselPhase(min(cardiac, CARDIAC_PHASES - 1), min(breath, RESPIRATORY_PHASES - 1))


def moving_vessels(scene: Scene, near: Bounds | None = None) -> tuple[int, ...]:
    """Positions in `scene.structures` of the lumens that pulse or breathe (and overlap `near`)."""
    return tuple(
        i
        for i, st in enumerate(scene.structures)
        if st.vessel is not None
        and st.vessel is not VesselKind.THROMBOSED_VEIN
        and isinstance(st.shape, Tube)
        and (near is None or _overlaps(st.shape.bounds, near))
    )


def vessels_in_phase(scene: Scene, phase: VesselPhase, near: Bounds | None = None) -> Scene:
    """`vessels_at` the centre of the phase bins, moving only the vessels that overlap `near`.

    The scene itself when no vessel moves there (a view away from the vessels costs nothing).
    """
    moving = moving_vessels(scene, near)
    if not moving:
        return scene
    return _vessels_scaled(scene, *phase.centre_times_s(), moving)


def _vessels_scaled(
    scene: Scene, cardiac_s: float, breath_s: float, moving: tuple[int, ...], venous_swing: float = 1.0
) -> Scene:
    """`scene` with the `moving` vessels at their calibre at those times in the cycles; a vein's
    breathing swing scaled by `venous_swing` (a vein pressed flat cannot fill)."""
    artery = arterial_diameter_scale(cardiac_s)
    structures = list(scene.structures)
    for i in moving:
        st = structures[i]
        assert isinstance(st.shape, Tube)
        k = artery if st.vessel is VesselKind.ARTERY else venous_diameter_scale(breath_s, st.inspiration)
        if st.vessel is not VesselKind.ARTERY and venous_swing != 1.0:
            k = 1.0 + (k - 1.0) * venous_swing
        lumen = st.shape
        scaled = Tube(
            lumen.s_pts,
            lumen.t_pts,
            lumen.d_pts,
            tuple(r * k for r in lumen.rt_pts),
            tuple(r * k for r in lumen.rd_pts),
        )
        structures[i] = replace(st, shape=scaled)
        wall = structures[i - 1] if i > 0 else None
        if wall is not None and wall.name == st.name and isinstance(wall.shape, Tube) and wall.vessel is None:
            structures[i - 1] = replace(wall, shape=scaled.grown(wall.shape.rt_pts[0] - lumen.rt_pts[0]))
    return replace(scene, structures=tuple(structures))


class PhasedScenes:
    """The scene in each vessel phase, built once and kept: one object per phase for the caches' keys.

    Not thread-safe: each renderer (and each IQ model) keeps its own.
    """

    def __init__(self) -> None:
        self._base: Scene | None = None
        self._scenes: dict[tuple[VesselPhase, tuple[int, ...], float], Scene] = {}

    def at(self, scene: Scene, time_s: float, near: Bounds | None = None, pressure: float = 0.0) -> Scene:
        """`scene` at `time_s`, vessels in their phase bins; only those overlapping `near` move.

        Under the probe's `pressure` a vein breathes only as much as its lumen is left open
        (`lumen_fraction`, to the nearest quarter): pressed flat, it no longer fills and empties, so
        the tissue the probe holds still stays still (else each breath bin moved everything the
        vein's squash moves).
        """
        moving = moving_vessels(scene, near)
        if not moving:
            return scene
        if self._base is not scene or len(self._scenes) > 4 * CARDIAC_PHASES * RESPIRATORY_PHASES:
            self._base, self._scenes = scene, {}
        phase = vessel_phase(time_s)
        # In quarters, as the phases come in bins: each new calibre repaints the vein's rows.
        swing = round(4.0 * lumen_fraction(VesselKind.VEIN, pressure)) / 4.0 if pressure > 0.0 else 1.0
        phased = self._scenes.get((phase, moving, swing))
        if phased is None:
            phased = _vessels_scaled(scene, *phase.centre_times_s(), moving, swing)
            self._scenes[(phase, moving, swing)] = phased
        return phased


def changed_structures(old: Scene, new: Scene) -> list[Shape] | None:
    """The shapes (before and after) of the structures that differ between two versions of one scene.

    None when they are not versions of one scene (another scene, variant or structure list).
    """
    if old is new:
        return []
    if (old.scene_id, old.variant, len(old.structures)) != (new.scene_id, new.variant, len(new.structures)):
        return None
    out: list[Shape] = []
    for a, b in zip(old.structures, new.structures, strict=True):
        if a is b:
            continue
        if (a.name, a.label, a.vessel, a.point_target) != (b.name, b.label, b.vessel, b.point_target):
            return None
        if a != b:
            out += [a.shape, b.shape]
    return out


def lumen_fraction(kind: VesselKind, pressure: float) -> float:
    """Remaining fraction of a vessel's lumen height at the given probe pressure."""
    if kind is VesselKind.VEIN:
        return max(MIN_LUMEN_FRACTION, 1.0 - pressure / VEIN_COLLAPSE_PRESSURE)
    if kind is VesselKind.THROMBOSED_VEIN:
        return 1.0 - 0.12 * pressure
    return 1.0 - 0.05 * pressure


def _overlaps(b: Bounds, view: Bounds) -> bool:
    return (
        b[0] <= view[1]
        and b[1] >= view[0]
        and b[2] <= view[3]
        and b[3] >= view[2]
        and b[4] <= view[5]
        and b[5] >= view[4]
    )


def view_bounds(s: Array, t: Array, d: Array, margin_mm: float = 1.0) -> Bounds:
    return (
        float(s.min()) - margin_mm,
        float(s.max()) + margin_mm,
        float(t.min()) - margin_mm,
        float(t.max()) + margin_mm,
        float(d.min()) - margin_mm,
        float(d.max()) + margin_mm,
    )


FLATTEN_STRAIN = 0.06  # soft tissue under the footprint thins by up to this fraction at full pressure
FLATTEN_DEPTH_MM = 10.0  # ... over about this depth: the fat and superficial muscle give most
ARTERY_GUARD_MM = 1.2  # an artery moves as one with its wall (0.9 mm) and a thin adventitia


def flatten(pressure: float, d: Array) -> Array:
    """Depth below the skin before pressure of what images at `d` when the probe presses evenly.

    The footprint pushes the skin in and the soft tissue under it thins, most near the skin: a point
    imaged at depth d was `FLATTEN_STRAIN * pressure * D0 (1 - exp(-d / D0))` deeper before. The skin
    surface itself stays under the probe face (d = 0 maps to 0), and the map is monotonic.
    """
    if pressure <= 0.0:
        return d
    shift = FLATTEN_STRAIN * pressure * FLATTEN_DEPTH_MM
    below = np.maximum(d, 0.0)
    return (d + shift * (1.0 - np.exp(-below / FLATTEN_DEPTH_MM))).astype(np.float32)


Tube4 = tuple[Array, Array, Array, Array]  # a tube's centre (t, d) and radii (t, d) where it is sampled


def _tube_at(st: Structure, s: Array) -> Tube4:
    """A vessel's centre and radii (t, d) at positions `s` along the limb."""
    assert isinstance(st.shape, Tube)
    tc, dc = st.shape.centre(s)
    rt, rd = st.shape.radii(s)
    return tc, dc, rt, rd


def _squash(f: float, tube: Tube4, t: Array, d: Array) -> Array:
    """Undo one vein's squash: deformed depth -> depth with this vein (lumen fraction `f`, its
    `tube` where the samples are) at its full height.

    The probe presses from above, so the vessel's deep wall stays put: the squashed lumen (height
    a = f H above the deep wall) stretches back to its full height H, the tissue between the skin
    (held by the probe) and the top wall follows it, and everything deeper is untouched. Across the
    limb the squash is full over the vessel and eases off beside it over a width that grows with the
    height above the vessel, as a soft solid spreads a buried collapse: the fascia over a pressed vein
    sags in a smooth dip, not a notch.
    """
    tc, dc, rt, rd = tube
    box = _moving_box(tube, t, d)
    if box is None:
        return _squashed(f, tube, t, d)
    # Only the samples in the box move (the rest keep their depth exactly): work out those alone.
    rows, cols = box
    full = np.broadcast_shapes(*(np.shape(a) for a in (t, d, *tube)))
    out = np.broadcast_to(d, full).astype(np.float32)
    if rows.stop > 0 and cols.stop > cols.start:
        tube = (block(tc, rows, cols), block(dc, rows, cols), block(rt, rows, cols), block(rd, rows, cols))
        out[rows, cols] = _squashed(f, tube, block(t, rows, cols), block(d, rows, cols))
    return out


def _squashed(f: float, tube: tuple[Array, Array, Array, Array], t: Array, d: Array) -> Array:
    """_squash's map at depths `d`, for a vein of lumen fraction `f` whose centre and radii (t, d)
    there are `tube`. Each chain of arithmetic runs in place on its first result, and q^2 is a square
    rather than a power (a pressed calf runs this for six veins a frame): the values of the plain
    expressions in the comments, but for powf's last-place rounding of q^2 now and then."""
    tc, dc, rt, rd = tube
    deep_wall = dc + rd + 0.6
    height = 2.0 * (rd + 0.6)  # lumen and walls
    a = height * f
    reach = np.maximum(deep_wall, 1.05 * height)  # up to the skin
    y = d - deep_wall  # depth relative to the deep wall; negative above it
    # Above the lumen the displacement grows as q^p from the skin (q = 0) to the top wall (q = 1):
    # the skin under the probe stays put; p <= (reach - a) / (height - a) keeps the map monotonic.
    q = y + reach  # q = clip((y + reach) / (reach - a), 0, 1)
    q /= reach - a
    np.clip(q, 0.0, 1.0, out=q)
    p = np.clip(0.9 * (reach - a) / (height - a), 1.0, 2.0)
    above = np.square(q) if bool(np.all(p == 2.0)) else q**p  # above = y + (a - height) q^p
    above *= a - height
    above += y
    # u = y below the deep wall, y H / a in the squashed lumen, `above` up to the skin, y above it
    u = above
    np.copyto(u, y, where=y < -reach)
    np.copyto(u, y * (height / a), where=y >= -a)
    np.copyto(u, y, where=y > 0)
    half_width = rt + 0.6
    # Narrow (~1.5 mm) at the vessel, so a neighbour beside it is barely touched; wider higher up.
    # The ramp narrows with depth where the displacement is negative, which keeps the map monotonic.
    ramp = y + height  # ramp = max(1.5, 0.25 half_width, 2 max(0, -y - height))
    np.negative(ramp, out=ramp)
    np.maximum(ramp, 0.0, out=ramp)
    ramp *= 2.0
    ramp = np.maximum(ramp, np.maximum(1.5, 0.25 * half_width))
    x = np.subtract(
        half_width + ramp, np.abs(t - tc)
    )  # x = clip((half_width + ramp - |t - tc|) / ramp, 0, 1)
    x /= ramp
    np.clip(x, 0.0, 1.0, out=x)
    w = 2.0 * x  # w = x x (3 - 2 x), the smoothstep
    np.subtract(3.0, w, out=w)
    w *= x * x
    u -= y  # out = d + w (u - y)
    w *= u
    w += d
    out: Array = w.astype(np.float32, copy=False)
    return out


def _moving_box(tube: tuple[Array, Array, Array, Array], t: Array, d: Array) -> tuple[slice, slice] | None:
    """The leading rows and the run of columns of `d` (rows, columns) that `_squashed` can move;
    None when `d` is one row or the tube or `t` varies down the rows (no box to cut).

    A sample moves only above the vein's deep wall and within the ramp beside it, and the ramp widens
    upwards; depth grows down every column (each map is monotonic), so in every column the moving
    samples are its top rows, found by a binary search over the rows. The test errs wide by a micron
    so that rounding never leaves out a sample that moves.
    """
    if d.ndim != 2 or d.shape[0] <= 1 or any(np.ndim(a) == 2 and np.shape(a)[0] > 1 for a in (t, *tube)):
        return None
    tc, dc, rt, rd = (np.asarray(a, dtype=np.float64).reshape(-1) for a in tube)
    deep_wall, height, half_width = dc + rd + 0.6, 2.0 * (rd + 0.6), rt + 0.6
    off = np.abs(np.asarray(t, dtype=np.float64).reshape(-1) - tc)
    floor = np.maximum(1.5, 0.25 * half_width)

    def moving(row: int) -> npt.NDArray[np.bool_]:
        y = d[row].astype(np.float64) - deep_wall
        ramp = np.maximum(floor, 2.0 * np.maximum(0.0, -y - height))
        out: npt.NDArray[np.bool_] = (y <= 1e-3) & (half_width + ramp - off > -1e-3)
        return out

    lo, hi = 0, d.shape[0]
    while lo < hi:
        mid = (lo + hi) // 2
        if moving(mid).any():
            lo = mid + 1
        else:
            hi = mid
    columns = max(d.shape[1], off.size)
    top = np.flatnonzero(np.broadcast_to(moving(0), (columns,))) if lo > 0 else np.arange(0)
    cols = slice(int(top[0]), int(top[-1]) + 1) if top.size else slice(0, 0)
    return slice(0, lo), cols


def _imaged_depth(deform: Callable[[Array, Array], Array], tc: Array, dc: Array) -> Array:
    """The imaged depth whose patient depth is `dc` in the column through `tc`: deform(tc, x) = dc.

    `deform` is monotonic and smooth in depth: a few secant steps from x = dc converge to < 1 um.
    Each row of `tc` and `dc` (rows, columns) is solved on its own: a row that has converged keeps
    its depth while the others go on, so several arteries' rows can be solved at once.
    """
    x0 = dc.astype(np.float32)
    f0 = deform(tc, x0) - dc
    x1 = (x0 - f0).astype(np.float32)  # the first step assumes no stretch
    for _ in range(10):
        f1 = deform(tc, x1) - dc
        done = np.all(np.abs(f1) < 1e-3, axis=-1, keepdims=True)
        if bool(np.all(done)):
            break
        step = x1 - x0
        slope = np.clip((f1 - f0) / np.where(np.abs(step) > 1e-6, step, 1.0), 0.05, 60.0)
        x0, f0 = x1, f1
        x1 = np.where(done, x1, x1 - f1 / slope).astype(np.float32)
    return x1


def _imaged_depths(deform: Callable[[Array, Array], Array], tubes: Sequence[Tube4]) -> list[Array]:
    """Each tube's `_imaged_depth` at its centre: solved together, a row each, when every centre is
    one row of the same shape (a plane whose coordinates do not vary down its rows); else one by one."""
    centres = [np.broadcast_arrays(tc, dc) for tc, dc, _, _ in tubes]
    shape = centres[0][0].shape if centres else ()
    if len(centres) > 1 and len(shape) == 2 and shape[0] == 1 and all(c[0].shape == shape for c in centres):
        together = _imaged_depth(deform, *(np.concatenate([c[k] for c in centres]) for k in (0, 1)))
        return [together[i : i + 1] for i in range(len(centres))]
    return [_imaged_depth(deform, tc, dc) for tc, dc in centres]


_G = TypeVar("_G", bound=np.generic)


def _band(a: npt.NDArray[_G], rows: slice) -> npt.NDArray[_G]:
    """The rows `rows` of a per-sample array; a row vector (one value per column) as it is."""
    return a[rows] if a.ndim == 2 and a.shape[0] > 1 else a


def block(a: npt.NDArray[_G], rows: slice, cols: slice) -> npt.NDArray[_G]:
    """The rows and columns of a per-sample array; a row or column vector kept whole along its
    length-1 axis."""
    a = _band(a, rows)
    return a[:, cols] if a.ndim == 2 and a.shape[1] > 1 else a


def _artery_columns(shape: Tube, s: Array, t: Array, tc: Array, gt: Array) -> slice | None:
    """The run of columns a rigid artery can change (`_rigid_artery` moves samples only within its
    guard across the limb and along its course); None when it spans none. All columns when the
    coordinates vary down the rows (a tilted plane)."""
    if any(np.ndim(a) == 2 and np.shape(a)[0] > 1 for a in (s, t, tc, gt)):
        return slice(None)
    spans = (((t - tc) / gt) ** 2 <= 1.0) & (s >= shape.s_pts[0]) & (s <= shape.s_pts[-1])
    cols = np.flatnonzero(np.atleast_2d(spans)[0])
    if cols.size == 0:
        return None
    return slice(int(cols[0]), int(cols[-1]) + 1) if np.shape(spans)[-1] > 1 else slice(None)


def _rigid_artery(
    st: Structure,
    pressure: float,
    *,
    tube: Tube4,
    imaged: Array,
    coords: tuple[Array, Array, Array],
    out: Array,
    claimed: npt.NDArray[np.bool_],
) -> tuple[Array, npt.NDArray[np.bool_]]:
    """`out` with the artery `st` moved as one piece: carried by the tissue, not stretched by it.

    The pressure's deformation (imaged -> patient depth, `out` at the samples) may stretch the
    tissue above a collapsing vein; an artery there would be drawn tall with a tail. Instead it
    keeps its shape (flattened only by its own small lumen fraction) and moves by the deformation
    at its centre, `tube` at the samples' s, to its `imaged` depth (`_imaged_depth`); imaged points
    outside it that the stretch would map into it take a thin band of the tissue just outside its wall.
    Only the rows the artery can reach are touched (depth grows down every column).
    """
    assert isinstance(st.shape, Tube)
    s, t, d = coords
    tc, dc, rt, rd = tube
    gt, gd = rt + ARTERY_GUARD_MM, rd + ARTERY_GUARD_MM
    f = lumen_fraction(VesselKind.ARTERY, pressure)
    # Rows that image the artery rigidly, or that the deformation maps into it.
    reach_lo = min(float(np.min(imaged - f * gd)), float(np.min(dc - gd))) - 0.5
    reach_hi = max(float(np.max(imaged + f * gd)), float(np.max(dc + gd))) + 0.5
    near = ((d >= reach_lo) & (d <= reach_hi)) | ((out >= reach_lo) & (out <= reach_hi))
    rows = np.flatnonzero(near.any(axis=1)) if near.ndim == 2 and near.shape[0] > 1 else np.arange(1)
    if rows.size == 0:
        return out, claimed
    r = slice(int(rows[0]), int(rows[-1]) + 1) if near.ndim == 2 and near.shape[0] > 1 else slice(None)

    c = _artery_columns(st.shape, s, t, tc, gt)
    if c is None:
        return out, claimed

    s_, t_, d_, out_, claimed_ = (
        block(s, r, c),
        block(t, r, c),
        block(d, r, c),
        block(out, r, c),
        block(claimed, r, c),
    )
    tc_, dc_, gt_, gd_ = block(tc, r, c), block(dc, r, c), block(gt, r, c), block(gd, r, c)
    imaged_ = block(imaged, r, c)
    along = (s_ >= st.shape.s_pts[0]) & (s_ <= st.shape.s_pts[-1])
    across = ((t_ - tc_) / gt_) ** 2
    inside = (across + ((d_ - imaged_) / (f * gd_)) ** 2 <= 1.0) & along & ~claimed_
    rigid = dc_ + (d_ - imaged_) / f
    landed = (across + ((out_ - dc_) / gd_) ** 2 < 1.0) & along & ~inside & ~claimed_
    # Tissue the stretch would map into the artery takes a thin band just outside its wall instead,
    # in order (compressed 1:4 from the artery's imaged edge), so its speckle is squeezed, not smeared.
    half = np.sqrt(np.maximum(0.0, 1.0 - across))
    edge = gd_ * half + 0.05
    beyond = np.maximum(np.abs(d_ - imaged_) - f * gd_ * half, 0.0)
    clamped = np.where(out_ < dc_, dc_ - edge - 0.25 * beyond, dc_ + edge + 0.25 * beyond)
    moved = np.where(inside, rigid, np.where(landed, clamped, out_)).astype(np.float32)
    full = np.broadcast_shapes(out.shape, claimed.shape)
    result = np.array(np.broadcast_to(out, full), dtype=np.float32)
    taken = np.array(np.broadcast_to(claimed, full))
    result[r, c] = moved
    taken[r, c] |= inside
    return result, taken


def compress_vessels(
    scene: Scene, pressure: float, s: Array, t: Array, d: Array, *, near: Bounds | None = None
) -> Array:
    """Depth coordinates warped by probe pressure: maps deformed (imaged) depth to patient depth.

    Three parts: the soft tissue under the footprint thins (`flatten`); each patent vein collapses
    and the tissue above follows it down (`_squash`, deepest vein first: a deeper vein's map also moves
    the tissue above it, so the shallower ones are undone afterwards in nearly patient depth); each
    artery rides along as a rigid piece (`_rigid_artery`), so it neither grows nor trails.
    The vessels that take part are those within 10 mm of the samples' bounds, or of the bounds `near`
    if given (some of a frame's samples take the vessels of the whole frame).
    """
    if pressure <= 0.0:
        return d
    b = near if near is not None else view_bounds(s, t, d, margin_mm=0.0)
    view = (b[0] - 10.0, b[1] + 10.0, b[2] - 10.0, b[3] + 10.0, b[4] - 10.0, b[5] + 10.0)
    tubes = [
        st
        for st in scene.structures
        if st.vessel is not None and isinstance(st.shape, Tube) and _overlaps(st.shape.bounds, view)
    ]
    veins = [
        st
        for st in tubes
        if st.vessel is not VesselKind.ARTERY and lumen_fraction(st.vessel, pressure) < 0.999  # type: ignore[arg-type]
    ]
    veins.sort(key=lambda v: -v.shape.bounds[5])

    # Every call maps depths at the samples' own positions along the limb: the veins' geometry there
    # is worked out once (the arteries' secant steps call this a dozen times a frame).
    squashes = [(lumen_fraction(vessel, pressure), _tube_at(st, s)) for st in veins if (vessel := st.vessel)]

    def deform(t_: Array, d_: Array) -> Array:
        out = flatten(pressure, d_)
        for f, tube in squashes:
            out = _squash(f, tube, t_, out)
        return out

    out = deform(t, d)
    # Shallow arteries first: they move furthest, and where two would land on the same imaged point
    # the one already placed keeps it (a pressed artery pushes against its deeper neighbour).
    claimed = np.zeros(np.broadcast_shapes(s.shape, t.shape, d.shape), dtype=np.bool_)
    arteries = sorted((v for v in tubes if v.vessel is VesselKind.ARTERY), key=lambda v: v.shape.bounds[4])
    geometry = [_tube_at(st, s) for st in arteries]
    for st, tube, imaged in zip(arteries, geometry, _imaged_depths(deform, geometry), strict=True):
        out, claimed = _rigid_artery(
            st, pressure, tube=tube, imaged=imaged, coords=(s, t, d), out=out, claimed=claimed
        )
    return out


def paint(scene: Scene, s: Array, t: Array, d: Array) -> npt.NDArray[np.uint8]:
    """Structure index (1-based; 0 = outside the body) of every sample."""
    shape = np.broadcast_shapes(s.shape, t.shape, d.shape)
    index = np.zeros(shape, dtype=np.uint8)
    view = view_bounds(s, t, d)
    # Evaluate each shape only over the rows where some column reaches its depth bounds.
    by_rows = d.ndim == 2 and shape[0] > 1 and d.shape[0] > 1
    if by_rows:
        d_hi, d_lo = (d[:, 0], d[:, 0]) if d.shape[1] == 1 else (d.max(axis=1), d.min(axis=1))
    vectors = s.shape[0] == 1 and t.shape[0] == 1  # the coordinates along a row are cheap to evaluate
    # Coordinates along a row and depth growing down every column (any untilted or tilted linear plane;
    # under pressure, unless a rigid artery folds a column): a shape fills one span of rows per
    # column, found by binary search.
    monotonic = by_rows and vectors and bool(np.all(np.diff(d, axis=0) >= 0))
    rows_above = _rows_above(d, shape) if monotonic else None
    for i, st in enumerate(scene.structures, start=1):
        bounds = st.shape.bounds
        if st.point_target or not _overlaps(bounds, view):
            continue
        span_of = getattr(st.shape, "span", None)
        span = span_of(s, t) if rows_above is not None and span_of is not None else None
        if rows_above is not None and span is not None:
            _paint_span(index, rows_above, span, i)
        elif by_rows:
            reach = (d_hi >= bounds[4]) & (d_lo <= bounds[5])
            if isinstance(st.shape, Slab) and vectors:
                # A slab's depth bounds are loose; its surfaces over this plane give the rows exactly:
                # nothing above the shallowest top or at/below the deepest bottom is inside.
                top, bottom = st.shape.top(s, t), st.shape.bottom(s, t)
                reach &= (d_hi >= float(np.min(top))) & (d_lo < float(np.max(bottom)))
            reached = np.flatnonzero(reach)
            if reached.size == 0:
                continue
            r0, r1 = int(reached[0]), int(reached[-1]) + 1
            rows = slice(r0, r1)
            sub = (s[rows] if s.shape[0] > 1 else s, t[rows] if t.shape[0] > 1 else t, d[rows])
            np.putmask(index[rows], np.broadcast_to(st.shape.mask(*sub), index[rows].shape), np.uint8(i))
        else:
            np.putmask(index, np.broadcast_to(st.shape.mask(s, t, d), shape), np.uint8(i))
    above_skin = d < 0.0
    if above_skin.any():
        np.putmask(index, np.broadcast_to(above_skin, shape), np.uint8(0))
    return index


FIBRE_STEP_MM = 0.25  # half the baseline of the finite difference giving a course's slope


def fibre_field(
    st: Structure, s: Array, t: Array, d: Array
) -> tuple[tuple[Array, Array, Array], Array, Array]:
    """The structure's fibre direction at each point, and the point's offset (t, d) from its course.

    With `fibres_follow_shape` the fibres of a Tube run along its centre line and those of a Slab
    along its mid-surface, both heading along s: the direction is (1, dt/ds, dd/ds) of that course,
    unit length, and the offsets let a texture drawn along s follow the curve (texture.py). Other
    structures give `fibre_dir` everywhere and no offset. Pointwise in patient mm; the arrays
    broadcast with the coordinates (they vary only with s, and t for a layer).
    """
    zero = np.zeros((1, 1), dtype=np.float32)
    h = np.float32(FIBRE_STEP_MM)
    if st.fibres_follow_shape and isinstance(st.shape, Tube):
        tc, dc = st.shape.centre(np.stack([s - h, s, s + h]))  # one curve evaluation for all three
        t_lo, off_t, t_hi = tc
        d_lo, off_d, d_hi = dc
    elif st.fibres_follow_shape and isinstance(st.shape, Slab):
        slab = st.shape

        def mid(x: Array) -> Array:
            return np.float32(0.5) * (slab.top(x, t) + slab.bottom(x, t))

        t_lo = t_hi = off_t = zero
        d_lo, off_d, d_hi = mid(np.stack([s - h, s, s + h]))
    else:
        f = np.asarray(st.fibre_dir, dtype=np.float32) / np.float32(np.linalg.norm(st.fibre_dir))
        unit = tuple(np.full((1, 1), v, dtype=np.float32) for v in f)
        return (unit[0], unit[1], unit[2]), zero, zero
    # The course depends on s (and t for a layer) only: the field keeps their shapes, not the depth's.
    dt, dd = (t_hi - t_lo).astype(np.float32), (d_hi - d_lo).astype(np.float32)
    ds = np.float32(2.0) * h
    norm = np.sqrt(ds * ds + dt * dt + dd * dd)
    return (ds / norm, dt / norm, dd / norm), off_t.astype(np.float32), off_d.astype(np.float32)


def _rows_above(d: Array, shape: tuple[int, ...]) -> Callable[[Array], npt.NDArray[np.intp]]:
    """For depths `d` (rows, 1 or columns) that grow down every column: a function giving, for one
    depth per column, how many rows of that column lie above it (d < depth), exactly as float32
    comparisons would, by binary search."""
    if d.shape[1] == 1:
        d_col = d[:, 0]
        return lambda depth: np.searchsorted(d_col, depth, side="left")
    rows, cols = shape
    # Each column's depths as integers in the same order, the columns laid end to end: one sorted
    # array in which every column's search stays within its own stretch.
    offset = np.arange(cols, dtype=np.int64) << 32
    keys = (_ordered_keys(d.T) + offset[:, None]).ravel()
    first_row = np.arange(cols, dtype=np.intp) * rows
    return lambda depth: np.searchsorted(keys, _ordered_keys(depth) + offset, side="left") - first_row


def _ordered_keys(a: Array) -> npt.NDArray[np.int64]:
    """float32 values as int64 keys in the same order (-0.0 as 0.0; no NaN): a < b iff key(a) < key(b)."""
    bits = (np.asarray(a, dtype=np.float32) + np.float32(0.0)).view(np.int32).astype(np.int64)
    return np.where(bits < 0, bits ^ 0x7FFFFFFF, bits)


def _paint_span(
    index: npt.NDArray[np.uint8], rows_above: Callable[[Array], npt.NDArray[np.intp]], span: Span, i: int
) -> None:
    """Paint structure `i` where a column's depth lies in [lo, hi) of its span: over that box only."""
    cols = index.shape[1]
    lo, hi = (np.broadcast_to(a, (1, cols))[0] for a in span)
    r_lo = rows_above(lo)
    r_hi = rows_above(hi)
    filled = r_hi > r_lo
    if not filled.any():
        return
    c = np.flatnonzero(filled)
    c0, c1 = int(c[0]), int(c[-1]) + 1
    r_lo, r_hi = r_lo[c0:c1], r_hi[c0:c1]
    r0, r1 = int(r_lo[filled[c0:c1]].min()), int(r_hi.max())
    box = index[r0:r1, c0:c1]
    if c.size == c1 - c0 and bool(np.all(r_lo == r0)) and bool(np.all(r_hi == r1)):
        box[...] = i  # a flat layer: the box is all inside
        return
    row = np.arange(r0, r1, dtype=np.intp)[:, None]
    np.copyto(box, np.uint8(i), where=(row >= r_lo) & (row < r_hi))


def structure_labels(scene: Scene) -> npt.NDArray[np.uint8]:
    """Tissue label of each structure index (index 0 is coupling gel)."""
    return np.asarray([Label.GEL] + [st.label for st in scene.structures], dtype=np.uint8)


def structure_names(scene: Scene) -> tuple[str, ...]:
    return ("coupling gel", *(st.name for st in scene.structures))


assert TISSUES[Label.GEL].name == "coupling gel"
