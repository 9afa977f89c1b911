"""A new exam (Ctrl+N) never ends the open one silently: it asks, and says what the checklist misses."""

from __future__ import annotations

from collections.abc import Sequence

from PyQt6.QtWidgets import QWidget

from protocols.validation import LIBRARY_DIR, load_protocol
from tests.test_exam_window import ExamRig, _request, rig  # noqa: F401 - the fixture
from ui.close_prompt import CANCEL, EXAM_END, NEW_EXAM_END_FIRST, NEW_EXAM_REVIEW


def test_a_new_exam_asks_before_ending_the_open_one(rig: ExamRig) -> None:  # noqa: F811
    rig.exams.start_exam(_request(load_protocol(LIBRARY_DIR / "knee.yaml")))
    session = rig.exams.session
    assert session is not None and session.runner is not None
    missing = len(session.runner.completeness().missing)
    asked: list[tuple[str, tuple[str, ...]]] = []
    answers: list[str] = []

    def ask(_parent: QWidget | None, _title: str, question: str, choices: Sequence[str]) -> str:
        asked.append((question, tuple(choices)))
        return answers.pop(0)

    rig.exams._ask = ask
    answers.append(CANCEL)
    rig.exams.new_exam_dialog()
    assert rig.exams.session is session and not session.ended  # kept open, no dialog opened
    question, choices = asked[-1]
    assert f"misses {missing} items" in question and "Doe, Jane" in question
    assert choices == (NEW_EXAM_END_FIRST, NEW_EXAM_REVIEW, CANCEL)
    answers.append(NEW_EXAM_REVIEW)
    rig.exams.new_exam_dialog()
    assert rig.exams.session is session and not session.ended
    assert rig.exams.dock.isVisible()  # the review of what is missing, as End exam shows it
    rig.exams._ask = lambda *_question: EXAM_END  # the window's close at the end of the test ends it
