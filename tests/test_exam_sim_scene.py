"""A plain exam (not practice) on the simulated probe: the simulated patient shows each step's practice
scene and variant as the exam moves on, as practice mode does, without practice scoring or a start
pose away from the view; never on a real probe."""

from __future__ import annotations

from drivers.sim.control import SimulatorControl
from drivers.sim.patient import PatientRenderer
from drivers.sim.scenes import named_views
from protocols.validation import LIBRARY_DIR, load_protocol
from tests.test_exam_window import ExamRig, _request, rig
from ui.sim_panel import SimulatorTab

__all__ = ["rig"]  # the fixture: a window on the simulated knee with an exam controller


def _simulator(rig: ExamRig) -> SimulatorTab:
    simulator = rig.exams.simulator
    assert simulator is not None
    return simulator


def test_a_dvt_exam_without_practice_mode_moves_the_simulated_patient_step_by_step(rig: ExamRig) -> None:
    dvt = load_protocol(LIBRARY_DIR / "dvt_two_point.yaml", views=named_views())  # as main.py loads it
    assert rig.sim.current_scene() == ("knee", None)
    rig.exams.start_exam(_request(dvt))
    runner = rig.exams.session.runner if rig.exams.session else None
    assert runner is not None and not runner.practice
    runner.next()  # setup -> groin: the CFV
    target = runner.current_step.practice
    assert target is not None and (target.scene, target.variant) == ("groin", "normal")
    assert rig.sim.current_scene() == ("groin", None)
    panel = _simulator(rig).panel
    assert panel is not None and panel.scene_combo.currentData() == "groin"  # the Sim tab shows it
    runner.next()  # -> popliteal, the thrombosed vein of this protocol's practice target
    assert rig.sim.current_scene() == ("popliteal", "thrombosed_vein")
    # The new scene opens at its first view, as on the Sim tab: not practice's start pose off the view.
    first_view = SimulatorControl(PatientRenderer("popliteal", "thrombosed_vein")).get_pose()
    assert rig.sim.get_pose() == first_view
    # No practice scoring: no view check, nothing found or shown, no practice summary.
    assert not rig.exams.practice_timer.isActive()
    assert not rig.exams.target_button.isVisible()
    record = runner.record()
    assert not any(step.view_found or step.view_shown for step in record.steps)
    rig.exams.end_exam()
    assert "views found" not in rig.exams.finished_text


def test_on_a_real_probe_the_exam_leaves_the_simulator_alone_until_the_probe_is_simulated(
    rig: ExamRig,
) -> None:
    simulator = _simulator(rig)
    simulator.set_control(None)  # a switch to a real probe: no simulated patient in the window
    dvt = load_protocol(LIBRARY_DIR / "dvt_two_point.yaml", views=named_views())
    rig.exams.start_exam(_request(dvt))
    runner = rig.exams.session.runner if rig.exams.session else None
    assert runner is not None
    runner.next()  # the groin step
    assert rig.sim.current_scene() == ("knee", None)  # the simulator, unused, is not touched
    simulator.set_control(rig.sim)  # back on the simulated probe mid-exam: it shows the step now
    assert rig.sim.current_scene() == ("groin", None)
    rig.exams.end_exam()


def test_a_knee_exam_shows_its_first_scene_at_the_start_and_the_effusion_at_its_step(rig: ExamRig) -> None:
    knee = load_protocol(LIBRARY_DIR / "knee.yaml", views=named_views())
    rig.sim.set_scene("shoulder", None)
    rig.exams.start_exam(_request(knee))
    runner = rig.exams.session.runner if rig.exams.session else None
    assert runner is not None
    first = runner.current_step.practice
    assert first is not None and rig.sim.current_scene() == (first.scene, None)  # at the exam's start
    rig.sim.set_pose(lateral_mm=3.0)  # the sonographer scans on
    pose = rig.sim.get_pose()
    while runner.current_step.practice is None or runner.current_step.practice.variant == "normal":
        runner.next()
    assert rig.sim.current_scene() == ("knee", "effusion")
    assert rig.sim.get_pose() == pose  # the same knee, another variant: the probe stays where it was
    rig.exams.end_exam()


def test_the_body_marker_shows_where_the_simulated_probe_is_not_where_the_next_step_goes(
    rig: ExamRig,
) -> None:
    """A newcomer's first DVT step showed 'L DVT groin / thigh' over the knee the simulated probe was
    still on: the exam puts its side on the marker, the probe's scene its region, step by step."""
    annotations = rig.window.models.annotations
    dvt = load_protocol(LIBRARY_DIR / "dvt_two_point.yaml", views=named_views())
    assert rig.sim.current_scene() == ("knee", None)
    rig.exams.start_exam(_request(dvt, side="left"))
    runner = rig.exams.session.runner if rig.exams.session else None
    assert runner is not None and runner.current_step.practice is None  # the set-up step: no scene
    seen = [(rig.sim.current_scene()[0], annotations.body_marker.region, annotations.body_marker.side)]
    while runner.next():
        seen.append(
            (rig.sim.current_scene()[0], annotations.body_marker.region, annotations.body_marker.side)
        )
    assert seen == [
        ("knee", "Knee", "L"),  # still on the knee: not yet the groin of the step to come
        ("groin", "DVT groin / thigh", "L"),
        ("popliteal", "Knee", "L"),
        ("calf", "DVT calf", "L"),
        ("calf", "DVT calf", "L"),  # the last step has no scene of its own: the probe stays
    ]
    rig.exams.end_exam()


def test_on_a_real_probe_the_body_marker_shows_the_protocols_region(rig: ExamRig) -> None:
    _simulator(rig).set_control(None)  # a real probe: the exam's region is the best the marker knows
    rig.exams.start_exam(
        _request(load_protocol(LIBRARY_DIR / "dvt_two_point.yaml", views=named_views()), side="left")
    )
    marker = rig.window.models.annotations.body_marker
    assert (marker.region, marker.side) == ("DVT groin / thigh", "L")
    rig.exams.end_exam()
