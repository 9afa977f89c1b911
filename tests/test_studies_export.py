"""De-identified export: no identifier survives anywhere in the files; images and calibration do."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from scanner_app.studies import Patient, StudyError, StudyStore
from scanner_app.studies.export import export_deidentified
from tests.studies_support import dciodvfy, make_frame

PATIENT = Patient("MRN-7734521", "Zebedee^Quintessa", "19761231", "F")


def _walk_values(ds: Dataset) -> list[str]:
    """Every element's value as text, descending into every sequence item (file meta included)."""
    values: list[str] = []

    def visit(d: Dataset) -> None:
        for elem in d:
            if elem.VR == "SQ":
                for item in elem.value:
                    visit(item)
            elif elem.tag != 0x7FE00010:  # pixel data: compared separately
                values.append(str(elem.value))

    visit(ds.file_meta)
    visit(ds)
    return values


def test_export_contains_no_identifier_anywhere(tmp_path: Path) -> None:
    store = StudyStore(tmp_path / "store")
    study = store.start_study(
        PATIENT,
        "Operatorian^Olga",
        trainee="Traineeson^Tim",
        supervisor="Supervisa^Sue",
        accession_number="ACC-99123",
        description="Knee pain Zebedee",
    )
    labels = {
        "laterality": "R",
        "body_part": "KNEE",
        "protocol_id": "knee",
        "step_id": "1",
        "plane": "long axis",
    }
    originals = [
        store.save_still(
            study,
            make_frame(1),
            labels,
            [
                # free text typed on the image or as a label may name the patient
                {
                    "type": "annotations",
                    "texts": [{"text": "Zebedee MRN-7734521 knee", "x_mm": 1, "y_mm": 2}],
                },
                {"type": "measurement", "kind": "distance", "label": "Quintessa cyst", "value_mm": 3.5},
                {"type": "measurement", "kind": "distance", "label": "A", "distance_mm": 4.25},
            ],
        ),
        store.save_clip(study, [make_frame(i) for i in range(2, 6)], labels),
    ]
    result = export_deidentified(store, study.study_uid, tmp_path / "teaching", date_shift_days=-400)

    forbidden = (
        [
            "Zebedee",
            "Quintessa",
            "MRN-7734521",
            "19761231",
            "Operatorian",
            "Traineeson",
            "Supervisa",
            "ACC-99123",
            study.study_id,
            study.study_uid,
            study.started_at.strftime("%Y%m%d"),
            "SN-0042",
            "SCANNER_APP",
        ]
        + [c.sop_instance_uid for c in originals]
        + [c.series_uid for c in originals]
    )
    assert len(result.files) == 2
    for path, original in zip(result.files, originals, strict=True):
        ds = pydicom.dcmread(path)
        values = _walk_values(ds)
        for needle in forbidden:
            hits = [v for v in values if needle.lower() in v.lower()]
            assert not hits, f"{path.name}: {needle!r} found in {hits}"
        raw = path.read_bytes()
        for needle in forbidden:
            assert needle.encode() not in raw, f"{path.name}: {needle!r} in the file bytes"
        assert not any(elem.tag.is_private for elem in ds.iterall())
        assert ds.PatientIdentityRemoved == "YES"
        assert ds.PatientName == f"{result.pseudonym}^TEACHING" and ds.PatientID == result.pseudonym
        assert "Basic Application" in ds.DeidentificationMethodCodeSequence[0].CodeMeaning
        src = store.read_dataset(original)
        np.testing.assert_array_equal(ds.pixel_array, src.pixel_array)
        assert (
            ds.SequenceOfUltrasoundRegions[0].PhysicalDeltaX
            == src.SequenceOfUltrasoundRegions[0].PhysicalDeltaX
        )
        assert ds.StudyDate != src.StudyDate and len(ds.StudyDate) == 8
        assert "long axis" in ds.ImageComments
        errors, warnings = dciodvfy(path)
        assert errors == [] and warnings == [], errors + warnings
    a, b = (pydicom.dcmread(p) for p in result.files)
    assert a.StudyInstanceUID == b.StudyInstanceUID  # replaced consistently
    manifest = result.manifest.read_text()
    for needle in forbidden:
        assert needle not in manifest
    kept = json.loads(manifest)["captures"][0]["measurements"]
    assert kept == [
        {"kind": "distance", "value_mm": 3.5},
        {"kind": "distance", "distance_mm": 4.25, "label": "A"},
    ]
    store.close()


def test_export_of_an_empty_study_is_refused(tmp_path: Path) -> None:
    store = StudyStore(tmp_path / "store")
    study = store.start_study(PATIENT, "Op^One")
    with pytest.raises(StudyError, match="no captures"):
        export_deidentified(store, study.study_uid, tmp_path / "out")
    store.close()


def _study_with_one_still(root: Path) -> tuple[StudyStore, str]:
    store = StudyStore(root)
    study = store.start_study(PATIENT, "Op^One")
    store.save_still(study, make_frame(1), {"laterality": "R", "body_part": "KNEE"})
    return store, study.study_uid


def _all_files(root: Path) -> dict[Path, bytes]:
    """Every file but the index's (reading it changes SQLite's shared-memory file)."""
    return {
        p: p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith("index.sqlite")
    }


@pytest.mark.parametrize(
    ("where", "says"),
    [
        (lambda root, uid: root, "inside the study folder"),  # the store's own folder
        (lambda root, uid: root / "studies" / uid, "inside the study folder"),  # the study's images
        (lambda root, uid: root / "studies" / uid / "teaching", "inside the study folder"),
        (lambda root, uid: root / "studies", "inside the study folder"),
        (lambda root, uid: root.parent, "is not empty"),  # holds the study folder
    ],
)
def test_export_never_writes_into_a_study_folder(tmp_path: Path, where: object, says: str) -> None:
    store, uid = _study_with_one_still(tmp_path / "store")
    try:
        assert callable(where)
        before = _all_files(tmp_path)
        with pytest.raises(StudyError, match=says):
            export_deidentified(store, uid, where(store.root, uid))
        after = _all_files(tmp_path)
        assert after == before  # clinical originals untouched, nothing added
    finally:
        store.close()


def test_export_into_another_apps_study_folder_is_refused(tmp_path: Path) -> None:
    store, uid = _study_with_one_still(tmp_path / "store")
    other = StudyStore(tmp_path / "other")
    other.close()
    try:
        with pytest.raises(StudyError, match="inside the study folder"):
            export_deidentified(store, uid, tmp_path / "other" / "studies" / "teaching")
        assert not (tmp_path / "other" / "studies" / "teaching").exists()
    finally:
        store.close()


def test_a_second_export_into_the_same_folder_is_refused(tmp_path: Path) -> None:
    store, uid = _study_with_one_still(tmp_path / "store")
    try:
        first = export_deidentified(store, uid, tmp_path / "teaching")
        kept = _all_files(tmp_path / "teaching")
        with pytest.raises(StudyError, match="is not empty"):
            export_deidentified(store, uid, tmp_path / "teaching")
        assert _all_files(tmp_path / "teaching") == kept
        assert set(kept) == {*first.files, first.manifest}
    finally:
        store.close()


def test_export_never_replaces_a_file_that_appears_after_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name is taken between the emptiness check and the write: link semantics refuse it."""
    import scanner_app.studies.export as export_module

    store, uid = _study_with_one_still(tmp_path / "store")
    target = tmp_path / "teaching"
    squatter = target / "0001-still.dcm"
    original_check = export_module.check_export_folder

    def check_then_race(store_: StudyStore, out_dir: Path) -> None:
        original_check(store_, out_dir)
        target.mkdir()
        squatter.write_bytes(b"someone else's file")

    monkeypatch.setattr(export_module, "check_export_folder", check_then_race)
    try:
        with pytest.raises(StudyError, match=r"0001-still\.dcm"):
            export_deidentified(store, uid, target)
        assert squatter.read_bytes() == b"someone else's file"
    finally:
        store.close()
