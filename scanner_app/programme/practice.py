"""Practice that grades itself: view acquisition graded by pose and time, the probe path recorded,
and every graded practice kept in the trainee's logbook (`practice_scores`) for a progress plot.

A view is graded against a protocol's practice target (its pose and tolerance per coordinate): the
worst coordinate's error, in tolerances, gives the closeness (full marks within tolerance, none at
three tolerances); taking longer than `PAR_TIME_S` costs up to half of it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa

from scanner_app.programme.db import ProgrammeDatabase
from scanner_app.programme.schema import PracticeScoreRow

POSE_KEYS = ("position_mm", "lateral_mm", "rotation_deg", "tilt_deg")
ZERO_SCORE_TOLERANCES = 3.0  # at this many tolerances from the target the closeness is 0
PAR_TIME_S = 60.0  # finding a view within this costs nothing
SLOW_TIME_S = 240.0  # at or beyond this the time costs half the closeness
PATH_MIN_STEP_MM = 0.5  # path samples closer than this to the last one are not kept


@dataclass(frozen=True, slots=True)
class PoseSample:
    t_s: float
    pose: Mapping[str, float]


@dataclass(slots=True)
class ProbePath:
    """Where the probe went while the trainee looked for a view (thinned to PATH_MIN_STEP_MM)."""

    samples: list[PoseSample] = field(default_factory=list)

    def add(self, t_s: float, pose: Mapping[str, float]) -> None:
        if self.samples:
            last = self.samples[-1].pose
            moved = math.hypot(
                pose["position_mm"] - last["position_mm"], pose["lateral_mm"] - last["lateral_mm"]
            )
            turned = abs(_angle_diff_deg(pose["rotation_deg"], last["rotation_deg"]))
            if moved < PATH_MIN_STEP_MM and turned < 1.0:
                return
        self.samples.append(PoseSample(t_s, {k: float(pose[k]) for k in POSE_KEYS}))

    def length_mm(self) -> float:
        return sum(
            math.hypot(
                b.pose["position_mm"] - a.pose["position_mm"], b.pose["lateral_mm"] - a.pose["lateral_mm"]
            )
            for a, b in zip(self.samples, self.samples[1:], strict=False)
        )

    def to_json(self) -> str:
        return json.dumps(
            [[round(s.t_s, 2), *(round(s.pose[k], 2) for k in POSE_KEYS)] for s in self.samples]
        )

    @classmethod
    def from_json(cls, text: str) -> ProbePath:
        rows = json.loads(text) if text else []
        return cls([PoseSample(r[0], dict(zip(POSE_KEYS, r[1:], strict=True))) for r in rows])


@dataclass(frozen=True, slots=True)
class ViewGrade:
    """How a trainee found a target view: error per coordinate, closeness and time, and the score."""

    errors: dict[str, float]  # pose coordinate -> |pose - target| (mm or degrees)
    error_tolerances: float  # the worst coordinate's error in its tolerances
    within_tolerance: bool
    closeness_percent: float
    time_s: float
    score_percent: float


def grade_view(
    pose: Mapping[str, float],
    target: Mapping[str, float],
    tolerance: Mapping[str, float],
    time_s: float,
) -> ViewGrade:
    """Grade the pose the trainee settled on against a practice target (pose + tolerance per key)."""
    errors: dict[str, float] = {}
    worst = 0.0
    for key in POSE_KEYS:
        if key not in target:
            continue
        diff = pose[key] - target[key]
        err = abs(_angle_diff_deg(pose[key], target[key])) if key == "rotation_deg" else abs(diff)
        errors[key] = err
        tol = tolerance.get(key, 0.0)
        if tol > 0:
            worst = max(worst, err / tol)
    closeness = 100.0 * min(1.0, max(0.0, (ZERO_SCORE_TOLERANCES - worst) / (ZERO_SCORE_TOLERANCES - 1.0)))
    slow = min(1.0, max(0.0, (time_s - PAR_TIME_S) / (SLOW_TIME_S - PAR_TIME_S)))
    return ViewGrade(errors, worst, worst <= 1.0, closeness, time_s, closeness * (1.0 - 0.5 * slow))


# -- the logbook's practice scores ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PracticeScore:
    person: str
    kind: str  # "quiz" or "view"
    item: str
    score_percent: float
    practiced_at: datetime
    scene_id: str = ""
    time_s: float = 0.0
    detail: str = ""
    workstation: str = ""


def record_score(db: ProgrammeDatabase, score: PracticeScore) -> None:
    """Keep a graded practice in `score.person`'s logbook."""
    if not 0.0 <= score.score_percent <= 100.0:
        raise ValueError(f"a score is 0..100 %, got {score.score_percent}")
    with db.session() as s:
        s.add(
            PracticeScoreRow(
                person=score.person,
                kind=score.kind,
                item=score.item,
                scene_id=score.scene_id,
                score_percent=score.score_percent,
                time_s=score.time_s,
                detail=score.detail,
                practiced_at=score.practiced_at,
                workstation=score.workstation,
            )
        )


def practice_scores(db: ProgrammeDatabase, person: str, kind: str | None = None) -> list[PracticeScore]:
    """`person`'s graded practice, oldest first (of one kind when given)."""
    query = sa.select(PracticeScoreRow).where(PracticeScoreRow.person == person)
    if kind is not None:
        query = query.where(PracticeScoreRow.kind == kind)
    with db.session() as s:
        rows = s.scalars(query.order_by(PracticeScoreRow.practiced_at, PracticeScoreRow.id))
        return [
            PracticeScore(
                r.person,
                r.kind,
                r.item,
                r.score_percent,
                _aware(r.practiced_at),
                r.scene_id,
                r.time_s,
                r.detail,
                r.workstation,
            )
            for r in rows
        ]


def progress_series(scores: Sequence[PracticeScore]) -> list[tuple[float, float]]:
    """(days since the first practice, score %) per graded practice: the progress plot's points."""
    if not scores:
        return []
    first = scores[0].practiced_at
    return [((s.practiced_at - first).total_seconds() / 86400.0, s.score_percent) for s in scores]


def _aware(at: datetime) -> datetime:
    # SQLite hands back naive datetimes even for timezone columns; they were stored in UTC.
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _angle_diff_deg(a: float, b: float) -> float:
    return (a - b + 180.0) % 360.0 - 180.0
