"""Text annotations placed on the image (in mm) and the body-marker pictogram with the probe's place on it."""

from __future__ import annotations

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
    """The text annotations and body marker on the current image."""

    changed = Signal()  # on the GUI thread; listeners read the new state themselves

    def __init__(self) -> None:
        self.texts: list[TextAnnotation] = []
        self.body_marker = BodyMarker()

    def add_text(self, text: str, x_mm: float, y_mm: float) -> TextAnnotation:
        text = text.strip()
        if not text:
            raise ValueError("an annotation needs some text")
        a = TextAnnotation(text, float(x_mm), float(y_mm))
        self.texts.append(a)
        self.changed.emit()
        return a

    def remove_last(self) -> None:
        if self.texts:
            self.texts.pop()
            self.changed.emit()

    def clear(self) -> None:
        self.texts = []
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
        return {"texts": [t.to_json() for t in self.texts], "body_marker": self.body_marker.to_json()}
