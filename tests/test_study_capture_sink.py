"""StudyCaptureSink: the window's captures stored as DICOM in the current study, with all their context."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pydicom
import pytest

from scanner_app.capture import CaptureSinkError
from scanner_app.studies import Patient, StudyStore
from scanner_app.studies.capture_sink import StudyCaptureSink
from scanner_app.studies.dicom_writer import read_capture_json
from tests.studies_support import dciodvfy, make_frame

UI_LABELS = {
    "preset": "Knee",
    "body_region": "Knee",
    "side": "R",
    "grey_map": "linear",
    "probe": "SimSound L12-Sim SN-0042",
    "laterality": "R",
    "body_part": "KNEE",
    "protocol_id": "knee",
    "step_id": "patellar_tendon",
    "step_title": "Patellar tendon",
    "plane": "long axis",
}
ANNOTATIONS = {"texts": [{"text": "PT", "x_mm": 5.0, "y_mm": 6.0}], "body_marker": {"region": "Knee"}}
MEASUREMENTS = [{"label": "A", "kind": "distance", "points_mm": [[0, 0], [3, 4]], "distance_mm": 5.0}]


@pytest.fixture
def store(tmp_path: Path):
    with StudyStore(tmp_path / "store") as s:
        yield s


def test_still_and_clip_are_dicom_with_labels_and_the_rest_in_the_json(store: StudyStore) -> None:
    study = store.start_study(Patient("P-9", "Doe^J"), "Op^One", protocol_id="knee")
    sink = StudyCaptureSink(store, lambda: study)
    still = sink.save_still(make_frame(1), UI_LABELS, ANNOTATIONS, MEASUREMENTS)
    clip = sink.save_clip([make_frame(i) for i in range(2, 7)], UI_LABELS, {}, [])
    assert (still.kind, still.frame_count, clip.kind, clip.frame_count) == ("still", 1, "clip", 5)
    ds = pydicom.dcmread(still.location)
    assert ds.ImageLaterality == "R" and ds.BodyPartExamined == "KNEE"
    assert (
        "step patellar_tendon Patellar tendon" in ds.ImageComments and "plane long axis" in ds.ImageComments
    )
    assert ds.SOPInstanceUID == still.capture_id and ds.StudyInstanceUID == study.study_uid
    own = read_capture_json(ds)
    assert own is not None
    entries = own["annotations"]
    ui = next(e for e in entries if e["type"] == "ui_labels")
    assert ui == {"type": "ui_labels", "preset": "Knee", "body_region": "Knee", "side": "R",
                  "grey_map": "linear", "probe": "SimSound L12-Sim SN-0042"}  # fmt: skip
    assert next(e for e in entries if e["type"] == "annotations")["texts"][0]["text"] == "PT"
    measurement = next(e for e in entries if e["type"] == "measurement")
    assert measurement["value_mm"] == 5.0 and measurement["label"] == "A"
    clip_ds = pydicom.dcmread(clip.location)
    assert int(clip_ds.NumberOfFrames) == 5 and clip_ds.ImageLaterality == "R"
    assert [c.kind.value for c in store.get_study(study.study_uid).captures] == ["still", "clip"]
    json.dumps(entries)


def test_captures_from_two_threads_at_once_all_arrive(store: StudyStore) -> None:
    study = store.start_study(Patient.practice(), "Op^One")
    sink = StudyCaptureSink(store, lambda: study)
    errors: list[BaseException] = []

    def take(base: int) -> None:
        try:
            for i in range(5):
                sink.save_still(make_frame(base + i), {"laterality": "L"}, {}, [])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=take, args=(b,)) for b in (0, 100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == []
    numbers = sorted(c.instance_number for c in store.list_captures(study.study_uid))
    assert numbers == list(range(1, 11))


def test_store_errors_become_capture_errors_with_the_stores_message(store: StudyStore) -> None:
    study = store.start_study(Patient.practice(), "Op^One")
    store.end_study(study)
    sink = StudyCaptureSink(store, lambda: study)
    with pytest.raises(CaptureSinkError, match="has ended"):
        sink.save_still(make_frame(1), {}, {}, [])
    with pytest.raises(CaptureSinkError, match="laterality 'X'"):
        StudyCaptureSink(store, lambda: store.start_study(Patient.practice(), "Op")).save_still(
            make_frame(1), {"laterality": "X"}, {}, []
        )
    with pytest.raises(CaptureSinkError, match="empty"):
        sink.save_clip([], {}, {}, [])
    assert store.list_captures() == []


def test_clip_across_a_depth_change_keeps_every_part_in_one_series(store: StudyStore) -> None:
    """Issue 11 item 14: a depth change mid-clip used to trim the clip to the frames after the change."""
    study = store.start_study(Patient.practice(), "Op^One")
    sink = StudyCaptureSink(store, lambda: study)
    frames = [make_frame(1, rows=40), make_frame(2, rows=40), make_frame(3, spacing_mm=(0.25, 0.3))]
    frames += [make_frame(4), make_frame(5)]
    record = sink.save_clip(frames, {}, {}, [])
    assert record.frame_count == 5
    assert "depth changed" in record.note and "3 clips" in record.note and "2 + 1 + 2 frames" in record.note
    captures = store.list_captures(study.study_uid)
    assert [c.number_of_frames for c in captures] == [2, 1, 2]
    assert record.location == str(store.capture_path(captures[0]))
    datasets = [store.read_dataset(c) for c in captures]
    assert len({str(ds.SeriesInstanceUID) for ds in datasets}) == 1  # one series, three instances
    np.testing.assert_array_equal(datasets[0].pixel_array, np.stack([f.pixels for f in frames[:2]]))
    np.testing.assert_array_equal(datasets[1].pixel_array, frames[2].pixels)  # a one-frame clip
    np.testing.assert_array_equal(datasets[2].pixel_array, np.stack([f.pixels for f in frames[3:]]))
    assert float(datasets[1].SequenceOfUltrasoundRegions[0].PhysicalDeltaY) == pytest.approx(0.025)
    for c in captures:
        errors, _ = dciodvfy(store.capture_path(c))
        assert errors == [], errors
