"""The new-exam form's fields stay put as inline errors come and go: each error has its own line,
kept while there is none, so a click aimed at a field never lands on the next one. In the app's theme."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PyQt6.QtCore import QRect
from PyQt6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from protocols.validation import load_library
from tests.full_window_support import app_theme
from ui.exam_dialog import ExamDialog

LONG_ID = "P" * 70  # longer than DICOM LO's 64 bytes: a long error, with the typed value in it
WRONG = {
    "patient_id": LONG_ID,
    "name": "Doe\\Jane",  # a backslash: two DICOM values
    "birth_date": "31/02/1965",
    "accession_number": "A" * 20,  # SH: at most 16
    "operator": "",  # required
    "trainee": "x" * 70,
    "supervisor": "a^b^c^d^e^f",  # more than 5 components
}


@pytest.fixture
def dialog(qtbot: QtBot) -> Iterator[ExamDialog]:
    with app_theme():
        shown = ExamDialog(load_library()[0], has_simulator=True, operator="Op^One")
        qtbot.addWidget(shown)
        shown.show()
        qtbot.waitExposed(shown)
        yield shown


def _fields(dialog: ExamDialog) -> list[QWidget]:
    typed = [edit for edit, _vr in dialog.typed_fields.values()]
    return [*typed, dialog.given_name, dialog.calendar_button, dialog.sex, dialog.protocol, dialog.side,
            dialog.practice, dialog.practice_subject]  # fmt: skip


def _geometry(dialog: ExamDialog) -> dict[str, QRect]:
    """Where each field is in the dialog, once the layout has settled."""
    QApplication.processEvents()
    return {
        f"{type(w).__name__}#{i}": QRect(w.mapTo(dialog, w.rect().topLeft()), w.size())
        for i, w in enumerate(_fields(dialog))
    }


def test_fields_stay_put_as_errors_appear_and_go(qtbot: QtBot, dialog: ExamDialog) -> None:
    steady = _geometry(dialog)
    assert all(not label.isVisible() for label in dialog.field_errors.values())
    for field, text in WRONG.items():  # one error at a time, each field in turn
        edit = dialog.typed_fields[field][0]
        right = edit.text()
        edit.setText(text)
        if not text:
            dialog.accept()  # an empty required field is told on "Start exam"
        error = dialog.field_errors[field]
        assert error.isVisible() and error.text(), field
        assert _geometry(dialog) == steady, f"the fields moved when {field}'s error appeared"
        edit.setText(right)
        assert not error.isVisible(), field
        assert _geometry(dialog) == steady, f"the fields moved when {field}'s error went"
    for field, text in WRONG.items():  # every error at once
        dialog.typed_fields[field][0].setText(text)
    dialog.accept()
    assert dialog.request is None and all(label.isVisible() for label in dialog.field_errors.values())
    assert _geometry(dialog) == steady


def test_a_long_error_stays_on_its_line_and_is_whole_in_its_tooltip(qtbot: QtBot, dialog: ExamDialog) -> None:
    dialog.patient_id.setText(LONG_ID)
    error = dialog.field_errors["patient_id"]
    assert error.isVisible() and "longer than 64" in error.text()
    assert error.fontMetrics().horizontalAdvance(error.text()) > error.width()  # too long for its line
    assert error.height() < 2 * error.fontMetrics().lineSpacing()
    assert error.toolTip() == error.text()
    # The line shows why: the typed value gives way, the field's name and the reason stay.
    shown = error.shown_text()
    assert shown.startswith("Patient ID: 'PPP") and "…" in shown
    assert "… is longer than 64 bytes in UTF-8 (70)" in shown
    assert error.fontMetrics().horizontalAdvance(shown) <= error.contentsRect().width()
    dialog.patient_id.setText("P-1")
    assert error.toolTip() == ""
