"""CaptureStrip and CaptureWorker: captures are stored off the GUI thread and shown as thumbnails."""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PyQt6.QtCore import QObject, QSize, Qt, pyqtSignal
from PyQt6.QtGui import QIcon, QImage, QPixmap
from PyQt6.QtWidgets import QListView, QListWidget, QListWidgetItem, QWidget

from scanner_app.capture import StoredCapture

log = logging.getLogger(__name__)

THUMB = QSize(96, 96)


@dataclass(frozen=True, slots=True)
class CaptureOutcome:
    """A finished capture job: the record on success, or the error text; and the thumbnail pixels."""

    kind: str
    record: StoredCapture | None
    error: str
    thumbnail: npt.NDArray[np.uint8]
    annotations: dict[str, object]
    measurements: list[dict[str, object]]


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
        thumbnail: npt.NDArray[np.uint8],
        annotations: dict[str, object],
        measurements: list[dict[str, object]],
    ) -> None:
        self.pending += 1

        def run() -> None:
            try:
                record: StoredCapture | None = job()
                error = ""
            except Exception as exc:  # any failure is reported to the user; imaging goes on
                log.error("%s capture failed: %s", kind, exc)
                record, error = None, str(exc) or type(exc).__name__
            # emitted from the worker thread; Qt queues it to the GUI thread
            self.finished.emit(CaptureOutcome(kind, record, error, thumbnail, annotations, measurements))

        self._pool.submit(run)

    def job_done(self) -> None:
        self.pending -= 1

    def shutdown(self) -> None:
        """Finish what was asked (nothing captured is dropped) and join the thread."""
        self._pool.shutdown(wait=True)


def thumbnail_of(pixels: npt.NDArray[np.generic]) -> npt.NDArray[np.uint8]:
    """A small uint8 copy of a frame for the strip (nearest-neighbour, cheap)."""
    rows, cols = pixels.shape[:2]
    step = max(1, max(rows, cols) // THUMB.width())
    small = np.asarray(pixels[::step, ::step])
    if small.dtype != np.uint8:
        a = np.abs(small.astype(np.float32))
        small = (a / (float(a.max()) or 1.0) * 255).astype(np.uint8)
    return np.ascontiguousarray(small)


class CaptureStrip(QListWidget):
    """Capture thumbnails, newest on the right; each keeps its record, annotations and measurements."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setIconSize(THUMB)
        self.setFixedHeight(THUMB.height() + 40)
        self.setMovement(QListView.Movement.Static)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.outcomes: list[CaptureOutcome] = []

    def add_capture(self, outcome: CaptureOutcome) -> None:
        t = outcome.thumbnail
        # The stubs want bytes; QImage takes any buffer (copied into the image right away).
        image = QImage(t.data, t.shape[1], t.shape[0], t.strides[0], QImage.Format.Format_Grayscale8).copy()  # type: ignore[call-overload]
        n = len(self.outcomes) + 1
        assert outcome.record is not None
        text = f"{n} {outcome.kind}" + (f" ({outcome.record.frame_count})" if outcome.kind == "clip" else "")
        item = QListWidgetItem(QIcon(QPixmap.fromImage(image)), text)
        nm = len(outcome.measurements)
        tip = f"{outcome.record.location}\n{nm} measurement(s), {outcome.record.frame_count} frame(s)"
        item.setToolTip(tip + (f"\n{outcome.record.note}" if outcome.record.note else ""))
        self.addItem(item)
        self.outcomes.append(outcome)
        self.scrollToItem(item)
