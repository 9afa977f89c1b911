"""The department's order for an exam: an accession number typed by hand (emergencies) reaches the
study, every image's DICOM AccessionNumber and the report; an order's Study Instance UID is kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from protocols.exam_session import ExamSession
from scanner_app.studies import Patient, StudyStore
from scanner_app.studies.model import ExamOrder, FieldValueError, StudyError
from scanner_app.studies.report import build_report
from tests.studies_support import make_frame
from ui.exam_dialog import ExamDialog


def test_the_accession_typed_in_the_new_exam_dialog_is_checked_and_carried(qtbot: QtBot) -> None:
    dialog = ExamDialog([], has_simulator=False, operator="Op^One")
    qtbot.addWidget(dialog)
    dialog.patient_id.setText("P-1")
    dialog.family_name.setText("Roe")
    dialog.accession.setText("ACC-TOO-LONG-FOR-SH")  # 19 characters: SH holds 16
    dialog.accept()
    assert dialog.request is None
    assert dialog.field_errors["accession_number"].text().startswith("Accession: ")
    dialog.accession.setText("ACC-2026-0042")
    dialog.accept()
    assert dialog.request is not None
    assert dialog.request.order.accession_number == "ACC-2026-0042"
    assert dialog.request.order.study_uid == ""  # typed by hand: the app makes the study's UID

    practice = ExamDialog([], has_simulator=False, operator="Op^One")
    qtbot.addWidget(practice)
    practice.accession.setText("ACC-9")
    practice.practice_subject.setChecked(True)
    assert not practice.accession.isEnabled()
    practice.accept()
    assert practice.request is not None and practice.request.order == ExamOrder()


def test_an_order_reaches_the_images_and_the_report(tmp_path: Path) -> None:
    store = StudyStore(tmp_path)
    order = ExamOrder(
        accession_number="ACC-77",
        referring_physician="House^Greg",
        requested_procedure="US KNEE RIGHT",
        study_uid="1.2.826.0.1.3680043.8.498.4242",
    )
    session = ExamSession.start(store, Patient("P-9", "Doe^Jane"), "Op^One", order=order)
    record = store.save_still(session.study, make_frame(1))
    ds = store.read_dataset(record)
    assert ds.AccessionNumber == "ACC-77"
    assert ds.StudyInstanceUID == "1.2.826.0.1.3680043.8.498.4242"
    assert ds.ReferringPhysicianName == "House^Greg"
    assert ds.StudyDescription == "US KNEE RIGHT"
    header = dict(build_report(store, session.study.study_uid).header)
    assert header["Accession"] == "ACC-77"
    store.close()


def test_a_bad_order_is_refused_before_any_study_is_made(tmp_path: Path) -> None:
    with pytest.raises(FieldValueError, match="accession_number"):
        ExamOrder(accession_number="A\\B")
    store = StudyStore(tmp_path)
    with pytest.raises(StudyError, match="not a valid UID"):
        store.start_study(Patient("P-9"), "Op^One", study_uid="1.2.x")
    assert store.list_studies() == []
    store.close()
