"""The procedure logbook and patient-reported pain follow-ups (issue 20), on SQLite and PostgreSQL as
tests/test_programme_db.py runs the programme database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from scanner_app.programme.db import ProgrammeDatabase, open_database, sqlite_url
from scanner_app.programme.people import Role, User, add_user
from scanner_app.programme.procedures import (
    enter_pain_score,
    follow_ups_due,
    pain_follow_ups,
    procedure_entries,
    record_procedure,
)
from scanner_app.programme.quality import procedure_outcome_summary, procedure_outcomes
from tests.postgres_fixture import PostgresServer, postgres_server  # noqa: F401 - a fixture
from tests.procedure_support import procedure_facts, procedure_record

ADMIN = User("admin", "Department Administrator", Role.ADMINISTRATOR)
ANNA = User("anna", "Anna Sonographer", Role.OPERATOR)
BEN = User("ben", "Ben Sonographer", Role.OPERATOR)
RITA = User("rita", "Rita Reviewer", Role.REVIEWER)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ProgrammeDatabase]:
    if request.param == "sqlite":
        url = sqlite_url(tmp_path)
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.create_database()
    with open_database(url) as opened:
        for user in (ADMIN, ANNA, BEN, RITA):  # a new database's first user is its administrator
            add_user(opened, user, pin=f"{user.username}-pin")
        yield opened


def test_a_procedure_makes_a_logbook_entry_and_its_follow_ups_once(db: ProgrammeDatabase) -> None:
    record = procedure_record(7, 2)
    made = record_procedure(db, procedure_facts("1.2.3", date(2026, 3, 2), trainee="ben"), record)
    again = record_procedure(db, procedure_facts("1.2.3", date(2026, 3, 2), trainee="ben"), record)
    assert [(e.person, e.role_in_exam) for e in made] == [("anna", "operator"), ("ben", "trainee")]
    assert again == made
    entry = procedure_entries(db, "anna")[0]
    assert (entry.time_out, entry.medication, entry.dose_mg, entry.needle_gauge) == (
        "complete", "triamcinolone + lidocaine", 40.0, 22,
    )  # fmt: skip
    assert (entry.pain_before, entry.pain_after, entry.side, entry.tolerance) == (7, 2, "right", "good")
    assert "bursa" in entry.target.lower()
    assert [(f.weeks, f.due_on, f.pain_score) for f in pain_follow_ups(db, "1.2.3")] == [
        (2, date(2026, 3, 16), None),
        (6, date(2026, 4, 13), None),
    ]
    assert record_procedure(db, procedure_facts("9.9", date(2026, 3, 2)), {"steps": []}) == []


def test_follow_ups_due_by_date_until_the_score_is_entered(db: ProgrammeDatabase) -> None:
    record_procedure(db, procedure_facts("1.1", date(2026, 3, 2)), procedure_record(8, 3))
    record_procedure(db, procedure_facts("2.2", date(2026, 3, 9), operator="ben"), procedure_record(6, 1))
    record_procedure(db, procedure_facts("3.3", date(2026, 3, 9), practice=True), procedure_record(5, 5))
    assert follow_ups_due(db, date(2026, 3, 15)) == []
    due = follow_ups_due(db, date(2026, 3, 23))
    assert [(d.study_uid, d.weeks, d.due_on, d.operator) for d in due] == [
        ("1.1", 2, date(2026, 3, 16), "anna"),
        ("2.2", 2, date(2026, 3, 23), "ben"),
    ]  # the practice exam has no patient to follow up
    assert [d.study_uid for d in follow_ups_due(db, date(2026, 3, 23), operator="ben")] == ["2.2"]
    enter_pain_score(db, "1.1", 2, 4, by=ANNA, on=date(2026, 3, 17))
    assert [d.study_uid for d in follow_ups_due(db, date(2026, 3, 23))] == ["2.2"]
    with pytest.raises(ValueError):
        enter_pain_score(db, "2.2", 2, 11, by=ANNA)
    with pytest.raises(KeyError):
        enter_pain_score(db, "2.2", 4, 3, by=ANNA)
    assert [(d.study_uid, d.weeks) for d in follow_ups_due(db, date(2026, 5, 1))] == [
        ("2.2", 2), ("1.1", 6), ("2.2", 6),
    ]  # fmt: skip


def test_outcomes_reach_the_quality_review_and_operators_see_their_own(db: ProgrammeDatabase) -> None:
    record_procedure(db, procedure_facts("1.1", date(2026, 3, 2)), procedure_record(8, 3))
    fainted = procedure_record(6, 2, "vasovagal")
    record_procedure(db, procedure_facts("2.2", date(2026, 3, 9), operator="ben"), fainted)
    record_procedure(db, procedure_facts("3.3", date(2026, 3, 9), practice=True), procedure_record(5, 5))
    enter_pain_score(db, "1.1", 2, 4, by=ANNA)
    enter_pain_score(db, "2.2", 2, 2, by=BEN)
    enter_pain_score(db, "2.2", 6, 1, by=BEN)
    everyone = procedure_outcomes(db, date(2026, 1, 1), date(2026, 4, 1), RITA)
    assert [(o.study_uid, o.pain_before, o.pain_after, o.pain_at_weeks) for o in everyone] == [
        ("1.1", 8, 3, {2: 4, 6: None}),
        ("2.2", 6, 2, {2: 2, 6: 1}),
    ]
    assert [o.study_uid for o in procedure_outcomes(db, date(2026, 1, 1), date(2026, 4, 1), ANNA)] == ["1.1"]
    (summary,) = procedure_outcome_summary(db, date(2026, 1, 1), date(2026, 4, 1), RITA)
    assert (summary.protocol_id, summary.procedures) == ("sasd_bursa_injection", 2)
    assert summary.with_complications == 1
    assert (summary.mean_pain_before, summary.mean_pain_after) == (7.0, 2.5)
    assert summary.mean_pain_at_weeks == {2: 3.0, 6: 1.0} and summary.answered_at_weeks == {2: 2, 6: 1}
