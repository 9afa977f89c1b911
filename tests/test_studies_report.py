"""Exam report: steps, findings, measurements and key images in HTML and PDF."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

from PIL import Image

from scanner_app.studies import Patient, StudyStore
from scanner_app.studies.report import MeasurementRow, build_report, write_html_report, write_pdf_report
from tests.studies_support import make_frame

RECORD = {
    "title": "Knee, anterior <quadrant>",
    "steps": [
        {"id": "1", "title": "Quadriceps tendon", "status": "done"},
        {"id": "2", "title": "Suprapatellar recess", "status": "done", "note": "effusion"},
        {"id": "3", "title": "Patellar tendon", "status": "skipped", "note": "dressing"},
    ],
    "findings": ["Small suprapatellar effusion", {"text": "Quadriceps tendon normal"}],
    "measurements": [{"label": "Patellar tendon thickness", "value": 4.1, "unit": "mm"}],
    "runner_version": 3,
}


def _study(tmp_path: Path) -> tuple[StudyStore, str]:
    store = StudyStore(tmp_path / "store")
    study = store.start_study(Patient("P-1", "Doe^Jane"), "Smith^Olivia", protocol_id="knee-anterior")
    # spacing 0.2 mm axial x 0.3 mm lateral: 48 x 32 pixels is 9.6 mm x 9.6 mm, a square picture
    store.save_still(
        study,
        make_frame(1),
        {"step_id": "2", "plane": "long axis", "laterality": "R"},
        [{"kind": "distance", "label": "Effusion depth", "value_mm": 4.3}],
    )
    store.save_still(study, make_frame(2), {"step_id": "1"})
    store.save_clip(study, [make_frame(i) for i in range(3, 6)], {"step_id": "3"})
    store.end_study(study, RECORD)
    return store, study.study_uid


def test_html_report(tmp_path: Path) -> None:
    store, uid = _study(tmp_path)
    content = build_report(store, uid)
    assert [s.title for s in content.steps] == [
        "Quadriceps tendon",
        "Suprapatellar recess",
        "Patellar tendon",
    ]
    assert [s.status for s in content.steps][2] == "Skipped: dressing"
    assert MeasurementRow("Effusion depth", "4.3 mm", "Suprapatellar recess", "#1") in content.measurements
    page = write_html_report(store, uid, tmp_path / "report.html").read_text()
    assert "Knee, anterior &lt;quadrant&gt;" in page
    for text in (
        "Suprapatellar recess",
        "Skipped: dressing",
        "Small suprapatellar effusion",
        "Quadriceps tendon normal",
        "Patellar tendon thickness",
        "4.1 mm",
        "Effusion depth",
        "Smith, Olivia",
    ):
        assert text in page, text
    assert "runner_version" not in page  # record data no one can read is not dumped into the report
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 2  # no key image flagged: every still
    picture = Image.open(io.BytesIO(base64.b64decode(images[0])))
    assert picture.size == (480, 480)  # square pixels (true shape), enlarged so overlays are legible
    store.close()


def test_pdf_report(tmp_path: Path) -> None:
    store, uid = _study(tmp_path)
    pdf = write_pdf_report(store, uid, tmp_path / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert pdf.count(b"/Subtype /Image") == 2
    assert b"/Title (Ultrasound report: Knee, anterior <quadrant>)" in pdf
    store.close()


def test_flagged_key_images_win(tmp_path: Path) -> None:
    store = StudyStore(tmp_path / "store")
    study = store.start_study(Patient.practice(), "Op^One")
    store.save_still(study, make_frame(1))
    store.save_clip(study, [make_frame(i) for i in range(2, 5)], {"key_image": True})
    content = build_report(store, study.study_uid)
    assert len(content.key_images) == 1 and "clip" in content.key_images[0].caption
    assert "B-mode" in content.key_images[0].caption  # every caption names the mode it was taken in
    assert content.header[0] == ("Patient", "Practice subject")
    store.close()


def test_doppler_measurements_are_named_and_its_settings_are_not_rows(tmp_path: Path) -> None:
    # What a DVT exam's Doppler stills keep (capture sink): measurements and the scale, by name.
    store = StudyStore(tmp_path / "store")
    study = store.start_study(Patient("P-1", "Doe^Jane"), "Smith^Olivia", protocol_id="dvt")
    stored = [
        {"name": "Colour scale (Nyquist)", "value": 30.8, "unit": "cm/s"},
        {"name": "PRF", "value": 5000.0, "unit": "Hz"},
        {"name": "Doppler frequency", "value": 6.25, "unit": "MHz"},
        {"name": "Phasicity index", "value": 0.48, "unit": ""},
        {"name": "Venous peak velocity", "value": 2.9, "unit": "cm/s"},
        {"name": "Angle correction", "value": 0.0, "unit": "deg"},
        {"name": "RI", "value": 0.5, "unit": ""},
    ]
    labels = {"step_id": "cfv", "imaging_mode": "color_doppler"}
    store.save_still(study, make_frame(1), labels, [{"type": "measurement", **m} for m in stored])
    store.end_study(study, {"title": "DVT", "steps": [{"id": "cfv", "title": "Common femoral vein"}]})
    content = build_report(store, study.study_uid)
    rows = {(m.label, m.value) for m in content.measurements}
    assert rows == {("Phasicity index", "0.48"), ("Venous peak velocity", "2.9 cm/s"), ("RI", "0.5")}
    caption = content.key_images[0].caption
    assert "colour Doppler" in caption  # the mode it was taken in, from its label
    assert "PRF 5000 Hz" in caption and "Doppler frequency 6.25 MHz" in caption
    assert "Angle correction 0 deg" in caption
    store.close()


def test_the_header_gives_the_marked_pain_site_and_how_many_images_are_kept(tmp_path: Path) -> None:
    store = StudyStore(tmp_path / "store")
    study = store.start_study(Patient("P-1", "Doe^Jane"), "Smith^Olivia", protocol_id="dvt")
    store.save_still(study, make_frame(1))
    store.save_clip(study, [make_frame(i) for i in range(2, 5)])
    store.save_clip(study, [make_frame(i) for i in range(5, 7)])
    pain = {"region": "calf", "side": "left", "x": 0.4, "y": 0.7, "note": "tender lump"}
    store.end_study(study, {"title": "DVT", "steps": [], "area_of_pain": pain})
    header = dict(build_report(store, study.study_uid).header)
    assert header["Area of pain"] == "left calf: tender lump"
    assert header["Images kept"] == "1 still, 2 clips"  # the report prints only the still
    store.close()
