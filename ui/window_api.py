"""What a feature may use of the scanner window: its models, a few verbs, and its extension points.

A feature (the exam, PACS, the simulator; later Doppler, procedure, logbook, priors) is handed a
`ScannerWindow` by the composition root and uses nothing else of the window: it adds its own side tab,
dock, actions (with their shortcuts, listed in the F1 help), status widgets and capture labeller, and
hears of the close through `closing` (veto) and `finishing` (finish its work). It never writes a window
attribute. `MainWindow` implements this protocol; mypy checks that features keep to it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from PyQt6.QtCore import Qt, pyqtBoundSignal
from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import QDockWidget, QGraphicsObject, QWidget

from scanner_app.annotations import AnnotationSet
from scanner_app.capture import CaptureSink
from scanner_app.cine import CineModel
from scanner_app.doppler_capture import DopplerContent
from scanner_app.engine import AcquisitionEngine
from scanner_app.frame import Frame
from scanner_app.imaging_model import ImagingModel
from scanner_app.measurements import MeasurementSet
from scanner_app.preferences import Preferences


@dataclass(frozen=True)
class ScannerModels:
    """The Qt-free models behind the scanner screen, built by the composition root for the window."""

    imaging: ImagingModel
    cine: CineModel
    measurements: MeasurementSet
    annotations: AnnotationSet
    preferences: Preferences
    capture_sink: CaptureSink

    @classmethod
    def for_engine(
        cls, engine: AcquisitionEngine, preferences: Preferences, capture_sink: CaptureSink
    ) -> ScannerModels:
        """The usual wiring: imaging settings go to the engine, the cine reads (and holds) its ring."""
        return cls(
            imaging=ImagingModel(engine.request_setting),
            cine=CineModel(engine.ring, engine.hold_ring),
            measurements=MeasurementSet(),
            annotations=AnnotationSet(),
            preferences=preferences,
            capture_sink=capture_sink,
        )


class CaptureLabeller(Protocol):
    """Labels each capture on the GUI thread before it is stored (the exam), and hears of failed ones."""

    def label(self, kind: str, imaging_mode: str = "bmode") -> tuple[str, dict[str, str]]:
        """(an id to hand back to `discard` if the store fails, or "", labels merged into the capture's);
        `imaging_mode` is the mode the image was taken in (`scanner_app.capture.ImagingMode`)."""
        ...

    def discard(self, capture_id: str) -> None:
        """The capture labelled with this id was not stored (or was deleted in review)."""
        ...

    def relabel(self, capture_id: str, step_id: str, plane: str) -> dict[str, str]:
        """Move the capture labelled with this id to another step/plane; its new labels (raises
        ValueError when it cannot be moved)."""
        ...

    def label_targets(self) -> list[tuple[str, str, str]]:
        """(step_id, step title, plane) a capture can be moved to; empty when there is no checklist."""
        ...


class DopplerCaptureSource(Protocol):
    """Tells the window what the Doppler display showed with the frames of a capture (the Doppler
    feature), so the capture stores that, labelled with its mode."""

    def doppler_content(
        self, frames: Sequence[Frame], clip: bool
    ) -> tuple[list[Frame], DopplerContent] | None:
        """(the frames to store, what was shown with them) for a still (one frame) or a clip; None
        when the display showed nothing of its own with them (Doppler off, no flow or spectrum yet):
        they are then stored, and labelled, as B-mode."""
        ...


class CloseRequest:
    """Handed to every `closing` handler; `veto(reason)` keeps the window open (the reason is shown)."""

    def __init__(self) -> None:
        self.veto_reasons: list[str] = []

    def veto(self, reason: str) -> None:
        self.veto_reasons.append(reason)

    @property
    def vetoed(self) -> bool:
        return bool(self.veto_reasons)


class ScannerWindow(Protocol):
    """Exactly what features may use of the main window."""

    # -- models and verbs ---------------------------------------------------------------------

    @property
    def models(self) -> ScannerModels: ...

    @property
    def capture_finished(self) -> pyqtBoundSignal:
        """(CaptureOutcome) after a capture is stored or has failed, and the window has shown it."""
        ...

    @property
    def pending_captures(self) -> int:
        """Captures taken and not yet stored (or failed)."""
        ...

    def capture_still(self) -> None: ...

    def capture_clip(self, seconds: float | None = None) -> None: ...

    def capture_dual(self, left: Frame, right: Frame) -> None:
        """Store two frames side by side as one still (split screen), labelled like any still."""
        ...

    def clear_captures(self) -> None:
        """A new exam or patient begins: the capture strip starts empty (the captures stay stored)."""
        ...

    def show_image_panel(self, panel: QWidget | None) -> None:
        """Show a feature's widget over the live image (the dual screen), or the live image again."""
        ...

    def apply_preset(self, preset: Mapping[str, object]) -> None: ...

    def show_message(self, text: str, error: bool = False) -> None: ...

    def clear_message(self, text: str) -> None:
        """Empty the status line if it still shows `text` (a prompt that has ended), not a newer line."""
        ...

    def set_context_title(self, text: str) -> None:
        """What the window is about now (the exam's subject), shown in its title; "" for none."""
        ...

    def dialog_parent(self) -> QWidget:
        """The widget to parent a feature's dialogs on."""
        ...

    # -- extension points ---------------------------------------------------------------------

    def add_side_tab(self, widget: QWidget, title: str) -> None: ...

    def remove_side_tab(self, widget: QWidget) -> None: ...

    def show_side_tab(self, widget: QWidget) -> None: ...

    def add_dock(
        self, widget: QWidget, title: str, area: Qt.DockWidgetArea = Qt.DockWidgetArea.RightDockWidgetArea
    ) -> QDockWidget: ...

    def resize_dock(self, dock: QDockWidget, width_px: int) -> None: ...

    def add_action(
        self,
        name: str,
        keys: Sequence[str],
        text: str,
        slot: Callable[[], object],
        toolbar_text: str = "",
    ) -> QAction:
        """An action with its shortcuts (listed in the F1 help under `text`), on the toolbar when
        `toolbar_text` is given; `name` must be new."""
        ...

    def add_toolbar_separator(self) -> None: ...

    def add_help_entry(self, keys: str, text: str) -> None:
        """A line in the F1 help for keys handled elsewhere than an action (a panel's own keys)."""
        ...

    def add_status_widget(self, widget: QWidget) -> None: ...

    def add_image_item(self, item: QGraphicsObject) -> None:
        """Draw a feature's graphics item over the live image, in the image's mm (x from the first
        column, y depth below the skin); mouse-movable items (an ROI) get the mouse there."""
        ...

    def remove_image_item(self, item: QGraphicsObject) -> None: ...

    def add_below_image(self, widget: QWidget) -> None:
        """A feature's strip under the live image (the spectral display); hide it when not in use."""
        ...

    def set_capture_labeller(self, labeller: CaptureLabeller | None) -> None:
        """The one labeller of every capture (the exam), or None."""
        ...

    def set_imaging_mode(self, mode: str) -> None:
        """The imaging mode in force, as the probe read it back (`scanner_app.capture.ImagingMode`
        value, e.g. from `imaging_mode_of(DopplerMode, power=...)`). In a Doppler mode each capture
        asks the `DopplerCaptureSource` what was shown and is stored and labelled in that mode (so a
        checklist counts it only for a requirement of that mode); with nothing shown it stays B-mode.
        Default "bmode"."""
        ...

    def set_doppler_capture(self, source: DopplerCaptureSource | None) -> None:
        """The one source of Doppler captures (the Doppler feature), or None."""
        ...

    @property
    def closing(self) -> pyqtBoundSignal:
        """(CloseRequest) the user asks to close: a handler may veto."""
        ...

    @property
    def image_clicked(self) -> pyqtBoundSignal:
        """(x_mm, depth_mm) a click on the image, snapped to a pixel centre, when no caliper is being
        placed and no text typed (a caliper takes its own clicks; the text box moves to a click)."""
        ...

    @property
    def cancelled(self) -> pyqtBoundSignal:
        """() Esc, once the window's own help, text box and caliper are closed: a feature ends the
        prompt it waits on (a click for a target) and clears that prompt's message."""
        ...

    @property
    def finishing(self) -> pyqtBoundSignal:
        """() the close goes ahead, every capture taken is stored: features finish their work now."""
        ...
