"""RecordingControl: record the session, or save the cine buffer, to a PLUS/3D Slicer sequence file
from the window (Ctrl+R, Ctrl+Shift+R), with the frame count and size in the status bar."""

from __future__ import annotations

import datetime
from pathlib import Path

from PyQt6.QtCore import QObject, QTimer
from PyQt6.QtWidgets import QLabel

from scanner_app.recorder import SessionRecorder
from scanner_app.ring import FrameRing
from scanner_app.sequence_file import RecordingError
from ui.theme import ALARM
from ui.window_api import ScannerWindow

PROGRESS_MS = 500


class RecordingControl(QObject):
    """One recording at a time into `folder`; the cine is saved beside it on demand."""

    def __init__(self, ring: FrameRing, folder: Path) -> None:
        super().__init__()
        self.ring, self.folder = ring, folder
        self.recorder: SessionRecorder | None = None
        self.label = QLabel("")
        self.label.hide()  # an empty item would still take its place (and spacing) in the status line
        self.timer = QTimer(self)
        self.timer.setInterval(PROGRESS_MS)
        self.timer.timeout.connect(self.show_progress)
        self.window: ScannerWindow | None = None

    def attach(self, window: ScannerWindow) -> None:
        self.window = window
        window.add_action(
            "record_sequence", ["Ctrl+R"],
            "Start / stop recording every frame to a sequence file (.igs.nrrd, for PLUS and 3D Slicer)",
            self.toggle,
        )  # fmt: skip
        window.add_action(
            "save_cine",
            ["Ctrl+Shift+R"],
            "Save the cine buffer to a sequence file (.igs.nrrd)",
            self.save_cine,
        )
        window.add_status_widget(self.label)
        window.finishing.connect(self.stop)

    @property
    def recording(self) -> bool:
        return self.recorder is not None

    def toggle(self) -> None:
        if self.recording:
            self.stop()
        else:
            self.start()

    def _path(self, what: str) -> Path:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        return self.folder / f"{what}-{stamp}.igs.nrrd"

    def start(self) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.recorder = SessionRecorder(self.ring, self._path("session"))
        except (OSError, RecordingError) as exc:
            self._say(f"Recording not started: {exc}", True)
            return
        self.label.setStyleSheet(f"color: {ALARM}; font-weight: 600;")
        self.label.show()
        self.timer.start()
        self.show_progress()

    def stop(self) -> None:
        recorder, self.recorder = self.recorder, None
        self.timer.stop()
        self.label.setText("")
        self.label.hide()
        if recorder is None:
            return
        progress = recorder.stop()
        if progress.error:
            self._say(f"Recording stopped: {progress.error}", True)
        elif progress.path is not None:
            self._say(f"Recorded {progress.frames} frames to {progress.path}")

    def save_cine(self) -> None:
        """Every frame the cine holds now, oldest first, to a new file."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            progress = SessionRecorder(self.ring, self._path("cine"), from_cine=True).stop()
        except (OSError, RecordingError) as exc:
            self._say(f"Cine not saved: {exc}", True)
            return
        if progress.error or progress.path is None:
            self._say(f"Cine not saved: {progress.error or 'no frames'}", True)
        else:
            self._say(f"Saved {progress.frames} cine frames to {progress.path}")

    def show_progress(self) -> None:
        recorder = self.recorder
        if recorder is None:
            return
        p = recorder.progress()
        if p.error:
            self.stop()
            return
        self.label.setText(f"● REC {p.frames} frames, {p.bytes / 1e6:.0f} MB")

    def _say(self, text: str, error: bool = False) -> None:
        if self.window is not None:
            self.window.show_message(text, error)
