"""ChecklistRunner: moving, skips, findings and follow-ups, labelled captures, completeness, practice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from protocols.model import ScanProtocol
from protocols.runner import (
    ChecklistRunner,
    EventKind,
    RunnerError,
    RunnerEvent,
    StepStatus,
    practice_probe_poses,
    practice_start_pose,
)
from protocols.validation import LIBRARY_DIR, load_protocol, parse_protocol
from scanner_app.sim_control import ViewTruth

# A stand-in for the simulator's catalogue: the runner knows views only through what it is given.
VIEWS = {
    "knee": {"test view": {"position_mm": 30.0, "lateral_mm": 0.0, "rotation_deg": 0.0, "tilt_deg": 0.0}}
}

PROTOCOL_YAML = """
id: mini
title: Mini protocol
version: 3
region: knee
side: ask
kind: venous_with_area_of_pain
sources: ["test"]
quadrants:
  - {id: back, title: Back only, steps: [second, third]}
steps:
  - id: first
    title: First
    position: supine
    probe: sagittal
    plane: long_axis
    structures: [quadriceps tendon]
    captures:
      - {kind: still, plane: long_axis}
      - {kind: still, plane: short_axis}
    preset: {depth_mm: 35, frequency_mhz: 12, focus_mm: 15}
    findings:
      - {id: normal, title: Normal, appearance: fibrillar}
      - {id: effusion, title: Effusion, appearance: fluid}
      - {id: synovitis, title: Synovitis, appearance: thick synovium}
    follow_ups:
      - when: effusion
        title: Effusion in two planes and measured
        captures: [{kind: still, plane: short_axis, note: deepest pocket}]
        measurements: [{id: effusion_depth_mm, title: Effusion depth, unit: mm}]
    practice:
      scene: knee
      variant: effusion
      view: test view
      tolerance: {position_mm: 5, lateral_mm: 5, rotation_deg: 10, tilt_deg: 5}
  - id: second
    title: Second
    position: prone
    probe: transverse
    plane: transverse
    structures: [popliteal vein]
    captures:
      - {kind: clip, plane: transverse, count: 2}
      - {kind: still, plane: long_axis, mode: spectral_doppler}
      - {kind: still, plane: long_axis, mode: spectral_doppler, side: contralateral}
    preset: {depth_mm: 40, frequency_mhz: 9, focus_mm: 20}
    findings:
      - {id: normal, title: Normal, appearance: compressible}
  - id: third
    title: Area of symptoms
    position: as comfortable
    probe: over the pain
    plane: transverse
    mark_area_of_pain: true
    mandatory: false
    structures: []
    captures:
      - {kind: still, plane: transverse}
    preset: {depth_mm: 30, frequency_mhz: 12, focus_mm: 10}
    findings:
      - {id: normal, title: Normal, appearance: nothing}
      - {id: baker_cyst, title: Baker cyst, appearance: anechoic}
    follow_ups:
      - when: baker_cyst
        title: Two planes
        captures: [{kind: still, plane: sagittal}]
"""


Events = list[RunnerEvent]


class FakeClock:
    """A clock the test advances by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def protocol() -> ScanProtocol:
    p, errors = parse_protocol(PROTOCOL_YAML, "mini.yaml", views=VIEWS)
    assert not errors, errors
    assert p is not None
    return p


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def runner(protocol: ScanProtocol, clock: FakeClock) -> ChecklistRunner:
    return ChecklistRunner(protocol, side="left", clock=clock)


@pytest.fixture
def events(runner: ChecklistRunner) -> list[RunnerEvent]:
    got: list[RunnerEvent] = []
    runner.changed.connect(got.append)
    return got


def test_starts_on_first_step_with_the_others_pending(runner: ChecklistRunner) -> None:
    assert runner.current_step.id == "first"
    assert runner.index == 0
    assert [runner.step_status(s.id) for s in runner.steps] == [
        StepStatus.CURRENT,
        StepStatus.PENDING,
        StepStatus.PENDING,
    ]


def test_next_and_back_move_and_emit(runner: ChecklistRunner, events: Events) -> None:
    assert runner.next()
    assert runner.current_step.id == "second"
    assert events[-1].kind is EventKind.STEP_CHANGED
    assert events[-1].step_id == "second"
    assert events[-1].detail["previous"] == "first"
    assert runner.back()
    assert runner.current_step.id == "first"
    assert not runner.back()  # at the start: no change, no event
    assert len(events) == 2
    runner.go_to(2)
    assert not runner.next()
    assert runner.current_step.id == "third"


def test_left_step_with_missing_captures_is_incomplete(runner: ChecklistRunner) -> None:
    runner.next()
    assert runner.step_status("first") is StepStatus.INCOMPLETE
    runner.back()
    runner.record_capture(kind="still", plane="long_axis", capture_id="c1")
    runner.record_capture(kind="still", plane="short_axis", capture_id="c2")
    runner.next()
    assert runner.step_status("first") is StepStatus.DONE


def test_record_capture_returns_labels_and_counts_toward_requirement(
    runner: ChecklistRunner, events: list[RunnerEvent]
) -> None:
    labels = runner.record_capture(kind="still", plane="long_axis", capture_id="img-1")
    assert labels == {
        "protocol_id": "mini",
        "step_id": "first",
        "plane": "long_axis",
        "side": "left",
        "mode": "bmode",
        "follow_up_id": "",
        "note": "",
    }
    assert events[-1].kind is EventKind.CAPTURE_RECORDED
    missing = runner.missing_for_step("first")
    assert [m.description for m in missing] == ["1 still, short axis"]


def test_discarded_capture_no_longer_counts_and_emits(runner: ChecklistRunner, events: Events) -> None:
    runner.record_capture(kind="still", plane="long_axis", capture_id="kept")
    runner.record_capture(kind="still", plane="short_axis", capture_id="lost")
    assert runner.missing_for_step("first") == []
    assert runner.discard_capture("lost") is True
    assert events[-1].kind is EventKind.CAPTURE_DISCARDED
    assert events[-1].detail == {"capture_id": "lost"} and events[-1].step_id == "first"
    assert [c.capture_id for c in runner.captures("first")] == ["kept"]
    assert [m.description for m in runner.missing_for_step("first")] == ["1 still, short axis"]
    assert runner.discard_capture("lost") is False  # unknown now: nothing changes, no event
    assert events[-1].detail == {"capture_id": "lost"} and len(runner.captures("first")) == 1


def test_an_extra_capture_takes_the_place_of_a_discarded_one(runner: ChecklistRunner) -> None:
    runner.record_capture(kind="still", plane="long_axis", capture_id="a")
    runner.record_capture(kind="still", plane="long_axis", capture_id="b")  # an extra: "a" filled it
    runner.record_capture(kind="still", plane="short_axis", capture_id="c")
    assert runner.discard_capture("a")  # "a" could not be stored
    assert runner.missing_for_step("first") == []  # "b" is stored and fills the requirement
    assert [(c.capture_id, c.extra) for c in runner.captures("first")] == [("b", False), ("c", False)]


def test_capture_matching_no_requirement_is_kept_as_extra(runner: ChecklistRunner) -> None:
    runner.record_capture(kind="still", plane="long_axis", capture_id="a")
    runner.record_capture(kind="still", plane="long_axis", capture_id="b")  # one more than asked
    runner.record_capture(kind="clip", plane="coronal", capture_id="c")
    caps = runner.captures("first")
    assert [c.capture_id for c in caps] == ["a", "b", "c"]
    assert [c.extra for c in caps] == [False, True, True]
    assert len(runner.missing_for_step("first")) == 1


def test_counts_and_contralateral_side(runner: ChecklistRunner) -> None:
    runner.next()
    runner.record_capture(kind="clip", plane="transverse", capture_id="k1")
    assert runner.missing_for_step("second")[0].remaining == 1
    runner.record_capture(kind="clip", plane="transverse", capture_id="k2")
    left = runner.record_capture(kind="still", plane="long_axis", capture_id="d1", mode="spectral_doppler")
    assert left["side"] == "left"
    remaining = runner.missing_for_step("second")
    assert [m.description for m in remaining] == ["1 still, long axis, spectral doppler, other side"]
    right = runner.record_capture(
        kind="still", plane="long_axis", capture_id="d2", mode="spectral_doppler", contralateral=True
    )
    assert right["side"] == "right"
    assert runner.missing_for_step("second") == []


def test_bad_capture_labels_are_refused(runner: ChecklistRunner) -> None:
    with pytest.raises(RunnerError, match="bad capture label"):
        runner.record_capture(kind="photo", plane="long_axis", capture_id="x")
    with pytest.raises(RunnerError, match="bad capture label"):
        runner.record_capture(kind="still", plane="diagonal", capture_id="x")
    assert runner.captures() == []


def test_ask_protocol_needs_a_side_before_capturing(protocol: ScanProtocol, clock: FakeClock) -> None:
    r = ChecklistRunner(protocol, clock=clock)
    assert r.side == ""
    with pytest.raises(RunnerError, match="choose the side"):
        r.record_capture(kind="still", plane="long_axis", capture_id="x")
    got: list[RunnerEvent] = []
    r.changed.connect(got.append)
    r.choose_side("right")
    assert got[-1].kind is EventKind.SIDE_CHOSEN
    assert r.record_capture(kind="still", plane="long_axis", capture_id="x")["side"] == "right"
    with pytest.raises(RunnerError, match="side must be"):
        r.choose_side("up")


def test_skip_needs_a_reason_records_it_and_moves_on(
    runner: ChecklistRunner, events: list[RunnerEvent]
) -> None:
    with pytest.raises(RunnerError, match="reason"):
        runner.skip("   ")
    assert runner.current_step.id == "first"
    runner.skip("patient cannot flex the knee")
    assert [e.kind for e in events] == [EventKind.STEP_SKIPPED, EventKind.STEP_CHANGED]
    assert runner.current_step.id == "second"
    assert runner.step_status("first") is StepStatus.SKIPPED
    assert runner.missing_for_step("first") == []
    assert runner.completeness().skipped == (("first", "patient cannot flex the knee"),)
    runner.unskip("first")
    assert runner.step_status("first") is StepStatus.INCOMPLETE


def test_finding_opens_follow_up_with_extra_requirements(
    runner: ChecklistRunner, events: list[RunnerEvent]
) -> None:
    runner.record_capture(kind="still", plane="long_axis", capture_id="a")
    runner.record_capture(kind="still", plane="short_axis", capture_id="b")
    assert runner.missing_for_step("first") == []
    opened = runner.choose_finding("effusion")
    assert [fu.id for fu in opened] == ["effusion_follow_up"]
    assert [e.kind for e in events[-2:]] == [EventKind.FINDING_CHANGED, EventKind.FOLLOW_UP_OPENED]
    missing = runner.missing_for_step("first")
    assert [(m.what, m.follow_up_id) for m in missing] == [
        ("capture", "effusion_follow_up"),
        ("measurement", "effusion_follow_up"),
    ]
    labels = runner.record_capture(kind="still", plane="short_axis", capture_id="c")
    assert labels["follow_up_id"] == "effusion_follow_up"
    runner.record_measurement("effusion_depth_mm", 7.5)
    assert runner.measurements()[0].unit == "mm"
    assert runner.missing_for_step("first") == []


def test_normal_and_pathology_exclude_each_other(runner: ChecklistRunner, events: Events) -> None:
    runner.choose_finding("normal")
    runner.choose_finding("effusion")
    assert runner.findings() == ["effusion"]
    runner.choose_finding("synovitis")
    assert runner.findings() == ["effusion", "synovitis"]
    runner.choose_finding("normal")
    assert runner.findings() == ["normal"]
    closed = [e for e in events if e.kind is EventKind.FOLLOW_UP_CLOSED]
    assert [e.detail["follow_up_id"] for e in closed] == ["effusion_follow_up"]
    assert runner.open_follow_ups() == []
    with pytest.raises(RunnerError, match="no finding"):
        runner.choose_finding("fracture")


def test_measurement_units(runner: ChecklistRunner) -> None:
    with pytest.raises(RunnerError, match="give its unit"):
        runner.record_measurement("free_thing", 3.0)
    runner.record_measurement("free_thing", 3.0, "mm")
    runner.choose_finding("effusion")
    with pytest.raises(RunnerError, match="is in mm"):
        runner.record_measurement("effusion_depth_mm", 3.0, "cm")


def test_area_of_pain_mark_is_required_and_checked(
    runner: ChecklistRunner, events: list[RunnerEvent]
) -> None:
    runner.go_to(2)
    # The step is optional, yet the pain mark it asks for is still required.
    assert [m.what for m in runner.missing_for_step("third")] == ["area_of_pain"]
    with pytest.raises(RunnerError, match=r"within 0\.\.1"):
        runner.mark_area_of_pain("calf", "left", 1.5, 0.2)
    with pytest.raises(RunnerError, match="side"):
        runner.mark_area_of_pain("calf", "top", 0.5, 0.2)
    runner.mark_area_of_pain("calf", "left", 0.42, 0.78, note="swollen")
    assert events[-1].kind is EventKind.AREA_OF_PAIN_MARKED
    assert runner.missing_for_step("third") == []
    assert runner.area_of_pain is not None and runner.area_of_pain.y == pytest.approx(0.78)


def test_optional_step_requires_only_its_opened_follow_ups(runner: ChecklistRunner) -> None:
    runner.go_to(2)
    runner.mark_area_of_pain("popliteal fossa", "left", 0.4, 0.6)
    assert runner.missing_for_step("third") == []  # its own still is optional
    runner.choose_finding("baker_cyst")
    assert [m.description for m in runner.missing_for_step("third")] == ["1 still, sagittal (for Two planes)"]


def test_a_follow_up_capture_says_what_it_is_for(clock: FakeClock) -> None:
    """The knee's recess asks for a short-axis still; an effusion asks for another, of its deepest
    pocket. With the first taken, the missing one must not read as the step's own (a newcomer was
    told "1 still, short axis" was missing with it on screen)."""
    knee = ChecklistRunner(load_protocol(LIBRARY_DIR / "knee.yaml"), side="left", clock=clock)
    recess = next(i for i, s in enumerate(knee.steps) if s.id == "suprapatellar_recess")
    knee.go_to(recess)
    knee.choose_finding("effusion")
    captures = [m.description for m in knee.missing_for_step("suprapatellar_recess") if m.what == "capture"]
    assert "1 still, short axis — deepest pocket (for Effusion in two planes, measured)" in captures


def test_time_per_step_uses_the_injected_clock(runner: ChecklistRunner, clock: FakeClock) -> None:
    clock.now += 10
    runner.next()
    clock.now += 4
    assert runner.time_spent_s("first") == pytest.approx(10)
    assert runner.time_spent_s("second") == pytest.approx(4)  # running
    runner.back()
    clock.now += 1
    assert runner.time_spent_s("first") == pytest.approx(11)
    assert runner.elapsed_s() == pytest.approx(15)


def test_completeness_lists_every_missing_mandatory_item(runner: ChecklistRunner) -> None:
    c = runner.completeness()
    assert not c.complete
    assert [(m.step_id, m.description) for m in c.missing] == [
        ("first", "1 still, long axis"),
        ("first", "1 still, short axis"),
        ("second", "2 clips, transverse"),
        ("second", "1 still, long axis, spectral doppler"),
        ("second", "1 still, long axis, spectral doppler, other side"),
        ("third", "mark the area of pain"),
    ]
    assert c.steps_without_finding == ("first", "second", "third")


def _complete(runner: ChecklistRunner) -> None:
    runner.go_to(0)
    runner.record_capture(kind="still", plane="long_axis", capture_id="1")
    runner.record_capture(kind="still", plane="short_axis", capture_id="2")
    runner.choose_finding("normal")
    runner.next()
    runner.record_capture(kind="clip", plane="transverse", capture_id="3")
    runner.record_capture(kind="clip", plane="transverse", capture_id="4")
    runner.record_capture(kind="still", plane="long_axis", capture_id="5", mode="spectral_doppler")
    runner.record_capture(
        kind="still", plane="long_axis", capture_id="6", mode="spectral_doppler", contralateral=True
    )
    runner.choose_finding("normal")
    runner.next()
    runner.mark_area_of_pain("calf", "left", 0.4, 0.8)
    runner.choose_finding("normal")


def test_complete_exam_record_is_json_serialisable(runner: ChecklistRunner, clock: FakeClock) -> None:
    _complete(runner)
    assert runner.completeness().complete
    clock.now += 30
    got: list[RunnerEvent] = []
    runner.changed.connect(got.append)
    record = runner.end_exam()
    assert got[-1].kind is EventKind.EXAM_ENDED and got[-1].detail["complete"] is True
    assert record.complete and record.ended
    d = json.loads(json.dumps(record.to_dict()))
    assert d["protocol_id"] == "mini" and d["protocol_version"] == 3 and d["side"] == "left"
    assert [s["status"] for s in d["steps"]] == ["done", "done", "done"]
    assert d["steps"][1]["captures"][3]["side"] == "right"
    assert d["area_of_pain"]["region"] == "calf"
    assert d["duration_s"] == pytest.approx(30)
    with pytest.raises(RunnerError, match="ended"):
        runner.next()


def test_ending_an_incomplete_exam_keeps_what_is_missing(runner: ChecklistRunner) -> None:
    runner.record_capture(kind="still", plane="long_axis", capture_id="1")
    record = runner.end_exam()
    assert not record.complete
    assert record.steps[0].captures[0].capture_id == "1"
    assert len(record.missing) == 5  # the six of a fresh exam less the still just taken


def test_quadrant_restricts_steps(protocol: ScanProtocol, clock: FakeClock) -> None:
    r = ChecklistRunner(protocol, side="right", quadrant="back", clock=clock)
    assert [s.id for s in r.steps] == ["second", "third"]
    assert r.record().quadrant == "back"
    with pytest.raises(RunnerError, match="no quadrant"):
        ChecklistRunner(protocol, side="right", quadrant="front", clock=clock)


def test_practice_view_within_tolerance_is_found(protocol: ScanProtocol, clock: FakeClock) -> None:
    r = ChecklistRunner(protocol, side="left", practice=True, clock=clock)
    got: list[RunnerEvent] = []
    r.changed.connect(got.append)
    far = {"position_mm": 40, "lateral_mm": 0, "rotation_deg": 0, "tilt_deg": 0}
    assert not r.check_practice_view("knee", far)
    assert not r.view_found()
    near = {"position_mm": 33, "lateral_mm": -4, "rotation_deg": 355, "tilt_deg": 4}  # 355° is 5° off
    assert not r.check_practice_view("ankle", near)  # wrong scene
    assert r.check_practice_view("knee", near)
    assert r.view_found()
    assert [e.kind for e in got] == [EventKind.VIEW_FOUND]
    with pytest.raises(RunnerError, match="pose lacks"):
        r.check_practice_view("knee", {"position_mm": 30})
    r.next()
    assert not r.check_practice_view("knee", near)  # step 2 has no target


def test_practice_view_needs_the_ground_truth_and_is_not_found_by_being_shown(
    protocol: ScanProtocol, clock: FakeClock
) -> None:
    r = ChecklistRunner(protocol, side="left", practice=True, clock=clock)
    target = r.current_step.practice
    assert target is not None
    start = practice_start_pose(target)
    assert abs(start["position_mm"] - target.pose["position_mm"]) > target.tolerance["position_mm"]
    assert not r.check_practice_view("knee", start)  # a step never starts on its view
    on = {k: target.pose[k] for k in ("position_mm", "lateral_mm", "rotation_deg", "tilt_deg")}
    wanted = frozenset({"femoral vein"})
    open_vein = ViewTruth("knee", frozenset({"skin", "femoral vein"}), wanted, frozenset())
    pressed = ViewTruth("knee", frozenset({"skin", "femoral vein"}), wanted, wanted)
    missing = ViewTruth("knee", frozenset({"skin"}), frozenset(), frozenset())
    r.show_practice_view()  # "Go to target view": shown ...
    assert not r.check_practice_view("knee", on, open_vein, wanted)  # ... not found
    assert r.view_shown() and not r.view_found()
    assert not r.check_practice_view("knee", on, pressed, wanted)  # pressing the vein where it was shown
    assert not r.check_practice_view("knee", on, open_vein, wanted)  # and letting go is not finding it
    assert not r.view_found()
    assert not r.check_practice_view("knee", start, open_vein, wanted)  # the trainee moves away
    assert not r.check_practice_view("knee", on, pressed, wanted)  # back, but the vein is pressed
    assert not r.check_practice_view("knee", on, missing, wanted)  # or not in the plane
    assert r.check_practice_view("knee", on, open_vein, wanted)  # open and in view: found
    assert r.record().steps[0].view_found and r.record().steps[0].view_shown
    assert len(practice_probe_poses(target)) == 9


def test_practice_summary(protocol: ScanProtocol, clock: FakeClock) -> None:
    r = ChecklistRunner(protocol, side="left", practice=True, clock=clock)
    r.check_practice_view("knee", {"position_mm": 30, "lateral_mm": 0, "rotation_deg": 0, "tilt_deg": 0})
    r.record_capture(kind="still", plane="long_axis", capture_id="1")
    r.record_capture(kind="still", plane="short_axis", capture_id="2")
    clock.now += 42
    r.next()
    s = r.practice_summary()
    assert (s.steps_done, s.steps_total, s.views_found, s.views_total) == (1, 3, ("first",), 1)
    assert s.time_taken_s == pytest.approx(42)


def test_practice_needs_targets_resolved_against_the_simulators_views(clock: FakeClock) -> None:
    unresolved, errors = parse_protocol(PROTOCOL_YAML, "mini.yaml")  # no views: targets have no pose
    assert unresolved is not None, errors
    ChecklistRunner(unresolved, side="left", clock=clock)  # an exam without practice is fine
    with pytest.raises(RunnerError, match="practice targets of first have no pose"):
        ChecklistRunner(unresolved, side="left", practice=True, clock=clock)


def test_fixed_side_protocol_refuses_another_side(protocol: ScanProtocol, clock: FakeClock) -> None:
    fixed, errors = parse_protocol(PROTOCOL_YAML.replace("side: ask", "side: bilateral"), "b.yaml")
    assert fixed is not None, errors
    r = ChecklistRunner(fixed, clock=clock)
    assert r.side == "bilateral"
    with pytest.raises(RunnerError, match="is for side"):
        ChecklistRunner(fixed, side="left", clock=clock)
    with pytest.raises(RunnerError, match="fixed side"):
        r.choose_side("left")


def test_protocol_package_does_not_import_qt() -> None:
    """The runner and the validation stay Qt-free (the import-linter contract, checked directly)."""
    import subprocess
    import sys

    code = (
        "import sys, protocols.runner, protocols.validation, protocols.model;"
        "bad = [m for m in sys.modules if m.startswith(('PyQt6', 'pyqtgraph', 'ui'))];"
        "assert not bad, bad"
    )
    root = Path(__file__).resolve().parent.parent
    cmd = [sys.executable, "-c", code]
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr


def _dvt_runner() -> ChecklistRunner:
    dvt = load_protocol(LIBRARY_DIR / "dvt_whole_leg.yaml")
    runner = ChecklistRunner(dvt, side="right")
    runner.go_to([s.id for s in runner.steps].index("cfv_doppler"))
    return runner


def test_a_b_mode_capture_never_counts_for_a_doppler_requirement() -> None:
    runner = _dvt_runner()
    # Asked for the spectral requirement, but the image was B-mode: kept as an extra, with the reason.
    labels = runner.record_capture("still", "long_axis", "b1", mode="spectral_doppler", imaging_mode="bmode")
    assert labels["mode"] == "bmode" and labels["follow_up_id"] == ""
    assert labels["note"] == "a B-mode still does not document spectral Doppler: switch to PW first"
    b1 = runner.find_capture("b1")
    assert b1 is not None and b1.extra and b1.mode == "bmode"
    assert [m.remaining for m in runner.missing_for_step("cfv_doppler")] == [1, 1]
    # A plain capture (no button) in colour flow does not do either.
    runner.record_capture("still", "long_axis", "c1", imaging_mode="color_doppler")
    c1 = runner.find_capture("c1")
    assert c1 is not None and c1.extra
    assert c1.note == "a colour Doppler still does not document spectral Doppler: switch to PW first"
    # Taken in PW: counts, once per side.
    runner.record_capture("still", "long_axis", "s1", imaging_mode="spectral_doppler")
    runner.record_capture("still", "long_axis", "s2", imaging_mode="spectral_doppler", contralateral=True)
    assert runner.missing_for_step("cfv_doppler") == []
    s1 = runner.find_capture("s1")
    assert s1 is not None and not s1.extra and s1.note == ""
    record = runner.record().to_dict()
    step = next(s for s in record["steps"] if s["step_id"] == "cfv_doppler")
    assert [(c["mode"], c["extra"]) for c in step["captures"]] == [
        ("bmode", True),
        ("color_doppler", True),
        ("spectral_doppler", False),
        ("spectral_doppler", False),
    ]


def test_an_extra_in_the_right_mode_has_no_refusal_note() -> None:
    runner = _dvt_runner()
    for capture_id in ("s1", "s2"):
        runner.record_capture("still", "long_axis", capture_id, imaging_mode="spectral_doppler")
    s2 = runner.find_capture("s2")
    # The exam side is done; the other side is still wanted, in the same mode: no mode to blame.
    assert s2 is not None and s2.extra and s2.note == ""
