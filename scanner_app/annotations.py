"""Text annotations placed on the image (in mm) and the body-marker pictogram with the probe's place on it.

A text belongs to the frozen image it was placed on (`image_seq`, as a measurement's); the body marker
is not an annotation of one image but says where the probe is, so it stays across images and clears.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psygnal import Signal

# Body-marker pictograms the UI can draw, by region.
BODY_MARKERS: tuple[str, ...] = (
    "Shoulder", "Elbow", "Wrist / hand", "Hip", "Knee", "Ankle / foot", "DVT groin / thigh", "DVT calf",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class TextAnnotation:
    """A label on the image at (x_mm, y_mm)."""

    text: str
    x_mm: float
    y_mm: float
    image_seq: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "x_mm": round(self.x_mm, 3), "y_mm": round(self.y_mm, 3)}


@dataclass(frozen=True, slots=True)
class BodyMarker:
    """Which region and side, and where the probe sits on the pictogram (0..1 along, angle in degrees)."""

    region: str = "Knee"
    side: str = "R"
    probe_along: float = 0.5
    probe_angle_deg: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"region": self.region, "side": self.side, "probe_along": round(self.probe_along, 3),
                "probe_angle_deg": round(self.probe_angle_deg, 1)}  # fmt: skip


class AnnotationSet:
    """The text annotations of each frozen image (`bind`, as `MeasurementSet`) and the body marker."""

    changed = Signal()  # on the GUI thread; listeners read the new state themselves

    def __init__(self) -> None:
        self.image_seq: int | None = None
        self._all: list[TextAnnotation] = []
        self.selected: int | None = None  # index in `texts` of the selected text
        self.body_marker = BodyMarker()

    @property
    def texts(self) -> list[TextAnnotation]:
        """The bound image's texts, oldest first."""
        return [t for t in self._all if t.image_seq == self.image_seq]

    def bind(self, image_seq: int | None) -> None:
        """The image on screen is now `image_seq`: its texts show."""
        if image_seq == self.image_seq:
            return
        self.image_seq = image_seq
        self.selected = None
        self.changed.emit()

    def add_text(self, text: str, x_mm: float, y_mm: float) -> TextAnnotation:
        text = text.strip()
        if not text:
            raise ValueError("an annotation needs some text")
        a = TextAnnotation(text, float(x_mm), float(y_mm), self.image_seq)
        self._all.append(a)
        self.changed.emit()
        return a

    def _at(self, index: int) -> TextAnnotation:
        texts = self.texts
        if not 0 <= index < len(texts):
            raise ValueError(f"no text {index} on this image (it has {len(texts)})")
        return texts[index]

    def select(self, index: int | None) -> None:
        """Select a text of the bound image by its index in `texts` (None: none)."""
        if index is not None:
            self._at(index)
        if index != self.selected:
            self.selected = index
            self.changed.emit()

    def move_text(self, index: int, x_mm: float, y_mm: float) -> TextAnnotation:
        t = self._at(index)
        moved = dataclasses.replace(t, x_mm=float(x_mm), y_mm=float(y_mm))
        self._all[self._all.index(t)] = moved
        self.changed.emit()
        return moved

    def remove(self, index: int) -> None:
        """Delete a text of the bound image."""
        self._all.remove(self._at(index))
        if self.selected == index:
            self.selected = None
        elif self.selected is not None and self.selected > index:
            self.selected -= 1
        self.changed.emit()

    def remove_last(self) -> None:
        if self.texts:
            self.remove(len(self.texts) - 1)

    def clear(self) -> None:
        """Forget every image's texts (unfreeze, a new step, exam or patient); the body marker stays."""
        self._all = []
        self.selected = None
        self.changed.emit()

    def set_body_marker(self, marker: BodyMarker) -> None:
        if marker.region not in BODY_MARKERS:
            known = ", ".join(BODY_MARKERS)
            raise ValueError(f"unknown body marker {marker.region!r}; expected one of {known}")
        if marker.side not in ("L", "R"):
            raise ValueError(f"body marker side must be 'L' or 'R', got {marker.side!r}")
        self.body_marker = marker
        self.changed.emit()

    def to_json(self) -> dict[str, Any]:
        """The bound image's texts and the body marker."""
        return {"texts": [t.to_json() for t in self.texts], "body_marker": self.body_marker.to_json()}

    def for_frames(self, image_seqs: Sequence[int]) -> dict[str, Any]:
        """The texts placed on these images (a capture's frames, in order), each with the index of its
        frame in the capture, and the body marker."""
        seqs = list(image_seqs)
        texts = [
            {**t.to_json(), "frame_index": seqs.index(t.image_seq)}
            for t in self._all
            if t.image_seq is not None and t.image_seq in seqs
        ]
        return {"texts": texts, "body_marker": self.body_marker.to_json()}


def probe_icon_direction(probe_angle_deg: float) -> tuple[float, float]:
    """Unit vector (x right, y down) of the probe footprint's long side on the pictogram (the screen's
    body marker and the report's draw it alike).

    The pictogram's limb runs down the picture, so a long-axis probe (angle 0: image plane along the
    limb, as the simulator's rotation 0) lies along it, vertical, and a short-axis probe (90) across
    it; positive angles turn clockwise. The marker dot sits at the end opposite this vector (toward
    the head for a long-axis view).
    """
    angle = math.radians(probe_angle_deg)
    return -math.sin(angle), math.cos(angle)
