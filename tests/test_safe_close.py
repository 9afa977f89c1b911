"""Safe close: closing while a clip records or with an exam open asks, Cancel keeps the window open, and
what was captured is never lost (a recording is stored before the window closes unless discarded)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PyQt6.QtCore import Qt
from pytestqt.qtbot import QtBot

from tests.review_support import GroinRig, answer_next_question, groin_rig
from ui.close_prompt import CANCEL, CLIP_DISCARD, CLIP_SAVE, EXAM_END, EXAM_KEEP_OPEN


@pytest.fixture
def rig(qtbot: QtBot, tmp_path: Path) -> Iterator[GroinRig]:
    yield from groin_rig(qtbot, tmp_path)  # the real question boxes, answered by the tests


def _record_some_frames(qtbot: QtBot, window: object) -> None:
    from ui.main_window import MainWindow

    assert isinstance(window, MainWindow)
    window.toggle_clip_recording()
    assert window.record_action.isChecked()
    start = window.engine.ring.newest_seq
    qtbot.waitUntil(lambda: window.engine.ring.newest_seq >= start + 8, timeout=5000)


def test_closing_while_recording_asks_and_save_stores_the_clip_in_the_study(
    qtbot: QtBot, rig: GroinRig
) -> None:
    rig.start_dvt()
    session = rig.exams.session
    assert session is not None
    _record_some_frames(qtbot, rig.window)
    asked_clip = answer_next_question(CLIP_SAVE)
    asked_exam = answer_next_question(EXAM_END)
    assert rig.window.close() is True
    assert asked_clip and "clip is being recorded" in asked_clip[0]
    assert asked_exam and "Doe, Jane" in asked_exam[0]
    (clip,) = rig.store.list_captures(session.study.study_uid)
    assert clip.kind.value == "clip" and clip.number_of_frames >= 8
    assert rig.store.capture_path(clip).exists()
    study = rig.store.get_study(session.study.study_uid)
    assert study.ended_at is not None and study.protocol_record is not None
    counted = sum(len(s["captures"]) for s in study.protocol_record["steps"])
    assert counted == 1  # stored before the exam ended, so it counts for its step


def test_cancel_keeps_the_window_open_and_recording(qtbot: QtBot, rig: GroinRig) -> None:
    window = rig.window
    _record_some_frames(qtbot, window)
    asked = answer_next_question(CANCEL)
    assert window.close() is False
    assert asked and window.isVisible() and window.engine.running
    assert window.record_action.isChecked()  # still recording: nothing was cut short
    assert "Not closed" in window.message_label.text()
    answer_next_question(CLIP_DISCARD)  # the automatic practice study ends without a question
    assert window.close() is True
    assert not window.isVisible()
    assert [c for c in rig.store.list_captures() if c.kind.value == "clip"] == []


def test_closing_with_an_exam_open_asks_cancel_then_keep_it_open(qtbot: QtBot, rig: GroinRig) -> None:
    window = rig.window
    rig.start_dvt()
    session = rig.exams.session
    assert session is not None and session.runner is not None
    session.runner.go_to(1)
    session.runner.choose_finding("normal")
    asked = answer_next_question(CANCEL)
    assert window.close() is False
    assert asked and "still open" in asked[0] and window.isVisible()
    assert not session.ended

    answer_next_question(EXAM_KEEP_OPEN)
    assert window.close() is True and not window.isVisible()
    study = rig.store.get_study(session.study.study_uid)
    assert study.ended_at is None  # kept open, to be resumed or ended later
    assert study.protocol_record is not None
    steps = {s["step_id"]: s for s in study.protocol_record["steps"]}
    assert [f["id"] for f in steps[session.runner.steps[1].id]["findings"]] == ["normal"]


def test_ctrl_q_asks_like_closing_the_window(qtbot: QtBot, rig: GroinRig) -> None:
    window = rig.window
    rig.start_dvt()
    asked = answer_next_question(CANCEL)
    qtbot.keyClick(window, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    assert asked and "still open" in asked[0] and window.isVisible()
    # The question box took the focus; back in the window, as after a real click on its button.
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    kept = answer_next_question(EXAM_KEEP_OPEN)
    qtbot.keyClick(window, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    assert kept, "the second Ctrl+Q asked nothing"
    assert not window.isVisible()
