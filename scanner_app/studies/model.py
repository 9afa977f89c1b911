"""Study model: who was scanned, by whom, under which protocol, and what was captured."""

from __future__ import annotations

import contextvars
import enum
import json
import unicodedata
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydicom import config as pydicom_config
from pydicom.valuerep import validate_value

from scanner_app.capture import CaptureKind, ImagingMode

JsonDict = dict[str, Any]


class StudyError(Exception):
    """A study operation was given bad input or could not be carried out."""


class FieldValueError(StudyError, ValueError):
    """A typed value does not fit its DICOM value representation; `field` names the field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field} {problem}")
        self.field = field
        self.problem = problem  # without the field's name: a form shows it beside its own label


# Maximum length of one value in bytes as written (UTF-8, ISO_IR 192): dciodvfy and strict PACS count
# bytes, so a 30-character Japanese name (90 bytes) does not fit where 64 Latin letters do.
VR_MAX_BYTES = {"AE": 16, "CS": 16, "SH": 16, "LO": 64, "PN": 64, "DA": 8}
_PN_GROUPS = ("alphabetic", "ideographic", "phonetic")


def check_dicom_value(field: str, vr: str, value: str) -> None:
    """Raise FieldValueError unless `value` is one valid value of the DICOM VR `vr` (PN, LO, SH, CS, DA, AE).

    A backslash would split it into two values; control characters (NUL, newline, tab, escape) are
    not allowed in these VRs; lengths are checked per PN component group, in UTF-8 bytes.
    """
    if not isinstance(value, str):
        raise FieldValueError(field, f"must be text, got {type(value).__name__}")
    if "\\" in value:
        raise FieldValueError(field, f"{value!r} contains a backslash, which DICOM reads as a second value")
    control = next((c for c in value if unicodedata.category(c) == "Cc"), None)
    if control is not None:
        raise FieldValueError(
            field, f"{value!r} contains the control character {control!r} (no NUL, newline, tab or escape)"
        )
    limit = VR_MAX_BYTES[vr]
    if vr == "PN":
        groups = value.split("=")
        if len(groups) > 3:
            raise FieldValueError(field, "has more than 3 component groups (alphabetic=ideographic=phonetic)")
        for name, group in zip(_PN_GROUPS, groups, strict=False):
            if group.count("^") > 4:
                components = "family^given^middle^prefix^suffix"
                raise FieldValueError(field, f"has more than 5 components ({components}) in its {name} group")
            size = len(group.encode("utf-8"))
            if size > limit:
                raise FieldValueError(
                    field,
                    f"{name} group is longer than {limit} bytes in UTF-8 ({size}), the most DICOM PN allows",
                )
    else:
        size = len(value.encode("utf-8"))
        if size > limit:
            raise FieldValueError(
                field, f"{value!r} is longer than {limit} bytes in UTF-8 ({size}), the most DICOM {vr} allows"
            )
    try:  # pydicom's own checks: the character repertoire of CS and AE, the form of DA
        validate_value(vr, value, pydicom_config.RAISE)
    except ValueError as exc:
        raise FieldValueError(field, f"{value!r} is not a valid DICOM {vr}: {exc}") from exc
    if vr == "DA" and value:
        try:
            datetime.strptime(value, "%Y%m%d")
        except ValueError as exc:
            raise FieldValueError(field, f"{value!r} is not a date YYYYMMDD") from exc


class StudyCaptureError(StudyError):
    """The study store could not save a capture; nothing already captured was changed."""


class StudyStoreUnavailable(StudyError):
    """The study store cannot be opened now (locked, disk full, I/O error, read-only); nothing was changed.

    The message is one line saying what is wrong and what to do; `reason` is the underlying error.
    """

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason


_reading_stored = contextvars.ContextVar("_reading_stored", default=False)


@contextmanager
def _as_stored() -> Iterator[None]:
    """Values read back from a study already kept are taken as they are: they were checked by the rules
    in force when written, and refusing them now would hide captures that are on disk."""
    token = _reading_stored.set(True)
    try:
        yield
    finally:
        _reading_stored.reset(token)


@dataclass(frozen=True, slots=True)
class Patient:
    """The person scanned, or an anonymous practice subject (phantom, volunteer, simulator)."""

    patient_id: str
    name: str = ""  # DICOM person name: "Family^Given"
    birth_date: str = ""  # YYYYMMDD or empty
    sex: str = ""  # "M", "F", "O" or empty
    practice_subject: bool = False

    def __post_init__(self) -> None:
        if _reading_stored.get():
            return
        if not self.patient_id.strip():
            raise FieldValueError("patient_id", "must not be empty")
        check_dicom_value("patient_id", "LO", self.patient_id)
        check_dicom_value("name", "PN", self.name)
        check_dicom_value("birth_date", "DA", self.birth_date)
        if self.sex not in ("", "M", "F", "O"):
            raise FieldValueError("sex", f"{self.sex!r} is not one of M, F, O or empty")

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
        """A patient as kept with a study, taken as written (see `_as_stored`)."""
        with _as_stored():
            return cls(
                patient_id=str(data["patient_id"]),
                name=str(data.get("name", "")),
                birth_date=str(data.get("birth_date", "")),
                sex=str(data.get("sex", "")),
                practice_subject=bool(data.get("practice_subject", False)),
            )


_LATERALITIES = ("", "R", "L", "B", "U")
_LABEL_KEYS = (
    "laterality",
    "body_part",
    "exam_type",
    "protocol_id",
    "step_id",
    "step_title",
    "plane",
    "key_image",
    "imaging_mode",
)
# Ultrasound Image Type value 3 (PS3.3 C.8.5.6.1.1): the kind of exam; "" when not known.
US_EXAM_TYPES = ("", "MUSCULOSKELETAL", "VASCULAR", "ABDOMINAL", "SMALL PARTS", "PELVIC")


@dataclass(frozen=True, slots=True)
class CaptureLabels:
    """What a capture shows: side, body part, and the protocol step and plane it was taken for."""

    laterality: str = ""  # R, L, B (both), U (unpaired) or empty
    body_part: str = ""  # DICOM Body Part Examined, e.g. "KNEE", "ANKLE"
    exam_type: str = ""  # US Image Type value 3, e.g. "MUSCULOSKELETAL", "VASCULAR"
    protocol_id: str = ""
    step_id: str = ""
    step_title: str = ""
    plane: str = ""  # e.g. "long axis", "short axis"
    key_image: bool = False
    # The mode the image was taken in (`scanner_app.capture.ImagingMode`): a B-mode still never
    # claims to be Doppler, whatever step it was taken at.
    imaging_mode: str = ImagingMode.BMODE.value

    def __post_init__(self) -> None:
        if self.laterality not in _LATERALITIES:
            raise FieldValueError("laterality", f"{self.laterality!r} is not one of R, L, B, U or empty")
        if len(self.body_part) > 16:
            raise FieldValueError("body_part", f"{self.body_part!r} is longer than 16 characters (DICOM CS)")
        check_dicom_value("body_part", "CS", self.body_part)
        if self.exam_type not in US_EXAM_TYPES:
            raise FieldValueError("exam_type", f"{self.exam_type!r} is not one of {', '.join(US_EXAM_TYPES)}")
        if self.imaging_mode not in set(ImagingMode):
            modes = ", ".join(m.value for m in ImagingMode)
            raise FieldValueError("imaging_mode", f"{self.imaging_mode!r} is not one of {modes}")
        for key in ("protocol_id", "step_id", "plane"):  # private LO elements
            check_dicom_value(key, "LO", getattr(self, key))

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
        for key in ("body_part", "exam_type"):
            if key in values:
                values[key] = values[key].upper()
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
        if self.imaging_mode != ImagingMode.BMODE:
            parts.append(ImagingMode(self.imaging_mode).words)
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


@dataclass(frozen=True, slots=True)
class ReportSignOff:
    """The report's impression and who signed it, when: kept in study.json."""

    impression: str
    signed_by: str  # DICOM person name "Family^Given"
    signed_at: datetime

    def to_json(self) -> JsonDict:
        return {
            "impression": self.impression,
            "signed_by": self.signed_by,
            "signed_at": self.signed_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReportSignOff:
        return cls(str(data.get("impression", "")), str(data.get("signed_by", "")),
                   datetime.fromisoformat(str(data["signed_at"])))  # fmt: skip


@dataclass(frozen=True, slots=True)
class StudyDocument:
    """A document kept with a study and sent to PACS with it: the signed report as Encapsulated PDF."""

    sop_instance_uid: str
    study_uid: str
    series_uid: str
    instance_number: int
    path: str  # relative to the store root, with forward slashes
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ExamOrder:
    """What the department ordered for an exam: from a worklist entry, or an accession typed by hand
    (emergencies). Empty fields are not known; an empty `study_uid` means the app makes one."""

    accession_number: str = ""
    referring_physician: str = ""  # DICOM person name
    requested_procedure: str = ""  # Requested Procedure Description: becomes the Study Description
    study_uid: str = ""

    def __post_init__(self) -> None:
        check_dicom_value("accession_number", "SH", self.accession_number)
        check_dicom_value("referring_physician", "PN", self.referring_physician)
        check_dicom_value("requested_procedure", "LO", self.requested_procedure)


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
    referring_physician: str = ""  # DICOM person name, or empty when not known
    sign_off: ReportSignOff | None = None
    documents: list[StudyDocument] = field(default_factory=list)  # signed reports, oldest first

    def __post_init__(self) -> None:
        if _reading_stored.get():
            return
        check_dicom_value("study_id", "SH", self.study_id)
        for key in ("operator", "trainee", "supervisor", "referring_physician"):
            check_dicom_value(key, "PN", getattr(self, key))
        check_dicom_value("accession_number", "SH", self.accession_number)
        check_dicom_value("description", "LO", self.description)
        check_dicom_value("protocol_id", "LO", self.protocol_id)

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
            "referring_physician": self.referring_physician,
            "sign_off": self.sign_off.to_json() if self.sign_off else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Study:
        """A study as kept in study.json, taken as written (see `_as_stored`)."""
        ended = data.get("ended_at")
        sign_off = data.get("sign_off")
        with _as_stored():
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
                referring_physician=str(data.get("referring_physician") or ""),
                sign_off=ReportSignOff.from_json(sign_off) if isinstance(sign_off, Mapping) else None,
            )


class CommitmentStatus(enum.StrEnum):
    """Where one instance stands with one PACS's Storage Commitment: asked and not yet answered,
    committed (the PACS keeps it), failed (it said it does not), or not supported by that PACS."""

    REQUESTED = "requested"
    COMMITTED = "committed"
    FAILED = "failed"
    NOT_SUPPORTED = "not supported"


@dataclass(frozen=True, slots=True)
class InstanceCommitment:
    """What one PACS (named `destination`, identified by AE title, host and port) said of keeping one
    instance, and when."""

    sop_instance_uid: str
    destination: str
    called_ae: str
    host: str
    port: int
    status: CommitmentStatus
    reason: str
    updated_at: datetime


class StudyNotDeletable(StudyError):
    """A study may not be deleted locally now: open, or with images no PACS has committed."""
