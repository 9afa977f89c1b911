"""Measurements on the image in mm: distance calipers and two-axis (length x depth) with ellipse area.

A measurement belongs to the image it was made on (`image_seq`, the ring seq of the frozen frame;
None when no image is bound): the set shows and edits only the bound image's measurements, and a
capture takes exactly those made on its frames (`for_frames`).

Points are (x_mm, y_mm): x across the image from the probe marker side, y the depth below the skin
line. A frame's `spacing_mm` and `depth_origin_mm` map pixels to these coordinates: pixel centres sit
at (index + 0.5) * spacing, less the depth origin in y (a convex image's top row lies above the skin).
"""

from __future__ import annotations

import dataclasses
import math
import string
from collections.abc import Sequence
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
    image_seq: int | None = None

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

    def short_text(self) -> str:
        """The result drawn beside the caliper on the image."""
        return f"{self.label} {self.distance_mm:.1f} mm"

    def with_point(self, index: int, point: PointMm) -> DistanceMeasurement:
        a, b = (point, self.b) if index == 0 else (self.a, point)
        return dataclasses.replace(self, a=a, b=b)

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
    image_seq: int | None = None

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

    def short_text(self) -> str:
        return f"{self.label} {self.length_mm:.1f} × {self.depth_mm:.1f} mm"

    def with_point(self, index: int, point: PointMm) -> TwoAxisMeasurement:
        pts = list(self.points)
        pts[index] = point
        return dataclasses.replace(self, length_a=pts[0], length_b=pts[1], depth_a=pts[2], depth_b=pts[3])

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
    """The measurements of each frozen image, labelled A, B, C... per image, plus one being placed.

    `bind(image_seq)` says which image is on screen; `items`, the verbs and selection act on that
    image only. `clear()` forgets every image's measurements (unfreeze, a new step, exam or patient).
    """

    changed = Signal()  # on the GUI thread; listeners read the new state themselves

    def __init__(self) -> None:
        self.image_seq: int | None = None
        self._all: list[Measurement] = []  # every image's, in the order they were made
        self.pending_kind: str | None = None
        self.pending_points: list[PointMm] = []
        self.selected: str | None = None  # label of the selected measurement on the bound image

    @property
    def items(self) -> list[Measurement]:
        """The bound image's measurements, oldest first."""
        return [m for m in self._all if m.image_seq == self.image_seq]

    def bind(self, image_seq: int | None) -> None:
        """The image on screen is now `image_seq`: its measurements show, a half-placed one is dropped."""
        if image_seq == self.image_seq:
            return
        self.image_seq = image_seq
        self.pending_kind = None
        self.pending_points = []
        self.selected = None
        self.changed.emit()

    def begin(self, kind: str) -> None:
        """Start placing a measurement; the next points clicked belong to it."""
        if kind not in POINTS_NEEDED:
            raise ValueError(f"unknown measurement kind {kind!r}; expected {', '.join(POINTS_NEEDED)}")
        self.pending_kind = kind
        self.pending_points = []
        self.selected = None
        self.changed.emit()

    def cancel(self) -> None:
        self.pending_kind = None
        self.pending_points = []
        self.changed.emit()

    @property
    def placing(self) -> bool:
        return self.pending_kind is not None

    def _next_label(self) -> str:
        # The first letter free on this image: labels are per image, as on the scanner's screen.
        used = {m.label for m in self.items}
        n = 0
        while _label(n) in used:
            n += 1
        return _label(n)

    def add_point(self, point: PointMm) -> Measurement | None:
        """Add a point to the measurement being placed; returns it when complete."""
        if self.pending_kind is None:
            return None
        self.pending_points.append((float(point[0]), float(point[1])))
        done: Measurement | None = None
        if len(self.pending_points) == POINTS_NEEDED[self.pending_kind]:
            label = self._next_label()
            p = self.pending_points
            if self.pending_kind == "distance":
                done = DistanceMeasurement(label, p[0], p[1], self.image_seq)
            else:
                done = TwoAxisMeasurement(label, p[0], p[1], p[2], p[3], self.image_seq)
            self._all.append(done)
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

    def get(self, label: str) -> Measurement | None:
        """The bound image's measurement with this label."""
        return next((m for m in self.items if m.label == label), None)

    def select(self, label: str | None) -> None:
        """Select a measurement of the bound image (None: none)."""
        if label is not None and self.get(label) is None:
            raise ValueError(f"no measurement {label!r} on this image")
        if label != self.selected:
            self.selected = label
            self.changed.emit()

    def move_point(self, label: str, index: int, point: PointMm) -> Measurement:
        """Move one end (0..n-1, in `points` order) of a measurement of the bound image."""
        m = self.get(label)
        if m is None:
            raise ValueError(f"no measurement {label!r} on this image")
        if not 0 <= index < len(m.points):
            raise ValueError(f"measurement {label} has no point {index}")
        moved = m.with_point(index, (float(point[0]), float(point[1])))
        self._all[self._all.index(m)] = moved
        self.changed.emit()
        return moved

    def remove(self, label: str) -> None:
        """Delete a measurement of the bound image."""
        m = self.get(label)
        if m is None:
            raise ValueError(f"no measurement {label!r} on this image")
        self._all.remove(m)
        if self.selected == label:
            self.selected = None
        self.changed.emit()

    def remove_last(self) -> None:
        """Cancel the one being placed, else delete the selected one, else the newest on this image."""
        if self.pending_kind is not None:
            self.cancel()
        elif self.selected is not None:
            self.remove(self.selected)
        elif self.items:
            self.remove(self.items[-1].label)

    def clear(self) -> None:
        """Forget every image's measurements (unfreeze, a new step, exam or patient)."""
        self._all = []
        self.pending_kind = None
        self.pending_points = []
        self.selected = None
        self.changed.emit()

    def to_json(self) -> list[dict[str, Any]]:
        """The bound image's measurements."""
        return [m.to_json() for m in self.items]

    def for_frames(self, image_seqs: Sequence[int]) -> list[dict[str, Any]]:
        """The measurements made on these images (a capture's frames, in order), each with the index
        of its frame in the capture; none of any other image."""
        out = []
        for m in self._all:
            if m.image_seq is not None and m.image_seq in image_seqs:
                out.append({**m.to_json(), "frame_index": list(image_seqs).index(m.image_seq)})
        return out
