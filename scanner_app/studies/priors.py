"""The patient's earlier imaging from the PACS, for correlation while scanning.

`find_prior_studies` asks the PACS (C-FIND, Study Root) for the patient's studies, `find_series`
for a study's series, and `retrieve_series` fetches one series with C-GET over the same association
(no listening port on the scanner) into a folder, slices sorted by position. The viewer shows them
with window/level; an earlier ultrasound comes with its own calibration.

Errors are `PriorsError` with the destination and what went wrong; nothing here writes to the PACS.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import (
    ComputedRadiographyImageStorage,
    CTImageStorage,
    DigitalXRayImageStorageForPresentation,
    EnhancedCTImageStorage,
    EnhancedMRImageStorage,
    MRImageStorage,
    SecondaryCaptureImageStorage,
    UltrasoundImageStorage,
    UltrasoundMultiFrameImageStorage,
)
from pynetdicom import build_role, evt
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
)

from scanner_app.studies.model import StudyError
from scanner_app.studies.pacs import PacsDestination, _associate, _make_ae

# What a prior for MSK correlation is: MRI, CT, radiographs and earlier ultrasound.
RETRIEVABLE = (
    MRImageStorage, EnhancedMRImageStorage, CTImageStorage, EnhancedCTImageStorage, UltrasoundImageStorage,
    UltrasoundMultiFrameImageStorage, ComputedRadiographyImageStorage, DigitalXRayImageStorageForPresentation,
    SecondaryCaptureImageStorage,
)  # fmt: skip
PENDING = (0xFF00, 0xFF01)


class PriorsError(StudyError):
    """The PACS could not be asked or did not answer as expected; the message says which and why."""


@dataclass(frozen=True, slots=True)
class PriorStudy:
    study_uid: str
    study_date: str  # YYYYMMDD or empty
    modalities: tuple[str, ...]
    description: str
    accession_number: str

    def describe(self) -> str:
        day = (
            f"{self.study_date[:4]}-{self.study_date[4:6]}-{self.study_date[6:]}"
            if self.study_date
            else "no date"
        )
        return f"{day} {'/'.join(self.modalities) or '?'} {self.description}".strip()


@dataclass(frozen=True, slots=True)
class PriorSeries:
    series_uid: str
    modality: str
    description: str
    instances: int


def _query(dest: PacsDestination, identifier: Dataset, timeout_s: float) -> list[Dataset]:
    ae = _make_ae(dest, timeout_s)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    assoc, failure = _associate(ae, dest)
    if assoc is None:
        raise PriorsError(failure.message if failure else f"cannot reach {dest.describe()}")
    answers = []
    try:
        for status, found in assoc.send_c_find(identifier, StudyRootQueryRetrieveInformationModelFind):
            code = int(getattr(status, "Status", -1)) if status else -1
            if code in PENDING and found is not None:
                answers.append(found)
            elif code not in (0x0000, *PENDING):
                raise PriorsError(f"{dest.describe()} refused the query (status 0x{code & 0xFFFF:04X})")
    finally:
        assoc.release()
    return answers


def find_prior_studies(
    dest: PacsDestination, patient_id: str, *, exclude_study_uid: str = "", timeout_s: float = 10.0
) -> list[PriorStudy]:
    """The patient's studies in the PACS, newest first, without the one being scanned."""
    if not patient_id.strip():
        raise PriorsError("no patient ID to look for priors with (an anonymous practice study has none)")
    q = Dataset()
    q.QueryRetrieveLevel = "STUDY"
    q.PatientID = patient_id
    for keyword in (
        "StudyInstanceUID",
        "StudyDate",
        "StudyDescription",
        "AccessionNumber",
        "ModalitiesInStudy",
    ):
        setattr(q, keyword, "")
    studies = []
    for found in _query(dest, q, timeout_s):
        uid = str(found.get("StudyInstanceUID", ""))
        if not uid or uid == exclude_study_uid:
            continue
        modalities = found.get("ModalitiesInStudy", "")
        modalities = tuple(
            str(m) for m in (modalities if isinstance(modalities, list | tuple) else [modalities]) if m
        )
        description, accession = str(found.get("StudyDescription", "")), str(found.get("AccessionNumber", ""))
        studies.append(PriorStudy(uid, str(found.get("StudyDate", "")), modalities, description, accession))
    return sorted(studies, key=lambda s: s.study_date, reverse=True)


def find_series(dest: PacsDestination, study_uid: str, *, timeout_s: float = 10.0) -> list[PriorSeries]:
    """A study's series (C-FIND, series level), by series number order the PACS gives."""
    q = Dataset()
    q.QueryRetrieveLevel = "SERIES"
    q.StudyInstanceUID = study_uid
    for keyword in ("SeriesInstanceUID", "Modality", "SeriesDescription", "NumberOfSeriesRelatedInstances"):
        setattr(q, keyword, "")
    return [
        PriorSeries(
            str(f.SeriesInstanceUID),
            str(f.get("Modality", "")),
            str(f.get("SeriesDescription", "")),
            int(f.get("NumberOfSeriesRelatedInstances") or 0),
        )
        for f in _query(dest, q, timeout_s)
        if f.get("SeriesInstanceUID")
    ]


def retrieve_series(
    dest: PacsDestination, study_uid: str, series_uid: str, out_dir: Path, *, timeout_s: float = 30.0
) -> list[Path]:
    """Fetch every image of a series with C-GET into `out_dir` (one file per SOP instance); the
    files in slice order. PriorsError when the PACS refuses, sends nothing, or a file cannot be kept."""
    out_dir.mkdir(parents=True, exist_ok=True)
    received: list[Path] = []
    problems: list[str] = []

    def on_store(event: Any) -> int:
        try:
            ds = event.dataset
            ds.file_meta = event.file_meta
            path = out_dir / f"{ds.SOPInstanceUID}.dcm"
            ds.save_as(path, enforce_file_format=True)
            received.append(path)
            return 0x0000
        except (OSError, ValueError, AttributeError) as exc:
            problems.append(str(exc))
            return 0xA700  # out of resources: the PACS reports the image as not delivered

    ae = _make_ae(dest, timeout_s)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    for storage in RETRIEVABLE:
        ae.add_requested_context(storage)
    roles: list[Any] = [build_role(storage, scp_role=True) for storage in RETRIEVABLE]
    q = Dataset()
    q.QueryRetrieveLevel = "SERIES"
    q.StudyInstanceUID = study_uid
    q.SeriesInstanceUID = series_uid
    ae_assoc = ae.associate(dest.host, dest.port, ae_title=dest.called_ae, ext_neg=roles,
                            evt_handlers=[(evt.EVT_C_STORE, on_store)])  # fmt: skip
    if not ae_assoc.is_established:
        raise PriorsError(f"cannot retrieve from {dest.describe()}: the association was not accepted")
    final = -1
    try:
        for status, _identifier in ae_assoc.send_c_get(q, StudyRootQueryRetrieveInformationModelGet):
            if status:
                final = int(status.Status)
    finally:
        ae_assoc.release()
    if problems:
        raise PriorsError(
            f"retrieving from {dest.describe()}: {len(problems)} image(s) not kept: {problems[0]}"
        )
    if not received:
        raise PriorsError(
            f"{dest.describe()} sent no image of series {series_uid} (status 0x{final & 0xFFFF:04X})"
        )
    return sorted(received, key=_slice_key)


def _slice_key(path: Path) -> tuple[float, int]:
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    position = ds.get("ImagePositionPatient")
    orientation = ds.get("ImageOrientationPatient")
    if position is not None and orientation is not None and len(orientation) == 6:
        normal = np.cross(np.asarray(orientation[:3], float), np.asarray(orientation[3:], float))
        return (float(np.dot(normal, np.asarray(position, float))), int(ds.get("InstanceNumber") or 0))
    return (float(ds.get("InstanceNumber") or 0), 0)


@dataclass(frozen=True, slots=True)
class PriorImages:
    """A retrieved series ready to show: frames (n, rows, cols) in stored values rescaled to real
    units (Hounsfield for CT), a default window (centre, width), and the pixel spacing in mm."""

    frames: npt.NDArray[np.float32]
    window: tuple[float, float]
    spacing_mm: tuple[float, float] | None  # (row, column); None when the file does not say
    title: str


def load_series(paths: list[Path]) -> PriorImages:
    """The series' pixels for the viewer; PriorsError naming the file that cannot be read."""
    frames: list[npt.NDArray[np.float32]] = []
    first: Dataset | None = None
    for path in paths:
        try:
            ds = pydicom.dcmread(path)
            pixels = np.asarray(ds.pixel_array, dtype=np.float32)
        except (OSError, ValueError, AttributeError, pydicom.errors.InvalidDicomError) as exc:
            raise PriorsError(f"{path.name}: not a readable image ({exc})") from None
        if int(ds.get("SamplesPerPixel", 1)) == 3:
            pixels = pixels.max(axis=-1)  # colour (an ultrasound with Doppler): shown by brightness
        pixels = pixels * float(ds.get("RescaleSlope", 1) or 1) + float(ds.get("RescaleIntercept", 0) or 0)
        frames.extend(pixels if pixels.ndim == 3 else [pixels])
        first = first or ds
    if first is None or not frames:
        raise PriorsError("the series has no images")
    stack = np.stack(frames).astype(np.float32)
    centre, width = first.get("WindowCenter"), first.get("WindowWidth")
    if centre is not None and width is not None:
        window = (float(np.ravel([centre])[0]), float(np.ravel([width])[0]))
    else:
        lo, hi = np.percentile(stack, [1, 99])
        window = (float(lo + hi) / 2.0, float(max(hi - lo, 1.0)))
    spacing = first.get("PixelSpacing")
    if spacing is None and "SequenceOfUltrasoundRegions" in first:
        region = first.SequenceOfUltrasoundRegions[0]
        spacing = [float(region.PhysicalDeltaY) * 10.0, float(region.PhysicalDeltaX) * 10.0]
    title = " ".join(str(first.get(k, "")) for k in ("Modality", "StudyDate", "SeriesDescription")).strip()
    return PriorImages(stack, window, (float(spacing[0]), float(spacing[1])) if spacing else None, title)
