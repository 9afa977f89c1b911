"""The exam's measurements as a Comprehensive SR: read back with highdicom, every measurement with
its value, UCUM unit and the image it was made on; dciodvfy-clean; stored in Orthanc with the images."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import highdicom as hd
import pydicom
import pytest
from pydicom.sr.codedict import codes

from scanner_app.studies import Patient, StudyStore, rebuild_index
from scanner_app.studies.pacs import PacsDestination, PacsSender, SendStatus
from scanner_app.studies.report import sign_and_store_report
from scanner_app.studies.structured_report import COMPREHENSIVE_SR_STORAGE, PRIVATE_SCHEME, ucum
from tests.orthanc_fixture import CALLING_AE, OrthancServer, orthanc  # noqa: F401 - fixture
from tests.report_support import EFFUSION_DEPTH_MM, run_knee_exam
from tests.studies_support import dciodvfy, make_frame


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StudyStore]:
    with StudyStore(tmp_path / "store") as s:
        yield s


def _numbers(sr: hd.sr.ComprehensiveSR) -> list[tuple[str, str, float, str, list[str], str]]:
    """(scheme, code, value, unit, referenced SOP Instance UIDs, tracking id) of every NUM in the tree."""
    found = []
    for group in sr.ContentSequence:
        if group.ValueType != "CONTAINER":
            continue
        assert group.ConceptNameCodeSequence[0].CodeValue == codes.DCM.MeasurementGroup.value
        tracking = next(i.TextValue for i in group.ContentSequence if i.ValueType == "TEXT")
        for item in group.ContentSequence:
            if item.ValueType != "NUM":
                continue
            name = item.ConceptNameCodeSequence[0]
            measured = item.MeasuredValueSequence[0]
            unit = measured.MeasurementUnitsCodeSequence[0]
            assert unit.CodingSchemeDesignator == "UCUM"
            refs = [
                ref.ReferencedSOPSequence[0].ReferencedSOPInstanceUID
                for ref in item.get("ContentSequence", [])
                if ref.ValueType == "IMAGE" and ref.RelationshipType == "INFERRED FROM"
            ]
            code = name.get("CodeValue") or name.get("LongCodeValue")
            found.append(
                (
                    name.CodingSchemeDesignator,
                    code,
                    float(measured.NumericValue),
                    unit.CodeValue,
                    refs,
                    tracking,
                )
            )
    return found


def test_every_measurement_is_in_the_sr_with_value_unit_and_image(store: StudyStore) -> None:
    exam = run_knee_exam(store)
    signed = sign_and_store_report(store, exam.study_uid, "Small suprapatellar effusion.", "Jones^Ann")
    path = store.capture_path(signed.structured)
    sr = hd.sr.ComprehensiveSR.from_dataset(pydicom.dcmread(path))
    assert sr.SOPClassUID == COMPREHENSIVE_SR_STORAGE and sr.Modality == "SR"
    assert sr.StudyInstanceUID == exam.study_uid and sr.PatientID == "KNEE-001"
    assert sr.CompletionFlag == "COMPLETE" and sr.VerificationFlag == "UNVERIFIED"
    caliper_uid = next(
        c.sop_instance_uid
        for c in store.list_captures(exam.study_uid)
        if c.instance_number == exam.caliper_image
    )
    numbers = _numbers(sr)
    # The caliper on the image (SCT Length) and the depth typed in the protocol (private code), both
    # made on the caliper's image.
    assert (codes.SCT.Length.scheme_designator, codes.SCT.Length.value, EFFUSION_DEPTH_MM, "mm",
            [caliper_uid], "A") in numbers  # fmt: skip
    assert (PRIVATE_SCHEME, "effusion_depth_mm", EFFUSION_DEPTH_MM, "mm", [caliper_uid],
            "effusion_depth_mm") in numbers  # fmt: skip
    assert len(numbers) == 2
    schemes = {s.CodingSchemeDesignator: s for s in sr.CodingSchemeIdentificationSequence}
    assert PRIVATE_SCHEME in schemes  # the private code is declared in the instance
    findings = [i.TextValue for i in sr.ContentSequence if i.ValueType == "TEXT"]
    assert any("effusion" in f.lower() for f in findings), findings
    evidence = {
        ref.ReferencedSOPInstanceUID
        for study in sr.CurrentRequestedProcedureEvidenceSequence
        for series in study.ReferencedSeriesSequence
        for ref in series.ReferencedSOPSequence
    }
    assert evidence == {caliper_uid}
    errors, warnings = dciodvfy(path)
    assert errors == []
    assert all(PRIVATE_SCHEME in w for w in warnings), (
        warnings
    )  # only: a private scheme is not a defined term


def test_sr_series_survives_an_index_rebuild(store: StudyStore) -> None:
    exam = run_knee_exam(store)
    signed = sign_and_store_report(store, exam.study_uid, "Small effusion.", "Jones^Ann")
    sr = pydicom.dcmread(store.capture_path(signed.structured))
    pdf = pydicom.dcmread(store.capture_path(signed.document))
    assert sr.SeriesInstanceUID != pdf.SeriesInstanceUID  # SR and DOC are series of their own
    root = store.root
    store.close()
    rebuild_index(root)
    with StudyStore(root) as again:
        study = again.get_study(exam.study_uid)
        assert [d.sop_instance_uid for d in study.documents] == [
            signed.document.sop_instance_uid,
            signed.structured.sop_instance_uid,
        ]
        # A second signed report goes into the same two series.
        again.sign_report(exam.study_uid, "Revised.", "Jones^Ann")
        second = again.save_structured_report(exam.study_uid, ["Revised."])
        assert second.series_uid == sr.SeriesInstanceUID


def test_an_exam_without_measurements_has_an_sr_of_its_findings(store: StudyStore) -> None:
    study = store.start_study(Patient("P-NM", "Doe^Jane"), "Op^One")
    store.save_still(study, make_frame(1))
    store.end_study(study)
    signed = sign_and_store_report(store, study.study_uid, "Normal.", "Jones^Ann")
    path = store.capture_path(signed.structured)
    sr = hd.sr.ComprehensiveSR.from_dataset(pydicom.dcmread(path))
    assert _numbers(sr) == [] and sr.StudyInstanceUID == study.study_uid and sr.PatientID == "P-NM"
    assert (
        "CurrentRequestedProcedureEvidenceSequence" not in sr  # no images referenced, not even itself
    )
    assert [i.TextValue for i in sr.ContentSequence] == ["Normal."]  # the signed impression
    errors, _ = dciodvfy(path)
    assert errors == []


def test_doppler_measurements_are_coded_and_its_settings_left_out(store: StudyStore) -> None:
    study = store.start_study(Patient("P-DV", "Doe^Jane"), "Op^One", protocol_id="dvt")
    stored = [
        {"name": "PSV", "value": 82.1, "unit": "cm/s"},
        {"name": "RI", "value": 0.71, "unit": ""},
        {"name": "Phasicity index", "value": 0.48, "unit": ""},
        {"name": "Spectral scale (Nyquist)", "value": 30.8, "unit": "cm/s"},
        {"name": "Angle correction", "value": 60.0, "unit": "deg"},
    ]
    record = store.save_still(study, make_frame(1), {}, [{"type": "measurement", **m} for m in stored])
    store.end_study(study)
    signed = sign_and_store_report(store, study.study_uid, "Normal.", "Jones^Ann")
    path = store.capture_path(signed.structured)
    numbers = _numbers(hd.sr.ComprehensiveSR.from_dataset(pydicom.dcmread(path)))
    uid = [record.sop_instance_uid]
    assert sorted(numbers) == sorted(
        [
            ("LN", codes.LN.PeakSystolicVelocity.value, 82.1, "cm/s", uid, "PSV"),
            ("LN", codes.LN.ResistivityIndex.value, 0.71, "1", uid, "RI"),
            (PRIVATE_SCHEME, "doppler_phasicity_index", 0.48, "1", uid, "Phasicity index"),
        ]
    )
    errors, warnings = dciodvfy(path)
    assert errors == []
    assert all(PRIVATE_SCHEME in w for w in warnings), warnings


def test_units_are_ucum() -> None:
    assert ucum("ml").value == "mL" and ucum("mm²").value == "mm2" and ucum("cm/s").value == "cm/s"
    assert ucum("furlong").value == "{furlong}"  # not a unit we know: a UCUM annotation, never a wrong unit


@pytest.mark.orthanc
def test_sr_is_stored_in_orthanc_with_the_images(orthanc: OrthancServer, store: StudyStore) -> None:  # noqa: F811
    exam = run_knee_exam(store)
    signed = sign_and_store_report(store, exam.study_uid, "Small effusion.", "Jones^Ann")
    dest = PacsDestination("Orthanc", "127.0.0.1", orthanc.dicom_port, orthanc.aet, CALLING_AE)
    sender = PacsSender(store.root, dest)
    try:
        sender.enqueue_study(store.get_study(exam.study_uid))
        assert sender.send_due() is None
        assert {s.status for s in sender.states()} == {SendStatus.SENT}
    finally:
        sender.close()
    held = orthanc.sop_instance_uids()
    assert signed.structured.sop_instance_uid in held and signed.document.sop_instance_uid in held
    [oid] = [
        i
        for i in orthanc.get("/instances")
        if orthanc.get(f"/instances/{i}")["MainDicomTags"]["SOPInstanceUID"]
        == signed.structured.sop_instance_uid
    ]
    theirs = hd.sr.ComprehensiveSR.from_dataset(
        pydicom.dcmread(io.BytesIO(orthanc.get_bytes(f"/instances/{oid}/file")))
    )
    assert theirs.StudyInstanceUID == exam.study_uid
    assert any(n[2] == EFFUSION_DEPTH_MM for n in _numbers(theirs))
