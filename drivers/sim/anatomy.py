"""The virtual patient's structure map: named structures painted into a label field, and vein compression.

A scene is an ordered list of named structures; later ones paint over earlier ones. Compression
by the probe is a displacement of the *sampling* coordinates around each vessel, so labels and the
patient-fixed speckle deform together instead of re-randomising.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from drivers.sim.pose import ProbePose
from drivers.sim.shapes import Array, Bounds, Shape, Slab, Tube
from drivers.sim.tissues import TISSUES, Label


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


def compress_vessels(scene: Scene, pressure: float, s: Array, t: Array, d: Array) -> Array:
    """Depth coordinates warped so each vessel's lumen is squashed vertically by probe pressure.

    Maps deformed (imaged) depth to undeformed (patient) depth. The probe presses from above, so the
    vessel's deep wall stays put: the squashed lumen (height a = f H above the deep wall) stretches
    back to its full height H, the tissue between the skin (held by the probe) and the top wall is
    stretched to follow it, and everything deeper than the vessel is untouched. Arteries are stiff:
    samples inside an artery keep their place.
    """
    if pressure <= 0.0:
        return d
    view = view_bounds(s, t, d, margin_mm=10.0)
    original = d
    # Deepest vessel first: each map undoes one vessel's squash, and a deeper vessel's map also moves
    # the tissue above it, so the shallower vessels are undone afterwards in (nearly) patient depth.
    vessels = [st for st in scene.structures if st.vessel is not None and isinstance(st.shape, Tube)]
    for st in sorted(vessels, key=lambda v: -v.shape.bounds[5]):
        if not isinstance(st.shape, Tube) or st.vessel is None or not _overlaps(st.shape.bounds, view):
            continue
        f = lumen_fraction(st.vessel, pressure)
        if f >= 0.999:
            continue
        tc, dc = st.shape.centre(s)
        rt, rd = st.shape.radii(s)
        height = 2.0 * (rd + 0.6)  # lumen and walls
        a = height * f
        deep_wall = dc + rd + 0.6
        reach = np.maximum(deep_wall, 1.05 * height)  # up to the skin
        y = d - deep_wall  # depth relative to the deep wall; negative above it
        # Above the lumen the displacement grows as q^p from the skin (q = 0) to the top wall (q = 1):
        # the skin under the probe stays put; p <= (reach - a) / (height - a) keeps the map monotonic.
        q = np.clip((y + reach) / (reach - a), 0.0, 1.0)
        p = np.clip(0.9 * (reach - a) / (height - a), 1.0, 2.0)
        above = y + (a - height) * q**p
        u = np.where(y > 0, y, np.where(y >= -a, y * (height / a), np.where(y >= -reach, above, y)))
        # Full squash across the vessel, easing to none within ~1.5 mm beside it (smoothstep), so a
        # neighbouring artery is barely touched and tissue lines bend instead of kinking.
        half_width = rt + 0.6
        ramp = np.maximum(1.5, 0.25 * half_width)
        x = np.clip((half_width + ramp - np.abs(t - tc)) / ramp, 0.0, 1.0)
        w = x * x * (3.0 - 2.0 * x)
        d = (d + w * (u - y)).astype(np.float32)
    if d is not original:
        for st in scene.structures:
            if (
                st.vessel is VesselKind.ARTERY
                and isinstance(st.shape, Tube)
                and _overlaps(st.shape.bounds, view)
            ):
                d = np.where(st.shape.grown(1.2).mask(s, t, original), original, d).astype(np.float32)
    return d


def paint(scene: Scene, s: Array, t: Array, d: Array) -> npt.NDArray[np.uint8]:
    """Structure index (1-based; 0 = outside the body) of every sample."""
    shape = np.broadcast_shapes(s.shape, t.shape, d.shape)
    index = np.zeros(shape, dtype=np.uint8)
    view = view_bounds(s, t, d)
    # Depth grows down every column (any untilted or tilted linear plane, compressed or not): evaluate
    # each shape only over the rows where some column reaches its depth bounds.
    by_rows = d.ndim == 2 and shape[0] > 1 and d.shape[0] > 1 and bool(np.all(np.diff(d, axis=0) >= 0))
    if by_rows:
        d_hi, d_lo = (d[:, 0], d[:, 0]) if d.shape[1] == 1 else (d.max(axis=1), d.min(axis=1))
    vectors = s.shape[0] == 1 and t.shape[0] == 1  # the coordinates along a row are cheap to evaluate
    for i, st in enumerate(scene.structures, start=1):
        bounds = st.shape.bounds
        if st.point_target or not _overlaps(bounds, view):
            continue
        if by_rows:
            r0 = int(np.searchsorted(d_hi, bounds[4], side="left"))
            r1 = int(np.searchsorted(d_lo, bounds[5], side="right"))
            if isinstance(st.shape, Slab) and vectors:
                # A slab's depth bounds are loose; its surfaces over this plane give the rows exactly:
                # nothing above the shallowest top or at/below the deepest bottom is inside.
                top, bottom = st.shape.top(s, t), st.shape.bottom(s, t)
                r0 = max(r0, int(np.searchsorted(d_hi, float(np.min(top)), side="left")))
                r1 = min(r1, int(np.searchsorted(d_lo, float(np.max(bottom)), side="left")))
            if r1 <= r0:
                continue
            rows = slice(r0, r1)
            sub = (s[rows] if s.shape[0] > 1 else s, t[rows] if t.shape[0] > 1 else t, d[rows])
            np.putmask(index[rows], np.broadcast_to(st.shape.mask(*sub), index[rows].shape), np.uint8(i))
        else:
            np.putmask(index, np.broadcast_to(st.shape.mask(s, t, d), shape), np.uint8(i))
    above_skin = d < 0.0
    if above_skin.any():
        np.putmask(index, np.broadcast_to(above_skin, shape), np.uint8(0))
    return index


def structure_labels(scene: Scene) -> npt.NDArray[np.uint8]:
    """Tissue label of each structure index (index 0 is coupling gel)."""
    return np.asarray([Label.GEL] + [st.label for st in scene.structures], dtype=np.uint8)


def structure_names(scene: Scene) -> tuple[str, ...]:
    return ("coupling gel", *(st.name for st in scene.structures))


assert TISSUES[Label.GEL].name == "coupling gel"
