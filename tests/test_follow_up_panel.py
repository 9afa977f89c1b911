"""The Follow-ups tab: pain scores due after procedures listed by date for whoever is signed in, a
score entered from the list leaves it, and the quarter's outcomes are shown."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from scanner_app.programme.db import ProgrammeDatabase, open_database, sqlite_url
from scanner_app.programme.people import Role, User, add_user
from scanner_app.programme.procedures import pain_follow_ups, record_procedure
from tests.procedure_support import procedure_facts, procedure_record
from ui.follow_up_panel import FollowUpPanel

ADMIN = User("admin", "Department Administrator", Role.ADMINISTRATOR)
ANNA = User("anna", "Anna Sonographer", Role.OPERATOR)
BEN = User("ben", "Ben Sonographer", Role.OPERATOR)
RITA = User("rita", "Rita Reviewer", Role.REVIEWER)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[ProgrammeDatabase]:
    with open_database(sqlite_url(tmp_path)) as opened:
        for user in (ADMIN, ANNA, BEN, RITA):  # a new database's first user is its administrator
            add_user(opened, user, pin=f"{user.username}-pin")
        record_procedure(opened, procedure_facts("1.1", date(2026, 3, 2)), procedure_record(8, 3))
        record_procedure(
            opened, procedure_facts("2.2", date(2026, 3, 9), operator="ben"), procedure_record(6, 2)
        )
        yield opened


def test_follow_ups_due_are_listed_and_a_score_entered_from_the_list(
    qtbot: QtBot, db: ProgrammeDatabase
) -> None:
    signed_in: list[User | None] = [None]
    panel = FollowUpPanel(db, lambda: signed_in[0], today=lambda: date(2026, 3, 24))
    qtbot.addWidget(panel)
    panel.refresh()
    assert panel.due.count() == 0 and "Sign in" in panel.outcomes.text()
    signed_in[0] = ANNA
    panel.refresh()
    assert [panel.due.item(i).text()[:40] for i in range(panel.due.count())] == [
        "2 weeks after sasd bursa injection on 20"
    ]  # Anna's own; Ben's is not hers to follow up
    assert "8 days overdue" in panel.due.item(0).text()
    signed_in[0] = RITA
    panel.refresh()
    assert panel.due.count() == 2
    panel.due.setCurrentRow(0)
    panel.score.setCurrentIndex(panel.score.findData(4))
    panel.enter_button.click()
    assert [(f.weeks, f.pain_score, f.entered_by) for f in pain_follow_ups(db, "1.1")] == [
        (2, 4, "rita"),
        (6, None, ""),
    ]
    assert panel.due.count() == 1
    assert "sasd bursa injection: 2 done" in panel.outcomes.text()
    assert "pain 7.0 before → 2.5 after; 2 wk 4.0 (n=1)" in panel.outcomes.text()
