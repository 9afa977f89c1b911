"""DiskSpaceWatch: a status-line warning while the disk that keeps the studies runs low, before a capture
fails on a full disk rather than after."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QLabel

from ui.theme import ALARM, WARN
from ui.window_api import ScannerWindow

# About two minutes of 512 x 512 clips at 30 frames/s uncompressed, or a few thousand stills.
LOW_FREE_BYTES = 2 * 10**9
CHECK_EVERY_MS = 30_000


def free_bytes_of(folder: Path) -> int:
    return shutil.disk_usage(folder).free


class DiskSpaceWatch(QLabel):
    """Hidden while there is room; says how much is left (and where) once under `low_free_bytes`."""

    def __init__(
        self,
        folder: Path,
        low_free_bytes: int = LOW_FREE_BYTES,
        free_bytes: Callable[[Path], int] = free_bytes_of,
    ) -> None:
        super().__init__()
        self.folder = folder
        self.low_free_bytes = low_free_bytes
        self._free_bytes = free_bytes
        self.setWordWrap(False)
        self.hide()
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.check)

    def attach(self, window: ScannerWindow) -> None:
        """A status item of the window, checked now and every half minute."""
        window.add_status_widget(self)
        self.check()
        self._timer.start(CHECK_EVERY_MS)

    def check(self) -> None:
        try:
            free = self._free_bytes(self.folder)
        except OSError as exc:
            self._show(f"⚠ Cannot read the free space of {self.folder}: {exc.strerror or exc}", ALARM)
            return
        if free >= self.low_free_bytes:
            self.hide()
            return
        colour = ALARM if free < self.low_free_bytes / 4 else WARN
        self._show(
            f"⚠ Disk almost full: {free / 1e9:.1f} GB left for studies; free space before capturing more",
            colour,
        )

    def _show(self, text: str, colour: str) -> None:
        self.setText(text)
        self.setToolTip(f"{text}\nStudy folder: {self.folder}")
        self.setStyleSheet(f"color: {colour}; font-weight: 600;")
        self.show()
