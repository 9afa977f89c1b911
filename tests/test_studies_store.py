"""StudyStore: DICOM content and calibration, validity, the index and its rebuild, full disk, bad input."""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import os
import sqlite3
import subprocess
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pydicom
import pytest

from scanner_app.studies import Patient, Study, StudyCaptureError, StudyError, StudyStore, rebuild_index
from scanner_app.studies.dicom_writer import (
    PRIVATE_CREATOR,
    US_IMAGE_STORAGE,
    US_MULTIFRAME_IMAGE_STORAGE,
    read_capture_json,
)
from tests.studies_support import PROBE, SPACING_MM, dciodvfy, make_frame

KNEE_LABELS = {
    "laterality": "R",
    "body_part": "KNEE",
    "protocol_id": "knee-anterior",
    "step_id": "2",
    "step_title": "Suprapatellar recess",
    "plane": "long axis",
}
MEASURE = {"kind": "distance", "label": "effusion depth", "value_mm": 4.2, "points_px": [[10, 5], [31, 5]]}


def _patient() -> Patient:
    return Patient("P-123456", "Doe^Jane", "19800101", "F")


def _file_hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((root / "studies").rglob("*"))
        if p.is_file()
    }


def _temp_files(root: Path) -> list[Path]:
    return sorted((root / "studies").rglob("*.tmp"))


def test_still_and_clip_carry_calibration_labels_and_pixels(tmp_path: Path) -> None:
    store = StudyStore(tmp_path)
    study = store.start_study(_patient(), "Smith^Olivia", trainee="Lee^Tom", supervisor="Khan^Ada")
    frame = make_frame(1)
    still = store.save_still(study, frame, KNEE_LABELS, [MEASURE])
    clip_frames = [make_frame(i) for i in range(10, 16)]
    clip = store.save_clip(study, clip_frames, {"laterality": "R", "body_part": "KNEE"})

    ds = store.read_dataset(still)
    assert ds.SOPClassUID == US_IMAGE_STORAGE
    assert ds.file_meta.MediaStorageSOPClassUID == US_IMAGE_STORAGE
    assert ds.PhotometricInterpretation == "MONOCHROME2"
    assert (ds.BitsAllocated, ds.BitsStored, ds.SamplesPerPixel) == (8, 8, 1)
    np.testing.assert_array_equal(ds.pixel_array, frame.pixels)
    (region,) = ds.SequenceOfUltrasoundRegions
    assert (region.PhysicalUnitsXDirection, region.PhysicalUnitsYDirection) == (3, 3)
    # cm per pixel; X runs across the image (lateral), Y down it (axial)
    assert region.PhysicalDeltaX * 10 == pytest.approx(SPACING_MM[1])
    assert region.PhysicalDeltaY * 10 == pytest.approx(SPACING_MM[0])
    assert (region.RegionLocationMaxX1, region.RegionLocationMaxY1) == (frame.cols - 1, frame.rows - 1)
    assert "PixelSpacing" not in ds
    assert ds.ImageLaterality == "R"
    assert ds.BodyPartExamined == "KNEE"
    assert "Suprapatellar recess" in ds.ImageComments and "long axis" in ds.ImageComments
    assert str(ds.OperatorsName) == "Smith^Olivia"
    assert (ds.Manufacturer, ds.ManufacturerModelName, ds.DeviceSerialNumber) == (
        PROBE.vendor,
        PROBE.model,
        PROBE.serial,
    )
    assert ds.BurnedInAnnotation == "NO"
    assert str(ds.PatientName) == "Doe^Jane" and ds.PatientID == "P-123456"
    own = read_capture_json(ds)
    assert own is not None
    assert own["annotations"] == [MEASURE]
    assert own["labels"]["plane"] == "long axis"
    assert own["study"]["trainee"] == "Lee^Tom" and own["study"]["supervisor"] == "Khan^Ada"
    assert ds.private_block(0x0011, PRIVATE_CREATOR)[0x11].value == "2"

    cds = store.read_dataset(clip)
    assert cds.SOPClassUID == US_MULTIFRAME_IMAGE_STORAGE
    assert int(cds.NumberOfFrames) == len(clip_frames)
    assert cds.FrameIncrementPointer == pydicom.tag.Tag("FrameTime")
    assert float(cds.FrameTime) == pytest.approx(40.0)
    assert int(cds.CineRate) == 25
    np.testing.assert_array_equal(cds.pixel_array, np.stack([f.pixels for f in clip_frames]))
    assert cds.SequenceOfUltrasoundRegions[0].PhysicalDeltaY * 10 == pytest.approx(SPACING_MM[0])
    assert cds.StudyInstanceUID == ds.StudyInstanceUID == study.study_uid
    store.close()


def test_every_file_passes_dciodvfy(tmp_path: Path) -> None:
    store = StudyStore(tmp_path)
    study = store.start_study(Patient("P-9", "Müller^Zoë", "19991231", "O"), "Øster^Åsa", protocol_id="ankle")
    still = store.save_still(study, make_frame(1, 64, 40, (0.1, 0.15)), KNEE_LABELS, [MEASURE])
    practice = store.start_study(Patient.practice(), "Op^One")
    bare_practice = store.save_still(practice, make_frame(3))
    clip = store.save_clip(
        study, [make_frame(i) for i in range(4)], {"laterality": "L", "body_part": "ANKLE"}
    )
    bare = store.save_still(study, make_frame(9))  # no labels at all
    report: dict[str, list[str]] = {}
    for record in (still, clip, bare, bare_practice):
        errors, warnings = dciodvfy(store.capture_path(record))
        assert errors == [], f"{record.path}: {errors}"
        report[record.path] = warnings
    # Warnings we accept: our private block, which dciodvfy cannot know, and the empty series Laterality
    # of a capture whose side was not given (empty is the honest value for "unknown").
    for path, warnings in report.items():
        for line in warnings:
            private = "(0x0011," in line and "Unrecognized tag" in line
            unknown_side = "attribute <Laterality>" in line and path in (bare.path, bare_practice.path)
            assert private or unknown_side, f"{path}: {line}"
        print(path, warnings)
    store.close()


def test_index_lists_studies_and_survives_rebuild(tmp_path: Path) -> None:
    store = StudyStore(tmp_path)
    study = store.start_study(_patient(), "Op^One", protocol_id="knee-anterior")
    store.save_still(study, make_frame(1), KNEE_LABELS, [MEASURE])
    store.save_still(study, make_frame(2), {**KNEE_LABELS, "laterality": "L"})
    store.save_clip(study, [make_frame(i) for i in range(3)], KNEE_LABELS)
    store.end_study(study, {"protocol_id": "knee-anterior", "findings": ["small effusion"]})
    before = store.list_studies()
    store.close()

    report = rebuild_index(tmp_path)
    assert report.index_rebuilt and len(report.captures_added) == 3
    with StudyStore(tmp_path) as again:
        after = again.list_studies()
        assert len(after) == 1
        assert [c.sop_instance_uid for c in after[0].captures] == [
            c.sop_instance_uid for c in before[0].captures
        ]
        assert after[0].captures == before[0].captures
        assert after[0].protocol_record == {"protocol_id": "knee-anterior", "findings": ["small effusion"]}
        series = {(c.labels.laterality, c.kind.value): c.series_uid for c in after[0].captures}
        assert len(set(series.values())) == 3  # R still, L still, R clip


def test_corrupt_index_is_rebuilt_and_study_json_loss_is_survivable(tmp_path: Path) -> None:
    store = StudyStore(tmp_path)
    study = store.start_study(_patient(), "Op^One", trainee="Lee^Tom")
    rec = store.save_still(study, make_frame(1), KNEE_LABELS, [MEASURE])
    store.close()
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"index.sqlite{suffix}").unlink(missing_ok=True)
    (tmp_path / "index.sqlite").write_bytes(b"this is not a database" * 100)
    (tmp_path / study.directory / "study.json").unlink()
    with StudyStore(tmp_path) as again:
        assert again.last_reconcile.index_rebuilt
        (got,) = again.list_studies()
        assert got.patient == study.patient and got.trainee == "Lee^Tom"
        assert got.captures[0].annotations == (MEASURE,)
        assert got.captures[0].sop_instance_uid == rec.sop_instance_uid


class _FullDiskAfterHalf:
    """A writer that behaves like a disk filling up part-way through a file."""

    def __init__(self) -> None:
        self.full = False

    def __call__(self, fh: BinaryIO, payload: bytes) -> None:
        if self.full:
            fh.write(payload[: len(payload) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        fh.write(payload)


def test_full_disk_fails_clearly_and_damages_nothing(tmp_path: Path) -> None:
    writer = _FullDiskAfterHalf()
    store = StudyStore(tmp_path, write_bytes=writer)
    study = store.start_study(_patient(), "Op^One")
    kept = [store.save_still(study, make_frame(i), KNEE_LABELS) for i in range(3)]
    hashes = _file_hashes(tmp_path)

    writer.full = True
    with pytest.raises(StudyCaptureError) as err:
        store.save_clip(study, [make_frame(i) for i in range(5)], KNEE_LABELS)
    message = str(err.value)
    assert "0004-clip.dcm" in message and "disk is full" in message
    assert _temp_files(tmp_path) == []
    assert _file_hashes(tmp_path) == hashes
    assert store.list_captures() == kept
    with pytest.raises(StudyCaptureError, match=r"study\.json.*disk is full"):
        store.end_study(study, {"findings": []})
    assert _file_hashes(tmp_path) == hashes

    writer.full = False  # space freed: capturing goes on with the next number
    again = store.save_still(study, make_frame(7))
    assert again.instance_number == 4
    store.close()


@pytest.mark.parametrize(
    ("side_px", "expected"),
    [
        (112, "the disk is full (no space left on device)"),  # big clips: the image file cannot be written
        (64, "database or disk is full"),  # small clips: the index cannot grow first
    ],
)
def test_real_full_filesystem(tmp_path: Path, side_px: int, expected: str) -> None:
    """A tiny tmpfs filled by real captures: the failing one is refused cleanly, the rest are intact."""
    mount_dir = tmp_path / "tiny"
    mount_dir.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.strip()}")
    store: StudyStore | None = None
    try:
        store = StudyStore(mount_dir)
        study = store.start_study(_patient(), "Op^One")
        saved = []
        error: StudyCaptureError | None = None
        for i in range(200):
            try:
                saved.append(
                    store.save_clip(study, [make_frame(i * 10 + k, side_px, side_px) for k in range(3)])
                )
            except StudyCaptureError as exc:
                error = exc
                break
        assert error is not None, "the 256 kB filesystem never filled up"
        assert len(saved) >= 2
        assert expected in str(error), str(error)
        assert str(mount_dir) in str(error)
        assert _temp_files(mount_dir) == []
        for record in saved:
            ds = pydicom.dcmread(store.capture_path(record))
            assert int(ds.NumberOfFrames) == 3
        assert [c.sop_instance_uid for c in store.list_captures()] == [c.sop_instance_uid for c in saved]
        store.close()
        store = None
        with StudyStore(mount_dir) as reopened:
            assert reopened.last_reconcile.captures_added == ()
            assert len(reopened.list_captures()) == len(saved)
    finally:
        if store is not None:
            store.close()  # an open index would keep the mount busy
        subprocess.run(["umount", str(mount_dir)], check=True)


def test_bad_input_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    store = StudyStore(tmp_path)
    study = store.start_study(_patient(), "Op^One")
    with pytest.raises(StudyError, match="unknown capture label"):
        store.save_still(study, make_frame(1), {"side": "R"})
    with pytest.raises(StudyError, match="laterality"):
        store.save_still(study, make_frame(1), {"laterality": "left"})
    with pytest.raises(StudyCaptureError, match=r"frame 1 \(seq 2\).*one image size"):
        store.save_clip(study, [make_frame(1), make_frame(2, rows=50)])
    with pytest.raises(StudyError, match="annotations is not JSON"):
        store.save_still(study, make_frame(1), annotations=[{"x": object()}])
    with pytest.raises(StudyError, match="patient_id"):
        Patient("")
    with pytest.raises(StudyError, match="birth_date"):
        Patient("X", birth_date="1980-01-01")
    assert store.list_captures() == []
    assert list((tmp_path / study.directory).glob("*.dcm")) == []
    store.end_study(study, {"findings": []})
    with pytest.raises(StudyError, match="has ended"):
        store.save_still(study, make_frame(1))
    store.close()


def test_unknown_study_is_refused(tmp_path: Path) -> None:
    store = StudyStore(tmp_path / "a")
    other = StudyStore(tmp_path / "b")
    study = other.start_study(_patient(), "Op^One")
    with pytest.raises(StudyError, match="not in this store"):
        store.save_still(study, make_frame(1))
    store.close()
    other.close()


def test_index_matches_files_exactly(tmp_path: Path) -> None:
    store = StudyStore(tmp_path)
    study = store.start_study(_patient(), "Op^One")
    for i in range(3):
        store.save_still(study, make_frame(i))
    indexed = {c.path for c in store.list_captures()}
    on_disk = {str(p.relative_to(tmp_path)) for p in (tmp_path / "studies").rglob("*.dcm")}
    assert indexed == on_disk
    conn = sqlite3.connect(tmp_path / "index.sqlite")
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()
    # A file deleted by hand is dropped from the index when the store next opens.
    (tmp_path / sorted(indexed)[0]).unlink()
    store.close()
    with StudyStore(tmp_path) as again:
        assert again.last_reconcile.captures_missing == (sorted(indexed)[0],)
        assert len(again.list_captures()) == 2


def test_a_damaged_file_the_index_dropped_is_never_overwritten(tmp_path: Path) -> None:
    store = StudyStore(tmp_path)
    study = store.start_study(Patient("P1", "A^B"), "Op^One")
    store.save_still(study, make_frame(1))
    second = store.save_still(study, make_frame(2))
    store.close()
    damaged = tmp_path / second.path
    data = bytearray(damaged.read_bytes())
    data[128:132] = b"XXXX"  # not DICOM any more: reconciling drops it from the index
    damaged.write_bytes(bytes(data))
    rebuild_index(tmp_path)
    with StudyStore(tmp_path) as store:
        third = store.save_still(store.get_study(study.study_uid), make_frame(3))
        assert third.instance_number == 3 and third.path != second.path
    assert damaged.read_bytes() == bytes(data)  # kept as it was, for a person to look at


def test_a_study_kept_before_the_dicom_limits_were_checked_still_lists_its_captures(tmp_path: Path) -> None:
    """A study.json written by an older version with a value the checks now refuse (a 70-character name,
    a 17-character accession) is read back as it is: its captures stay listed, before and after a rebuild."""
    store = StudyStore(tmp_path)
    study = store.start_study(_patient(), "Op^One")
    store.save_still(study, make_frame(1), KNEE_LABELS)
    store.close()
    json_path = tmp_path / study.directory / "study.json"
    kept = json.loads(json_path.read_text(encoding="utf-8"))
    kept["patient"]["name"] = "Long" * 17 + "^Al"
    kept["accession_number"] = "A" * 17
    json_path.write_text(json.dumps(kept), encoding="utf-8")
    with pytest.raises(ValueError, match="accession_number"):  # the same value typed anew is refused
        dataclasses.replace(Study.from_json(kept))

    rebuild_index(tmp_path)
    with StudyStore(tmp_path) as again:
        (listed,) = again.list_studies()
        assert listed.patient.name == "Long" * 17 + "^Al"
        assert listed.accession_number == "A" * 17
        assert len(listed.captures) == 1
