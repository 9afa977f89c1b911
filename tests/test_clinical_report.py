"""The clinical report: what a radiologist reads and signs, kept with the study and sent to PACS."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from scanner_app.studies import StudyError, StudyStore, rebuild_index
from scanner_app.studies.encapsulated_pdf import ENCAPSULATED_PDF_STORAGE
from scanner_app.studies.pacs import PacsDestination, PacsSender, SendStatus
from scanner_app.studies.report import build_report, render_html, render_pdf, sign_and_store_report
from scanner_app.studies.report_images import CALIPER_RGB, ImageGeometry, render_key_image
from tests.orthanc_fixture import CALLING_AE, OrthancServer, orthanc  # noqa: F401 - fixture
from tests.report_support import CALIPER_POINTS_MM, EFFUSION_DEPTH_MM, run_knee_exam
from tests.studies_support import dciodvfy


def _pdf_text(pdf: Path) -> str:
    exe = shutil.which("pdftotext")
    assert exe, "pdftotext is not installed: apt-get install -y poppler-utils"
    out = subprocess.run([exe, str(pdf), "-"], capture_output=True, text=True, timeout=30, check=True)
    return out.stdout


def _visible_html_text(page: str) -> str:
    body = re.sub(r"<style>.*?</style>", "", page, flags=re.S)
    body = re.sub(r'src="data:[^"]+"', "", body)
    return re.sub(r"<[^>]+>", " ", body)


@pytest.fixture
def store(tmp_path: Path):
    with StudyStore(tmp_path / "store") as s:
        yield s


def test_the_report_reads_as_a_clinical_document(store: StudyStore, tmp_path: Path) -> None:
    exam = run_knee_exam(store, signed=True)
    signed = sign_and_store_report(store, exam.study_uid, "Small suprapatellar effusion.", "Jones^Ann")
    html = _visible_html_text(signed.html.read_text(encoding="utf-8"))
    pdf = _pdf_text(signed.pdf)
    for text in (html, pdf):
        flat = " ".join(text.split())
        assert "Doe, Jane" in flat and "14 Jan 1965 (age" in flat and "Female" in flat
        assert "19650114" not in flat
        assert "Jones, Ann" in flat and "Smith, Olivia" in flat and "Lee, Sam" in flat
        # the measurement typed for the effusion's follow-up, with its step and image
        assert re.search(rf"Effusion depth\s+{EFFUSION_DEPTH_MM} mm\s+Suprapatellar recess", flat), flat
        assert f"#{exam.caliper_image}" in flat
        assert "Joint effusion" in flat  # the protocol's finding title, not its id
        assert "Skipped: dressing over the tendon" in flat
        assert "Small suprapatellar effusion." in flat and "Signed by Jones, Ann on" in flat
        # no raw data a person would have to decode
        for raw in ("{", "}", "[", "step_id", "measurement_id", "follow_up", "effusion_depth_mm", "None"):
            assert raw not in flat, raw


def test_pdf_metadata_names_the_report_and_is_dated_now(store: StudyStore, tmp_path: Path) -> None:
    from reportlab import rl_config

    exam = run_knee_exam(store, signed=True)
    content = build_report(store, exam.study_uid)
    saved = rl_config.invariant
    rl_config.invariant = 1  # as a test suite may set it: the report must still carry its real date
    try:
        pdf = render_pdf(content)
    finally:
        rl_config.invariant = saved
    path = tmp_path / "r.pdf"
    path.write_bytes(pdf)
    info = subprocess.run(["pdfinfo", "-isodates", str(path)], capture_output=True, text=True, check=True)
    fields = dict(line.split(":", 1) for line in info.stdout.splitlines() if ":" in line)
    created = fields["CreationDate"].strip()
    assert created[:10] in {date.today().isoformat(), datetime.now().astimezone().date().isoformat()}
    assert not created.startswith("2000-01-01")
    assert fields["Title"].strip() == "Ultrasound report: Knee — complete examination"
    assert fields["Author"].strip() == "Jones, Ann"
    assert "Knee" in fields["Subject"]


def test_key_image_has_its_caliper_depth_scale_and_body_marker_burned_in(store: StudyStore) -> None:
    exam = run_knee_exam(store)
    study = store.get_study(exam.study_uid)
    [capture] = [c for c in study.captures if c.instance_number == exam.caliper_image]
    ds = store.read_dataset(capture)
    geometry = ImageGeometry.of(ds)
    plain = np.asarray(render_key_image(ds.pixel_array, geometry, []))
    drawn = np.asarray(render_key_image(ds.pixel_array, geometry, capture.annotations))
    assert plain.shape == drawn.shape
    # a caliper cross where the stored point is: mm -> pixels with the capture's own spacing
    scale = drawn.shape[1] / (ds.Columns * geometry.spacing_mm[1])
    for x_mm, y_mm in CALIPER_POINTS_MM:
        x, y = round(x_mm * scale), round((y_mm + geometry.depth_origin_mm) * scale)
        patch = drawn[y - 2 : y + 3, x - 2 : x + 3].reshape(-1, 3)
        assert any(tuple(p) == CALIPER_RGB for p in patch), (x, y)
        assert not any(tuple(p) == CALIPER_RGB for p in plain[y - 2 : y + 3, x - 2 : x + 3].reshape(-1, 3))
    # the body marker box (bottom left) and the depth ruler (right edge) change the picture there too
    assert not np.array_equal(plain[-40:, :60], drawn[-40:, :60])
    # and the report's key image is that drawn picture
    content = build_report(store, exam.study_uid)
    [key] = [k for k in content.key_images if k.caption.startswith(f"#{exam.caliper_image} ")]
    shown = np.asarray(Image.open(io.BytesIO(key.png)).convert("RGB"))
    assert np.array_equal(shown, drawn)
    assert "Suprapatellar recess" in key.caption and "right" in key.caption


def test_sign_off_is_kept_in_study_json_and_needs_an_impression(store: StudyStore) -> None:
    exam = run_knee_exam(store)
    assert build_report(store, exam.study_uid).signed.startswith("Not signed")
    with pytest.raises(StudyError, match="impression"):
        store.sign_report(exam.study_uid, "  ", "Jones^Ann")
    study = store.sign_report(exam.study_uid, "Normal knee.", "Jones^Ann")
    assert study.sign_off is not None and study.sign_off.signed_by == "Jones^Ann"
    kept = (store.root / study.directory / "study.json").read_text(encoding="utf-8")
    assert '"impression": "Normal knee."' in kept
    assert store.get_study(exam.study_uid).sign_off == study.sign_off


def test_encapsulated_pdf_is_in_the_study_and_dciodvfy_clean(store: StudyStore, tmp_path: Path) -> None:
    exam = run_knee_exam(store)
    signed = sign_and_store_report(store, exam.study_uid, "Small effusion.", "Jones^Ann")
    path = store.capture_path(signed.document)
    ds = pydicom.dcmread(path)
    image = store.read_dataset(store.get_study(exam.study_uid).captures[0])
    assert ds.SOPClassUID == ENCAPSULATED_PDF_STORAGE
    assert ds.StudyInstanceUID == image.StudyInstanceUID and ds.PatientID == image.PatientID
    assert ds.SeriesInstanceUID not in {c.series_uid for c in store.list_captures(exam.study_uid)}
    assert bytes(ds.EncapsulatedDocument)[: ds.EncapsulatedDocumentLength] == signed.pdf.read_bytes()
    errors, _warnings = dciodvfy(path)
    assert errors == []
    # a document, not a capture: the images are listed as before, the report beside them
    study = store.get_study(exam.study_uid)
    # the report and its structured report (SR), in that order
    assert [d.sop_instance_uid for d in study.documents] == [
        ds.SOPInstanceUID,
        signed.structured.sop_instance_uid,
    ]
    assert all(c.kind.value in ("still", "clip") for c in study.captures)
    # a rebuilt index finds it again from the file
    root = store.root
    store.close()
    report = rebuild_index(root)
    assert signed.document.path in report.captures_added
    with StudyStore(root) as again:
        assert [d.sop_instance_uid for d in again.get_study(exam.study_uid).documents] == [
            ds.SOPInstanceUID,
            signed.structured.sop_instance_uid,
        ]


def test_html_key_images_are_pictures_not_text(store: StudyStore) -> None:
    exam = run_knee_exam(store, signed=True)
    page = render_html(build_report(store, exam.study_uid))
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == len([c for c in store.list_captures(exam.study_uid) if c.kind.value == "still"])
    picture = Image.open(io.BytesIO(base64.b64decode(images[0])))
    assert picture.mode == "RGB" and picture.width >= 384


@pytest.mark.orthanc
def test_signed_report_reaches_orthanc_in_the_same_study(
    orthanc: OrthancServer,  # noqa: F811
    store: StudyStore,
) -> None:
    exam = run_knee_exam(store)
    dest = PacsDestination("Orthanc", "127.0.0.1", orthanc.dicom_port, orthanc.aet, CALLING_AE)
    sender = PacsSender(store.root, dest, base_delay_s=0.05)
    try:
        sender.enqueue_study(store.get_study(exam.study_uid))  # the images went before the sign-off
        assert sender.send_due() is None
        signed = sign_and_store_report(store, exam.study_uid, "Small effusion.", "Jones^Ann")
        # signing queued the report for the PACS the study went to
        states = {s.sop_instance_uid: s for s in sender.states()}
        assert states[signed.document.sop_instance_uid].status is SendStatus.QUEUED
        assert sender.send_due() is None
        states = {s.sop_instance_uid: s for s in sender.states()}
        assert states[signed.document.sop_instance_uid].status is SendStatus.SENT, states
    finally:
        sender.close()
    assert signed.document.sop_instance_uid in orthanc.sop_instance_uids()
    [oid] = [
        i
        for i in orthanc.get("/instances")
        if orthanc.get(f"/instances/{i}")["MainDicomTags"]["SOPInstanceUID"]
        == signed.document.sop_instance_uid
    ]
    theirs = pydicom.dcmread(io.BytesIO(orthanc.get_bytes(f"/instances/{oid}/file")))
    assert theirs.StudyInstanceUID == exam.study_uid and theirs.Modality == "DOC"
    assert bytes(theirs.EncapsulatedDocument).startswith(b"%PDF-")


def test_every_image_a_measurement_points_to_is_among_the_key_images(store: StudyStore) -> None:
    """However few key images the report shows, the image behind each measurement row is one of them:
    a newcomer's report gave 'Effusion depth 7.9 mm, #14' and stopped its images at #12."""
    exam = run_knee_exam(store)
    everything = build_report(store, exam.study_uid)
    first_shown = everything.key_images[0].caption.split(" ")[0]
    assert first_shown != f"#{exam.caliper_image}"  # the caliper image is not the first still
    content = build_report(store, exam.study_uid, max_key_images=1)
    pointed_to = {n for row in content.measurements for n in re.findall(r"#\d+", row.image)}
    assert pointed_to == {f"#{exam.caliper_image}"}
    shown = [image.caption.split(" ")[0] for image in content.key_images]
    assert shown == [f"#{exam.caliper_image}"]
