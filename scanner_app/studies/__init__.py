"""Studies: captures kept as DICOM when taken, indexed, sent to PACS, exported and reported. No Qt."""

from scanner_app.studies.model import (
    CaptureLabels,
    Patient,
    Study,
    StudyCapture,
    StudyCaptureError,
    StudyError,
)
from scanner_app.studies.store import ReconcileReport, StudyStore, rebuild_index

__all__ = [
    "CaptureLabels",
    "Patient",
    "ReconcileReport",
    "Study",
    "StudyCapture",
    "StudyCaptureError",
    "StudyError",
    "StudyStore",
    "rebuild_index",
]
