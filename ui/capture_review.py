"""Capture review: open a thumbnail to look at a still or play a clip, delete it or move it to another
step/plane of the running checklist; the study and the checklist's counters follow.

The pixels are read back from where the sink stored them (the DICOM file, for the study store), so the
review shows what was kept, not what the screen showed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from PyQt6.QtCore import QObject, Qt, QTimer
from PyQt6.QtGui import QImage, QPixmap
from PyQt6.QtWidgets import (
    QComboBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from scanner_app.capture import CaptureSink, CaptureSinkError
from ui.capture_strip import CaptureOutcome, CaptureStrip, mode_words, where_text
from ui.close_prompt import CANCEL, AskChoice, ask_choice
from ui.window_api import CaptureLabeller

DELETE = "Delete"
PLAY_FRAME_MS = 33  # about 30 frames/s, as clips are taken


def _pixmap(pixels: npt.NDArray[np.uint8]) -> QPixmap:
    """A frame as kept: grey (rows, cols), or RGB (rows, cols, 3) for a colour (Doppler) capture."""
    rows, cols = pixels.shape[:2]
    rgb = pixels.ndim == 3
    fmt = QImage.Format.Format_RGB888 if rgb else QImage.Format.Format_Grayscale8
    image = QImage(pixels.data, cols, rows, pixels.strides[0], fmt)  # type: ignore[call-overload]
    return QPixmap.fromImage(image.copy())


class CaptureReviewDialog(QDialog):
    """One capture: its image or clip, where it belongs, and Delete / Move to… buttons."""

    def __init__(
        self,
        review: CaptureReview,
        index: int,
        frames: npt.NDArray[np.uint8],
        targets: list[tuple[str, str, str]],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.review = review
        self.frames = np.ascontiguousarray(frames)
        outcome = review.strip.outcomes[index]
        assert outcome.record is not None
        self.capture_id = outcome.record.capture_id  # its place in the strip may change meanwhile
        self.setWindowTitle(f"Review: {outcome.kind} {index + 1}")
        layout = QVBoxLayout(self)
        self.image = QLabel()
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setMinimumSize(480, 360)
        layout.addWidget(self.image, 1)

        self.timer = QTimer(self)
        self.timer.setInterval(PLAY_FRAME_MS)
        self.timer.timeout.connect(self._next_frame)
        cine = QHBoxLayout()
        self.play_button = QPushButton("▶ Play")
        self.play_button.clicked.connect(self.toggle_play)
        self.position = QSlider(Qt.Orientation.Horizontal)
        self.position.setRange(0, len(self.frames) - 1)
        self.position.valueChanged.connect(self._show)
        self.frame_label = QLabel()
        for w in (self.play_button, self.position, self.frame_label):
            cine.addWidget(w)
            w.setVisible(len(self.frames) > 1)
        layout.addLayout(cine)

        self.where = QLabel()
        self.where.setWordWrap(True)
        layout.addWidget(self.where)

        move = QHBoxLayout()
        self.targets = QComboBox()
        for step_id, title, plane in targets:
            self.targets.addItem(f"{title} — {plane.replace('_', ' ')}", (step_id, plane))
        self.move_button = QPushButton("Move to this step")
        self.move_button.clicked.connect(self._move)
        can_move = bool(targets) and bool(outcome.labeller_id)
        self.targets.setEnabled(can_move)
        self.move_button.setEnabled(can_move)
        if not can_move:
            self.move_button.setToolTip("Only a capture counted for a running checklist can be moved")
        move.addWidget(self.targets, 1)
        move.addWidget(self.move_button)
        layout.addLayout(move)

        buttons = QHBoxLayout()
        self.delete_button = QPushButton("Delete…")
        self.delete_button.clicked.connect(self._delete)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        buttons.addWidget(self.delete_button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout.addLayout(buttons)
        self._describe()
        self._show(0)
        if len(self.frames) > 1:
            self.toggle_play()  # a clip is reviewed by watching it

    def _describe(self) -> None:
        index = self.review.index_of(self.capture_id)
        if index is None:
            return
        outcome = self.review.strip.outcomes[index]
        assert outcome.record is not None
        where = where_text(outcome.labels) or "no protocol step"
        n = outcome.record.frame_count
        # Its mode named as the report's caption names it: a colour still must not pass for B-mode.
        kept_as = f"{mode_words(outcome.labels)} {outcome.kind}"
        self.where.setText(
            f"<b>{where}</b><br>{kept_as}, {n} frame{'' if n == 1 else 's'}, "
            f"{len(outcome.measurements)} measurement(s)<br>{outcome.record.location}"
        )

    def _show(self, i: int) -> None:
        pixmap = _pixmap(self.frames[i])
        size = self.image.size()
        self.image.setPixmap(
            pixmap.scaled(
                size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
        )
        self.frame_label.setText(f"{i + 1}/{len(self.frames)}")

    def _next_frame(self) -> None:
        self.position.setValue((self.position.value() + 1) % len(self.frames))

    def toggle_play(self) -> None:
        if self.timer.isActive():
            self.timer.stop()
            self.play_button.setText("▶ Play")
        else:
            self.timer.start()
            self.play_button.setText("❚❚ Pause")

    def _delete(self) -> None:
        index = self.review.index_of(self.capture_id)
        if index is None or self.review.delete(index):
            self.accept()

    def _move(self) -> None:
        index = self.review.index_of(self.capture_id)
        if index is None:
            self.accept()
            return
        step_id, plane = self.targets.currentData()
        if self.review.relabel(index, step_id, plane):
            self._describe()

    def done(self, result: int) -> None:
        self.timer.stop()
        super().done(result)


class CaptureReview(QObject):
    """Opens the review of a strip's capture and carries out its delete and relabel (sink first for a
    delete, checklist first for a relabel, so a failure never leaves the two disagreeing)."""

    def __init__(
        self,
        strip: CaptureStrip,
        sink: CaptureSink,
        labeller: Callable[[], CaptureLabeller | None],
        *,
        say: Callable[[str, bool], None],
        parent: QWidget,
        ask: AskChoice = ask_choice,
    ) -> None:
        super().__init__(parent)
        self.strip = strip
        self.sink = sink
        self._labeller = labeller
        self._say = say
        self._parent = parent
        self._ask = ask
        self.dialog: CaptureReviewDialog | None = None
        strip.review_requested.connect(self.open)

    def open(self, index: int) -> CaptureReviewDialog | None:
        """Show the capture's review (non-modal: imaging goes on behind it)."""
        outcome = self.strip.outcomes[index]
        assert outcome.record is not None
        try:
            frames = self.sink.read_frames(outcome.record)
        except (CaptureSinkError, OSError, ValueError) as exc:
            self._say(f"Cannot review that {outcome.kind}: {exc}", True)
            return None
        labeller = self._labeller()
        targets = labeller.label_targets() if labeller is not None else []
        if self.dialog is not None:
            self.dialog.close()
        self.dialog = CaptureReviewDialog(self, index, frames, targets, self._parent)
        self.dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.dialog.destroyed.connect(self._forget_dialog)
        self.dialog.show()
        return self.dialog

    def index_of(self, capture_id: str) -> int | None:
        """Where the capture stored under this id is in the strip now; None once it has left it (a
        new exam cleared the strip), and the review says so."""
        for i, outcome in enumerate(self.strip.outcomes):
            if outcome.record is not None and outcome.record.capture_id == capture_id:
                return i
        self._say("That capture is no longer in the strip (a new exam started)", True)
        return None

    def _forget_dialog(self) -> None:
        self.dialog = None

    def delete(self, index: int, confirm: bool = True) -> bool:
        """Remove the capture from the study (and its count from its step); True when done."""
        outcome = self.strip.outcomes[index]
        assert outcome.record is not None
        if confirm:
            where = where_text(outcome.labels)
            choice = self._ask(
                self.dialog or self._parent,
                "Delete capture",
                f"Delete this {outcome.kind}{f' ({where})' if where else ''} from the study? "
                "It cannot be brought back.",
                (DELETE, CANCEL),
            )
            if choice != DELETE:
                return False
        try:
            self.sink.delete(outcome.record)
        except CaptureSinkError as exc:
            self._say(f"{outcome.kind.capitalize()} not deleted: {exc}", True)
            return False
        labeller = self._labeller()
        if outcome.labeller_id and labeller is not None:
            labeller.discard(outcome.labeller_id)
        self.strip.remove_capture(index)
        self._say(f"{outcome.kind.capitalize()} deleted from the study", False)
        return True

    def relabel(self, index: int, step_id: str, plane: str) -> bool:
        """Move the capture to another step/plane: the checklist's counters, then the stored file."""
        outcome: CaptureOutcome = self.strip.outcomes[index]
        labeller = self._labeller()
        if labeller is None or not outcome.labeller_id or outcome.record is None:
            self._say("Only a capture counted for a running checklist can be moved", True)
            return False
        try:
            labels = labeller.relabel(outcome.labeller_id, step_id, plane)
        except ValueError as exc:
            self._say(f"Not moved: {exc}", True)
            return False
        try:
            self.sink.relabel(outcome.record, labels)
        except CaptureSinkError as exc:
            # Put the checklist back as the file still says.
            old_step, old_plane = outcome.labels.get("step_id", ""), outcome.labels.get("plane", "")
            if old_step:
                labeller.relabel(outcome.labeller_id, old_step, old_plane.replace(" ", "_"))
            self._say(f"Not moved: {exc}", True)
            return False
        self.strip.relabelled(index, labels)
        self._say(f"Moved to {where_text(labels)}", False)
        return True
