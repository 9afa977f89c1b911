"""Build ultrasound DICOM datasets from frames, and write any file atomically and durably.

Where the labels go: Image Laterality and Body Part Examined carry side and body part; Image
Comments carries a readable line (protocol, step, plane, side); Image Type value 3 the exam type
(MUSCULOSKELETAL, VASCULAR...) when known; a private block (creator
"SCANNER_APP 1.0", group 0x0011) carries the same labels, the study context (operator, trainee,
supervisor) and the app's measurements/annotations as JSON, so the file alone is enough to rebuild the
index. Nothing is burned into the pixels.
"""

from __future__ import annotations

import contextlib
import errno
import io
import itertools
import json
import os
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import UID, ExplicitVRLittleEndian

from scanner_app.capture import CaptureKind, ImagingMode
from scanner_app.frame import DataFormat, Frame
from scanner_app.studies.model import CaptureLabels, JsonDict, Study, StudyCaptureError

US_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.6.1"
US_MULTIFRAME_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.3.1"

PRIVATE_CREATOR = "SCANNER_APP 1.0"
PRIVATE_GROUP = 0x0011
# Element offsets inside the private block (0011,10xx).
_PRIV_PROTOCOL_ID = 0x10
_PRIV_STEP_ID = 0x11
_PRIV_PLANE = 0x12
_PRIV_CAPTURE_JSON = 0x13

APP_NAME = "scanner-app"
APP_VERSION = "0.1.0"

# Our own UIDs: UUID-derived under 2.25 (PS3.5 B.2), so no one else's root is borrowed. The implementation
# class UID is fixed for this version of the app (a name-based UUID), as Part 10 asks.
IMPLEMENTATION_CLASS_UID = f"2.25.{uuid.uuid5(uuid.NAMESPACE_URL, f'urn:{APP_NAME}:{APP_VERSION}').int}"


def dcm_code(value: str, meaning: str) -> Dataset:
    """A code sequence item of the DICOM Controlled Terminology (scheme "DCM", PS3.16 Annex D)."""
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "DCM"
    item.CodeMeaning = meaning
    return item


def new_uid() -> str:
    """A fresh globally unique DICOM UID (2.25.<a random UUID as an integer>)."""
    return f"2.25.{uuid.uuid4().int}"


# Body parts that have no side (CID 4031 terms dciodvfy knows as unpaired): with no side given,
# Series Laterality is left out for these; for any other (or an unknown) body part it stays, empty.
UNPAIRED_BODY_PARTS = frozenset(
    {"ABDOMEN", "CHEST", "HEAD", "NECK", "PELVIS", "SPINE", "THYROID", "LIVER", "HEART", "JAW"}
)
# Image Type value 3 when the labels do not say: musculoskeletal for the joints and limbs the MSK
# protocols scan; unknown otherwise (value 3 and 4 are then left out).
_MSK_BODY_PARTS = frozenset({"SHOULDER", "ELBOW", "WRIST", "HAND", "HIP", "KNEE", "ANKLE", "FOOT"})
# Frame intervals further than this from their mean are written one by one (Frame Time Vector).
FRAME_INTERVAL_TOLERANCE = 0.10

# The physical units code for centimetres in the US Region Calibration module (PS3.3 C.8.5.5.1.15).
UNITS_CM = 3
TEMP_SUFFIX = ".tmp"

WriteBytes = Callable[[BinaryIO, bytes], None]


def plain_write(fh: BinaryIO, payload: bytes) -> None:
    fh.write(payload)


def write_file_atomic(
    path: Path, payload: bytes, write_bytes: WriteBytes = plain_write, *, overwrite: bool = True
) -> None:
    """Write `payload` to `path` so that `path` is either absent or complete, even after a crash.

    Temp file in the same directory, flush + fsync, rename over the final name, fsync the directory.
    Any OSError (a full disk, a pulled stick) raises StudyCaptureError naming the path and the reason and
    leaves no temp file behind; an existing file at `path` is never touched unless the rename succeeds.
    With `overwrite=False` an existing file is never replaced (a capture's file is never written twice):
    the temp file is hard-linked to the final name, which fails if the name is taken.
    """
    directory = path.parent
    tmp = directory / f".{path.name}.{os.getpid()}{TEMP_SUFFIX}"
    try:
        with open(tmp, "wb") as fh:
            write_bytes(fh, payload)
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
            tmp.unlink()
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise StudyCaptureError(f"could not write {path}: {_reason(exc)}") from exc
    fsync_directory(directory)


def fsync_directory(directory: Path) -> None:
    """Make a rename in `directory` durable (POSIX needs the directory itself synced)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "the disk is full (no space left on device)"
    name = errno.errorcode.get(exc.errno or 0, "")
    detail = exc.strerror or str(exc)
    return f"{detail} ({name})" if name else detail


def _dicom_date(value: datetime) -> str:
    return value.strftime("%Y%m%d")


def _dicom_time(value: datetime) -> str:
    return value.strftime("%H%M%S.%f")


def _tz_offset(value: datetime) -> str:
    offset = value.utcoffset()
    if offset is None:
        return "+0000"
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}{minutes % 60:02d}"


def _check_frame(frame: Frame, where: str) -> None:
    if frame.data_format is not DataFormat.BMODE_U8:
        raise StudyCaptureError(
            f"{where}: only BMODE_U8 display frames can be saved, got {frame.data_format.name}"
        )
    if frame.pixels.ndim != 2 or frame.pixels.dtype != np.uint8:
        raise StudyCaptureError(
            f"{where}: pixels must be a 2-D uint8 array, got shape {frame.pixels.shape} {frame.pixels.dtype}"
        )
    axial_mm, lateral_mm = frame.spacing_mm
    if not (axial_mm > 0 and lateral_mm > 0):
        raise StudyCaptureError(f"{where}: spacing_mm must be positive, got {frame.spacing_mm}")


def _region(frame: Frame, x0: int = 0) -> Dataset:
    """One US region over the whole image (or over the half of a dual image starting at column `x0`),
    calibrated in cm per pixel so other viewers measure right."""
    axial_mm, lateral_mm = frame.spacing_mm
    region = Dataset()
    region.RegionSpatialFormat = 1  # 2D
    region.RegionDataType = 1  # tissue
    region.RegionFlags = 0
    region.RegionLocationMinX0 = x0
    # The region is the whole image: on a convex image tissue lies above the skin row at the sides,
    # where the array curves up to the chord of the top row.
    region.RegionLocationMinY0 = 0
    region.RegionLocationMaxX1 = x0 + frame.cols - 1
    region.RegionLocationMaxY1 = frame.rows - 1
    region.PhysicalUnitsXDirection = UNITS_CM
    region.PhysicalUnitsYDirection = UNITS_CM
    region.PhysicalDeltaX = lateral_mm / 10.0
    region.PhysicalDeltaY = axial_mm / 10.0
    # Reference pixel: x at the probe's marker end, y at the row of the skin (depth 0 on the centre
    # line, `depth_origin_mm` below the top of a convex image), relative to the region's top-left;
    # its physical value carries what is left of the origin below that row, so depths are exact.
    skin_row = round(frame.depth_origin_mm / axial_mm)
    region.ReferencePixelX0 = 0
    region.ReferencePixelY0 = skin_row - region.RegionLocationMinY0
    region.ReferencePixelPhysicalValueX = 0.0
    region.ReferencePixelPhysicalValueY = (skin_row * axial_mm - frame.depth_origin_mm) / 10.0
    region.TransducerFrequency = round(frame.settings.frequency_mhz * 1000)  # kHz
    return region


def new_instance(sop_class_uid: str, sop_instance_uid: str, study: Study, created_at: datetime) -> Dataset:
    """An instance of `study` with its file meta (explicit VR little endian), SOP Common, Patient and
    General Study modules, which every instance of a study (images, report) shares."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"  # UTF-8, so any name survives
    ds.InstanceCreationDate = _dicom_date(created_at)
    ds.InstanceCreationTime = _dicom_time(created_at)
    ds.SOPClassUID = sop_class_uid
    ds.SOPInstanceUID = sop_instance_uid
    ds.TimezoneOffsetFromUTC = _tz_offset(created_at)
    _set_patient_and_study(ds, study)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class_uid)
    meta.MediaStorageSOPInstanceUID = UID(sop_instance_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
    meta.ImplementationVersionName = "SCANNER_APP_010"
    ds.file_meta = meta
    return ds


def _set_patient_and_study(ds: Dataset, study: Study) -> None:
    patient = study.patient
    ds.PatientName = patient.name
    ds.PatientID = patient.patient_id
    ds.PatientBirthDate = patient.birth_date
    ds.PatientSex = patient.sex

    ds.StudyInstanceUID = study.study_uid
    ds.StudyDate = _dicom_date(study.started_at)
    ds.StudyTime = _dicom_time(study.started_at)
    ds.ReferringPhysicianName = study.referring_physician
    ds.StudyID = study.study_id
    ds.AccessionNumber = study.accession_number
    if study.description:
        ds.StudyDescription = study.description


def build_dataset(
    study: Study,
    frames: Sequence[Frame],
    *,
    kind: CaptureKind,
    sop_instance_uid: str,
    series_uid: str,
    series_number: int,
    instance_number: int,
    labels: CaptureLabels,
    annotations: Sequence[JsonDict],
    taken_at: datetime,
    halves: Sequence[tuple[int, Frame]] = (),
    rgb: npt.NDArray[np.uint8] | None = None,
    regions: Sequence[Dataset] = (),
) -> Dataset:
    """Make an Ultrasound Image (still) or Ultrasound Multi-frame Image (clip) dataset.

    `halves` makes a dual (split screen) still: `frames[0]` is the side-by-side composite and each
    (first column, frame) becomes its own US region with that frame's calibration.
    `rgb` (frames, rows, cols, 3) makes a colour image (Doppler) of the B-mode `frames` it was composed
    from, with its own `regions` (`scanner_app.studies.doppler_dicom`).
    """
    if not frames:
        raise StudyCaptureError("a capture needs at least one frame")
    if kind is CaptureKind.STILL and len(frames) != 1:
        raise StudyCaptureError(f"a still has exactly one frame, got {len(frames)}")
    for i, frame in enumerate(frames):
        _check_frame(frame, f"frame {i} (seq {frame.seq})")
    first = frames[0]
    for i, frame in enumerate(frames[1:], start=1):
        if frame.pixels.shape != first.pixels.shape:
            raise StudyCaptureError(
                f"frame {i} (seq {frame.seq}) is {frame.pixels.shape}, but the clip started at "
                f"{first.pixels.shape}: a clip must keep one image size"
            )
        if frame.spacing_mm != first.spacing_mm:
            raise StudyCaptureError(
                f"frame {i} (seq {frame.seq}) has spacing {frame.spacing_mm} mm, but the clip started "
                f"at {first.spacing_mm} mm: a clip must keep one calibration"
            )

    sop_class = US_IMAGE_STORAGE if kind is CaptureKind.STILL else US_MULTIFRAME_IMAGE_STORAGE
    ds = new_instance(sop_class, sop_instance_uid, study, taken_at)
    ds.ImageType = image_type(labels)

    # General Series
    ds.Modality = "US"
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = series_number
    ds.SeriesDescription = "Clips" if kind is CaptureKind.CLIP else "Stills"
    ds.OperatorsName = study.operator
    if not labels.laterality and labels.body_part not in UNPAIRED_BODY_PARTS:
        # Series Laterality is Type 2C: needed (empty: side unknown) for a paired or unknown body part
        # without Image Laterality; an unpaired one has no side, so the attribute is left out.
        ds.Laterality = ""
    if labels.body_part:
        ds.BodyPartExamined = labels.body_part

    # General Equipment: the probe made the image
    ds.Manufacturer = first.probe.vendor
    ds.ManufacturerModelName = first.probe.model
    ds.DeviceSerialNumber = first.probe.serial
    ds.SoftwareVersions = [v for v in (first.probe.firmware, f"{APP_NAME} {APP_VERSION}") if v]

    # General Image / General Acquisition
    ds.InstanceNumber = instance_number
    ds.PatientOrientation = ""
    ds.ContentDate = _dicom_date(taken_at)
    ds.ContentTime = _dicom_time(taken_at)
    ds.AcquisitionDateTime = taken_at.strftime("%Y%m%d%H%M%S.%f")
    if labels.laterality:
        ds.ImageLaterality = labels.laterality
    comment = labels.describe()
    if comment:
        ds.ImageComments = comment[:10240]
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"

    # US Image and Image Pixel
    if rgb is not None:
        if rgb.dtype != np.uint8 or rgb.ndim != 4 or rgb.shape[0] != len(frames) or rgb.shape[3] != 3:
            raise StudyCaptureError(f"colour pixels must be (frames, rows, cols, 3) uint8, got {rgb.shape}")
        ds.SamplesPerPixel = 3
        ds.PhotometricInterpretation = "RGB"
        ds.PlanarConfiguration = 0  # R, G, B of each pixel together
        ds.Rows, ds.Columns = int(rgb.shape[1]), int(rgb.shape[2])
    else:
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = first.rows
        ds.Columns = first.cols
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    calibrated = [frame for _, frame in halves] or [first]
    aspect = pixel_aspect_ratio(first.spacing_mm)
    if aspect is not None and all(f.spacing_mm == first.spacing_mm for f in calibrated):
        # Halves of different depths have different pixel shapes: each region then says its own.
        ds.PixelAspectRatio = list(aspect)
    ds.DepthOfScanField = round(max(f.settings.depth_mm for f in calibrated))

    # US Region Calibration: one region per image (per half of a dual image)
    if not regions:
        regions = [_region(frame, x0) for x0, frame in halves] if halves else [_region(first)]
    ds.SequenceOfUltrasoundRegions = DicomSequence(list(regions))

    if kind is CaptureKind.CLIP:
        ds.NumberOfFrames = len(frames)
        intervals_ms = frame_intervals_ms(frames)
        frame_time_ms = sum(intervals_ms) / len(intervals_ms) if intervals_ms else 1000.0 / 30.0
        if any(abs(d - frame_time_ms) > FRAME_INTERVAL_TOLERANCE * frame_time_ms for d in intervals_ms):
            # Uneven timing (a pause, a slowed host): each frame's own interval, so replay keeps real time.
            ds.FrameIncrementPointer = pydicom.tag.Tag("FrameTimeVector")
            ds.FrameTimeVector = [f"{d:.3f}" for d in (0.0, *intervals_ms)]
        else:
            ds.FrameIncrementPointer = pydicom.tag.Tag("FrameTime")
            ds.FrameTime = f"{frame_time_ms:.3f}"
        ds.CineRate = max(1, round(1000.0 / frame_time_ms))
        ds.RecommendedDisplayFrameRate = ds.CineRate
        pixels = np.stack([np.ascontiguousarray(f.pixels) for f in frames])
    else:
        pixels = np.ascontiguousarray(first.pixels)
    if rgb is not None:
        pixels = np.ascontiguousarray(rgb if kind is CaptureKind.CLIP else rgb[0])
    ds.PixelData = pixels.tobytes()

    # Private block: labels, study context and the app's annotations, machine-readable.
    block = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR, create=True)
    if labels.protocol_id:
        block.add_new(_PRIV_PROTOCOL_ID, "LO", labels.protocol_id)
    if labels.step_id:
        block.add_new(_PRIV_STEP_ID, "LO", labels.step_id)
    if labels.plane:
        block.add_new(_PRIV_PLANE, "LO", labels.plane)
    block.add_new(
        _PRIV_CAPTURE_JSON, "UT", json.dumps(capture_json(study, kind, labels, annotations, taken_at))
    )

    return ds


def relabel_dataset(ds: Dataset, labels: CaptureLabels) -> None:
    """Write a capture's new protocol labels (step, plane) into its dataset: Image Comments, Image
    Type, the private block and the app's capture record. Side and body part stay (they name the series)."""
    comment = labels.describe()
    if comment:
        ds.ImageComments = comment[:10240]
    elif "ImageComments" in ds:
        del ds.ImageComments
    ds.ImageType = image_type(labels)
    block = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR, create=True)
    for offset, value in (
        (_PRIV_PROTOCOL_ID, labels.protocol_id),
        (_PRIV_STEP_ID, labels.step_id),
        (_PRIV_PLANE, labels.plane),
    ):
        if value:
            block.add_new(offset, "LO", value)
        elif offset in block:
            del ds[block.get_tag(offset)]
    record = read_capture_json(ds) or {}
    record["labels"] = labels.to_json()
    block.add_new(_PRIV_CAPTURE_JSON, "UT", json.dumps(record))


def capture_json(
    study: Study,
    kind: CaptureKind,
    labels: CaptureLabels,
    annotations: Sequence[JsonDict],
    taken_at: datetime,
) -> JsonDict:
    """The app's own record of a capture, stored inside the DICOM file (private block)."""
    return {
        "kind": kind.value,
        "taken_at": taken_at.isoformat(),
        "labels": labels.to_json(),
        "annotations": list(annotations),
        "study": {
            "operator": study.operator,
            "trainee": study.trainee,
            "supervisor": study.supervisor,
            "protocol_id": study.protocol_id,
            "started_at": study.started_at.isoformat(),
            "patient": study.patient.to_json(),
            "study_id": study.study_id,
            "description": study.description,
            "accession_number": study.accession_number,
        },
    }


def read_capture_json(ds: Dataset) -> JsonDict | None:
    """The app's private capture record from a dataset, or None if it has none."""
    try:
        block = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR)
    except KeyError:
        return None
    if _PRIV_CAPTURE_JSON not in block:
        return None
    value: Any = json.loads(str(block[_PRIV_CAPTURE_JSON].value))
    return value if isinstance(value, dict) else None


# US Image Type value 4 (PS3.3 C.8.5.6.1.1): the sum of the modes shown, in hex; 2D imaging is 0001,
# PW Doppler 0008, colour Doppler 0010, colour power mode 0100.
IMAGE_TYPE_MODES = {
    ImagingMode.BMODE: "0001",
    ImagingMode.COLOR_DOPPLER: "0011",
    ImagingMode.POWER_DOPPLER: "0101",
    ImagingMode.SPECTRAL_DOPPLER: "0009",
}


def image_type(labels: CaptureLabels) -> list[str]:
    """Image Type: value 3 the exam type (from the labels, else the body part), value 4 the modes
    shown (2D, plus colour, power or PW Doppler as the capture was taken)."""
    exam_type = labels.exam_type or ("MUSCULOSKELETAL" if labels.body_part in _MSK_BODY_PARTS else "")
    if not exam_type:
        return ["ORIGINAL", "PRIMARY"]
    return ["ORIGINAL", "PRIMARY", exam_type, IMAGE_TYPE_MODES[ImagingMode(labels.imaging_mode)]]


def pixel_aspect_ratio(spacing_mm: tuple[float, float]) -> tuple[int, int] | None:
    """Pixel Aspect Ratio (vertical, horizontal) as small integers, or None for square pixels."""
    axial_mm, lateral_mm = spacing_mm
    ratio = Fraction(axial_mm / lateral_mm).limit_denominator(10_000)
    if ratio == 1:
        return None
    return ratio.numerator, ratio.denominator


def frame_intervals_ms(frames: Sequence[Frame]) -> list[float]:
    """The time between consecutive frames, from the probe clock (the host clock if the probe's does
    not advance); empty when there is only one frame or neither clock can tell."""
    if len(frames) < 2:
        return []
    device = [f.device_time_us / 1000.0 for f in frames]
    host = [f.host_time_ns / 1e6 for f in frames]
    for times in (device, host):
        intervals = [b - a for a, b in itertools.pairwise(times)]
        if all(d > 0 for d in intervals):
            return intervals
    return []


def geometry_runs(frames: Sequence[Frame]) -> list[list[Frame]]:
    """Split frames where the image size or calibration changes (a depth change during a clip):
    each run can be one multi-frame image."""
    runs: list[list[Frame]] = []
    for frame in frames:
        if runs and (
            frame.pixels.shape == runs[-1][0].pixels.shape and frame.spacing_mm == runs[-1][0].spacing_mm
        ):
            runs[-1].append(frame)
        else:
            runs.append([frame])
    return runs


def first_frame(ds: Dataset) -> npt.NDArray[np.uint8]:
    """The first frame of a still or a clip of any length (pydicom gives a one-frame clip as 2-D) as a
    viewer shows it: grey (rows, cols), or for a colour (Doppler) image RGB (rows, cols, 3) with its
    colour box and bar (pydicom gives YBR as RGB)."""
    pixels = np.asarray(ds.pixel_array)
    grey_or_rgb = 2 if int(ds.get("SamplesPerPixel", 1)) == 1 else 3
    return np.asarray(pixels if pixels.ndim == grey_or_rgb else pixels[0], dtype=np.uint8)


def encode_dataset(ds: Dataset) -> bytes:
    """The Part 10 file bytes of a dataset (made in memory, so a disk error cannot half-encode)."""
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
