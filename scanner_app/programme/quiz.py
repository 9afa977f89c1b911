"""The identification quiz: questions about the image on screen, graded from the simulator's ground truth.

A question is made from the `LabelMap` of the image the trainee sees and graded against the same
map, never against pixels: a click on a pixel of the asked structure is right, a click anywhere else
(even just outside its edge) is wrong. The first track is the seed's three competencies: recognise
a tendon, find fluid in a sheath or joint, tell subcutaneous tissue from muscle.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from scanner_app.sim_control import LabelMap

# The simulator's tissue and structure names the questions ask about (drivers/sim/tissues.py).
TENDON_TISSUE = "tendon"
FLUID_TISSUE = "fluid"
MUSCLE_TISSUE = "muscle"
SUBCUTANEOUS_STRUCTURE = "subcutaneous fat"  # the layer under the skin, not deep fat pads
# The simulator has one fat tissue, named for the layer under the skin: a deep fat pad is made of it
# too, and is called plain "fat" in an answer (it is not subcutaneous).
FAT_TISSUE = "subcutaneous fat"
# Fluid must cover this much of the image to count as "fluid in the sheath/joint" (a few pixels at a
# structure's edge are not a finding anyone could make).
MIN_FLUID_AREA_MM2 = 1.0
# A marked point sits at least this far inside its tissue, so its answer does not hang on a pixel.
MARK_MARGIN_MM = 1.0


class Competency(StrEnum):
    TENDON = "tendon"  # click the tendon
    FLUID = "fluid"  # is there fluid in the sheath/joint? (yes/no)
    TISSUE = "tissue"  # subcutaneous tissue or muscle?


class AnswerKind(StrEnum):
    CLICK = "click"  # a point on the image
    YES_NO = "yes_no"
    CHOICE = "choice"  # one of `choices`, about the marked point


SUBCUTANEOUS, MUSCLE = "subcutaneous tissue", "muscle"
YES, NO = "yes", "no"

FIRST_TRACK: tuple[Competency, ...] = (Competency.TENDON, Competency.FLUID, Competency.TISSUE)
"""The seed's three competencies, in the order the quiz asks them."""


@dataclass(frozen=True, slots=True)
class Question:
    """One quiz question about one image; `answer` is the right answer of a yes/no or choice question,
    `target` what a click must hit (a tissue, or SUBCUTANEOUS / MUSCLE)."""

    competency: Competency
    kind: AnswerKind
    prompt: str
    target: str = ""
    answer: str = ""
    choices: tuple[str, ...] = ()
    marked_mm: tuple[float, float] | None = None  # (x_mm, depth_mm) the question asks about


@dataclass(frozen=True, slots=True)
class Graded:
    """A question, what the trainee answered and whether it was right, with the truth to show."""

    question: Question
    given: str  # "yes", "muscle", or "x_mm,depth_mm" for a click
    correct: bool
    truth: str  # what was really there ("quadriceps tendon", "fluid: suprapatellar recess", ...)


def target_mask(target: str, labels: LabelMap) -> npt.NDArray[np.bool_]:
    """The pixels a click on `target` may hit."""
    if target == SUBCUTANEOUS:
        return labels.mask(SUBCUTANEOUS_STRUCTURE)
    if target == MUSCLE:
        return labels.tissue_mask(MUSCLE_TISSUE)
    return labels.tissue_mask(target)


def fluid_in_view(labels: LabelMap) -> tuple[str, ...]:
    """The fluid-filled structures (a recess, a bursa, a sheath, an effusion) large enough to see."""
    dx, dz = labels.pixel_mm
    found = []
    for name in labels.in_view():
        mask = labels.mask(name) & labels.tissue_mask(FLUID_TISSUE)
        if float(mask.sum()) * dx * dz >= MIN_FLUID_AREA_MM2:
            found.append(name)
    return tuple(found)


def fluid_depth_mm(labels: LabelMap, name: str) -> float:
    """The greatest depth (mm, down one image column) of the fluid in structure `name`."""
    mask = labels.mask(name) & labels.tissue_mask(FLUID_TISSUE)
    return float(mask.sum(axis=0).max(initial=0)) * labels.pixel_mm[1]


def make_question(competency: Competency, labels: LabelMap, rng: random.Random) -> Question | None:
    """A question of `competency` about this image; None when the image cannot pose one (no tendon
    in view to click, neither subcutaneous tissue nor muscle)."""
    if competency is Competency.TENDON:
        if not target_mask(TENDON_TISSUE, labels).any():
            return None
        return Question(competency, AnswerKind.CLICK, "Click the tendon", target=TENDON_TISSUE)
    if competency is Competency.FLUID:
        answer = YES if fluid_in_view(labels) else NO
        return Question(
            competency, AnswerKind.YES_NO, "Is there fluid in the sheath or joint?", answer=answer
        )
    present = [t for t in (SUBCUTANEOUS, MUSCLE) if target_mask(t, labels).any()]
    if not present:
        return None
    if rng.random() < 0.5:
        target = rng.choice(present)
        return Question(competency, AnswerKind.CLICK, f"Click the {target}", target=target)
    target = rng.choice(present)
    marked = _marked_point(target_mask(target, labels), labels, rng)
    if marked is None:
        return Question(competency, AnswerKind.CLICK, f"Click the {target}", target=target)
    return Question(
        competency,
        AnswerKind.CHOICE,
        "Subcutaneous tissue or muscle at the mark?",
        answer=target,
        choices=(SUBCUTANEOUS, MUSCLE),
        marked_mm=marked,
    )


def described(structure: str, tissue: str) -> str:
    """A structure and its tissue as an answer names them: "quadriceps tendon (tendon)",
    "suprapatellar (quadriceps) fat pad (fat)", "subcutaneous fat" (a deep fat pad is not subcutaneous)."""
    if tissue == FAT_TISSUE and structure != SUBCUTANEOUS_STRUCTURE:
        tissue = "fat"
    return structure if tissue == structure else f"{structure} ({tissue})"


def grade_click(question: Question, labels: LabelMap, x_mm: float, depth_mm: float) -> Graded:
    """Right when the click lands on a pixel of the asked structure (the same map the question came from)."""
    if question.kind is not AnswerKind.CLICK:
        raise ValueError(f"{question.prompt!r} is not answered by a click")
    i = labels.index_at(x_mm, depth_mm)
    mask = target_mask(question.target, labels)
    dx, dz = labels.pixel_mm
    row, col = int(depth_mm // dz), int(x_mm // dx)
    hit = i > 0 and 0 <= row < labels.rows and 0 <= col < labels.cols and bool(mask[row, col])
    truth = described(labels.names[i], labels.tissues[i]) if i > 0 else "outside the body"
    return Graded(question, f"{x_mm:.1f},{depth_mm:.1f}", hit, truth)


def grade_answer(question: Question, labels: LabelMap, given: str) -> Graded:
    """Right when a yes/no or choice answer is the ground truth's."""
    if question.kind is AnswerKind.CLICK:
        raise ValueError(f"{question.prompt!r} is answered by a click")
    if question.kind is AnswerKind.YES_NO:
        fluid = fluid_in_view(labels)
        # How deep each is, so a thin normal stripe reads apart from an effusion distending the recess.
        found = [f"{name}, up to {fluid_depth_mm(labels, name):.1f} mm deep" for name in fluid]
        truth = "fluid: " + "; ".join(found) if found else "no fluid in view"
    else:
        assert question.marked_mm is not None
        x, d = question.marked_mm
        truth = described(labels.structure_at(x, d), labels.tissue_at(x, d))
    return Graded(question, given, given == question.answer, truth)


def score_percent(graded: Sequence[Graded]) -> float:
    """Share of right answers, 0..100 (0 for none)."""
    return 100.0 * sum(g.correct for g in graded) / len(graded) if graded else 0.0


def _marked_point(
    mask: npt.NDArray[np.bool_], labels: LabelMap, rng: random.Random
) -> tuple[float, float] | None:
    """A pixel centre inside `mask` at least MARK_MARGIN_MM from its edge (None when there is none)."""
    dx, dz = labels.pixel_mm
    inner = mask.copy()
    for axis, step_mm in ((0, dz), (1, dx)):
        for _ in range(max(1, round(MARK_MARGIN_MM / step_mm))):
            shrunk = inner.copy()
            if axis == 0:
                shrunk[1:] &= inner[:-1]
                shrunk[:-1] &= inner[1:]
                shrunk[0] = shrunk[-1] = False
            else:
                shrunk[:, 1:] &= inner[:, :-1]
                shrunk[:, :-1] &= inner[:, 1:]
                shrunk[:, 0] = shrunk[:, -1] = False
            inner = shrunk
    rows, cols = np.nonzero(inner)
    if rows.size == 0:
        return None
    k = rng.randrange(rows.size)
    return (float(cols[k]) + 0.5) * dx, (float(rows[k]) + 0.5) * dz


class QuizSession:
    """A run through a track: the current question, the answers graded so far (no Qt, no database)."""

    def __init__(self, track: Sequence[Competency] = FIRST_TRACK, seed: int | None = None) -> None:
        self.track = tuple(track)
        self._rng = random.Random(seed)
        self._position = 0
        self.question: Question | None = None
        self.labels: LabelMap | None = None
        self.graded: list[Graded] = []

    @property
    def finished(self) -> bool:
        return self._position >= len(self.track)

    @property
    def competency(self) -> Competency | None:
        return None if self.finished else self.track[self._position]

    def ask(self, labels: LabelMap) -> Question | None:
        """The current competency's question about the image `labels` describes (None: this image
        cannot pose it; move the probe and ask again, or `skip`)."""
        competency = self.competency
        if competency is None:
            return None
        self.labels = labels
        self.question = make_question(competency, labels, self._rng)
        return self.question

    def answer_click(self, x_mm: float, depth_mm: float, labels: LabelMap | None = None) -> Graded:
        """Grade a click against `labels` (the image on screen when it was made: the probe may have
        moved since the question), or the image the question was asked about."""
        return self._record(grade_click(self._current(), labels or self._labels(), x_mm, depth_mm))

    def answer(self, given: str, labels: LabelMap | None = None) -> Graded:
        """Grade a yes/no or choice answer against `labels` (as `answer_click`)."""
        return self._record(grade_answer(self._current(), labels or self._labels(), given))

    def skip(self) -> None:
        """Leave the current competency unasked (counted in no score)."""
        self.question = None
        self._position += 1

    def score_percent(self) -> float:
        return score_percent(self.graded)

    def _current(self) -> Question:
        if self.question is None:
            raise ValueError("no question is being asked")
        return self.question

    def _labels(self) -> LabelMap:
        assert self.labels is not None
        return self.labels

    def _record(self, graded: Graded) -> Graded:
        self.graded.append(graded)
        self.question = None
        self._position += 1
        return graded
