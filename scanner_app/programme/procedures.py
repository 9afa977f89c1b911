"""The procedure logbook and patient-reported outcomes: one entry per guided procedure for its operator
(and trainee), pain-score follow-ups due some weeks later, entered when the patient answers.

An entry is made from the exam record's `procedure` block (the checklist runner's) when the exam ends
(`record_procedure`); the follow-ups it schedules are listed by `follow_ups_due` until a score is
entered (`enter_pain_score`). A practice exam goes into the logbook but schedules no follow-up: there
is no patient to ask.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from scanner_app.programme.db import ProgrammeDatabase
from scanner_app.programme.logbook import ExamFacts
from scanner_app.programme.people import User
from scanner_app.programme.schema import PainFollowUpRow, ProcedureLogRow

MAX_PAIN = 10


@dataclass(frozen=True, slots=True)
class ProcedureEntry:
    """A procedure in a person's procedure logbook."""

    id: int
    study_uid: str
    person: str
    role_in_exam: str
    performed_on: date
    protocol_id: str
    target: str
    side: str
    time_out: str  # "complete", "skipped: <reason>" or "not done"
    medication: str
    dose_mg: float | None
    volume_ml: float | None
    needle_gauge: int | None
    needle_length_mm: float | None
    approach: str
    complications: str
    tolerance: str
    pain_before: int | None
    pain_after: int | None
    practice: bool


@dataclass(frozen=True, slots=True)
class PainFollowUp:
    """A pain score due `weeks` after a procedure; `pain_score` is None until entered."""

    study_uid: str
    weeks: int
    due_on: date
    pain_score: int | None
    entered_on: date | None
    entered_by: str


@dataclass(frozen=True, slots=True)
class FollowUpDue:
    """A follow-up to make: which procedure, by whom, and when it was due."""

    study_uid: str
    weeks: int
    due_on: date
    performed_on: date
    protocol_id: str
    operator: str


def time_out_text(procedure: Mapping[str, Any]) -> str:
    """The time-out in a few words: complete, skipped with its reason, or not done."""
    time_out = procedure.get("time_out") or {}
    if time_out.get("complete"):
        return "complete"
    if time_out.get("skip_reason"):
        return f"skipped: {time_out['skip_reason']}"
    return "not done"


def record_procedure(
    db: ProgrammeDatabase, exam: ExamFacts, record: Mapping[str, Any]
) -> list[ProcedureEntry]:
    """The procedure's logbook entries (operator, and trainee if any) and its pain follow-ups, from the
    exam record's `procedure` block; nothing for an exam without one. Idempotent, like `record_exam`."""
    procedure = record.get("procedure")
    if not isinstance(procedure, Mapping):
        return []
    side = str(record.get("side", ""))
    people = [(exam.operator, "operator")] + ([(exam.trainee, "trainee")] if exam.trainee else [])
    for person, role in people:
        row = ProcedureLogRow(
            study_uid=exam.study_uid, person=person, role_in_exam=role, performed_on=exam.performed_on,
            protocol_id=exam.protocol_id, target=str(procedure.get("target", "")), side=side,
            time_out=time_out_text(procedure), medication=str(procedure.get("medication", "")),
            dose_mg=procedure.get("dose_mg"), volume_ml=procedure.get("volume_ml"),
            needle_gauge=procedure.get("needle_gauge"), needle_length_mm=procedure.get("needle_length_mm"),
            approach=str(procedure.get("approach", "")),
            complications=str(procedure.get("complications", "")),
            tolerance=str(procedure.get("tolerance", "")), pain_before=procedure.get("pain_before"),
            pain_after=procedure.get("pain_after"), practice=exam.practice,
        )  # fmt: skip
        try:
            with db.session() as s:
                s.add(row)
        except IntegrityError:
            pass  # already in this person's procedure logbook
    if not exam.practice:
        for weeks in procedure.get("follow_up_weeks") or []:
            due = exam.performed_on + timedelta(weeks=int(weeks))
            try:
                with db.session() as s:
                    s.add(PainFollowUpRow(study_uid=exam.study_uid, weeks=int(weeks), due_on=due,
                                          pain_score=None, entered_on=None, entered_by=""))  # fmt: skip
            except IntegrityError:
                pass  # scheduled already
    return [e for e in procedure_entries(db) if e.study_uid == exam.study_uid]


def procedure_entries(db: ProgrammeDatabase, person: str | None = None) -> list[ProcedureEntry]:
    """Procedure logbook entries, oldest first; only `person`'s when given."""
    query = sa.select(ProcedureLogRow).order_by(ProcedureLogRow.performed_on, ProcedureLogRow.id)
    if person is not None:
        query = query.where(ProcedureLogRow.person == person)
    with db.session() as s:
        return [_entry(row) for row in s.scalars(query)]


def pain_follow_ups(db: ProgrammeDatabase, study_uid: str) -> list[PainFollowUp]:
    """The follow-ups of one procedure, earliest first."""
    query = sa.select(PainFollowUpRow).where(PainFollowUpRow.study_uid == study_uid)
    query = query.order_by(PainFollowUpRow.weeks)
    with db.session() as s:
        return [_follow_up(row) for row in s.scalars(query)]


def enter_pain_score(
    db: ProgrammeDatabase, study_uid: str, weeks: int, score: int, *, by: User, on: date | None = None
) -> PainFollowUp:
    """The patient's pain score (0–10) at the `weeks` follow-up. ValueError for a score outside 0–10;
    KeyError when that follow-up was never scheduled. A later entry replaces an earlier one."""
    if isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= MAX_PAIN:
        raise ValueError(f"a pain score is a whole number from 0 to {MAX_PAIN}, not {score!r}")
    with db.session() as s:
        wanted = (PainFollowUpRow.study_uid == study_uid, PainFollowUpRow.weeks == weeks)
        row = s.scalar(sa.select(PainFollowUpRow).where(*wanted))
        if row is None:
            raise KeyError(f"no {weeks}-week follow-up scheduled for study {study_uid}")
        row.pain_score, row.entered_by = score, by.username
        row.entered_on = on or datetime.now(UTC).date()
        return _follow_up(row)


def follow_ups_due(db: ProgrammeDatabase, on: date, operator: str | None = None) -> list[FollowUpDue]:
    """Follow-ups due on or before `on` with no score yet, the longest overdue first; only
    `operator`'s procedures when given."""
    query = (
        sa.select(PainFollowUpRow, ProcedureLogRow)
        .join(ProcedureLogRow, ProcedureLogRow.study_uid == PainFollowUpRow.study_uid)
        .where(
            PainFollowUpRow.due_on <= on,
            PainFollowUpRow.pain_score.is_(None),
            ProcedureLogRow.role_in_exam == "operator",
        )
        .order_by(PainFollowUpRow.due_on, PainFollowUpRow.id)
    )
    if operator is not None:
        query = query.where(ProcedureLogRow.person == operator)
    with db.session() as s:
        return [
            FollowUpDue(f.study_uid, f.weeks, f.due_on, p.performed_on, p.protocol_id, p.person)
            for f, p in s.execute(query)
        ]


def _entry(row: ProcedureLogRow) -> ProcedureEntry:
    return ProcedureEntry(
        row.id, row.study_uid, row.person, row.role_in_exam, row.performed_on, row.protocol_id, row.target,
        row.side, row.time_out, row.medication, row.dose_mg, row.volume_ml, row.needle_gauge,
        row.needle_length_mm, row.approach, row.complications, row.tolerance, row.pain_before,
        row.pain_after, row.practice,
    )  # fmt: skip


def _follow_up(row: PainFollowUpRow) -> PainFollowUp:
    return PainFollowUp(row.study_uid, row.weeks, row.due_on, row.pain_score, row.entered_on, row.entered_by)
