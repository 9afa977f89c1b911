"""Studies: captures kept as DICOM when taken, indexed, sent to PACS, exported and reported. No Qt."""

from scanner_app.studies.model import (
    CaptureError,
    CaptureKind,
    CaptureLabels,
    CaptureRecord,
    Patient,
    Study,
    StudyError,
)
from scanner_app.studies.store import ReconcileReport, StudyStore, rebuild_index

__all__ = [
    "CaptureError",
    "CaptureKind",
    "CaptureLabels",
    "CaptureRecord",
    "Patient",
    "ReconcileReport",
    "Study",
    "StudyError",
    "StudyStore",
    "rebuild_index",
]
