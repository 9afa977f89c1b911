"""One patient ID, one person: a new exam typed under an ID the study folder already keeps for someone
with another name or birth date is questioned before it starts (a newcomer started "Other, Bob" under
"Testperson, Anna"'s ID without a word); pressed again, the operator's details stand (a married name)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from protocols.exam_session import ExamSession
from scanner_app.studies import Patient, StudyStore
from ui.close_prompt import EXAM_END
from ui.exam_dialog import ExamDialog
from ui.exam_dock import ExamController

KNOWN = Patient("NC8-0001", "Testperson^Anna", birth_date="19800312", sex="F")


@pytest.fixture
def dialog(qtbot: QtBot, tmp_path: Path) -> Iterator[ExamDialog]:
    with StudyStore(tmp_path / "studies") as store:
        ExamSession.start(store, KNOWN, "Op^One").end()
        exams = ExamController(store, [], ask=lambda *_question: EXAM_END)
        opened = ExamDialog([], has_simulator=False, operator="Op^One", known_patient=exams.known_patient)
        qtbot.addWidget(opened)
        opened.show()
        qtbot.waitExposed(opened)
        yield opened


def _type(dialog: ExamDialog, patient_id: str, family: str, given: str, born: str) -> None:
    dialog.patient_id.setText(patient_id)
    dialog.family_name.setText(family)
    dialog.given_name.setText(given)
    dialog.birth_date.setText(born)


def test_another_person_under_a_known_id_is_questioned_once(dialog: ExamDialog) -> None:
    _type(dialog, "NC8-0001", "Other", "Bob", "1990-01-01")
    dialog.accept()
    assert dialog.request is None and dialog.isVisible()
    said = dialog.error_label.text()
    assert "NC8-0001 is already Testperson, Anna, born 12 Mar 1980" in said
    assert "name and birth date differ" in said
    dialog.accept()  # the operator keeps their details (warned)
    assert dialog.request is not None and dialog.request.patient.name == "Other^Bob"


def test_the_same_person_or_a_new_id_starts_at_once(dialog: ExamDialog) -> None:
    _type(dialog, "NC8-0002", "Other", "Bob", "1990-01-01")
    dialog.accept()
    assert dialog.request is not None


def test_the_known_patient_typed_again_starts_at_once(dialog: ExamDialog) -> None:
    _type(dialog, "NC8-0001", "TESTPERSON", "Anna", "12/03/1980")
    dialog.accept()
    assert dialog.request is not None and dialog.error_label.text() == ""
