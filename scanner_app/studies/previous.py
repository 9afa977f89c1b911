"""The same patient's earlier ultrasound measurements, for follow-up: "effusion depth 6.2 mm on
2026-03-01" beside the step that measures it again.

Read from this workstation's study store (the protocol record of each ended study); the newest
earlier value of each measurement wins. Practice subjects have no history.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime

from scanner_app.studies.model import StudyError
from scanner_app.studies.store import StudyStore


@dataclass(frozen=True, slots=True)
class PreviousMeasurement:
    measurement_id: str
    step_id: str
    value: float
    unit: str
    measured_on: datetime  # when that study started
    study_uid: str

    def describe(self) -> str:
        return f"{self.value:g} {self.unit} on {self.measured_on:%Y-%m-%d}".replace("  ", " ")


def previous_measurements(
    store: StudyStore, patient_id: str, before_study_uid: str
) -> dict[str, PreviousMeasurement]:
    """measurement id -> the newest value measured in an earlier study of `patient_id` (studies that
    started before `before_study_uid` did, that one excluded)."""
    studies = store.studies_of_patient(patient_id)  # oldest first
    current = next((s for s in studies if s.study_uid == before_study_uid), None)
    if current is None:
        with contextlib.suppress(StudyError):
            current = store.get_study(before_study_uid)
    cutoff = current.started_at if current is not None else None
    found: dict[str, PreviousMeasurement] = {}
    for study in studies:
        if study.study_uid == before_study_uid:
            continue
        if study.patient.practice_subject or (cutoff is not None and study.started_at >= cutoff):
            continue
        for step in (study.protocol_record or {}).get("steps") or []:
            for m in step.get("measurements") or []:
                try:
                    value = float(m["value"])
                except (KeyError, TypeError, ValueError):
                    continue  # a damaged record: that value is not shown, the rest are
                measurement_id, step_id = str(m.get("measurement_id", "")), str(step.get("step_id", ""))
                found[measurement_id] = PreviousMeasurement(
                    measurement_id, step_id, value, str(m.get("unit", "")), study.started_at, study.study_uid
                )
    return found
