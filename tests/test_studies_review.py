"""The study store's review verbs: a dual (split screen) image with one calibrated region per half,
deleting a capture (file, index, send queue) and relabelling it (file and index), and an exam kept open."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pydicom
import pytest

from scanner_app.dual_image import DUAL_GAP_PX
from scanner_app.studies import Patient, StudyStore
from scanner_app.studies.model import Study, StudyError
from tests.studies_support import SETTINGS, dciodvfy, make_frame

LABELS = {"laterality": "R", "body_part": "LEG", "exam_type": "VASCULAR", "protocol_id": "dvt_whole_leg",
          "step_id": "cfv_compression", "step_title": "Common femoral vein — compression",
          "plane": "transverse"}  # fmt: skip


def _store(tmp_path: Path) -> tuple[StudyStore, Study]:
    store = StudyStore(tmp_path)
    return store, store.start_study(Patient("DVT-1", "Doe^Jane", "19650114", "F"), "Op^One")


@pytest.mark.parametrize("right_depth", [40.0, 60.0], ids=["same depth", "deeper right half"])
def test_a_dual_image_is_one_still_with_a_calibrated_region_per_half(
    tmp_path: Path, right_depth: float
) -> None:
    store, study = _store(tmp_path)
    left = make_frame(1, 64, 40, (0.25, 0.3))
    deeper = right_depth / SETTINGS.depth_mm
    right = dataclasses.replace(
        make_frame(2, round(64 * deeper), 40, (0.25 * deeper, 0.3)),
        settings=dataclasses.replace(SETTINGS, depth_mm=right_depth),
    )
    record = store.save_dual(study, left, right, LABELS)
    assert record.kind.value == "still" and record.number_of_frames == 1
    assert len(store.list_captures(study.study_uid)) == 1

    ds = pydicom.dcmread(store.capture_path(record))
    assert "NumberOfFrames" not in ds
    assert (ds.Rows, ds.Columns) == (max(left.rows, right.rows), 40 + DUAL_GAP_PX + 40)
    regions = ds.SequenceOfUltrasoundRegions
    assert len(regions) == 2
    x_right = 40 + DUAL_GAP_PX
    for region, frame, x0 in ((regions[0], left, 0), (regions[1], right, x_right)):
        # Each region covers exactly its half and measures in that half's own mm per pixel.
        assert (region.RegionLocationMinX0, region.RegionLocationMaxX1) == (x0, x0 + frame.cols - 1)
        assert (region.RegionLocationMinY0, region.RegionLocationMaxY1) == (0, frame.rows - 1)
        assert region.PhysicalDeltaY * 10 == pytest.approx(frame.spacing_mm[0])
        assert region.PhysicalDeltaX * 10 == pytest.approx(frame.spacing_mm[1])
        np.testing.assert_array_equal(
            ds.pixel_array[: frame.rows, x0 : x0 + frame.cols], np.asarray(frame.pixels)
        )
    assert regions[0].RegionLocationMaxX1 < regions[1].RegionLocationMinX0  # they never overlap
    assert ds.DepthOfScanField == round(max(SETTINGS.depth_mm, right_depth))
    errors, warnings = dciodvfy(store.capture_path(record))
    assert errors == [], errors
    assert all("(0x0011," in w and "Unrecognized tag" in w for w in warnings), warnings
    store.close()


def test_deleting_a_capture_removes_its_file_and_index_row_for_good(tmp_path: Path) -> None:
    store, study = _store(tmp_path)
    kept = store.save_still(study, make_frame(1), LABELS)
    gone = store.save_still(study, make_frame(2), LABELS)
    store.delete_capture(gone.sop_instance_uid)
    assert not store.capture_path(gone).exists() and store.capture_path(kept).exists()
    assert [c.sop_instance_uid for c in store.list_captures(study.study_uid)] == [kept.sop_instance_uid]
    store.close()
    # Opening again (a reconcile of files and index) does not bring it back.
    reopened = StudyStore(tmp_path)
    assert [c.sop_instance_uid for c in reopened.list_captures()] == [kept.sop_instance_uid]
    with pytest.raises(StudyError, match="no capture"):
        reopened.delete_capture(gone.sop_instance_uid)
    reopened.close()


def test_relabelling_rewrites_the_file_and_the_index_and_survives_a_rebuild(tmp_path: Path) -> None:
    store, study = _store(tmp_path)
    record = store.save_still(study, make_frame(1), LABELS)
    moved = {**LABELS, "step_id": "popliteal", "step_title": "Popliteal vein", "plane": "long axis"}
    store.relabel_capture(record.sop_instance_uid, moved)
    ds = pydicom.dcmread(store.capture_path(record))
    assert ds.SOPInstanceUID == record.sop_instance_uid  # the same image, new labels
    assert "step popliteal Popliteal vein" in ds.ImageComments and "plane long axis" in ds.ImageComments
    assert ds.ImageLaterality == "R" and ds.BodyPartExamined == "LEG"
    (indexed,) = store.list_captures(study.study_uid)
    assert (indexed.labels.step_id, indexed.labels.plane) == ("popliteal", "long axis")
    errors, _ = dciodvfy(store.capture_path(record))
    assert errors == []
    store.close()
    rebuilt = StudyStore(tmp_path, rebuild=True)  # the file alone carries the new labels
    (again,) = rebuilt.list_captures()
    assert (again.labels.step_id, again.labels.step_title) == ("popliteal", "Popliteal vein")
    rebuilt.close()


def test_an_exam_kept_open_keeps_its_record_without_an_end(tmp_path: Path) -> None:
    store, study = _store(tmp_path)
    store.keep_open(study, {"steps": [{"step_id": "cfv", "findings": ["normal"]}]})
    again = store.get_study(study.study_uid)
    assert again.ended_at is None and again.protocol_record["steps"][0]["findings"] == ["normal"]
    store.close()
