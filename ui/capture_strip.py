"""CaptureStrip and CaptureWorker: captures are stored off the GUI thread and shown as thumbnails."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from PyQt6.QtCore import QObject, QSize, Qt, pyqtSignal
from PyQt6.QtGui import QIcon, QImage, QPixmap
from PyQt6.QtWidgets import QListView, QListWidget, QListWidgetItem, QWidget

from scanner_app.capture import ImagingMode, StoredCapture

log = logging.getLogger(__name__)

THUMB = QSize(96, 96)


@dataclass(frozen=True, slots=True)
class CaptureOutcome:
    """A finished capture job: the record on success, or the error text; and the thumbnail pixels.

    `labels` are the labels it was stored with (step, plane...); `labeller_id` the id the exam's
    labeller gave it ("" when none), which review hands back to delete or relabel it.
    """

    kind: str
    record: StoredCapture | None
    error: str
    thumbnail: npt.NDArray[np.uint8]
    annotations: dict[str, object]
    measurements: list[dict[str, object]]
    labels: dict[str, str] = field(default_factory=dict)
    labeller_id: str = ""


class CaptureWorker(QObject):
    """Runs sink calls on one background thread so a slow disk never stalls the live image."""

    finished = pyqtSignal(object)  # CaptureOutcome

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="capture")
        self.pending = 0

    def submit(
        self,
        kind: str,
        job: Callable[[], StoredCapture],
        shown: Callable[[], npt.NDArray[np.generic]],
        annotations: dict[str, object],
        measurements: list[dict[str, object]],
        *,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        """Store with `job` on the worker thread; `shown` gives the pixels as kept (a colour capture
        composed in colour), made into the thumbnail there too, off the GUI thread."""
        self.pending += 1
        stored_labels = dict(labels or {})

        def run() -> None:
            try:
                record: StoredCapture | None = job()
                error = ""
            except Exception as exc:  # any failure is reported to the user; imaging goes on
                log.error("%s capture failed: %s", kind, exc)
                record, error = None, str(exc) or type(exc).__name__
            try:
                thumbnail = thumbnail_of(shown())
            except Exception as exc:  # the capture is kept or refused all the same: say it, not hang
                log.error("%s thumbnail failed: %s", kind, exc)
                thumbnail = np.zeros((1, 1), dtype=np.uint8)
            # emitted from the worker thread; Qt queues it to the GUI thread
            self.finished.emit(
                CaptureOutcome(kind, record, error, thumbnail, annotations, measurements, stored_labels)
            )

        self._pool.submit(run)

    def job_done(self) -> None:
        self.pending -= 1

    def shutdown(self) -> None:
        """Finish what was asked (nothing captured is dropped) and join the thread."""
        self._pool.shutdown(wait=True)


def thumbnail_of(pixels: npt.NDArray[np.generic]) -> npt.NDArray[np.uint8]:
    """A small uint8 copy of a frame, grey or RGB (rows, cols, 3), for the strip (nearest-neighbour)."""
    rows, cols = pixels.shape[:2]
    step = max(1, max(rows, cols) // THUMB.width())
    small = np.asarray(pixels[::step, ::step])
    if small.dtype != np.uint8:
        a = np.abs(small.astype(np.float32))
        small = (a / (float(a.max()) or 1.0) * 255).astype(np.uint8)
    return np.ascontiguousarray(small)


def where_text(labels: Mapping[str, str]) -> str:
    """Which step and plane a capture belongs to, for people ("" when it has no step)."""
    step = labels.get("step_title") or labels.get("step_id") or ""
    plane = labels.get("plane", "").replace("_", " ")
    if not step:
        return f"plane {plane}" if plane else ""
    return f"{step} — {plane}" if plane else step


def mode_words(labels: Mapping[str, str]) -> str:
    """The imaging mode a capture was kept in, as the report's captions name it ("colour Doppler");
    a capture labelled with no mode is B-mode, as the study store keeps it."""
    mode = labels.get("imaging_mode") or ImagingMode.BMODE.value
    return ImagingMode(mode).words if mode in set(ImagingMode) else mode


# The short names sonographers write on images, so a thumbnail's caption fits under it.
PLANE_ABBREVIATIONS = {
    "transverse": "TRV",
    "long axis": "LAX",
    "short axis": "SAX",
    "sagittal": "SAG",
    "coronal": "COR",
    "oblique": "OBL",
}
MODE_ABBREVIATIONS = {"color_doppler": "CD", "power_doppler": "PD", "spectral_doppler": "PW"}


def caption_of(
    number: int, outcome: CaptureOutcome, taken_at: datetime.datetime, step_number: int | None = None
) -> str:
    """A thumbnail's caption: its number, ▶ for a clip, then in an exam the checklist's step number (or
    the step's title), the plane and any Doppler mode ('3 ▶ S2 TRV', '4 S5 LAX PW'), else the time it
    was taken ('1 14:03:12')."""
    labels = outcome.labels
    parts = [str(number)] + (["▶"] if outcome.kind == "clip" else [])
    step = labels.get("step_title") or labels.get("step_id") or ""
    if not step:
        return " ".join([*parts, taken_at.strftime("%H:%M:%S")])
    if step_number is not None:
        parts.append(f"S{step_number}")
    plane = labels.get("plane", "").replace("_", " ")
    if plane:
        parts.append(PLANE_ABBREVIATIONS.get(plane, plane))
    mode = MODE_ABBREVIATIONS.get(labels.get("imaging_mode", ""), "")
    if mode:
        parts.append(mode)
    # The step's number says which step; without it its title does (the tooltip has everything).
    return " ".join(parts if step_number is not None else [*parts, step])


class CaptureStrip(QListWidget):
    """Capture thumbnails, newest on the right; each keeps its record, annotations and measurements.

    Double-click (or Enter on) a thumbnail asks for its review (`review_requested`).
    """

    review_requested = pyqtSignal(int)  # index into `outcomes`

    def __init__(
        self, parent: QWidget | None = None, step_numbers: Callable[[], Mapping[str, int]] | None = None
    ) -> None:
        """`step_numbers` gives each checklist step's number by its id (as the checklist numbers them),
        for the captions; without it a caption names the step by its title only."""
        super().__init__(parent)
        self.step_numbers = step_numbers
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setIconSize(THUMB)
        self.setFixedHeight(THUMB.height() + 40)
        self.setMovement(QListView.Movement.Static)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.outcomes: list[CaptureOutcome] = []
        self._numbered = 0  # captures shown since the strip was last cleared (numbers are not reused)
        self.itemActivated.connect(lambda item: self.review_requested.emit(self.row(item)))

    def add_capture(self, outcome: CaptureOutcome) -> None:
        t = outcome.thumbnail
        # Grey, or RGB for a colour capture; the stubs want bytes, QImage takes any buffer (copied
        # into the image right away).
        fmt = QImage.Format.Format_RGB888 if t.ndim == 3 else QImage.Format.Format_Grayscale8
        image = QImage(t.data, t.shape[1], t.shape[0], t.strides[0], fmt).copy()  # type: ignore[call-overload]
        self._numbered += 1
        assert outcome.record is not None
        taken_at = datetime.datetime.now()
        item = QListWidgetItem(
            QIcon(QPixmap.fromImage(image)), self._caption(self._numbered, outcome, taken_at)
        )
        item.setData(Qt.ItemDataRole.UserRole, (self._numbered, taken_at))
        self.addItem(item)
        self.outcomes.append(outcome)
        self._set_tooltip(len(self.outcomes) - 1)
        self.scrollToItem(item)

    def _set_tooltip(self, index: int) -> None:
        outcome = self.outcomes[index]
        assert outcome.record is not None
        where = where_text(outcome.labels)
        nm = len(outcome.measurements)
        item = self.item(index)
        if item is None:
            return
        number, taken_at = item.data(Qt.ItemDataRole.UserRole)
        kept_as = f"{mode_words(outcome.labels)} {outcome.kind}"
        tip = (
            f"{kept_as[0].upper()}{kept_as[1:]} taken {taken_at:%H:%M:%S}\n"
            + (where + "\n" if where else "")
            + (f"{outcome.record.location}\n{nm} measurement(s), {outcome.record.frame_count} frame(s)")
        )
        tip += f"\n{outcome.record.note}" if outcome.record.note else ""
        item.setToolTip(tip + "\nDouble-click to review, delete or relabel")
        item.setText(self._caption(number, outcome, taken_at))  # relabelled: the caption follows

    def _caption(self, number: int, outcome: CaptureOutcome, taken_at: datetime.datetime) -> str:
        numbers = self.step_numbers() if self.step_numbers is not None else {}
        return caption_of(number, outcome, taken_at, numbers.get(outcome.labels.get("step_id", "")))

    def remove_capture(self, index: int) -> None:
        """The capture was deleted: its thumbnail goes."""
        self.takeItem(index)
        del self.outcomes[index]

    def relabelled(self, index: int, labels: Mapping[str, str]) -> None:
        """The capture now belongs to another step/plane: its tooltip says so."""
        outcome = self.outcomes[index]
        self.outcomes[index] = dataclasses.replace(outcome, labels={**outcome.labels, **labels})
        self._set_tooltip(index)

    def clear_captures(self) -> None:
        """A new exam or patient: no thumbnail of the one before stays."""
        self.clear()
        self.outcomes.clear()
        self._numbered = 0
