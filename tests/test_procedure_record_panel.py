"""The Time-out tab of a procedure exam in the main window: shown while a procedure protocol runs, a
needle image before the time-out is refused for the needle step (kept, and the window says why), then
accepted once the time-out is ticked off; the documentation fields reach the exam record."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PyQt6.QtCore import Qt
from pytestqt.qtbot import QtBot

from protocols.procedure import TIME_OUT_IDS, ProcedureRole
from protocols.validation import LIBRARY_DIR, load_library, load_protocol
from scanner_app.studies import Patient, StudyStore
from scanner_app.studies.capture_sink import StudyCaptureSink
from tests.ui_support import make_engine, open_window, wait_streaming
from ui.capture_strip import CaptureOutcome
from ui.close_prompt import EXAM_END
from ui.exam_dialog import ExamRequest
from ui.exam_dock import ExamController
from ui.main_window import MainWindow
from ui.procedure_record_panel import ProcedureRecordPanel

CAPTURE_TIMEOUT_MS = 10000


@pytest.fixture
def rig(qtbot: QtBot, tmp_path: Path) -> Iterator[tuple[MainWindow, ExamController, ProcedureRecordPanel]]:
    store = StudyStore(tmp_path / "studies")
    exams = ExamController(store, load_library()[0], operator="Op^One", ask=lambda *_question: EXAM_END)
    window = open_window(qtbot, tmp_path, make_engine(), sink=StudyCaptureSink(store, exams.current_study))
    exams.attach(window)
    panel = ProcedureRecordPanel()
    panel.attach(window)  # as main.py wires it
    exams.session_changed.connect(lambda: panel.set_runner(exams.session.runner if exams.session else None))
    wait_streaming(qtbot, window)
    yield window, exams, panel
    window.close()
    store.close()


def _start(exams: ExamController, protocol_file: str) -> None:
    exams.start_exam(
        ExamRequest(
            patient=Patient("INJ-001", "Roe^Alex", "19700302", "M"), operator="Op^One", trainee="",
            supervisor="", protocol=load_protocol(LIBRARY_DIR / protocol_file), quadrant=None,
            side="right", practice=False,
        )
    )  # fmt: skip


def _still(qtbot: QtBot, window: MainWindow) -> CaptureOutcome:
    with qtbot.waitSignal(window.capture_finished, timeout=CAPTURE_TIMEOUT_MS) as blocker:
        qtbot.keyClick(window, Qt.Key.Key_S)  # the still key, as the operator presses it
    outcome = blocker.args[0]
    assert isinstance(outcome, CaptureOutcome)
    return outcome


def test_a_needle_image_is_refused_before_the_time_out_and_accepted_after(
    qtbot: QtBot, rig: tuple[MainWindow, ExamController, ProcedureRecordPanel]
) -> None:
    window, exams, panel = rig
    _start(exams, "sasd_bursa_injection.yaml")
    runner = exams.session.runner if exams.session is not None else None
    assert runner is not None and panel.record is runner.procedure
    assert panel.isVisible() and "Needle images wait for the time-out" in panel.time_out_state.text()
    runner.go_to([s.procedure_role for s in runner.steps].index(ProcedureRole.NEEDLE))

    refused = _still(qtbot, window)
    assert refused.record is not None  # kept on disk: a scanner never loses an image
    assert runner.captures("needle_guidance") == []  # but not the needle-in-target image
    message = window.message_label.text()
    assert "not counted for the step" in message and "time-out" in message

    for item in TIME_OUT_IDS:  # the operator ticks each item off in the tab
        panel.checks[item].click()
    assert runner.procedure is not None and runner.procedure.time_out_complete
    assert panel.time_out_state.text().startswith("Time-out complete at")

    accepted = _still(qtbot, window)
    assert accepted.record is not None
    assert [c.kind for c in runner.captures("needle_guidance")] == ["still"]
    assert "not counted" not in window.message_label.text()


def test_a_skipped_time_out_needs_its_reason_and_the_fields_reach_the_record(
    qtbot: QtBot, rig: tuple[MainWindow, ExamController, ProcedureRecordPanel]
) -> None:
    window, exams, panel = rig
    _start(exams, "knee_joint_aspiration.yaml")
    runner = exams.session.runner if exams.session is not None else None
    assert runner is not None and runner.procedure is not None
    runner.go_to([s.procedure_role for s in runner.steps].index(ProcedureRole.NEEDLE))
    panel.skip_button.click()  # no reason typed
    assert not runner.procedure.needle_allowed and "reason" in window.message_label.text()
    qtbot.keyClicks(panel.skip_reason, "suspected septic arthritis")
    panel.skip_button.click()
    assert "Time-out skipped: suspected septic arthritis" in panel.time_out_state.text()
    assert _still(qtbot, window).record is not None
    assert len(runner.captures("needle_guidance")) == 1

    panel.volume_ml.setValue(35.0)
    panel.needle_gauge.setCurrentIndex(panel.needle_gauge.findData(18))
    panel.pain_before.setCurrentIndex(panel.pain_before.findData(6))
    panel.pain_after.setCurrentIndex(panel.pain_after.findData(3))
    panel.tolerance.setCurrentIndex(panel.tolerance.findData("good"))
    record = exams.session.end() if exams.session is not None else {}
    procedure = record["procedure"]
    assert (procedure["volume_ml"], procedure["needle_gauge"]) == (35.0, 18)
    assert (procedure["pain_before"], procedure["pain_after"], procedure["tolerance"]) == (6, 3, "good")
    assert procedure["time_out"]["skip_reason"] == "suspected septic arthritis"


def test_the_tab_leaves_when_an_exam_is_no_procedure(
    qtbot: QtBot, rig: tuple[MainWindow, ExamController, ProcedureRecordPanel]
) -> None:
    _window, exams, panel = rig
    _start(exams, "sasd_bursa_injection.yaml")
    assert panel.record is not None
    _start(exams, "knee.yaml")
    qtbot.waitUntil(lambda: panel.record is None, timeout=5000)
    assert not panel.isVisible()
