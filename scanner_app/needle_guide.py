"""Needle guidance geometry for ultrasound-guided procedures, in image millimetres.

The image's coordinates are those the window draws in: x lateral, 0 at the probe's first element and
`width_mm` at its last; y depth below the skin (the array face). An in-plane needle enters the skin
`entry_offset_mm` beyond one end of the footprint and runs down into the image plane at `angle_deg`
to the skin; an out-of-plane needle crosses the slice as a dot under the probe's centre mark, at the
target depth. Pure geometry: the procedure panel draws it, the simulator's needle and the tests use
it. No Qt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

PointMm = tuple[float, float]

MIN_ANGLE_DEG = 5.0
MAX_ANGLE_DEG = 85.0


class Approach(StrEnum):
    """Where the needle comes from: in the imaging plane from either end, or across it."""

    IN_PLANE_LEFT = "in_plane_left"  # enters beyond the first element (x < 0), heading to larger x
    IN_PLANE_RIGHT = "in_plane_right"  # enters beyond the last element (x > width), heading to smaller x
    OUT_OF_PLANE = "out_of_plane"  # crosses the slice under the centre of the footprint


@dataclass(frozen=True, slots=True)
class NeedleGuide:
    """An operator's (or a bracket's) planned needle path.

    angle_deg: between the needle and the skin, in-plane approaches (5..85 degrees).
    entry_offset_mm: how far beyond the footprint's end the needle enters the skin (>= 0).
    target_depth_mm: out-of-plane, the depth of the crossing mark on the centre line (>= 0).
    Raises ValueError for values outside those ranges or not finite.
    """

    approach: Approach = Approach.IN_PLANE_LEFT
    angle_deg: float = 30.0
    entry_offset_mm: float = 5.0
    target_depth_mm: float = 15.0

    def __post_init__(self) -> None:
        for name in ("angle_deg", "entry_offset_mm", "target_depth_mm"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"needle guide: {name} must be a finite number, got {getattr(self, name)!r}")
        if not MIN_ANGLE_DEG <= self.angle_deg <= MAX_ANGLE_DEG:
            raise ValueError(
                f"needle guide: angle_deg must be {MIN_ANGLE_DEG:g}..{MAX_ANGLE_DEG:g}, "
                f"got {self.angle_deg:g}"
            )
        if self.entry_offset_mm < 0 or self.target_depth_mm < 0:
            raise ValueError("needle guide: entry_offset_mm and target_depth_mm must not be negative")

    @property
    def in_plane(self) -> bool:
        return self.approach != Approach.OUT_OF_PLANE


# Fixed brackets carry the needle at set angles; the names are what the operator picks.
BRACKET_PRESETS: dict[str, NeedleGuide] = {
    "free hand 30°": NeedleGuide(Approach.IN_PLANE_LEFT, 30.0, 5.0),
    "bracket shallow 20°": NeedleGuide(Approach.IN_PLANE_LEFT, 20.0, 0.0),
    "bracket medium 35°": NeedleGuide(Approach.IN_PLANE_LEFT, 35.0, 0.0),
    "bracket deep 50°": NeedleGuide(Approach.IN_PLANE_LEFT, 50.0, 0.0),
}


def entry_point(guide: NeedleGuide, width_mm: float) -> PointMm:
    """Where the needle enters the skin (depth 0), in image mm; out of plane, the centre mark."""
    if guide.approach == Approach.IN_PLANE_LEFT:
        return (-guide.entry_offset_mm, 0.0)
    if guide.approach == Approach.IN_PLANE_RIGHT:
        return (width_mm + guide.entry_offset_mm, 0.0)
    return (width_mm / 2.0, 0.0)


def _direction(guide: NeedleGuide) -> PointMm:
    """Unit vector of the in-plane path (lateral, depth)."""
    angle = math.radians(guide.angle_deg)
    lateral = math.cos(angle) if guide.approach == Approach.IN_PLANE_LEFT else -math.cos(angle)
    return (lateral, math.sin(angle))


def point_at_depth(guide: NeedleGuide, width_mm: float, depth_mm: float) -> PointMm:
    """The point of the in-plane path at `depth_mm`, or the out-of-plane centre line's point."""
    x0, _ = entry_point(guide, width_mm)
    if not guide.in_plane:
        return (x0, depth_mm)
    dx, dy = _direction(guide)
    return (x0 + dx * depth_mm / dy, depth_mm)


def guide_segment(guide: NeedleGuide, width_mm: float, depth_mm: float) -> tuple[PointMm, PointMm] | None:
    """The part of the in-plane path inside the image rectangle [0, width] x [0, depth], or None when
    it misses the image (too steep from too far away). Out of plane: the centre line, top to bottom."""
    if not guide.in_plane:
        x = width_mm / 2.0
        return ((x, 0.0), (x, depth_mm))
    x0, _ = entry_point(guide, width_mm)
    dx, dy = _direction(guide)
    # Parameter t is the path length from the entry; clip to the image's lateral and depth range.
    a, b = (0.0 - x0) / dx, (width_mm - x0) / dx
    t_lo, t_hi = max(0.0, min(a, b)), min(depth_mm / dy, max(a, b))
    if t_hi <= t_lo:
        return None
    return ((x0 + dx * t_lo, dy * t_lo), (x0 + dx * t_hi, dy * t_hi))


@dataclass(frozen=True, slots=True)
class DepthMark:
    """A tick on the guide line where the path reaches `depth_mm` below the skin."""

    x_mm: float
    y_mm: float
    depth_mm: float


def depth_marks(
    guide: NeedleGuide, width_mm: float, depth_mm: float, every_mm: float = 5.0
) -> list[DepthMark]:
    """Ticks every `every_mm` of depth along the part of the path inside the image (none at the skin)."""
    if every_mm <= 0:
        raise ValueError(f"depth marks: every_mm must be positive, got {every_mm:g}")
    segment = guide_segment(guide, width_mm, depth_mm)
    if segment is None:
        return []
    (_, top), (_, bottom) = segment
    marks = []
    depth = every_mm * max(1, math.ceil(top / every_mm - 1e-9))
    while depth <= bottom + 1e-9:
        x, y = point_at_depth(guide, width_mm, depth)
        marks.append(DepthMark(x, y, depth))
        depth += every_mm
    return marks


@dataclass(frozen=True, slots=True)
class TargetReadout:
    """What the operator reads beside a dropped target."""

    entry_to_target_mm: float  # straight path from the skin entry to the target
    off_guide_mm: float  # perpendicular distance of the target from the planned path (0 out of plane)
    angle_to_target_deg: float  # in-plane: the angle to the skin that would reach the target


def target_readout(guide: NeedleGuide, width_mm: float, target: PointMm) -> TargetReadout:
    """Distances from the guide to a target point (image mm)."""
    ex, ey = entry_point(guide, width_mm)
    tx, ty = target
    if not guide.in_plane:
        # Out of plane the needle goes down beside the probe's centre mark to the crossing depth.
        return TargetReadout(math.hypot(tx - ex, ty - ey), abs(tx - ex), 90.0)
    dx, dy = _direction(guide)
    vx, vy = tx - ex, ty - ey
    off = abs(vx * dy - vy * dx)
    angle = math.degrees(math.atan2(ty - ey, abs(tx - ex))) if tx != ex else 90.0
    return TargetReadout(math.hypot(vx, vy), off, angle)
