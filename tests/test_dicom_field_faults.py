"""Issue 11 items 13-16: typed values within DICOM's limits, DICOM details, one-frame clips, report type.

Each test here failed on the code before the fix; every file written is checked with dciodvfy.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pydicom
import pytest
from PyQt6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from protocols.capture_labels import study_labels
from protocols.validation import LIBRARY_DIR, load_protocol
from scanner_app.studies import Patient, StudyStore, rebuild_index
from scanner_app.studies.export import export_deidentified
from scanner_app.studies.model import FieldValueError
from scanner_app.studies.report import (
    build_report,
    cjk_font_for,
    format_person_name,
    pdf_markup,
    render_html,
    write_pdf_report,
)
from tests.studies_support import dciodvfy, make_frame

PYDICOM_ROOT = "1.2.826.0.1.3680043.8.498."
JAPANESE_NAME = "Yamada^Tarou=山田^太郎=やまだ^たろう"


def _errors(path: Path) -> list[str]:
    errors, _ = dciodvfy(path)
    return errors


# ----- item 13: typed values outside DICOM's limits -----


@pytest.mark.parametrize(
    ("make", "field", "limit"),
    [
        (lambda: Patient("P-1", "A" * 65 + "^Bea"), "name", "64"),
        (lambda: Patient("P-1", "山" * 22 + "^太"), "name", "64"),  # 22 characters, 66 bytes in UTF-8
        (lambda: Patient("P-1", "Doe\\Roe^Jane"), "name", "backslash"),
        (lambda: Patient("P-1\\P-2", "Doe^Jane"), "patient_id", "backslash"),
        (lambda: Patient("P-1\n", "Doe^Jane"), "patient_id", "control character"),
        (lambda: Patient("P-1", "Doe^Ja\x00ne"), "name", "control character"),
        (lambda: Patient("P-1", "Doe^Jane", birth_date="20251301"), "birth_date", "DA"),
        (lambda: Patient("P-1", "a^b^c^d^e^f"), "name", "5 components"),
    ],
)
def test_patient_values_outside_their_vr_are_refused_naming_field_and_limit(
    make: object, field: str, limit: str
) -> None:
    assert callable(make)
    with pytest.raises(ValueError, match=limit) as caught:
        make()
    assert isinstance(caught.value, FieldValueError) and caught.value.field == field
    assert str(caught.value).startswith(field)


def test_study_values_outside_their_vr_are_refused_by_the_store(tmp_path: Path) -> None:
    store = StudyStore(tmp_path / "store")
    patient = Patient("P-1", "Doe^Jane")
    with pytest.raises(ValueError, match=r"accession_number.*16"):
        store.start_study(patient, "Op^One", accession_number="ACC-0123456789012")  # 17 characters
    with pytest.raises(ValueError, match=r"operator.*backslash"):
        store.start_study(patient, "Op\\Two")
    with pytest.raises(ValueError, match=r"supervisor.*control character"):
        store.start_study(patient, "Op^One", supervisor="Boss^\nBig")
    assert store.list_studies() == []  # nothing half-made
    with pytest.raises(ValueError, match="body_part"):
        study = store.start_study(patient, "Op^One")
        store.save_still(study, make_frame(1), {"body_part": "KNEE\\ANKLE"})
    store.close()


def test_values_at_the_limits_are_written_and_pass_dciodvfy(tmp_path: Path) -> None:
    store = StudyStore(tmp_path / "store")
    name = "F" * 30 + "^" + "G" * 33  # 64 characters in one group
    study = store.start_study(
        Patient("I" * 64, name, "19800229", "F"), "山田^花子", accession_number="A" * 16
    )
    record = store.save_still(study, make_frame(1), {"laterality": "R", "body_part": "KNEE"})
    ds = store.read_dataset(record)
    assert str(ds.PatientName) == name and ds.AccessionNumber == "A" * 16
    assert _errors(store.capture_path(record)) == []
    japanese = store.start_study(Patient("P-2", JAPANESE_NAME), "Op^One")
    record = store.save_still(japanese, make_frame(2), {"laterality": "L", "body_part": "KNEE"})
    assert str(store.read_dataset(record).PatientName) == JAPANESE_NAME
    assert _errors(store.capture_path(record)) == []
    store.close()


def test_exam_dialog_shows_the_error_beside_the_field_and_refuses_ok(qtbot: QtBot) -> None:
    from ui.exam_dialog import ExamDialog

    dialog = ExamDialog([], has_simulator=False, operator="Op^One")
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.patient_id.setText("P-1")
    dialog.family_name.setText("Doe\\Roe^Jane")
    inline = dialog.field_errors["name"]
    assert inline.isVisible() and "backslash" in inline.text()  # as the user types
    dialog.operator.setFocus()
    dialog.accept()
    assert dialog.request is None and dialog.isVisible()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is dialog.family_name, timeout=2000)
    dialog.family_name.setText("Doe^Jane")
    assert not inline.isVisible()
    dialog.trainee.setText("T" * 65)
    assert "64" in dialog.field_errors["trainee"].text()
    dialog.accept()
    assert dialog.request is None
    qtbot.waitUntil(lambda: QApplication.focusWidget() is dialog.trainee, timeout=2000)
    dialog.trainee.setText("Trainee^Tom")
    dialog.accept()
    assert dialog.request is not None and dialog.request.patient.name == "Doe^Jane"


# ----- item 14: DICOM details -----


def test_non_square_pixels_have_a_pixel_aspect_ratio(tmp_path: Path) -> None:
    store = StudyStore(tmp_path / "store")
    study = store.start_study(Patient("P-1", "Doe^Jane"), "Op^One")
    labels = {"laterality": "R", "body_part": "KNEE"}
    oblong = store.save_still(study, make_frame(1, spacing_mm=(0.0781, 0.0742)), labels)
    square = store.save_still(study, make_frame(2, spacing_mm=(0.1, 0.1)), labels)
    assert [int(v) for v in store.read_dataset(oblong).PixelAspectRatio] == [781, 742]
    assert "PixelAspectRatio" not in store.read_dataset(square)
    for record in (oblong, square):
        assert _errors(store.capture_path(record)) == []
    exported = export_deidentified(store, study.study_uid, tmp_path / "teaching")
    assert [int(v) for v in pydicom.dcmread(exported.files[0]).PixelAspectRatio] == [781, 742]
    store.close()


def test_image_type_says_vascular_for_a_dvt_exam_and_musculoskeletal_for_a_knee(tmp_path: Path) -> None:
    store = StudyStore(tmp_path / "store")
    study = store.start_study(Patient("P-1", "Doe^Jane"), "Op^One")
    dvt = load_protocol(LIBRARY_DIR / "dvt_two_point.yaml")
    knee = load_protocol(LIBRARY_DIR / "knee.yaml")
    runner_labels = {"side": "left", "plane": "transverse"}
    vein = store.save_still(
        study, make_frame(1), study_labels(dvt, {"step_id": dvt.steps[1].id, **runner_labels})
    )
    joint = store.save_still(
        study, make_frame(2), study_labels(knee, {"step_id": knee.steps[0].id, **runner_labels})
    )
    unknown = store.save_still(study, make_frame(3))
    assert list(store.read_dataset(vein).ImageType) == ["ORIGINAL", "PRIMARY", "VASCULAR", "0001"]
    assert list(store.read_dataset(joint).ImageType) == ["ORIGINAL", "PRIMARY", "MUSCULOSKELETAL", "0001"]
    assert list(store.read_dataset(unknown).ImageType) == ["ORIGINAL", "PRIMARY"]  # not known: not claimed
    for record in (vein, joint, unknown):
        assert _errors(store.capture_path(record)) == []
    store.close()


def test_series_laterality_is_left_out_for_an_unpaired_body_part(tmp_path: Path) -> None:
    store = StudyStore(tmp_path / "store")
    study = store.start_study(Patient("P-1", "Doe^Jane"), "Op^One")
    record = store.save_still(study, make_frame(1), {"body_part": "ABDOMEN"})
    ds = store.read_dataset(record)
    assert "Laterality" not in ds and "ImageLaterality" not in ds
    errors, warnings = dciodvfy(store.capture_path(record))
    assert errors == [] and not [w for w in warnings if "Laterality" in w], errors + warnings
    store.close()


def test_uids_are_our_own_not_under_pydicoms_root(tmp_path: Path) -> None:
    store = StudyStore(tmp_path / "store")
    study = store.start_study(Patient("P-1", "Doe^Jane"), "Op^One")
    record = store.save_clip(
        study, [make_frame(i) for i in range(3)], {"laterality": "R", "body_part": "KNEE"}
    )
    exported = export_deidentified(store, study.study_uid, tmp_path / "teaching")
    for ds in (store.read_dataset(record), pydicom.dcmread(exported.files[0])):
        uids = [
            ds.StudyInstanceUID,
            ds.SeriesInstanceUID,
            ds.SOPInstanceUID,
            ds.file_meta.ImplementationClassUID,
        ]
        for uid in uids:
            assert str(uid).startswith("2.25.") and not str(uid).startswith(PYDICOM_ROOT), uid
            assert len(str(uid)) <= 64
    store.close()


def test_deidentification_method_is_whole_phrases_within_lo(tmp_path: Path) -> None:
    store = StudyStore(tmp_path / "store")
    study = store.start_study(Patient("P-1", "Doe^Jane"), "Op^One")
    store.save_still(study, make_frame(1), {"laterality": "R", "body_part": "KNEE"})
    exported = export_deidentified(store, study.study_uid, tmp_path / "teaching")
    ds = pydicom.dcmread(exported.files[0])
    values = list(pydicom.multival.MultiValue(str, ds.DeidentificationMethod))
    assert all(len(v) <= 64 for v in values)
    text = " ".join(values)
    assert "Modified Dates Option" in text and "private tags removed" in text  # nothing cut off
    assert _errors(exported.files[0]) == []
    store.close()


def _paused_clip() -> list:
    # 25 frames/s, then a 1.08 s pause (frames 3..29 never sent), then 25 frames/s again
    return [make_frame(i) for i in (0, 1, 2, 30, 31, 32)]


def test_a_clip_across_a_pause_keeps_each_frame_interval(tmp_path: Path) -> None:
    store = StudyStore(tmp_path / "store")
    study = store.start_study(Patient("P-1", "Doe^Jane"), "Op^One")
    labels = {"laterality": "R", "body_part": "KNEE"}
    paused = store.save_clip(study, _paused_clip(), labels)
    steady = store.save_clip(study, [make_frame(i) for i in range(5)], labels)
    ds = store.read_dataset(paused)
    assert ds.FrameIncrementPointer == pydicom.tag.Tag("FrameTimeVector") and "FrameTime" not in ds
    assert [float(v) for v in ds.FrameTimeVector] == pytest.approx([0, 40, 40, 1120, 40, 40])
    even = store.read_dataset(steady)
    assert even.FrameIncrementPointer == pydicom.tag.Tag("FrameTime") and float(even.FrameTime) == 40.0
    assert "FrameTimeVector" not in even
    for record in (paused, steady):
        assert _errors(store.capture_path(record)) == []
    exported = export_deidentified(store, study.study_uid, tmp_path / "teaching")
    assert [float(v) for v in pydicom.dcmread(exported.files[0]).FrameTimeVector][3] == pytest.approx(1120)
    assert all(_errors(path) == [] for path in exported.files)
    store.close()


# ----- item 15: one-frame clips -----


def test_a_one_frame_clip_works_everywhere_a_clip_is_read(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = StudyStore(root)
    study = store.start_study(Patient("P-1", "Doe^Jane"), "Op^One")
    clip = store.save_clip(
        study, [make_frame(7)], {"laterality": "R", "body_part": "KNEE", "key_image": True}
    )
    store.end_study(study, {"title": "One frame"})
    assert store.read_dataset(clip).pixel_array.ndim == 2  # what pydicom gives for one frame
    assert _errors(store.capture_path(clip)) == []
    content = build_report(store, study.study_uid)
    image = content.key_images[0]
    # 32 columns of 0.3 mm = 48 rows of 0.2 mm: square (true shape), enlarged to 480 px for the overlays
    assert (image.width_px, image.height_px) == (480, 480)
    assert "first of 1 frames" in image.caption
    assert write_pdf_report(store, study.study_uid, tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")
    exported = export_deidentified(store, study.study_uid, tmp_path / "teaching")
    assert pydicom.dcmread(exported.files[0]).pixel_array.shape == (48, 32)
    assert _errors(exported.files[0]) == []
    store.close()
    report = rebuild_index(root)
    assert report.captures_added == (clip.path,)
    with StudyStore(root) as again:
        [record] = again.list_captures()
        assert record.kind == clip.kind and record.number_of_frames == 1


# ----- item 16: report typography -----


@pytest.mark.parametrize(
    ("pn", "shown"),
    [
        ("Müller^Jürgen^^Dr.^", "Müller, Jürgen, Dr."),
        ("Müller^Jürgen^Anton^Dr.^MD", "Müller, Jürgen Anton, Dr. MD"),
        ("Doe^Jane", "Doe, Jane"),
        ("Doe", "Doe"),
        (JAPANESE_NAME, "Yamada, Tarou (山田 太郎, やまだ たろう)"),
        ("=山田^太郎", "山田 太郎"),
        ("", ""),
    ],
)
def test_person_names_are_formatted_from_their_components(pn: str, shown: str) -> None:
    assert format_person_name(pn) == shown


def test_report_names_in_html_and_pdf_with_cjk_glyphs(tmp_path: Path) -> None:
    store = StudyStore(tmp_path / "store")
    study = store.start_study(Patient("P-1", JAPANESE_NAME), "Müller^Jürgen^^Dr.^", protocol_id="knee")
    store.save_still(study, make_frame(1), {"laterality": "R", "body_part": "KNEE"})
    store.end_study(study, {"title": "膝の検査 knee"})
    page = render_html(build_report(store, study.study_uid))
    assert "Yamada, Tarou (山田 太郎, やまだ たろう)" in page and "Müller, Jürgen, Dr." in page
    assert ", ," not in page
    pdf = write_pdf_report(store, study.study_uid, tmp_path / "report.pdf").read_bytes()
    assert b"HeiseiKakuGo-W5" in pdf  # the Japanese runs are set in a CID font, not Helvetica
    assert pdf_markup("Doe & 山田") == 'Doe &amp; <font name="HeiseiKakuGo-W5">山田</font>'
    assert cjk_font_for("김^민준") == "HYSMyeongJo-Medium" and cjk_font_for("Müller") is None
    store.close()
    pdftotext = shutil.which("pdftotext")
    if pdftotext is None:
        return
    text = subprocess.run(
        [pdftotext, str(tmp_path / "report.pdf"), "-"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    assert "山田" in text and "やまだ" in text and "Müller, Jürgen, Dr." in text
