"""Follow-up: the patient's earlier measurement of the same structure shown beside the step that
measures it again; not another patient's, not a later one, not a practice subject's."""

from __future__ import annotations

from pathlib import Path

from pytestqt.qtbot import QtBot

from protocols.exam_session import ExamSession
from protocols.validation import LIBRARY_DIR, load_protocol
from scanner_app.studies import Patient, StudyStore
from scanner_app.studies.previous import previous_measurements
from tests.report_support import EFFUSION_DEPTH_MM, run_knee_exam
from ui.checklist_panel import ChecklistPanel


def test_the_earlier_effusion_depth_is_shown_at_the_follow_up(qtbot: QtBot, tmp_path: Path) -> None:
    store = StudyStore(tmp_path / "studies")
    first = run_knee_exam(store)  # KNEE-001, effusion depth recorded
    earlier = store.get_study(first.study_uid)
    knee = load_protocol(LIBRARY_DIR / "knee.yaml")
    where = {"protocol": knee, "side": "right", "quadrant": "anterior"}
    follow_up = ExamSession.start(store, earlier.patient, "Smith^Olivia", **where)  # type: ignore[arg-type]
    other = ExamSession.start(store, Patient("OTHER-1", "Roe^Ann"), "Smith^Olivia", **where)  # type: ignore[arg-type]
    found = previous_measurements(store, "KNEE-001", follow_up.study.study_uid)
    (depth,) = found.values()
    assert depth.value == EFFUSION_DEPTH_MM and depth.unit == "mm" and depth.study_uid == first.study_uid
    assert previous_measurements(store, "OTHER-1", other.study.study_uid) == {}
    # The first exam has nothing before it.
    assert previous_measurements(store, "KNEE-001", first.study_uid) == {}

    runner = follow_up.runner
    assert runner is not None
    runner.go_to([s.id for s in runner.steps].index("suprapatellar_recess"))
    runner.choose_finding("effusion")
    panel = ChecklistPanel(runner, previous=found)
    qtbot.addWidget(panel)
    text = panel.previous_label.text()
    assert panel.previous_label.isVisibleTo(panel)
    assert f"{EFFUSION_DEPTH_MM:g} mm on {earlier.started_at:%Y-%m-%d}" in text and text.startswith(
        "Previously"
    )
    follow_up.end()
    other.end()
    store.close()
