"""The checklist panel drives a ChecklistRunner: a whole knee exam walked through it, and its signals."""

from __future__ import annotations

from typing import Any

import pytest
from PyQt6.QtCore import QPoint, Qt
from PyQt6.QtWidgets import QCheckBox, QLabel, QPushButton
from pytestqt.qtbot import QtBot

from drivers.sim.scenes import named_views
from protocols.model import ScanProtocol
from protocols.runner import ChecklistRunner, StepStatus
from protocols.validation import LIBRARY_DIR, load_protocol
from ui.checklist_panel import ChecklistPanel


class FakeWindow:
    """Stands in for the main window: takes a capture when asked and labels it through the runner."""

    def __init__(self, runner: ChecklistRunner) -> None:
        self.runner = runner
        self.stored: list[dict[str, str]] = []

    def capture(self, kind: str, plane: str, mode: str, contralateral: bool) -> None:
        capture_id = f"cap-{len(self.stored) + 1}"
        labels = self.runner.record_capture(
            kind=kind, plane=plane, capture_id=capture_id, mode=mode, contralateral=contralateral
        )
        self.stored.append({"capture_id": capture_id, **labels})


@pytest.fixture
def knee() -> ScanProtocol:
    return load_protocol(LIBRARY_DIR / "knee.yaml", views=named_views())  # practice targets need poses


def _started_panel(qtbot: QtBot, knee: ScanProtocol) -> tuple[ChecklistRunner, ChecklistPanel, FakeWindow]:
    """The knee checklist on the right side, shown and started, its captures taken by a FakeWindow."""
    runner = ChecklistRunner(knee, side="right", clock=lambda: 0.0)
    panel = ChecklistPanel(runner)
    qtbot.addWidget(panel)
    window = FakeWindow(runner)
    panel.capture_requested.connect(window.capture)
    panel.show()
    panel.start()
    return runner, panel, window


def _capture_buttons(panel: ChecklistPanel, *, missing_only: bool = False) -> list[QPushButton]:
    return [b for b, done in panel.capture_rows if not (missing_only and done)]


def _click(qtbot: QtBot, widget: QPushButton | QCheckBox) -> None:
    """Click as a user would: once the widget (maybe just rebuilt) is shown and laid out."""
    if widget.window().isVisible():
        qtbot.waitUntil(widget.isVisible, timeout=1000)
    assert widget.isEnabled(), widget.text()
    # A check box only takes clicks on its box and text, not on the stretched empty part.
    pos = QPoint(8, widget.height() // 2) if isinstance(widget, QCheckBox) else widget.rect().center()
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton, pos=pos)


def test_walk_a_whole_knee_exam_through_the_panel(qtbot: QtBot, knee: ScanProtocol) -> None:
    clock = [0.0]
    runner = ChecklistRunner(knee, side="right", clock=lambda: clock[0])
    panel = ChecklistPanel(runner)
    qtbot.addWidget(panel)
    window = FakeWindow(runner)
    panel.capture_requested.connect(window.capture)
    presets: list[dict[str, float]] = []
    panel.preset_requested.connect(presets.append)
    panel.show()
    panel.start()
    assert presets == [{"depth_mm": 35.0, "frequency_mhz": 12.0, "focus_mm": 12.0}]

    for index, step in enumerate(knee.steps):
        assert runner.current_step.id == step.id
        assert panel.step_title.text().startswith(step.title)
        assert step.probe in panel.instructions.text()
        # A pathology on the first step, to walk its follow-up through the panel too.
        finding = "partial_tear" if step.id == "quadriceps_tendon" else "normal"
        _click(qtbot, panel.finding_boxes[finding])
        assert runner.findings(step.id) == [finding]
        while buttons := _capture_buttons(panel, missing_only=True):
            _click(qtbot, buttons[0])
        while panel.measure_box.isVisibleTo(panel):
            panel.measure_value.setValue(14.0)
            _click(qtbot, panel.measure_button)
        assert runner.missing_for_step(step.id) == [], step.id
        clock[0] += 60.0
        if index + 1 < len(knee.steps):
            with qtbot.waitSignal(panel.preset_requested, timeout=1000) as blocker:
                _click(qtbot, panel.next_button)
            assert blocker.args == [knee.steps[index + 1].preset.as_dict()]  # type: ignore[union-attr]
            assert runner.step_status(step.id) is StepStatus.DONE

    assert not panel.next_button.isEnabled()
    # Every capture was labelled with protocol, step, plane and side.
    # Every requirement, the optional pes anserinus still included, plus the partial-tear follow-up still.
    assert len(window.stored) == sum(c.count for s in knee.steps for c in s.captures) + 1
    assert {s["protocol_id"] for s in window.stored} == {"knee"}
    assert {s["side"] for s in window.stored} == {"right"}
    first = [s for s in window.stored if s["step_id"] == "quadriceps_tendon"]
    assert [(s["plane"], s["follow_up_id"]) for s in first] == [
        ("long_axis", ""),
        ("short_axis", ""),
        ("short_axis", "partial_tear_follow_up"),
    ]

    _click(qtbot, panel.end_button)
    assert panel.stack.currentIndex() == 1
    assert panel.review_title.text() == "All mandatory items done"
    assert panel.review_list.count() == 0
    with qtbot.waitSignal(panel.exam_finished, timeout=1000) as finished:
        _click(qtbot, panel.finish_button)
    record: dict[str, Any] = finished.args[0]
    assert record["complete"] and record["ended"] and record["protocol_id"] == "knee"
    assert [s["status"] for s in record["steps"]] == ["done"] * len(knee.steps)
    assert record["steps"][0]["measurements"][0]["measurement_id"] == "tear_length_mm"
    assert record["steps"][0]["time_spent_s"] == pytest.approx(60.0)


def test_review_lists_missing_mandatory_captures_and_skips(qtbot: QtBot, knee: ScanProtocol) -> None:
    runner = ChecklistRunner(knee, side="left", quadrant="anterior", clock=lambda: 0.0)
    panel = ChecklistPanel(runner)
    qtbot.addWidget(panel)
    assert not panel.skip_button.isEnabled()
    qtbot.keyClicks(panel.skip_reason, "knee cannot flex")
    _click(qtbot, panel.skip_button)
    assert runner.step_status("quadriceps_tendon") is StepStatus.SKIPPED
    assert runner.current_step.id == "suprapatellar_recess"
    assert panel.skip_reason.text() == ""
    _click(qtbot, panel.end_button)
    texts = [panel.review_list.item(i).text() for i in range(panel.review_list.count())]  # type: ignore[union-attr]
    assert "Missing — Suprapatellar recess (effusion): 1 still, long axis" in texts
    assert "Skipped — Quadriceps tendon: knee cannot flex" in texts
    assert panel.finish_button.text() == "Finish with items missing"
    # Clicking a missing item returns to its step.
    target = texts.index("Missing — Patellar tendon, Hoffa fat pad and bursae: 1 still, long axis")
    item = panel.review_list.item(target)
    assert item is not None
    rect = panel.review_list.visualItemRect(item)
    qtbot.mouseClick(panel.review_list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert panel.stack.currentIndex() == 0
    assert runner.current_step.id == "patellar_tendon"


def test_panel_follows_changes_made_through_the_runner(qtbot: QtBot, knee: ScanProtocol) -> None:
    runner = ChecklistRunner(knee, side="left", clock=lambda: 0.0)
    panel = ChecklistPanel(runner)
    qtbot.addWidget(panel)
    runner.choose_finding("full_tear")  # e.g. from a keyboard shortcut elsewhere
    assert panel.finding_boxes["full_tear"].isChecked()
    labels = [w.text() for w in panel.captures_box.findChildren(QLabel)]
    assert any("Follow-up:</b> Document the gap" in t for t in labels)
    runner.next()
    assert panel.step_title.text() == "Suprapatellar recess (effusion)"
    assert panel.steps_list.currentRow() == 1


def test_side_must_be_chosen_before_capturing(qtbot: QtBot, knee: ScanProtocol) -> None:
    runner = ChecklistRunner(knee, clock=lambda: 0.0)
    panel = ChecklistPanel(runner)
    qtbot.addWidget(panel)
    panel.show()
    assert panel.side_row.isVisible()
    assert not any(b.isEnabled() for b in _capture_buttons(panel))
    _click(qtbot, panel.side_buttons["left"])
    assert runner.side == "left"
    assert not panel.side_row.isVisible()
    assert all(b.isEnabled() for b in _capture_buttons(panel))


def test_refused_finding_is_shown_not_raised(qtbot: QtBot, knee: ScanProtocol) -> None:
    runner = ChecklistRunner(knee, side="left", clock=lambda: 0.0)
    panel = ChecklistPanel(runner)
    qtbot.addWidget(panel)
    runner.end_exam()
    assert not panel.finding_boxes["normal"].isEnabled()
    panel._finding_toggled("normal", True)  # as if a stale click arrived after the end
    assert "ended" in panel.error_label.text()
    assert not panel.finding_boxes["normal"].isChecked()


def test_area_of_pain_marked_on_the_body_diagram(qtbot: QtBot) -> None:
    dvt = load_protocol(LIBRARY_DIR / "dvt_whole_leg.yaml")
    runner = ChecklistRunner(dvt, side="left", clock=lambda: 0.0)
    panel = ChecklistPanel(runner)
    qtbot.addWidget(panel)
    panel.resize(1000, 1200)
    panel.show()
    assert panel.pain_box.isVisible()
    _click(qtbot, panel.pain_button)  # no point yet
    assert "click the body diagram" in panel.error_label.text()
    diagram = panel.body_diagram
    # Anatomical position: the viewer's left half is the patient's right, and the click says so.
    qtbot.mouseClick(
        diagram, Qt.MouseButton.LeftButton, pos=QPoint(diagram.width() * 4 // 10, diagram.height() // 2)
    )
    assert panel.pain_side.currentText() == "right"
    with qtbot.waitSignal(diagram.point_picked, timeout=1000) as picked:
        qtbot.mouseClick(
            diagram, Qt.MouseButton.LeftButton, pos=QPoint(diagram.width() * 6 // 10, diagram.height() // 2)
        )
    x, y = picked.args
    assert 0.55 < x < 0.7 and 0.4 < y < 0.6
    assert panel.pain_side.currentText() == "left"
    qtbot.keyClicks(panel.pain_region, "left calf")
    _click(qtbot, panel.pain_button)
    aop = runner.area_of_pain
    assert aop is not None and aop.region == "left calf" and aop.side == "left"
    assert aop.x == pytest.approx(x)
    assert "Marked: left calf" in panel.pain_status.text()


def test_practice_target_and_view_found_indicator(qtbot: QtBot, knee: ScanProtocol) -> None:
    clock = [0.0]
    runner = ChecklistRunner(knee, side="left", practice=True, clock=lambda: clock[0])
    panel = ChecklistPanel(runner)
    qtbot.addWidget(panel)
    panel.show()
    with qtbot.waitSignal(panel.practice_target_requested, timeout=1000) as target:
        panel.start()
    scene, variant, pose = target.args
    assert (scene, variant) == ("knee", "normal")
    assert pose == {"position_mm": -25.0, "lateral_mm": 0.0, "rotation_deg": 0.0, "tilt_deg": 0.0}
    assert panel.practice_row.isVisible()
    assert "Find the view" in panel.practice_label.text()
    assert runner.check_practice_view("knee", {**pose, "lateral_mm": 3.0})
    assert "View found" in panel.practice_label.text()
    with qtbot.waitSignal(panel.practice_target_requested, timeout=1000) as again:
        _click(qtbot, panel.next_button)
    assert again.args[1] == "effusion"
    assert "Find the view" in panel.practice_label.text()
    clock[0] = 125.0
    _click(qtbot, panel.end_button)
    assert panel.practice_summary.text() == (
        "Practice: 0 of 10 steps done in 2 min 05 s; 1 of 10 target views found"  # each step has a view
    )


def test_no_practice_row_outside_practice_mode(qtbot: QtBot, knee: ScanProtocol) -> None:
    runner = ChecklistRunner(knee, side="left", clock=lambda: 0.0)
    panel = ChecklistPanel(runner)
    qtbot.addWidget(panel)
    panel.show()
    got: list[object] = []
    panel.practice_target_requested.connect(lambda *a: got.append(a))
    panel.start()
    assert got == [] and not panel.practice_row.isVisible()


def test_closing_the_panel_stops_runner_callbacks(qtbot: QtBot, knee: ScanProtocol) -> None:
    runner = ChecklistRunner(knee, side="left", clock=lambda: 0.0)
    panel = ChecklistPanel(runner)
    with qtbot.waitSignal(panel.destroyed, timeout=1000):
        panel.deleteLater()
    assert len(runner.changed) == 0  # the panel's Python wrapper is still alive here: it disconnected itself
    runner.next()  # would raise if the deleted panel were still connected
    assert runner.current_step.id == "suprapatellar_recess"


def test_unexpected_findings_show_and_work_in_the_panel(qtbot: QtBot, knee: ScanProtocol) -> None:
    runner, panel, window = _started_panel(qtbot, knee)
    heading = panel.findChild(QLabel, "incidental_heading")
    assert heading is not None and "Unexpected finding" in heading.text()
    step = runner.current_step
    offered = [f.id for f in step.incidental_findings]
    assert offered and all(f in panel.finding_boxes for f in offered)

    _click(qtbot, panel.finding_boxes["normal"])
    _click(qtbot, panel.finding_boxes["incidental_joint_effusion"])
    # Both stay ticked: an unexpected finding stands beside the step's own choice.
    assert panel.finding_boxes["normal"].isChecked()
    assert panel.finding_boxes["incidental_joint_effusion"].isChecked()
    assert runner.findings() == ["normal", "incidental_joint_effusion"]
    follow_up_buttons = [
        b
        for b, _ in panel.capture_rows
        if b.objectName().startswith("capture:incidental_joint_effusion_follow_up:")
    ]
    assert len(follow_up_buttons) == 2  # long and short axis stills
    # The step's own stills fill first (same labels fill in order), then the follow-up's.
    while buttons := _capture_buttons(panel, missing_only=True):
        _click(qtbot, buttons[0])
    assert [s["follow_up_id"] for s in window.stored].count("incidental_joint_effusion_follow_up") == 2
    assert panel.measure_box.isVisibleTo(panel)
    assert panel.measure_choice.currentData() == "incidental_effusion_depth_mm"
    panel.measure_value.setValue(7.0)
    _click(qtbot, panel.measure_button)
    pending = [m for m in runner.missing_for_step(step.id) if m.follow_up_id]
    assert pending == []
    assert [q.finding_id for q in runner.record().qa_review] == ["incidental_joint_effusion"]

    # Unticking it closes the follow-up again.
    _click(qtbot, panel.finding_boxes["incidental_joint_effusion"])
    assert runner.findings() == ["normal"]
    assert not any(b.objectName().startswith("capture:incidental_") for b, _ in panel.capture_rows)


def test_a_measurement_field_starts_empty_and_never_records_another_measurements_value(
    qtbot: QtBot, knee: ScanProtocol
) -> None:
    """A value typed for one measurement stays while the rows are rebuilt (a capture), but the next
    measurement's field starts empty, and an empty field records nothing (a newcomer's collection
    length in the calf came back as the thrombus length of the step before)."""
    runner, panel, _window = _started_panel(qtbot, knee)
    _click(qtbot, panel.finding_boxes["partial_tear"])
    assert panel.measure_choice.currentData() == "tear_length_mm"
    assert panel.measure_value.text() == "enter a value"
    _click(qtbot, panel.measure_button)  # nothing entered: refused, said
    assert runner.measurements() == [] and "first" in panel.error_label.text()
    panel.measure_value.setValue(14.0)
    _click(qtbot, _capture_buttons(panel, missing_only=True)[0])  # the rows are rebuilt
    assert panel.measure_value.value() == 14.0
    _click(qtbot, panel.measure_button)
    assert [(m.measurement_id, m.value) for m in runner.measurements()] == [("tear_length_mm", 14.0)]
    _click(qtbot, panel.finding_boxes["incidental_joint_effusion"])
    assert panel.measure_choice.currentData() == "incidental_effusion_depth_mm"
    assert panel.measure_value.text() == "enter a value"  # not the tear's 14.0
    _click(qtbot, panel.measure_button)
    assert len(runner.measurements()) == 1
