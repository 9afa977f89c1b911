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
