"""De-identified teaching/QA copy of a study (DICOM Basic Application Level Confidentiality Profile).

The copy is built by allowlist, not by deleting known identifiers: each exported dataset is a new one
holding only the image, its calibration, the labels the protocol gave it and the equipment model.
Everything else (names, IDs, serial numbers, free text, private tags) is simply never copied.
UIDs are replaced by hashes under a per-export secret (consistent within the export, unlinkable
outside it); dates are shifted by a whole number of days (intervals kept), times kept.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import UID, ExplicitVRLittleEndian

from scanner_app.studies.dicom_writer import (
    IMPLEMENTATION_CLASS_UID,
    dcm_code,
    encode_dataset,
    write_file_atomic,
)
from scanner_app.studies.model import JsonDict, StudyCapture, StudyError
from scanner_app.studies.store import INDEX_NAME, STUDIES_DIR, StudyStore

# Attributes copied as they are: image pixels and their description, frame timing, equipment model,
# body part and side. None of these identifies a person.
_KEEP = (
    "SpecificCharacterSet",
    "ImageType",
    "SOPClassUID",
    "StudyTime",
    "ContentTime",
    "Modality",
    "Manufacturer",
    "ManufacturerModelName",
    "SeriesNumber",
    "SeriesDescription",
    "BodyPartExamined",
    "Laterality",
    "ImageLaterality",
    "InstanceNumber",
    "PatientOrientation",
    "BurnedInAnnotation",
    "LossyImageCompression",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "NumberOfFrames",
    "FrameIncrementPointer",
    "FrameTime",
    "FrameTimeVector",
    "CineRate",
    "RecommendedDisplayFrameRate",
    "Rows",
    "Columns",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "PixelAspectRatio",
    "DepthOfScanField",
    "PixelData",
)
_REGION_KEEP = (
    "RegionSpatialFormat",
    "RegionDataType",
    "RegionFlags",
    "RegionLocationMinX0",
    "RegionLocationMinY0",
    "RegionLocationMaxX1",
    "RegionLocationMaxY1",
    "ReferencePixelX0",
    "ReferencePixelY0",
    "PhysicalUnitsXDirection",
    "PhysicalUnitsYDirection",
    "ReferencePixelPhysicalValueX",
    "ReferencePixelPhysicalValueY",
    "PhysicalDeltaX",
    "PhysicalDeltaY",
    "TransducerFrequency",
)
_UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
_DATES = ("StudyDate", "ContentDate")
_DATETIMES = ("AcquisitionDateTime",)
# Type 2 attributes the IOD needs present; they stay empty.
_EMPTY = ("PatientBirthDate", "PatientSex", "ReferringPhysicianName", "AccessionNumber")

# De-identification Method is LO, 1-n: one whole phrase per value, each within LO's 64 characters
# (the same profile and option are coded in the De-identification Method Code Sequence beside it).
DEIDENTIFICATION_METHOD = (
    "scanner-app allowlist export",
    "PS3.15 Basic Application Level Confidentiality Profile",
    "Retain Longitudinal Temporal Info. with Modified Dates Option",
    "UIDs replaced; private tags removed",
)


class UidReplacer:
    """Maps each original UID to a new 2.25 UID, the same one every time within an export."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def __call__(self, uid: str) -> str:
        digest = hashlib.sha256(self._secret + uid.encode("ascii")).digest()
        return f"2.25.{int.from_bytes(digest[:16], 'big')}"


@dataclass(frozen=True, slots=True)
class DeidentifiedExport:
    """What an export produced: its folder, files, the subject's pseudonym and the date shift used."""

    directory: Path
    files: tuple[Path, ...]
    manifest: Path
    pseudonym: str
    date_shift_days: int


def _shift_date(value: str, days: int) -> str:
    if not value:
        return ""
    return (datetime.strptime(value[:8], "%Y%m%d") + timedelta(days=days)).strftime("%Y%m%d")


def _shift_datetime(value: str, days: int) -> str:
    if not value:
        return ""
    return _shift_date(value[:8], days) + value[8:]


def deidentify_dataset(
    source: Dataset,
    *,
    pseudonym: str,
    date_shift_days: int,
    replace_uid: UidReplacer,
    comment: str = "",
) -> Dataset:
    """A new dataset with the allowlisted content of `source`, dates shifted and UIDs replaced."""
    ds = Dataset()
    for keyword in _KEEP:
        if keyword in source:
            ds[keyword] = source[keyword]
    for keyword in _UIDS:
        setattr(ds, keyword, replace_uid(str(source[keyword].value)))
    for keyword in _DATES:
        if keyword in source:
            setattr(ds, keyword, _shift_date(str(source[keyword].value), date_shift_days))
    for keyword in _DATETIMES:
        if keyword in source:
            setattr(ds, keyword, _shift_datetime(str(source[keyword].value), date_shift_days))
    if "SequenceOfUltrasoundRegions" in source:
        regions = []
        for item in source.SequenceOfUltrasoundRegions:
            region = Dataset()
            for keyword in _REGION_KEEP:
                if keyword in item:
                    region[keyword] = item[keyword]
            regions.append(region)
        ds.SequenceOfUltrasoundRegions = DicomSequence(regions)
    ds.PatientName = f"{pseudonym}^TEACHING"  # family^given: a one-part name is the retired form
    ds.PatientID = pseudonym
    ds.StudyID = "1"  # a value, not empty, so the copy can go on media with a DICOMDIR
    for keyword in _EMPTY:
        setattr(ds, keyword, "")
    if comment:
        ds.ImageComments = comment
    ds.PatientIdentityRemoved = "YES"
    ds.LongitudinalTemporalInformationModified = "MODIFIED"
    ds.DeidentificationMethod = list(DEIDENTIFICATION_METHOD)
    ds.DeidentificationMethodCodeSequence = DicomSequence(
        [
            dcm_code("113100", "Basic Application Confidentiality Profile"),
            dcm_code("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
        ]
    )
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(str(ds.SOPClassUID))
    meta.MediaStorageSOPInstanceUID = UID(str(ds.SOPInstanceUID))
    # The pixels are copied as they are: an RLE clip stays RLE (its encapsulated frames need it said).
    source_meta = getattr(source, "file_meta", None)
    meta.TransferSyntaxUID = (
        UID(str(source_meta.TransferSyntaxUID)) if source_meta else ExplicitVRLittleEndian
    )
    meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
    ds.file_meta = meta
    return ds


def export_deidentified(
    store: StudyStore,
    study_uid: str,
    out_dir: Path,
    *,
    pseudonym: str | None = None,
    date_shift_days: int | None = None,
    secret: bytes | None = None,
) -> DeidentifiedExport:
    """Write a de-identified copy of a study's captures to `out_dir` with a manifest.json.

    The manifest lists each file with its protocol labels and the app's measurements (numbers and
    protocol labels only; the study's free-text findings are not copied). `out_dir` must be empty (or
    not exist yet) and outside every study folder; no existing file is ever replaced.
    """
    study = store.get_study(study_uid)
    if not study.captures:
        raise StudyError(f"study {study_uid} has no captures to export")
    pseudonym = pseudonym or f"ANON-{secrets.token_hex(4).upper()}"
    if date_shift_days is None:
        date_shift_days = -secrets.randbelow(3650) - 1
    replace_uid = UidReplacer(secret if secret is not None else secrets.token_bytes(32))
    out_dir = Path(out_dir)
    check_export_folder(store, out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StudyError(f"cannot create export folder {out_dir}: {exc}") from exc
    files: list[Path] = []
    entries: list[JsonDict] = []
    for record in study.captures:
        clean = deidentify_dataset(
            store.read_dataset(record),
            pseudonym=pseudonym,
            date_shift_days=date_shift_days,
            replace_uid=replace_uid,
            comment=record.labels.describe(),
        )
        path = out_dir / f"{record.instance_number:04d}-{record.kind.value}.dcm"
        # overwrite=False: even a file that appeared after the check is never replaced.
        write_file_atomic(path, encode_dataset(clean), overwrite=False)
        files.append(path)
        entries.append(_manifest_entry(record, path, str(clean.SOPInstanceUID)))
    manifest = out_dir / "manifest.json"
    body = {"pseudonym": pseudonym, "protocol_id": study.protocol_id, "captures": entries}
    write_file_atomic(manifest, json.dumps(body, indent=2).encode("utf-8"), overwrite=False)
    return DeidentifiedExport(out_dir, tuple(files), manifest, pseudonym, date_shift_days)


def check_export_folder(store: StudyStore, out_dir: Path) -> None:
    """Refuse a folder in a study folder (clinical originals live there) or one that is not empty."""
    target = Path(out_dir).resolve()
    store_root = store.root.resolve()
    if target == store_root or store_root in target.parents:
        raise StudyError(
            f"{out_dir} is inside the study folder {store.root}; choose an empty folder outside it"
        )
    for folder in (target, *target.parents):
        if (folder / INDEX_NAME).is_file() and (folder / STUDIES_DIR).is_dir():
            raise StudyError(
                f"{out_dir} is inside the study folder {folder}; choose an empty folder outside it"
            )
    if target.exists():
        if not target.is_dir():
            raise StudyError(f"{out_dir} is not a folder; choose an empty folder for the teaching copy")
        if any(target.iterdir()):
            raise StudyError(f"{out_dir} is not empty; choose an empty folder for the teaching copy")


# What a teaching copy keeps of a measurement: its kind and numbers. Free text (on-image notes, a
# label someone typed) may name the patient, so it is left out by allowlist.
_MEASUREMENT_KEYS = (
    "kind", "unit", "points_mm", "distance_mm", "length_mm", "depth_mm", "area_mm2", "value_mm",
)  # fmt: skip
_CALIPER_LABEL = re.compile(r"[A-Z]{1,3}")  # the app's own caliper names: A, B, ... AA


def _manifest_entry(record: StudyCapture, path: Path, new_uid: str) -> JsonDict:
    labels = record.labels.to_json()
    measurements = []
    for entry in record.annotations:
        if entry.get("type") != "measurement":
            continue
        kept = {k: entry[k] for k in _MEASUREMENT_KEYS if k in entry}
        label = entry.get("label")
        if isinstance(label, str) and _CALIPER_LABEL.fullmatch(label):
            kept["label"] = label
        measurements.append(kept)
    return {
        "file": path.name,
        "sop_instance_uid": new_uid,
        "kind": record.kind.value,
        "labels": labels,
        "measurements": measurements,
    }
