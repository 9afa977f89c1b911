"""Scripted capture without a screen: take a still every N seconds of probe time into a new study."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from scanner_app.frame import DataFormat, Frame
from scanner_app.studies.model import CaptureRecord, Patient, StudyError
from scanner_app.studies.store import StudyStore

# Either frames in order (e.g. the engine's drain iterator), or a callable that blocks until the next
# frame is ready and returns None when the source has ended.
FrameSource = Iterable[Frame] | Callable[[], Frame | None]


@dataclass(frozen=True, slots=True)
class HeadlessResult:
    """What a headless run kept: the study, its captures and how many frames went past."""

    study_uid: str
    study_root: Path
    captures: tuple[CaptureRecord, ...]
    frames_seen: int


def _frames(source: FrameSource) -> Iterator[Frame]:
    if callable(source):
        while (frame := source()) is not None:
            yield frame
    else:
        yield from source


def run_headless_study(
    frames_source: FrameSource,
    protocol_id: str,
    seconds: float,
    capture_every_s: float,
    study_dir: Path,
    *,
    operator: str = "HEADLESS^SCRIPT",
    patient: Patient | None = None,
) -> HeadlessResult:
    """Capture a still at 0, capture_every_s, 2*capture_every_s, ... until `seconds` have passed.

    Time is the frames' own host timestamps, so a simulated source runs as fast as it can and the
    result does not depend on machine speed. Display (BMODE_U8) frames are captured; others skipped.
    Returns when the time is up or the source ends; the study is ended either way.
    """
    if seconds <= 0:
        raise StudyError(f"seconds must be positive, got {seconds}")
    if capture_every_s <= 0:
        raise StudyError(f"capture_every_s must be positive, got {capture_every_s}")
    store = StudyStore(Path(study_dir))
    try:
        study = store.start_study(patient or Patient.practice("HEADLESS"), operator, protocol_id=protocol_id)
        labels = {"protocol_id": protocol_id}
        captures: list[CaptureRecord] = []
        seen = 0
        start_ns: int | None = None
        next_capture_s = 0.0
        for frame in _frames(frames_source):
            if frame.data_format is not DataFormat.BMODE_U8:
                continue
            seen += 1
            start_ns = frame.host_time_ns if start_ns is None else start_ns
            elapsed_s = (frame.host_time_ns - start_ns) / 1e9
            if elapsed_s >= seconds:
                break
            if elapsed_s >= next_capture_s:
                captures.append(store.save_still(study, frame, labels))
                next_capture_s += capture_every_s
                while next_capture_s <= elapsed_s:  # a gap in the frames: do not burst to catch up
                    next_capture_s += capture_every_s
        store.end_study(
            study,
            {
                "protocol_id": protocol_id,
                "mode": "headless",
                "seconds": seconds,
                "capture_every_s": capture_every_s,
                "frames_seen": seen,
                "captures": len(captures),
            },
        )
        return HeadlessResult(study.study_uid, store.root, tuple(captures), seen)
    finally:
        store.close()
