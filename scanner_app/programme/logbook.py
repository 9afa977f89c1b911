"""The logbook: one entry per examination for its operator and for its trainee, and sign-off.

An entry is made when an exam ends (`record_exam`); a supervisor signs it off in the app. A trainee
cannot sign off an exam they did, nor can anyone sign off their own entry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from scanner_app.programme.db import ProgrammeDatabase
from scanner_app.programme.people import NotAllowed, User
from scanner_app.programme.schema import LogbookRow


@dataclass(frozen=True, slots=True)
class ExamFacts:
    """What the logbook needs of an ended exam (from the study record)."""

    study_uid: str
    performed_on: date
    region: str  # the protocol's region ("knee", "leg_veins", ...)
    operator: str  # usernames
    trainee: str = ""
    supervisor: str = ""
    protocol_id: str = ""
    findings: str = ""
    practice: bool = False
    workstation: str = ""


@dataclass(frozen=True, slots=True)
class LogbookEntry:
    id: int
    study_uid: str
    person: str
    role_in_exam: str
    performed_on: date
    region: str
    protocol_id: str
    supervised: bool
    supervisor: str
    findings: str
    practice: bool
    workstation: str
    signed_off_by: str
    signed_off_at: datetime | None

    @property
    def signed_off(self) -> bool:
        return bool(self.signed_off_by)


def findings_text(record: Mapping[str, Any]) -> str:
    """The exam's findings in a line: the titles of the findings chosen other than "normal"; "normal"
    when only normal was chosen; "no findings recorded" when none was; with how many steps were done
    when the exam was left incomplete."""
    steps = list(record.get("steps") or [])
    chosen = [f for step in steps for f in step.get("findings") or []]
    titles = [str(f.get("title", f.get("id", ""))) for f in chosen if f.get("id") != "normal"]
    if titles:
        text = "; ".join(dict.fromkeys(titles))
    elif chosen:
        text = "normal"
    else:
        text = "no findings recorded" if steps else ""
    done = sum(1 for step in steps if step.get("status") == "done")
    if steps and not record.get("complete") and done < len(steps):
        text += f" (incomplete: {done} of {len(steps)} steps done)"
    return text


def person_key(name: str, users: Sequence[tuple[str, str]]) -> str:
    """The username of the registered user a typed name (a DICOM person name "Family^Given" or a
    username) belongs to, matched on username or display name in either name order, ignoring case;
    the name itself (carets as spaces) when nobody matches."""
    words = name.replace("^", " ").split()
    if not words:
        return ""
    wanted = {" ".join(words).casefold(), " ".join(reversed(words)).casefold()}
    for username, display_name in users:
        if username.casefold() in wanted or " ".join(display_name.split()).casefold() in wanted:
            return username
    return " ".join(words)


def record_exam(db: ProgrammeDatabase, exam: ExamFacts) -> list[LogbookEntry]:
    """An entry for the operator and, when there is one, the trainee. Recording the same exam again
    (a restarted app, a second workstation) changes nothing: the entries already kept are returned."""
    people = [(exam.operator, "operator")] + ([(exam.trainee, "trainee")] if exam.trainee else [])
    for person, role in people:
        row = LogbookRow(
            study_uid=exam.study_uid, person=person, role_in_exam=role, performed_on=exam.performed_on,
            region=exam.region, protocol_id=exam.protocol_id, supervised=bool(exam.supervisor),
            supervisor=exam.supervisor, findings=exam.findings, practice=exam.practice,
            workstation=exam.workstation, signed_off_by="", signed_off_at=None,
        )  # fmt: skip
        try:
            with db.session() as s:
                s.add(row)
        except IntegrityError:
            pass  # this exam is already in this person's logbook (unique study and person)
    return [e for e in entries(db) if e.study_uid == exam.study_uid]


def entries(db: ProgrammeDatabase, person: str | None = None) -> list[LogbookEntry]:
    """Entries, oldest first; only `person`'s when given."""
    query = sa.select(LogbookRow).order_by(LogbookRow.performed_on, LogbookRow.id)
    if person is not None:
        query = query.where(LogbookRow.person == person)
    with db.session() as s:
        return [_entry(row) for row in s.scalars(query)]


def awaiting_sign_off(db: ProgrammeDatabase, supervisor: str) -> list[LogbookEntry]:
    """Others' entries `supervisor` supervised that nobody has signed off yet, oldest first."""
    query = (
        sa.select(LogbookRow)
        .where(
            LogbookRow.supervisor == supervisor,
            LogbookRow.signed_off_by == "",
            LogbookRow.person != supervisor,
        )
        .order_by(LogbookRow.performed_on, LogbookRow.id)
    )
    with db.session() as s:
        return [_entry(row) for row in s.scalars(query)]


def sign_off(db: ProgrammeDatabase, entry_id: int, by: User, at: datetime | None = None) -> LogbookEntry:
    """The supervisor's (or an operator's) sign-off of an entry.

    Raises NotAllowed for a trainee, for one's own entry, or for an exam one was the trainee on;
    KeyError for an unknown entry.
    """
    if not by.may_sign_off:
        raise NotAllowed(f"{by.username} is a {by.role.value}: a trainee cannot sign off exams")
    with db.session() as s:
        row = s.get(LogbookRow, entry_id)
        if row is None:
            raise KeyError(f"no logbook entry {entry_id}")
        if row.person == by.username:
            raise NotAllowed(f"{by.username} cannot sign off their own logbook entry")
        row.signed_off_by = by.username
        row.signed_off_at = at or datetime.now(UTC)
        return _entry(row)


def _entry(row: LogbookRow) -> LogbookEntry:
    return LogbookEntry(
        row.id, row.study_uid, row.person, row.role_in_exam, row.performed_on, row.region,
        row.protocol_id, row.supervised, row.supervisor, row.findings, row.practice, row.workstation,
        row.signed_off_by, row.signed_off_at,
    )  # fmt: skip
