"""The exam workflow as a newcomer met it in the whole window: a procedure is not signed without its
time-out, the status line speaks of the exam now running (not "exam recorded" of the one before), and
the image after a procedure shows the target without the needle (what it injected stays)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from drivers.sim.scenes import named_views
from protocols.exam_session import ExamSession
from protocols.model import ScanProtocol
from protocols.procedure import TIME_OUT_IDS
from protocols.validation import LIBRARY_DIR, load_protocol
from scanner_app.sim_control import INJECTATE_STRUCTURE, NEEDLE_STRUCTURE
from scanner_app.studies import Patient, StudyStore
from scanner_app.studies.model import StudyError
from scanner_app.studies.report import sign_and_store_report
from tests.full_window_support import FullWindow, close_full_window, open_full_window
from ui.exam_dialog import ExamRequest
from ui.procedure_record_panel import ProcedureRecordPanel

SIGN_TIMEOUT_MS = 20000
SASD = LIBRARY_DIR / "sasd_bursa_injection.yaml"
BURSA = "subacromial-subdeltoid bursa"


@pytest.fixture
def full(qtbot: QtBot, tmp_path: Path) -> Iterator[FullWindow]:
    opened = open_full_window(qtbot, tmp_path, scene="shoulder")
    try:
        yield opened
    finally:
        close_full_window(opened)


def _request(
    protocol: ScanProtocol, patient_id: str, *, practice: bool = False, name: str = "Roe^Alex"
) -> ExamRequest:
    return ExamRequest(
        patient=Patient(patient_id, name, "19700302", "M"),
        operator="Smith^Olivia",
        trainee="",
        supervisor="Jones^Ann",
        protocol=protocol,
        quadrant=None,
        side="right",
        practice=practice,
    )


def test_a_procedure_without_its_time_out_is_not_signed_and_its_exam_stays_open(
    qtbot: QtBot, full: FullWindow
) -> None:
    exams = full.exams
    exams.start_exam(_request(load_protocol(SASD), "INJ-101"))
    session = exams.session
    assert session is not None and session.runner is not None and session.runner.procedure is not None
    dialog = exams.make_report_dialog(session.study)
    qtbot.addWidget(dialog)
    dialog.impression_edit.setPlainText("Bursa injected under guidance.")
    with qtbot.waitSignal(exams.signer.finished, timeout=SIGN_TIMEOUT_MS):
        dialog.sign_button.click()
    # Refused, saying what is missing (every item of the time-out), and the exam is still open.
    said = dialog.error_label.text()
    assert said.startswith("Report not signed: No time-out recorded: identity, site and side marked, "), said
    assert "consent, allergies, anticoagulation not confirmed" in said and "Time-out tab" in said
    assert full.window.message_label.text().startswith("Report not signed: No time-out recorded")
    assert not session.ended and exams.last_signed is None
    assert full.store.get_study(session.study.study_uid).sign_off is None
    assert not dialog.signing and dialog.sign_button.isEnabled()

    # The time-out recorded on its tab, the same dialog signs (ending the exam first).
    (tab,) = full.window.findChildren(ProcedureRecordPanel)
    for item in TIME_OUT_IDS:
        tab.checks[item].click()
    with qtbot.waitSignal(exams.signer.finished, timeout=SIGN_TIMEOUT_MS):
        dialog.sign_button.click()
    assert exams.last_signed is not None, dialog.error_label.text()
    kept = full.store.get_study(session.study.study_uid)
    assert session.ended and kept.sign_off is not None
    assert kept.protocol_record is not None and kept.protocol_record["procedure"]["time_out"]["complete"]


def test_an_ended_procedure_without_a_time_out_is_refused_by_the_core(tmp_path: Path) -> None:
    with StudyStore(tmp_path / "store") as store:
        protocol = load_protocol(SASD)
        ended = ExamSession.start(store, Patient("INJ-102", "Roe^Alex"), "Smith^Olivia", protocol=protocol,
                                  side="right")  # fmt: skip
        ended.end()
        with pytest.raises(StudyError, match=r"^No time-out recorded: identity, site and side marked"):
            sign_and_store_report(store, ended.study.study_uid, "Injected.", "Jones^Ann")
        assert store.get_study(ended.study.study_uid).sign_off is None
        # Skipped with a recorded reason (the Time-out tab's override): signed, the reason in the report.
        skipped = ExamSession.start(store, Patient("INJ-103", "Roe^Alex"), "Smith^Olivia", protocol=protocol,
                                    side="right")  # fmt: skip
        assert skipped.runner is not None and skipped.runner.procedure is not None
        skipped.runner.procedure.skip_time_out("emergency aspiration of a septic bursa")
        skipped.end()
        signed = sign_and_store_report(store, skipped.study.study_uid, "Aspirated.", "Jones^Ann")
        assert "Skipped" in signed.html.read_text() and "emergency aspiration of a septic bursa" in (
            signed.html.read_text()
        )


def test_the_next_exam_does_not_say_the_last_one_was_recorded(qtbot: QtBot, full: FullWindow) -> None:
    exams, window = full.exams, full.window
    knee = load_protocol(LIBRARY_DIR / "knee.yaml")
    exams.start_exam(_request(knee, "KNEE-201"))
    with qtbot.waitSignal(exams.exam_ended, timeout=SIGN_TIMEOUT_MS):
        exams.end_exam()
    assert window.message_label.text().startswith("Logbook: exam recorded for")
    assert full.programme.message.text().startswith("Logbook: exam recorded for")

    exams.start_exam(_request(knee, "KNEE-202", name="Poe^Bea"))
    assert exams.session is not None and exams.session.study.patient.patient_id == "KNEE-202"
    for line in (window.message_label.text(), full.programme.message.text()):
        assert "exam recorded" not in line, line
    assert window.message_label.text() == "Exam started: Poe, Bea (KNEE-202) — " + knee.title


def test_the_target_view_of_the_image_after_shows_no_needle_but_the_injectate(
    qtbot: QtBot, full: FullWindow
) -> None:
    exams, sim = full.exams, full.sim
    exams.start_exam(_request(load_protocol(SASD, views=named_views()), "INJ-104", practice=True))
    runner = exams.session.runner if exams.session is not None else None
    assert runner is not None and runner.procedure is not None
    for item in TIME_OUT_IDS:
        runner.procedure.confirm(item)
    steps = [s.id for s in runner.steps]
    runner.go_to(steps.index("needle_guidance"))
    exams.go_to_target()
    # The Needle tab's planned approach, advanced until the tip is in the bursa, then an injection.
    needle = full.needle.panel
    assert needle is not None
    needle.do("place")
    for _ in range(40):
        truth = sim.needle_truth()
        if truth is not None and truth.tip_structure == BURSA:
            break
        needle.do("advance")
    needle.do("inject")
    assert f"Tip in: {BURSA}" in needle.truth_label.text(), needle.truth_label.text()
    shown = sim.needle_truth()
    assert shown is not None and shown.inserted_mm > 0
    assert NEEDLE_STRUCTURE in sim.view_truth().structures_in_view

    runner.go_to(steps.index("image_after"))  # the needle is done with: it comes out, as in a patient
    assert full.window.message_label.text().startswith("Needle withdrawn: the image after the procedure")
    for _ in range(10):  # pushed in again at this step: "Go to target view" takes it out again
        needle.do("advance")
    assert "Tip in: " in needle.truth_label.text()
    exams.go_to_target()
    assert full.window.message_label.text().startswith("Needle withdrawn: the image after the procedure")
    assert "Target view shown, not found" in full.window.message_label.text()
    target = runner.current_step.practice
    assert target is not None and target.pose
    qtbot.waitUntil(lambda: sim.get_pose()["position_mm"] == pytest.approx(target.pose["position_mm"]))
    seen = sim.view_truth().structures_in_view
    assert NEEDLE_STRUCTURE not in seen and INJECTATE_STRUCTURE in seen and BURSA in seen, seen
    withdrawn = sim.needle_truth()
    assert withdrawn is not None and withdrawn.inserted_mm == 0 and withdrawn.injected_ml > 0
    assert needle.truth_label.text().startswith("Needle at the skin, not in the patient\n0 mm in at")
    assert needle.truth_label.text().endswith("ml injected"), needle.truth_label.text()


def test_report_and_export_say_so_when_the_last_study_was_deleted_here(
    qtbot: QtBot, full: FullWindow, tmp_path: Path
) -> None:
    """Once the last exam's study is deleted from the scanner (by hand in the PACS tab or by retention,
    once its PACS committed it), Report… and Teaching copy… say so instead of failing."""
    exams, window = full.exams, full.window
    knee = load_protocol(LIBRARY_DIR / "knee.yaml")
    exams.start_exam(_request(knee, "KNEE-301"))
    with qtbot.waitSignal(exams.exam_ended, timeout=SIGN_TIMEOUT_MS):
        exams.end_exam()
    study = exams.last_study
    assert study is not None and not exams.store.list_captures(study.study_uid)  # nothing to commit
    exams.store.delete_study(study.study_uid)
    exams.report_dialog()  # raised StudyError from the slot (no study in the store) before
    said = window.message_label.text()
    assert said == f"No study to report: {study.study_id} was deleted from this scanner (the PACS keeps it)"
    assert exams.last_study is None
    assert exams.export_teaching_copy(tmp_path / "teaching") is None
    assert window.message_label.text() == "No study to export yet"
