"""Quality review: flags on exams or images, outcomes attached later, a reviewer's classification,
and the statistics the quarterly review shows.

A miss (false negative) or an overcall (false positive) is a QA failure: pathways that say so do not
count that exam (as QPath does for credentialing). Statistics per operator are shown only to that
operator and to reviewers and administrators.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum

import sqlalchemy as sa

from scanner_app.programme.db import ProgrammeDatabase
from scanner_app.programme.people import NotAllowed, Role, User
from scanner_app.programme.schema import FlagRow, OutcomeRow, PainFollowUpRow, ProcedureLogRow, ReviewRow


class FlagReason(StrEnum):
    FOLLOW_UP = "follow_up"
    TEACHING = "teaching"
    QA_REVIEW = "qa_review"


class OutcomeKind(StrEnum):
    """Where the truth came from."""

    MRI = "mri"
    CT = "ct"
    RADIOGRAPH = "radiograph"
    SURGERY = "surgery"
    ASPIRATION = "aspiration"  # aspiration or laboratory result
    CLINICAL = "clinical"  # clinical follow-up


class Classification(StrEnum):
    CONCORDANT = "concordant"
    GOOD_CALL = "good_call"  # ultrasound found what other imaging or the clinic had not
    MISS = "miss"  # false negative
    OVERCALL = "overcall"  # false positive
    INDETERMINATE = "indeterminate"


QA_FAILED = frozenset({Classification.MISS, Classification.OVERCALL})


@dataclass(frozen=True, slots=True)
class Flag:
    id: int
    study_uid: str
    sop_instance_uid: str
    reason: FlagReason
    finding: str
    operator: str
    flagged_by: str
    flagged_at: datetime


@dataclass(frozen=True, slots=True)
class Outcome:
    study_uid: str
    kind: OutcomeKind
    outcome_on: date
    text: str
    entered_by: str


@dataclass(frozen=True, slots=True)
class ReviewedCase:
    """A flagged case for the review pack: the finding, what happened, and the verdict."""

    flag: Flag
    outcomes: tuple[Outcome, ...]
    classification: Classification | None
    reviewer: str
    note: str


def flag(
    db: ProgrammeDatabase, study_uid: str, reason: FlagReason, by: User, *, operator: str,
    finding: str = "", sop_instance_uid: str = "", at: datetime | None = None,
) -> Flag:  # fmt: skip
    """Flag an exam (or, with `sop_instance_uid`, one image) for follow-up, teaching or QA review."""
    with db.session() as s:
        row = FlagRow(study_uid=study_uid, sop_instance_uid=sop_instance_uid, reason=reason.value,
                      finding=finding, operator=operator, flagged_by=by.username,
                      flagged_at=at or datetime.now(UTC))  # fmt: skip
        s.add(row)
        s.flush()
        return _flag(row)


def add_outcome(
    db: ProgrammeDatabase, study_uid: str, kind: OutcomeKind, outcome_on: date, text: str, *, by: User
) -> Outcome:
    """Attach what later imaging, surgery or the lab showed; `text` must say something."""
    if not text.strip():
        raise ValueError("an outcome needs its text (what was found)")
    with db.session() as s:
        s.add(OutcomeRow(study_uid=study_uid, kind=kind.value, outcome_on=outcome_on, text=text,
                         entered_by=by.username))  # fmt: skip
    return Outcome(study_uid, kind, outcome_on, text, by.username)


def classify(
    db: ProgrammeDatabase, flag_id: int, classification: Classification, *, by: User, note: str = "",
    at: datetime | None = None,
) -> None:  # fmt: skip
    """A reviewer's verdict on a flagged case (a later verdict replaces an earlier one).

    NotAllowed unless `by` is a reviewer or administrator, or when it is the reviewer's own exam.
    """
    if by.role not in (Role.REVIEWER, Role.ADMINISTRATOR):
        raise NotAllowed(f"{by.username} is a {by.role.value}: only reviewers classify cases")
    with db.session() as s:
        flag_row = s.get(FlagRow, flag_id)
        if flag_row is None:
            raise KeyError(f"no flag {flag_id}")
        if flag_row.operator == by.username:
            raise NotAllowed(f"{by.username} cannot review their own exam")
        row = s.scalar(sa.select(ReviewRow).where(ReviewRow.flag_id == flag_id))
        if row is None:
            row = ReviewRow(flag_id=flag_id)
            s.add(row)
        row.classification, row.reviewer = classification.value, by.username
        row.reviewed_at, row.note = at or datetime.now(UTC), note


def qa_failed_studies(db: ProgrammeDatabase) -> set[str]:
    """Studies a reviewer classified as a miss or an overcall."""
    query = (
        sa.select(FlagRow.study_uid)
        .join(ReviewRow, ReviewRow.flag_id == FlagRow.id)
        .where(ReviewRow.classification.in_([c.value for c in QA_FAILED]))
    )
    with db.session() as s:
        return set(s.scalars(query))


def cases(
    db: ProgrammeDatabase, start: date, end: date, reason: FlagReason | None = None
) -> list[ReviewedCase]:
    """Flagged cases flagged in [start, end), with their outcomes and verdicts, oldest first."""
    lo = datetime(start.year, start.month, start.day, tzinfo=UTC)
    hi = datetime(end.year, end.month, end.day, tzinfo=UTC)
    query = sa.select(FlagRow).where(FlagRow.flagged_at >= lo, FlagRow.flagged_at < hi).order_by(FlagRow.id)
    if reason is not None:
        query = query.where(FlagRow.reason == reason.value)
    result = []
    with db.session() as s:
        for row in s.scalars(query):
            outcomes = tuple(
                Outcome(o.study_uid, OutcomeKind(o.kind), o.outcome_on, o.text, o.entered_by)
                for o in s.scalars(
                    sa.select(OutcomeRow)
                    .where(OutcomeRow.study_uid == row.study_uid)
                    .order_by(OutcomeRow.outcome_on)
                )
            )
            review = s.scalar(sa.select(ReviewRow).where(ReviewRow.flag_id == row.id))
            verdict = Classification(review.classification) if review is not None else None
            result.append(ReviewedCase(_flag(row), outcomes, verdict, review.reviewer if review else "",
                                       review.note if review else ""))  # fmt: skip
    return result


@dataclass(frozen=True, slots=True)
class ReviewStats:
    """Counts of verdicts per finding and per operator over a period."""

    by_finding: dict[str, Counter[str]]
    by_operator: dict[str, Counter[str]]


def review_stats(db: ProgrammeDatabase, start: date, end: date, viewer: User) -> ReviewStats:
    """The period's verdict counts. An operator or trainee sees only their own line per operator;
    reviewers and administrators see everyone's."""
    by_finding: dict[str, Counter[str]] = {}
    by_operator: dict[str, Counter[str]] = {}
    for case in cases(db, start, end):
        if case.classification is None:
            continue
        verdict = case.classification.value
        by_finding.setdefault(case.flag.finding or "(no finding)", Counter())[verdict] += 1
        if viewer.sees_everyones_qa or case.flag.operator == viewer.username:
            by_operator.setdefault(case.flag.operator, Counter())[verdict] += 1
    return ReviewStats(by_finding, by_operator)


def operator_stats(
    db: ProgrammeDatabase, start: date, end: date, operator: str, viewer: User
) -> Counter[str]:
    """One operator's verdicts; NotAllowed for anyone else but reviewers and administrators."""
    if operator != viewer.username and not viewer.sees_everyones_qa:
        raise NotAllowed(f"{viewer.username} may see only their own QA statistics")
    return review_stats(db, start, end, viewer).by_operator.get(operator, Counter())


@dataclass(frozen=True, slots=True)
class ProcedureOutcome:
    """A guided procedure's patient-reported outcome: pain before, right after and at each follow-up."""

    study_uid: str
    performed_on: date
    protocol_id: str
    operator: str
    complications: str
    pain_before: int | None
    pain_after: int | None
    pain_at_weeks: dict[int, int | None]  # weeks -> score, None while not entered


@dataclass(frozen=True, slots=True)
class ProcedureOutcomeSummary:
    """One protocol's outcomes over a period: counts and mean pain scores (None with no scores)."""

    protocol_id: str
    procedures: int
    with_complications: int
    mean_pain_before: float | None
    mean_pain_after: float | None
    mean_pain_at_weeks: dict[int, float | None]
    answered_at_weeks: dict[int, int]  # how many follow-ups were entered


NONE_WORDS = frozenset({"", "none", "nil", "no"})  # complications recorded as none


def procedure_outcomes(db: ProgrammeDatabase, start: date, end: date, viewer: User) -> list[ProcedureOutcome]:
    """Clinical (not practice) procedures performed in [start, end) with their pain scores, oldest
    first. An operator or trainee sees only their own; reviewers and administrators everyone's."""
    query = (
        sa.select(ProcedureLogRow)
        .where(
            ProcedureLogRow.performed_on >= start,
            ProcedureLogRow.performed_on < end,
            ProcedureLogRow.role_in_exam == "operator",
            ProcedureLogRow.practice.is_(False),
        )
        .order_by(ProcedureLogRow.performed_on, ProcedureLogRow.id)
    )
    if not viewer.sees_everyones_qa:
        query = query.where(ProcedureLogRow.person == viewer.username)
    out = []
    with db.session() as s:
        for row in s.scalars(query):
            follow_ups = s.scalars(
                sa.select(PainFollowUpRow)
                .where(PainFollowUpRow.study_uid == row.study_uid)
                .order_by(PainFollowUpRow.weeks)
            )
            scores = {f.weeks: f.pain_score for f in follow_ups}
            out.append(
                ProcedureOutcome(row.study_uid, row.performed_on, row.protocol_id, row.person,
                                 row.complications, row.pain_before, row.pain_after, scores)
            )  # fmt: skip
    return out


def _mean(values: list[int | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def procedure_outcome_summary(
    db: ProgrammeDatabase, start: date, end: date, viewer: User
) -> list[ProcedureOutcomeSummary]:
    """Per protocol, the period's procedures (as `procedure_outcomes` shows them to `viewer`)."""
    by_protocol: dict[str, list[ProcedureOutcome]] = {}
    for outcome in procedure_outcomes(db, start, end, viewer):
        by_protocol.setdefault(outcome.protocol_id, []).append(outcome)
    out = []
    for protocol_id, items in sorted(by_protocol.items()):
        weeks = sorted({w for o in items for w in o.pain_at_weeks})
        out.append(
            ProcedureOutcomeSummary(
                protocol_id=protocol_id,
                procedures=len(items),
                with_complications=sum(1 for o in items if o.complications.strip().lower() not in NONE_WORDS),
                mean_pain_before=_mean([o.pain_before for o in items]),
                mean_pain_after=_mean([o.pain_after for o in items]),
                mean_pain_at_weeks={w: _mean([o.pain_at_weeks.get(w) for o in items]) for w in weeks},
                answered_at_weeks={w: sum(o.pain_at_weeks.get(w) is not None for o in items) for w in weeks},
            )
        )
    return out


def _flag(row: FlagRow) -> Flag:
    return Flag(row.id, row.study_uid, row.sop_instance_uid, FlagReason(row.reason), row.finding,
                row.operator, row.flagged_by, row.flagged_at)  # fmt: skip
