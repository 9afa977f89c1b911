"""SessionRecorder: drains every frame from the ring into a sequence file on a thread of its own."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from scanner_app.ring import FrameRing
from scanner_app.sequence_file import RecordingError, SequenceWriter

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RecordingProgress:
    """What the recording has written so far, for a progress line."""

    frames: int
    bytes: int
    lost: int  # frames the ring overwrote before the recorder took them
    error: str = ""
    path: Path | None = None  # the finished file, once stopped


class SessionRecorder:
    """Records from the ring's next frame (or the whole cine with `from_cine`) until `stop()`."""

    def __init__(self, ring: FrameRing, path: Path, *, from_cine: bool = False) -> None:
        self._ring = ring
        self._writer = SequenceWriter(path)
        self._cursor = ring.cursor(from_newest=not from_cine)
        self._stop = threading.Event()
        self._error = ""
        self._path: Path | None = None
        self._thread = threading.Thread(target=self._run, name="sequence-recorder", daemon=True)
        self._thread.start()

    def progress(self) -> RecordingProgress:
        w = self._writer
        return RecordingProgress(
            w.frames_written, w.bytes_written, self._cursor.lost_total, self._error, self._path
        )

    def stop(self, timeout_s: float = 10.0) -> RecordingProgress:
        """Write what arrived, finish the file; the progress says where it is or why it is not."""
        self._stop.set()
        self._thread.join(timeout_s)
        if self._path is not None:
            return self.progress()
        if not self._writer.frames_written:
            self._writer.discard()
            self._error = self._error or "no frame arrived to record"
            return self.progress()
        try:
            self._path = self._writer.close()
        except RecordingError as exc:
            self._error = self._error or str(exc)
        return self.progress()

    def _run(self) -> None:
        while True:
            stopping = self._stop.is_set()
            for got in self._cursor.drain().frames:
                try:
                    self._writer.write(got.frame)
                except RecordingError as exc:
                    self._error = str(exc)
                    log.error("%s", exc)
                    return
            if stopping:
                return
            self._ring.wait_for_frame_after(self._cursor.next_seq - 1, timeout_s=0.1)
