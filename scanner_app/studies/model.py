"""Study model: who was scanned, by whom, under which protocol, and what was captured."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scanner_app.capture import CaptureKind

JsonDict = dict[str, Any]

_DICOM_DATE = re.compile(r"^\d{8}$")


class StudyError(Exception):
    """A study operation was given bad input or could not be carried out."""


class StudyCaptureError(StudyError):
    """The study store could not save a capture; nothing already captured was changed."""


class StudyStoreUnavailable(StudyError):
    """The study store cannot be opened now (locked, disk full, I/O error, read-only); nothing was changed.

    The message is one line saying what is wrong and what to do; `reason` is the underlying error.
    """

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Patient:
    """The person scanned, or an anonymous practice subject (phantom, volunteer, simulator)."""

    patient_id: str
    name: str = ""  # DICOM person name: "Family^Given"
    birth_date: str = ""  # YYYYMMDD or empty
    sex: str = ""  # "M", "F", "O" or empty
    practice_subject: bool = False

    def __post_init__(self) -> None:
        if not self.patient_id.strip():
            raise StudyError("patient_id must not be empty")
        if len(self.patient_id) > 64:
            raise StudyError(f"patient_id {self.patient_id!r} is longer than 64 characters")
        if self.birth_date and not _DICOM_DATE.match(self.birth_date):
            raise StudyError(f"birth_date {self.birth_date!r} is not YYYYMMDD")
        if self.sex not in ("", "M", "F", "O"):
            raise StudyError(f"sex {self.sex!r} is not one of M, F, O or empty")

    @classmethod
    def practice(cls, label: str = "PRACTICE") -> Patient:
        """An anonymous practice subject with a fresh random ID (no real person behind it)."""
        return cls(
            patient_id=f"{label}-{uuid.uuid4().hex[:12].upper()}",
            name=f"{label}^SUBJECT",
            practice_subject=True,
        )

    def to_json(self) -> JsonDict:
        return {
            "patient_id": self.patient_id,
            "name": self.name,
            "birth_date": self.birth_date,
            "sex": self.sex,
            "practice_subject": self.practice_subject,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Patient:
        return cls(
            patient_id=str(data["patient_id"]),
            name=str(data.get("name", "")),
            birth_date=str(data.get("birth_date", "")),
            sex=str(data.get("sex", "")),
            practice_subject=bool(data.get("practice_subject", False)),
        )


_LATERALITIES = ("", "R", "L", "B", "U")
_LABEL_KEYS = ("laterality", "body_part", "protocol_id", "step_id", "step_title", "plane", "key_image")


@dataclass(frozen=True, slots=True)
class CaptureLabels:
    """What a capture shows: side, body part, and the protocol step and plane it was taken for."""

    laterality: str = ""  # R, L, B (both), U (unpaired) or empty
    body_part: str = ""  # DICOM Body Part Examined, e.g. "KNEE", "ANKLE"
    protocol_id: str = ""
    step_id: str = ""
    step_title: str = ""
    plane: str = ""  # e.g. "long axis", "short axis"
    key_image: bool = False

    def __post_init__(self) -> None:
        if self.laterality not in _LATERALITIES:
            raise StudyError(f"laterality {self.laterality!r} is not one of R, L, B, U or empty")
        if len(self.body_part) > 16:
            raise StudyError(f"body_part {self.body_part!r} is longer than 16 characters (DICOM CS)")

    @classmethod
    def from_mapping(cls, labels: CaptureLabels | Mapping[str, Any] | None) -> CaptureLabels:
        if labels is None:
            return cls()
        if isinstance(labels, CaptureLabels):
            return labels
        unknown = sorted(set(labels) - set(_LABEL_KEYS))
        if unknown:
            raise StudyError(f"unknown capture label(s) {unknown}; known labels are {list(_LABEL_KEYS)}")
        values: dict[str, Any] = {k: labels[k] for k in _LABEL_KEYS if k in labels}
        for key, value in values.items():
            if key == "key_image":
                if not isinstance(value, bool):
                    raise StudyError(f"label key_image must be true or false, got {value!r}")
            elif not isinstance(value, str):
                raise StudyError(f"label {key} must be a string, got {value!r}")
        if "body_part" in values:
            values["body_part"] = values["body_part"].upper()
        if "laterality" in values:
            values["laterality"] = values["laterality"].upper()
        return cls(**values)

    def to_json(self) -> JsonDict:
        return {k: getattr(self, k) for k in _LABEL_KEYS}

    def describe(self) -> str:
        """A short human-readable line, used for Image Comments."""
        parts = []
        if self.protocol_id:
            parts.append(f"Protocol {self.protocol_id}")
        if self.step_id or self.step_title:
            parts.append(f"step {self.step_id} {self.step_title}".rstrip())
        if self.plane:
            parts.append(f"plane {self.plane}")
        if self.laterality:
            parts.append(f"side {self.laterality}")
        return "; ".join(parts)


def check_json(value: object, what: str) -> None:
    """Raise StudyError if `value` does not survive a JSON round trip."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StudyError(f"{what} is not JSON-serialisable: {exc}") from exc


@dataclass(frozen=True, slots=True)
class StudyCapture:
    """One saved still or clip: where its DICOM file is and what it shows."""

    sop_instance_uid: str
    study_uid: str
    series_uid: str
    kind: CaptureKind
    instance_number: int
    path: str  # relative to the store root, with forward slashes
    number_of_frames: int
    taken_at: datetime
    labels: CaptureLabels
    annotations: tuple[JsonDict, ...] = ()


@dataclass(slots=True)
class Study:
    """One examination session: subject, people, protocol run record and captures."""

    study_uid: str
    study_id: str
    patient: Patient
    operator: str
    started_at: datetime
    directory: str  # relative to the store root
    trainee: str = ""
    supervisor: str = ""
    protocol_id: str = ""
    description: str = ""
    accession_number: str = ""
    ended_at: datetime | None = None
    protocol_record: JsonDict | None = None
    captures: list[StudyCapture] = field(default_factory=list)

    def to_json(self) -> JsonDict:
        """The study-level facts kept in study.json (captures live in their DICOM files)."""
        return {
            "study_uid": self.study_uid,
            "study_id": self.study_id,
            "patient": self.patient.to_json(),
            "operator": self.operator,
            "trainee": self.trainee,
            "supervisor": self.supervisor,
            "protocol_id": self.protocol_id,
            "description": self.description,
            "accession_number": self.accession_number,
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "directory": self.directory,
            "protocol_record": self.protocol_record,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Study:
        ended = data.get("ended_at")
        return cls(
            study_uid=str(data["study_uid"]),
            study_id=str(data.get("study_id", "")),
            patient=Patient.from_json(data["patient"]),
            operator=str(data.get("operator", "")),
            trainee=str(data.get("trainee", "")),
            supervisor=str(data.get("supervisor", "")),
            protocol_id=str(data.get("protocol_id", "")),
            description=str(data.get("description", "")),
            accession_number=str(data.get("accession_number", "")),
            started_at=datetime.fromisoformat(str(data["started_at"])),
            ended_at=datetime.fromisoformat(str(ended)) if ended else None,
            directory=str(data["directory"]),
            protocol_record=data.get("protocol_record"),
        )
