"""Modality Worklist: today's scheduled procedures asked of the RIS/PACS by C-FIND (PS3.4 K.6).

A worklist entry gives the exam its patient and its order (accession, referring physician, requested
procedure, Study Instance UID), so the images reach PACS matched to the order, without typing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom.sop_class import ModalityWorklistInformationFind  # type: ignore[attr-defined]

from scanner_app.studies.model import ExamOrder, Patient, StudyError
from scanner_app.studies.pacs import PacsDestination, _associate, _make_ae, ae_title_problem

_PENDING = (0xFF00, 0xFF01)


@dataclass(frozen=True, slots=True)
class WorklistQuery:
    """Which scheduled procedure steps to list: on `date_` (YYYYMMDD, "" any day), of `modality`
    ("" any), for `station_ae` ("" any station)."""

    date_: str = ""
    modality: str = "US"
    station_ae: str = ""

    def __post_init__(self) -> None:
        if self.date_ and not re.fullmatch(r"\d{8}", self.date_):
            raise StudyError(f"worklist date {self.date_!r} is not YYYYMMDD")
        if self.station_ae and ae_title_problem(self.station_ae):
            raise StudyError(f"station AE {ae_title_problem(self.station_ae)}")

    @classmethod
    def today(cls, modality: str = "US", station_ae: str = "") -> WorklistQuery:
        return cls(date.today().strftime("%Y%m%d"), modality, station_ae)


@dataclass(frozen=True, slots=True)
class WorklistEntry:
    """One scheduled procedure step as the worklist gave it (values as DICOM writes them)."""

    patient_name: str
    patient_id: str
    birth_date: str
    sex: str
    accession_number: str
    requested_procedure: str  # Requested Procedure Description
    requested_procedure_code: str  # the first Requested Procedure Code Sequence item's Code Value
    scheduled_date: str  # YYYYMMDD
    scheduled_time: str  # HHMMSS (as given)
    modality: str
    station_ae: str
    referring_physician: str
    study_uid: str

    def to_json(self) -> dict[str, str]:
        return {
            "patient_name": self.patient_name,
            "patient_id": self.patient_id,
            "birth_date": self.birth_date,
            "sex": self.sex,
            "accession_number": self.accession_number,
            "requested_procedure": self.requested_procedure,
            "requested_procedure_code": self.requested_procedure_code,
            "scheduled_date": self.scheduled_date,
            "scheduled_time": self.scheduled_time,
            "modality": self.modality,
            "station_ae": self.station_ae,
            "referring_physician": self.referring_physician,
            "study_uid": self.study_uid,
        }

    def patient(self) -> Patient:
        """The patient for the study (FieldValueError when the RIS sent a value DICOM does not allow)."""
        sex = self.sex if self.sex in ("M", "F", "O") else ""
        return Patient(self.patient_id, self.patient_name, self.birth_date, sex)

    def order(self) -> ExamOrder:
        return ExamOrder(
            accession_number=self.accession_number,
            referring_physician=self.referring_physician,
            requested_procedure=self.requested_procedure,
            study_uid=self.study_uid,
        )


_SIDE_WORDS = {
    "left": "left", "lt": "left",
    "right": "right", "rt": "right",
    "bilateral": "bilateral", "bilat": "bilateral", "bil": "bilateral", "both": "bilateral",
}  # fmt: skip


def ordered_side(requested_procedure: str) -> str | None:
    """The side the order names ("left", "right" or "bilateral"), or None when it names none.

    RIS procedure names carry the side as a word ("US KNEE RIGHT", "US Shoulder Lt", "US HIPS BIL");
    single letters are ignored as too ambiguous. Left and right both named means bilateral.
    """
    words = re.findall(r"[a-z]+", requested_procedure.casefold())
    sides = {_SIDE_WORDS[w] for w in words if w in _SIDE_WORDS}
    if not sides:
        return None
    return sides.pop() if len(sides) == 1 else "bilateral"


def worklist_identifier(query: WorklistQuery) -> Dataset:
    """The C-FIND identifier: the keys to match (date, modality, station) and the ones to return."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = ""
    ds.PatientID = ""
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.StudyInstanceUID = ""
    ds.RequestedProcedureDescription = ""
    ds.RequestedProcedureID = ""
    ds.RequestedProcedureCodeSequence = []
    step = Dataset()
    step.Modality = query.modality
    step.ScheduledStationAETitle = query.station_ae
    step.ScheduledProcedureStepStartDate = query.date_
    step.ScheduledProcedureStepStartTime = ""
    step.ScheduledProcedureStepDescription = ""
    step.ScheduledProcedureStepID = ""
    ds.ScheduledProcedureStepSequence = [step]
    return ds


def _text(ds: Dataset, keyword: str) -> str:
    value: Any = ds.get(keyword, "")
    return "" if value is None else str(value).strip()


def entry_from_dataset(ds: Dataset) -> WorklistEntry:
    """A worklist entry from one C-FIND answer (missing attributes read as empty)."""
    steps = ds.get("ScheduledProcedureStepSequence") or [Dataset()]
    step = steps[0]
    codes = ds.get("RequestedProcedureCodeSequence") or []
    return WorklistEntry(
        patient_name=_text(ds, "PatientName"),
        patient_id=_text(ds, "PatientID"),
        birth_date=_text(ds, "PatientBirthDate"),
        sex=_text(ds, "PatientSex"),
        accession_number=_text(ds, "AccessionNumber"),
        requested_procedure=_text(ds, "RequestedProcedureDescription"),
        requested_procedure_code=_text(codes[0], "CodeValue") if codes else "",
        scheduled_date=_text(step, "ScheduledProcedureStepStartDate"),
        scheduled_time=_text(step, "ScheduledProcedureStepStartTime"),
        modality=_text(step, "Modality"),
        station_ae=_text(step, "ScheduledStationAETitle"),
        referring_physician=_text(ds, "ReferringPhysicianName"),
        study_uid=_text(ds, "StudyInstanceUID"),
    )


def query_worklist(
    dest: PacsDestination, query: WorklistQuery, timeout_s: float = 10.0
) -> list[WorklistEntry]:
    """The scheduled procedure steps matching `query`, by scheduled date and time; StudyError saying
    why when the worklist cannot be asked or refuses."""
    ae = _make_ae(dest, timeout_s)
    ae.add_requested_context(ModalityWorklistInformationFind)
    assoc, failure = _associate(ae, dest)
    if assoc is None:
        assert failure is not None
        raise StudyError(f"worklist: {failure.message}")
    entries: list[WorklistEntry] = []
    try:
        if not any(cx.abstract_syntax == ModalityWorklistInformationFind for cx in assoc.accepted_contexts):
            raise StudyError(f"worklist: {dest.describe()} does not offer the Modality Worklist (C-FIND)")
        for status, identifier in assoc.send_c_find(
            worklist_identifier(query), ModalityWorklistInformationFind
        ):
            code = getattr(status, "Status", None) if status else None
            if code is None:
                raise StudyError(f"worklist: no answer from {dest.describe()}")
            if code in _PENDING and identifier is not None:
                entries.append(entry_from_dataset(identifier))
            elif code not in _PENDING and code != 0x0000:
                raise StudyError(f"worklist: {dest.describe()} refused the query: C-FIND status 0x{code:04X}")
    finally:
        if assoc.is_established:
            assoc.release()
    return sorted(entries, key=lambda e: (e.scheduled_date, e.scheduled_time, e.patient_name))
