"""Measurements on the image in mm: distance calipers and two-axis (length x depth) with ellipse area.

Points are (x_mm, y_mm): x across the image from the probe marker side, y the depth below the skin
line. A frame's `spacing_mm` and `depth_origin_mm` map pixels to these coordinates: pixel centres sit
at (index + 0.5) * spacing, less the depth origin in y (a convex image's top row lies above the skin).
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass
from typing import Any

from psygnal import Signal

PointMm = tuple[float, float]


def pixel_centre_mm(
    row: int, col: int, spacing_mm: tuple[float, float], depth_origin_mm: float = 0.0
) -> PointMm:
    """The (x_mm, depth_mm) of the centre of pixel (row, col); `depth_origin_mm` as the frame's."""
    return ((col + 0.5) * spacing_mm[1], (row + 0.5) * spacing_mm[0] - depth_origin_mm)


def snap_to_pixel_centre(
    point: PointMm, spacing_mm: tuple[float, float], depth_origin_mm: float = 0.0
) -> PointMm:
    """Move a point to the centre of the pixel it falls in (the image's own resolution)."""
    col = math.floor(point[0] / spacing_mm[1])
    row = math.floor((point[1] + depth_origin_mm) / spacing_mm[0])
    return pixel_centre_mm(row, col, spacing_mm, depth_origin_mm)


def distance_mm(a: PointMm, b: PointMm) -> float:
    return math.hypot(b[0] - a[0], b[1] - a[1])


@dataclass(frozen=True, slots=True)
class DistanceMeasurement:
    """A caliper pair."""

    label: str
    a: PointMm
    b: PointMm

    @property
    def kind(self) -> str:
        return "distance"

    @property
    def points(self) -> tuple[PointMm, ...]:
        return (self.a, self.b)

    @property
    def distance_mm(self) -> float:
        return distance_mm(self.a, self.b)

    def text(self) -> str:
        return f"{self.label}  {self.distance_mm:.1f} mm"

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "kind": self.kind, "points_mm": [list(self.a), list(self.b)],
                "distance_mm": round(self.distance_mm, 3)}  # fmt: skip


@dataclass(frozen=True, slots=True)
class TwoAxisMeasurement:
    """A collection measured as length (first pair) by depth (second pair); area of the ellipse they span."""

    label: str
    length_a: PointMm
    length_b: PointMm
    depth_a: PointMm
    depth_b: PointMm

    @property
    def kind(self) -> str:
        return "two_axis"

    @property
    def points(self) -> tuple[PointMm, ...]:
        return (self.length_a, self.length_b, self.depth_a, self.depth_b)

    @property
    def length_mm(self) -> float:
        return distance_mm(self.length_a, self.length_b)

    @property
    def depth_mm(self) -> float:
        return distance_mm(self.depth_a, self.depth_b)

    @property
    def area_mm2(self) -> float:
        return math.pi / 4.0 * self.length_mm * self.depth_mm

    def text(self) -> str:
        return (
            f"{self.label}  L {self.length_mm:.1f} x D {self.depth_mm:.1f} mm"
            f"  area {self.area_mm2 / 100.0:.2f} cm²"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "kind": self.kind,
            "points_mm": [list(p) for p in self.points],
            "length_mm": round(self.length_mm, 3),
            "depth_mm": round(self.depth_mm, 3),
            "area_mm2": round(self.area_mm2, 3),
        }


Measurement = DistanceMeasurement | TwoAxisMeasurement

POINTS_NEEDED = {"distance": 2, "two_axis": 4}


def _label(n: int) -> str:
    letters = string.ascii_uppercase
    return letters[n % 26] + (str(n // 26) if n >= 26 else "")


class MeasurementSet:
    """The measurements on the current image, labelled A, B, C... in order, plus one being placed."""

    changed = Signal()  # on the GUI thread; listeners read the new state themselves

    def __init__(self) -> None:
        self.items: list[Measurement] = []
        self.pending_kind: str | None = None
        self.pending_points: list[PointMm] = []
        self._count = 0

    def begin(self, kind: str) -> None:
        """Start placing a measurement; the next points clicked belong to it."""
        if kind not in POINTS_NEEDED:
            raise ValueError(f"unknown measurement kind {kind!r}; expected {', '.join(POINTS_NEEDED)}")
        self.pending_kind = kind
        self.pending_points = []
        self.changed.emit()

    def cancel(self) -> None:
        self.pending_kind = None
        self.pending_points = []
        self.changed.emit()

    @property
    def placing(self) -> bool:
        return self.pending_kind is not None

    def add_point(self, point: PointMm) -> Measurement | None:
        """Add a point to the measurement being placed; returns it when complete."""
        if self.pending_kind is None:
            return None
        self.pending_points.append((float(point[0]), float(point[1])))
        done: Measurement | None = None
        if len(self.pending_points) == POINTS_NEEDED[self.pending_kind]:
            label = _label(self._count)
            p = self.pending_points
            if self.pending_kind == "distance":
                done = DistanceMeasurement(label, p[0], p[1])
            else:
                done = TwoAxisMeasurement(label, p[0], p[1], p[2], p[3])
            self._count += 1
            self.items.append(done)
            self.pending_kind = None
            self.pending_points = []
        self.changed.emit()
        return done

    def add_distance(self, a: PointMm, b: PointMm) -> DistanceMeasurement:
        self.begin("distance")
        self.add_point(a)
        m = self.add_point(b)
        assert isinstance(m, DistanceMeasurement)
        return m

    def add_two_axis(self, la: PointMm, lb: PointMm, da: PointMm, db: PointMm) -> TwoAxisMeasurement:
        self.begin("two_axis")
        for p in (la, lb, da):
            self.add_point(p)
        m = self.add_point(db)
        assert isinstance(m, TwoAxisMeasurement)
        return m

    def remove_last(self) -> None:
        if self.pending_kind is not None:
            self.cancel()
        elif self.items:
            self.items.pop()
            self.changed.emit()

    def clear(self) -> None:
        self.items = []
        self.pending_kind = None
        self.pending_points = []
        self._count = 0
        self.changed.emit()

    def to_json(self) -> list[dict[str, Any]]:
        return [m.to_json() for m in self.items]
