"""The Programme tab in the window: an ended exam lands in the operator's and trainee's logbooks, a
trainee cannot sign off, the supervisor can; flags reach the reviewer, who adds the outcome and the
verdict and builds the quarterly pack."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from drivers.sim.scenes import named_views
from protocols.validation import LIBRARY_DIR, load_protocol
from scanner_app.programme.db import ProgrammeDatabase, open_database, sqlite_url
from scanner_app.programme.logbook import entries
from scanner_app.programme.pathways import load_pathways
from scanner_app.programme.people import Role, User, add_user
from scanner_app.programme.quality import Classification, OutcomeKind, cases
from scanner_app.studies import Patient
from tests.review_support import CAPTURE_TIMEOUT_MS, GroinRig, groin_rig
from ui.close_prompt import EXAM_END
from ui.exam_dialog import ExamRequest
from ui.programme_panel import ProgrammePanel

OP = User("op", "Op One", Role.OPERATOR)
SAM = User("sam", "Sam Lee", Role.TRAINEE)
RITA = User("rita", "Rita Reviewer", Role.REVIEWER)
ADMIN = User("admin", "Administrator", Role.ADMINISTRATOR)
TODAY = date.today()  # exams and flags are stamped with the real clock


@pytest.fixture
def rig(qtbot: QtBot, tmp_path: Path) -> Iterator[GroinRig]:
    yield from groin_rig(qtbot, tmp_path, ask=lambda *_question: EXAM_END)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[ProgrammeDatabase]:
    with open_database(sqlite_url(tmp_path)) as opened:
        for u in (ADMIN, OP, SAM, RITA):
            add_user(opened, u, pin=f"{u.username}-pin")
        yield opened


def _panel(rig: GroinRig, db: ProgrammeDatabase) -> ProgrammePanel:
    exams = rig.exams
    panel = ProgrammePanel(
        db, rig.store, load_pathways(), today=lambda: TODAY, region_of=lambda _pid: "lower limb",
        ended_study=lambda: exams.session.study if exams.session is not None else None,
    )  # fmt: skip
    panel.attach(rig.window)
    exams.exam_ended.connect(panel.on_exam_ended)
    return panel


def _sign_in(qtbot: QtBot, panel: ProgrammePanel, user: User, pin: str = "") -> None:
    """Sign in (or fail to), and wait for the lists, read on the tab's worker thread, to be shown."""
    panel.users.setCurrentIndex(panel.users.findText(f"{user.display_name} ({user.role.value})"))
    panel.pin.setText(pin or f"{user.username}-pin")
    _refreshed_by(qtbot, panel, panel.sign_in_button.click)


def _refreshed_by(qtbot: QtBot, panel: ProgrammePanel, action: Callable[[], object]) -> None:
    with qtbot.waitSignal(panel.refreshed, timeout=5000):
        action()


def test_an_exam_reaches_the_logbooks_and_the_supervisor_signs_it_off(
    qtbot: QtBot, rig: GroinRig, db: ProgrammeDatabase
) -> None:
    panel = _panel(rig, db)
    dvt = load_protocol(LIBRARY_DIR / "dvt_whole_leg.yaml", views=named_views())
    rig.exams.start_exam(ExamRequest(
        patient=Patient("DVT-9", "Doe^Jane", "19650114", "F"), operator="One^Op", trainee="Lee^Sam",
        supervisor="One^Op", protocol=dvt, quadrant=None, side="right", practice=False,
    ))  # fmt: skip
    with qtbot.waitSignal(rig.exams.exam_ended, timeout=CAPTURE_TIMEOUT_MS):
        rig.exams.end_exam()
    # Typed "Family^Given" names matched to the registered users.
    assert sorted((e.person, e.role_in_exam) for e in entries(db)) == [("op", "operator"), ("sam", "trainee")]
    (sams,) = entries(db, "sam")
    assert sams.supervised and sams.region == "lower limb" and sams.protocol_id == dvt.id

    _sign_in(qtbot, panel, SAM, pin="op-pin")  # someone else's PIN
    assert panel.user is None and "wrong PIN" in panel.message.text() and panel.pin.text() == ""
    _sign_in(qtbot, panel, SAM)
    assert panel.user == SAM and "wrong PIN" not in panel.message.text()
    _sign_in(qtbot, panel, OP, pin="wrong-pin")  # someone else tries: Sam is signed out, not left signed in
    assert panel.user is None and panel.who.text() == "Nobody signed in"
    _sign_in(qtbot, panel, SAM)
    assert panel.logbook.count() == 1 and "not signed off" in panel.logbook.item(0).toolTip()
    assert panel.logbook.item(0).text().startswith("○ ")
    assert not panel.sign_off_box.isVisibleTo(panel)  # a trainee is not offered sign-off
    assert not panel.sign_off_button.isEnabled() and panel.awaiting.count() == 0
    assert not panel.review.isVisibleTo(panel)  # a trainee has no QA review
    panel.refresh()  # Sam's lists read again on the worker ...
    _refreshed_by(qtbot, panel, lambda: panel.sign_in(None))  # ... as Sam signs out: nobody's shown
    qtbot.waitUntil(lambda: panel.worker.pending == 0, timeout=5000)  # Sam's reading came: dropped
    assert panel.logbook.count() == 0 and panel.progress.text() == ""

    _sign_in(qtbot, panel, OP)
    assert panel.awaiting.count() == 1 and "sam" in panel.awaiting.item(0).text()
    panel.awaiting.setCurrentRow(0)
    _refreshed_by(qtbot, panel, panel.sign_off_button.click)
    assert entries(db, "sam")[0].signed_off_by == "op"
    assert panel.awaiting.count() == 0

    panel.flag_finding.setText("Baker's cyst 32 mm, no DVT")
    _refreshed_by(qtbot, panel, panel.flag_button.click)
    _sign_in(qtbot, panel, RITA)
    assert panel.review.isVisibleTo(panel) and panel.cases.count() == 1
    panel.cases.setCurrentRow(0)
    panel.outcome_kind.setCurrentIndex(panel.outcome_kind.findData(OutcomeKind.MRI))
    panel.outcome_text.setText("Baker's cyst confirmed")
    _refreshed_by(qtbot, panel, panel.outcome_button.click)
    panel.cases.setCurrentRow(0)
    panel.verdict.setCurrentIndex(panel.verdict.findData(Classification.CONCORDANT))
    _refreshed_by(qtbot, panel, panel.classify_button.click)
    (case,) = cases(db, TODAY, TODAY + timedelta(days=1))
    assert case.classification == Classification.CONCORDANT
    assert case.outcomes[0].text == "Baker's cyst confirmed"
    assert "concordant" in panel.cases.item(0).text()


def test_a_new_database_starts_with_its_administrator_who_registers_the_others(
    qtbot: QtBot, rig: GroinRig, tmp_path: Path
) -> None:
    with open_database(sqlite_url(tmp_path / "fresh")) as fresh:
        panel = ProgrammePanel(fresh, rig.store, load_pathways(), ended_study=lambda: None, region_of=str)
        panel.attach(rig.window)
        assert panel.register_box.isVisibleTo(panel) and "first administrator" in panel.register_box.title()
        panel.new_username.setText("boss")
        panel.new_name.setText("Head of Department")
        panel.new_pin.setText("boss-pin")
        _refreshed_by(qtbot, panel, panel.register_button.click)
        _sign_in(qtbot, panel, User("boss", "Head of Department", Role.ADMINISTRATOR))
        assert panel.user is not None and panel.user.role == Role.ADMINISTRATOR
        panel.new_username.setText("sam")
        panel.new_role.setCurrentIndex(panel.new_role.findData(Role.TRAINEE))
        panel.new_pin.setText("sam-pin")
        _refreshed_by(qtbot, panel, panel.register_button.click)
        _refreshed_by(qtbot, panel, lambda: panel.sign_in(None))
        _sign_in(qtbot, panel, User("sam", "sam", Role.TRAINEE))
        assert panel.user == User("sam", "sam", Role.TRAINEE)
        assert not panel.register_box.isVisibleTo(panel)  # a trainee registers nobody


def test_a_needle_score_lands_in_the_signed_in_trainees_logbook(
    qtbot: QtBot, rig: GroinRig, db: ProgrammeDatabase
) -> None:
    from main import needle_scores_to_logbook
    from scanner_app.needle_practice import NeedleScore
    from scanner_app.programme.practice import practice_scores

    panel = _panel(rig, db)
    keep = needle_scores_to_logbook(panel)
    score = NeedleScore(target="subacromial-subdeltoid bursa", tip_structure="subacromial-subdeltoid bursa",
                        time_s=42.0, advances=25, redirections=0, blind_advances=5,
                        vessels_and_nerves_crossed=frozenset(), injected_ml=0.5, in_plane=True)  # fmt: skip
    keep(score)  # nobody signed in: not kept, and said
    assert practice_scores(db, "sam") == [] and "nobody is signed in" in panel.message.text()
    _sign_in(qtbot, panel, SAM)
    keep(score)
    (kept,) = practice_scores(db, "sam")
    assert (kept.kind, kept.score_percent, kept.time_s) == ("needle", 100.0, 42.0) and "PASS" in kept.detail
