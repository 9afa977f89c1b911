"""The identification quiz and view grading against the simulator's ground truth: a click on the
tendon's pixels is right, 2 mm outside them is wrong; the label map agrees with the rendered labels."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest

from drivers.sim.control import SimulatorControl
from drivers.sim.patient import PatientRenderer
from drivers.sim.renderer import RenderParams
from scanner_app.programme.practice import ProbePath, grade_view
from scanner_app.programme.quiz import (
    FIRST_TRACK,
    MUSCLE,
    NO,
    SUBCUTANEOUS,
    YES,
    AnswerKind,
    Competency,
    Question,
    QuizSession,
    fluid_depth_mm,
    fluid_in_view,
    grade_answer,
    grade_click,
    make_question,
)
from scanner_app.sim_control import LabelMap

ROWS, COLS, WIDTH_MM = 280, 190, 38.0  # 0.125 x 0.2 mm pixels over the knee's 35 mm


def _knee(variant: str | None = None) -> tuple[SimulatorControl, LabelMap]:
    control = SimulatorControl(PatientRenderer("knee", variant))
    return control, control.label_map(ROWS, COLS, 35.0, WIDTH_MM)


def test_the_label_map_is_the_renderers_ground_truth_for_the_same_image() -> None:
    renderer = PatientRenderer("knee")
    labels = SimulatorControl(renderer).label_map(128, 96, 35.0, WIDTH_MM)
    frame = renderer.render(RenderParams(rows=128, cols=96, depth_mm=35.0, width_mm=WIDTH_MM), 0.0)
    tissue_names = PatientRenderer.label_names()
    rendered = np.vectorize(lambda k: tissue_names[int(k)])(frame.labels)
    ours = np.asarray(labels.tissues, dtype=object)[labels.index]
    assert rendered.shape == ours.shape
    assert float(np.mean(rendered == ours)) > 0.97  # the renderer paints the anatomy on a coarser grid
    assert "quadriceps tendon" in labels.in_view()
    assert set(labels.in_view()) <= set(frame.structures_in_view) | {"coupling gel"}


def test_a_click_on_the_tendons_pixels_is_right_and_2_mm_outside_is_wrong() -> None:
    _control, labels = _knee()
    question = make_question(Competency.TENDON, labels, random.Random(0))
    assert question is not None and question.kind is AnswerKind.CLICK
    tendon = labels.tissue_mask("tendon")
    rows, cols = np.nonzero(tendon)
    dx, dz = labels.pixel_mm
    # The deepest tendon pixel of the middle column: its centre is on the tendon, 2 mm below is not.
    col = int(np.median(cols))
    row = int(rows[cols == col].max())
    x_mm, depth_mm = (col + 0.5) * dx, (row + 0.5) * dz
    right = grade_click(question, labels, x_mm, depth_mm)
    assert right.correct and "tendon" in right.truth
    wrong = grade_click(question, labels, x_mm, depth_mm + 2.0)
    assert not wrong.correct
    assert labels.tissue_at(x_mm, depth_mm + 2.0) != "tendon"
    # ... and 2 mm above its shallowest pixel in that column, also outside.
    top = int(rows[cols == col].min())
    assert not grade_click(question, labels, x_mm, (top + 0.5) * dz - 2.0).correct
    # Every tendon pixel's centre is right; every other pixel's centre is wrong.
    for r, c in [(row, col), (top, col), (int(rows[0]), int(cols[0]))]:
        assert grade_click(question, labels, (c + 0.5) * dx, (r + 0.5) * dz).correct
    assert not grade_click(question, labels, 1.0, 0.05).correct  # the skin


def test_fluid_question_follows_the_ground_truth() -> None:
    _c, knee = _knee("effusion")
    question = make_question(Competency.FLUID, knee, random.Random(0))
    assert question is not None and question.answer == YES
    graded = grade_answer(question, knee, YES)
    assert graded.correct and "effusion" in graded.truth
    assert not grade_answer(question, knee, NO).correct
    # The answer says how deep the fluid is: the normal knee's thin stripe against the effusion.
    _c, normal = _knee()
    stripe = grade_answer(question, normal, YES).truth
    assert re.fullmatch(r"fluid: suprapatellar recess, up to \d+\.\d mm deep", stripe), stripe
    deepest = max(fluid_depth_mm(knee, name) for name in fluid_in_view(knee))
    assert deepest > 2 * fluid_depth_mm(normal, "suprapatellar recess") > 0.0
    assert f"up to {deepest:.1f} mm deep" in graded.truth
    achilles = SimulatorControl(PatientRenderer("ankle"))
    dry = achilles.label_map(ROWS, COLS, 25.0, WIDTH_MM)
    question = make_question(Competency.FLUID, dry, random.Random(0))
    assert question is not None and question.answer == NO
    assert grade_answer(question, dry, NO).correct


def test_subcutaneous_or_muscle_at_a_marked_point_and_by_click() -> None:
    _c, labels = _knee()
    kinds = set()
    for seed in range(12):
        question = make_question(Competency.TISSUE, labels, random.Random(seed))
        assert question is not None
        kinds.add(question.kind)
        if question.kind is AnswerKind.CHOICE:
            assert question.marked_mm is not None
            x, d = question.marked_mm
            truth = "muscle" if labels.tissue_at(x, d) == "muscle" else SUBCUTANEOUS
            assert labels.structure_at(x, d) == "subcutaneous fat" or truth == MUSCLE
            assert grade_answer(question, labels, truth).correct
            other = MUSCLE if truth == SUBCUTANEOUS else SUBCUTANEOUS
            assert not grade_answer(question, labels, other).correct
        else:
            name = (
                "subcutaneous fat"
                if question.target == SUBCUTANEOUS
                else "vastus medialis / lateralis muscle"
            )
            # A pixel of the structure itself (a curved muscle's centroid may lie in the tendon it wraps).
            pixels = np.argwhere(labels.mask(name))
            assert pixels.size
            row, col = pixels[len(pixels) // 2]
            dx, dz = labels.pixel_mm
            assert grade_click(question, labels, (col + 0.5) * dx, (row + 0.5) * dz).correct
    assert kinds == {AnswerKind.CHOICE, AnswerKind.CLICK}


def test_a_quiz_session_runs_the_first_track_and_scores_it() -> None:
    _c, labels = _knee()
    quiz = QuizSession(FIRST_TRACK, seed=3)
    assert quiz.ask(labels) is not None and quiz.competency is Competency.TENDON
    x, d = labels.centroid_mm("quadriceps tendon") or (0.0, 0.0)
    assert quiz.answer_click(x, d).correct
    assert quiz.ask(labels) is not None
    assert not quiz.answer(NO).correct  # the suprapatellar recess holds fluid
    quiz.ask(labels)
    quiz.skip()
    assert quiz.finished and quiz.score_percent() == pytest.approx(50.0)
    with pytest.raises(ValueError):
        grade_click(Question(Competency.FLUID, AnswerKind.YES_NO, "?", answer=YES), labels, 1.0, 1.0)


def test_view_grading_by_pose_and_time() -> None:
    target = {"position_mm": 10.0, "lateral_mm": 0.0, "rotation_deg": 90.0, "tilt_deg": 0.0}
    tol = {"position_mm": 5.0, "lateral_mm": 5.0, "rotation_deg": 15.0, "tilt_deg": 10.0}
    on = grade_view({**target, "position_mm": 13.0}, target, tol, 20.0)
    assert on.within_tolerance and on.score_percent == pytest.approx(100.0)
    assert on.errors["position_mm"] == pytest.approx(3.0)
    # Two tolerances off (rotation across the ±180 seam is measured the short way): half marks.
    off = grade_view({**target, "rotation_deg": 90.0 + 30.0}, target, tol, 20.0)
    assert not off.within_tolerance and off.score_percent == pytest.approx(50.0)
    seam = grade_view({**target, "rotation_deg": -170.0}, {**target, "rotation_deg": 175.0}, tol, 20.0)
    assert seam.errors["rotation_deg"] == pytest.approx(15.0) and seam.within_tolerance
    assert grade_view({**target, "lateral_mm": 15.0}, target, tol, 20.0).score_percent == 0.0
    slow = grade_view(target, target, tol, 240.0)
    assert slow.score_percent == pytest.approx(50.0)


def test_the_probe_path_is_thinned_and_survives_json() -> None:
    path = ProbePath()
    pose = {"position_mm": 0.0, "lateral_mm": 0.0, "rotation_deg": 0.0, "tilt_deg": 0.0, "pressure": 0.0}
    for i in range(20):
        path.add(i * 0.1, {**pose, "position_mm": i * 0.1})  # 2 mm in 0.1 mm steps
    assert 3 <= len(path.samples) <= 5
    assert path.length_mm() == pytest.approx(1.5, abs=0.11)
    again = ProbePath.from_json(path.to_json())
    assert [s.pose["position_mm"] for s in again.samples] == [s.pose["position_mm"] for s in path.samples]


def test_an_answer_is_graded_on_the_image_shown_when_it_is_given() -> None:
    control, labels = _knee()
    quiz = QuizSession(FIRST_TRACK, seed=3)
    quiz.ask(labels)
    x, d = labels.centroid_mm("quadriceps tendon") or (0.0, 0.0)
    # The trainee slides onto the patella before clicking: where the quadriceps tendon was, the
    # image now shows bone.
    control.set_pose(position_mm=0.0)
    moved = control.label_map(ROWS, COLS, 35.0, WIDTH_MM)
    assert moved.tissue_at(x, d) == "bone"
    graded = quiz.answer_click(x, d, moved)
    assert not graded.correct and "patella" in graded.truth


def test_a_deep_fat_pad_is_named_fat_and_is_not_subcutaneous_tissue() -> None:
    """The knee's suprapatellar fat pad is made of the simulator's one fat tissue ("subcutaneous
    fat"): the answer names it fat, and only the layer under the skin counts as subcutaneous."""
    _c, labels = _knee()
    dx, dz = labels.pixel_mm
    pad = "suprapatellar (quadriceps) fat pad"
    row, col = np.argwhere(labels.mask(pad))[labels.mask(pad).sum() // 2]
    x, d = (col + 0.5) * dx, (row + 0.5) * dz
    assert labels.tissue_at(x, d) == "subcutaneous fat"  # the premise: one fat tissue for both
    click_subcutaneous = Question(Competency.TISSUE, AnswerKind.CLICK, "Click the x", target=SUBCUTANEOUS)
    graded = grade_click(click_subcutaneous, labels, x, d)
    assert not graded.correct
    assert graded.truth == f"{pad} (fat)"
    marked = Question(
        Competency.TISSUE,
        AnswerKind.CHOICE,
        "?",
        answer=MUSCLE,
        choices=(SUBCUTANEOUS, MUSCLE),
        marked_mm=(x, d),
    )
    assert "subcutaneous" not in grade_answer(marked, labels, MUSCLE).truth
    # The layer under the skin is subcutaneous, and said so once.
    row, col = np.argwhere(labels.mask("subcutaneous fat"))[labels.mask("subcutaneous fat").sum() // 2]
    graded = grade_click(click_subcutaneous, labels, (col + 0.5) * dx, (row + 0.5) * dz)
    assert graded.correct and graded.truth == "subcutaneous fat"
    tendon = grade_click(click_subcutaneous, labels, *labels.label_point_mm("quadriceps tendon"))  # type: ignore[misc]
    assert tendon.truth == "quadriceps tendon (tendon)"
