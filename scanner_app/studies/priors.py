"""Priors: the patient's earlier studies at the PACS (C-FIND, Study Root, study and series level) and
one chosen series brought to the scanner (C-GET), for correlation while scanning.

Qt-free and synchronous: a viewer calls these from a worker thread. Errors are StudyError with a
sentence for the user.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import build_role, evt
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    CTImageStorage,
    EnhancedMRImageStorage,
    MRImageStorage,
    SecondaryCaptureImageStorage,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    UltrasoundImageStorage,
    UltrasoundMultiFrameImageStorage,
)

from scanner_app.studies.model import StudyError
from scanner_app.studies.pacs import PacsDestination, _associate, _make_ae

_PENDING = (0xFF00, 0xFF01)
# What a prior can be: cross-sectional slices and earlier ultrasound (stills, clips).
PRIOR_STORAGE_CLASSES = (
    MRImageStorage,
    EnhancedMRImageStorage,
    CTImageStorage,
    UltrasoundImageStorage,
    UltrasoundMultiFrameImageStorage,
    SecondaryCaptureImageStorage,
)


@dataclass(frozen=True, slots=True)
class PriorStudy:
    """One earlier study of the patient as the PACS lists it."""

    study_uid: str
    study_date: str  # YYYYMMDD
    description: str
    modalities: tuple[str, ...]
    accession_number: str


@dataclass(frozen=True, slots=True)
class PriorSeries:
    """One series of a prior study."""

    series_uid: str
    modality: str
    description: str
    series_number: int | None
    instances: int | None


def _text(ds: Dataset, keyword: str) -> str:
    value: Any = ds.get(keyword, "")
    return "" if value is None else str(value).strip()


def _values(ds: Dataset, keyword: str) -> tuple[str, ...]:
    """A multi-valued attribute as a tuple (pydicom gives a single value as a plain string)."""
    value: Any = ds.get(keyword) or []
    return tuple(str(v) for v in ([value] if isinstance(value, str) else value) if str(v))


def _int(ds: Dataset, keyword: str) -> int | None:
    text = _text(ds, keyword)
    return int(text) if text.lstrip("-").isdigit() else None


def _find(dest: PacsDestination, identifier: Dataset, timeout_s: float) -> list[Dataset]:
    ae = _make_ae(dest, timeout_s)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    assoc, failure = _associate(ae, dest)
    if assoc is None:
        assert failure is not None
        raise StudyError(f"priors: {failure.message}")
    found: list[Dataset] = []
    try:
        for status, answer in assoc.send_c_find(identifier, StudyRootQueryRetrieveInformationModelFind):
            code = getattr(status, "Status", None) if status else None
            if code is None:
                raise StudyError(f"priors: no answer from {dest.describe()}")
            if code in _PENDING and answer is not None:
                found.append(answer)
            elif code not in _PENDING and code != 0x0000:
                raise StudyError(f"priors: {dest.describe()} refused the query: C-FIND status 0x{code:04X}")
    finally:
        if assoc.is_established:
            assoc.release()
    return found


def find_prior_studies(
    dest: PacsDestination, patient_id: str, *, exclude_study_uid: str = "", timeout_s: float = 10.0
) -> list[PriorStudy]:
    """The patient's studies at the PACS, newest first, without the one being scanned."""
    if not patient_id.strip():
        raise StudyError("priors: the patient has no ID to look for")
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.PatientID = patient_id
    query.StudyInstanceUID = ""
    query.StudyDate = ""
    query.StudyDescription = ""
    query.ModalitiesInStudy = ""
    query.AccessionNumber = ""
    studies = [
        PriorStudy(
            _text(a, "StudyInstanceUID"),
            _text(a, "StudyDate"),
            _text(a, "StudyDescription"),
            _values(a, "ModalitiesInStudy"),
            _text(a, "AccessionNumber"),
        )
        for a in _find(dest, query, timeout_s)
        if _text(a, "StudyInstanceUID") != exclude_study_uid
    ]
    return sorted(studies, key=lambda s: s.study_date, reverse=True)


def find_series(dest: PacsDestination, study_uid: str, *, timeout_s: float = 10.0) -> list[PriorSeries]:
    """The series of a prior study, by series number."""
    query = Dataset()
    query.QueryRetrieveLevel = "SERIES"
    query.StudyInstanceUID = study_uid
    query.SeriesInstanceUID = ""
    query.Modality = ""
    query.SeriesDescription = ""
    query.SeriesNumber = ""
    query.NumberOfSeriesRelatedInstances = ""
    series = [
        PriorSeries(
            _text(a, "SeriesInstanceUID"),
            _text(a, "Modality"),
            _text(a, "SeriesDescription"),
            _int(a, "SeriesNumber"),
            _int(a, "NumberOfSeriesRelatedInstances"),
        )
        for a in _find(dest, query, timeout_s)
    ]
    return sorted(series, key=lambda s: (s.series_number is None, s.series_number or 0))


def retrieve_series(
    dest: PacsDestination, study_uid: str, series_uid: str, *, timeout_s: float = 30.0
) -> list[Dataset]:
    """The instances of one series (C-GET on one association), by instance number."""
    ae = _make_ae(dest, timeout_s)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    for sop_class in PRIOR_STORAGE_CLASSES:
        ae.add_requested_context(sop_class)
    # The PACS sends the images back on this association: we take the storage SCP role for them.
    roles: list[Any] = [build_role(sop_class, scp_role=True) for sop_class in PRIOR_STORAGE_CLASSES]
    received: list[Dataset] = []

    def on_store(event: Any) -> int:
        ds = event.dataset
        ds.file_meta = event.file_meta
        received.append(ds)
        return 0x0000

    try:
        assoc = ae.associate(
            dest.host,
            dest.port,
            ae_title=dest.called_ae,
            ext_neg=roles,
            evt_handlers=[(evt.EVT_C_STORE, on_store)],
        )
    except (OSError, ValueError) as exc:
        raise StudyError(f"priors: cannot reach {dest.describe()}: {exc}") from exc
    if not assoc.is_established:
        raise StudyError(f"priors: {dest.describe()} did not accept the retrieval (C-GET) association")
    query = Dataset()
    query.QueryRetrieveLevel = "SERIES"
    query.StudyInstanceUID = study_uid
    query.SeriesInstanceUID = series_uid
    try:
        for status, _answer in assoc.send_c_get(query, StudyRootQueryRetrieveInformationModelGet):
            code = getattr(status, "Status", None) if status else None
            if code is None:
                raise StudyError(f"priors: no answer from {dest.describe()} to the retrieval")
            if code not in _PENDING and code not in (0x0000, 0xB000):
                raise StudyError(
                    f"priors: {dest.describe()} refused the retrieval: C-GET status 0x{code:04X}"
                )
    finally:
        if assoc.is_established:
            assoc.release()
    if not received:
        raise StudyError(f"priors: {dest.describe()} sent no images of that series")
    return sorted(received, key=lambda ds: int(ds.get("InstanceNumber", 0) or 0))
