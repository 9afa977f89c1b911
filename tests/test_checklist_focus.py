"""The probe moves from the keyboard as soon as an exam starts: the checklist's skip reason takes the
focus only when the user clicks it."""

from __future__ import annotations

from PyQt6.QtCore import Qt
from pytestqt.qtbot import QtBot

from tests.test_layout import ExamWindow, _start_knee_exam, exam_window

__all__ = ["exam_window"]  # the fixture, shared with the layout tests


def test_a_new_exam_leaves_the_keyboard_to_the_window(qtbot: QtBot, exam_window: ExamWindow) -> None:
    window, exams = exam_window.window, exam_window.exams
    exams.new_button.setFocus()  # "New exam…" clicked; its dialog accepted
    qtbot.waitUntil(exams.new_button.hasFocus, timeout=3000)
    _start_knee_exam(exams)
    assert exams.panel is not None
    field = exams.panel.skip_reason
    qtbot.waitUntil(field.isVisible, timeout=3000)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=3000)
    assert window.focusWidget() is not field
    # a focused button the checklist hides as it moves on passes the focus down its chain: not here
    before = field.previousInFocusChain()
    assert before is not None
    before.show()
    before.setFocus()
    qtbot.waitUntil(before.hasFocus, timeout=3000)
    before.hide()
    assert not field.hasFocus()
    # a click still puts the cursor there, and typing fills the reason
    qtbot.mouseClick(field, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(field.hasFocus, timeout=3000)
    qtbot.keyClicks(field, "patient declined")
    assert field.text() == "patient declined"
