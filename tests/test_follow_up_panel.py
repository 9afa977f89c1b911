"""The Follow-ups tab: pain scores due after procedures listed by date for whoever is signed in, a
score entered from the list leaves it, and the quarter's outcomes are shown; the lists are read on the
panel's worker thread, and a result for someone no longer signed in is not shown."""

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


def _refresh(qtbot: QtBot, panel: FollowUpPanel) -> None:
    """Refresh and wait for the lists, read on the panel's worker thread, to be shown."""
    with qtbot.waitSignal(panel.refreshed, timeout=5000):
        panel.refresh()


def test_follow_ups_due_are_listed_and_a_score_entered_from_the_list(
    qtbot: QtBot, db: ProgrammeDatabase
) -> None:
    signed_in: list[User | None] = [None]
    panel = FollowUpPanel(db, lambda: signed_in[0], today=lambda: date(2026, 3, 24))
    qtbot.addWidget(panel)
    try:
        _follow_ups_and_a_score(qtbot, panel, signed_in, db)
    finally:
        panel.worker.shutdown()  # joins the panel's database thread


def _follow_ups_and_a_score(
    qtbot: QtBot, panel: FollowUpPanel, signed_in: list[User | None], db: ProgrammeDatabase
) -> None:
    _refresh(qtbot, panel)
    assert panel.due.count() == 0 and "Sign in" in panel.outcomes.text()
    signed_in[0] = ANNA
    _refresh(qtbot, panel)
    assert [panel.due.item(i).text()[:40] for i in range(panel.due.count())] == [
        "2 weeks after sasd bursa injection on 20"
    ]  # Anna's own; Ben's is not hers to follow up
    assert "8 days overdue" in panel.due.item(0).text()
    signed_in[0] = RITA
    _refresh(qtbot, panel)
    assert panel.due.count() == 2
    panel.due.setCurrentRow(0)
    panel.score.setCurrentIndex(panel.score.findData(4))
    with qtbot.waitSignal(panel.refreshed, timeout=5000):  # the score kept, the lists read again
        panel.enter_button.click()
    assert [(f.weeks, f.pain_score, f.entered_by) for f in pain_follow_ups(db, "1.1")] == [
        (2, 4, "rita"),
        (6, None, ""),
    ]
    assert panel.due.count() == 1
    assert "sasd bursa injection: 2 done" in panel.outcomes.text()
    assert "pain 7.0 before → 2.5 after; 2 wk 4.0 (n=1)" in panel.outcomes.text()


def test_a_result_for_someone_signed_out_meanwhile_is_not_shown(qtbot: QtBot, db: ProgrammeDatabase) -> None:
    signed_in: list[User | None] = [RITA]
    panel = FollowUpPanel(db, lambda: signed_in[0], today=lambda: date(2026, 3, 24))
    qtbot.addWidget(panel)
    try:
        with qtbot.waitSignal(panel.refreshed, timeout=5000):
            panel.refresh()  # Rita's lists, read on the worker ...
            signed_in[0] = None  # ... while she signs out: the sign-out's refresh shows nobody's
            panel.refresh()
        assert panel.due.count() == 0 and "Sign in" in panel.outcomes.text()
        qtbot.waitUntil(lambda: panel.worker.pending == 0, timeout=5000)  # Rita's came, and was dropped
        assert panel.due.count() == 0 and "Sign in" in panel.outcomes.text()
    finally:
        panel.worker.shutdown()
