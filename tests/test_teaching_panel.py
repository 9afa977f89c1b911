"""The Teaching tab: a teaching flag is filed into the library with its tags, found by a search,
planned into a lecture-then-scan session with the region's practice views, its slides written and
the signed-in trainee's attendance logged; the tab's lists are read on its worker thread (the test
waits for each to be shown)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from PyQt6.QtCore import Qt
from pytestqt.qtbot import QtBot

from scanner_app.programme.db import ProgrammeDatabase, open_database, sqlite_url
from scanner_app.programme.people import Role, User, add_user
from scanner_app.programme.quality import FlagReason, OutcomeKind, add_outcome, flag
from scanner_app.programme.teaching import PracticeStep, attendance, search_cases
from scanner_app.studies import StudyStore
from tests.report_support import run_knee_exam
from ui.teaching_panel import TeachingPanel

ANNA = User("anna", "Anna Sonographer", Role.OPERATOR)
TOM = User("tom", "Tom Trainee", Role.TRAINEE)
STEPS = {"knee": [PracticeStep("knee", "effusion", "suprapatellar long axis")]}


@pytest.fixture
def db(tmp_path: Path) -> Iterator[ProgrammeDatabase]:
    with open_database(sqlite_url(tmp_path)) as opened:
        add_user(opened, User("admin", "Administrator", Role.ADMINISTRATOR), pin="admin-pin")
        for u in (ANNA, TOM):
            add_user(opened, u, pin=f"{u.username}-pin")
        yield opened


def test_file_search_plan_slides_and_attend(qtbot: QtBot, db: ProgrammeDatabase, tmp_path: Path) -> None:
    store = StudyStore(tmp_path / "studies")
    exam = run_knee_exam(store)
    flag(
        db, exam.study_uid, FlagReason.TEACHING, TOM, operator="anna", finding="suprapatellar effusion 6.2 mm"
    )
    add_outcome(db, exam.study_uid, OutcomeKind.MRI, date(2026, 11, 20), "moderate joint effusion", by=ANNA)
    signed_in: list[User] = [ANNA]
    panel = TeachingPanel(
        db, store, tmp_path / "library", user=lambda: signed_in[-1],
        practice_steps_for=lambda region: STEPS.get(region, []),
    )  # fmt: skip
    qtbot.addWidget(panel)
    try:
        _file_search_plan_slides_and_attend(qtbot, panel, signed_in, db, tmp_path)
    finally:
        panel.worker.shutdown()  # joins the tab's database thread
    store.close()


def _file_search_plan_slides_and_attend(
    qtbot: QtBot, panel: TeachingPanel, signed_in: list[User], db: ProgrammeDatabase, tmp_path: Path
) -> None:
    with qtbot.waitSignal(panel.refreshed, timeout=5000):
        pass  # the flags read when the tab was made
    assert panel.to_file.count() == 1 and "6.2 mm" in panel.to_file.item(0).text()
    panel.to_file.setCurrentRow(0)
    qtbot.mouseClick(panel.file_button, Qt.MouseButton.LeftButton)
    assert "region" in panel.message.text()  # a case needs its region
    panel.region.setText("knee")
    panel.structure.setText("suprapatellar recess")
    panel.pathology.setText("effusion")
    with qtbot.waitSignal(panel.refreshed, timeout=5000):
        qtbot.mouseClick(panel.file_button, Qt.MouseButton.LeftButton)
    assert "de-identified" in panel.message.text()
    assert panel.to_file.count() == 0  # filed: no longer waiting
    [filed] = search_cases(db)
    assert filed.tags.correlation == "mri"

    panel.search_text.setText("effusion mri")
    with qtbot.waitSignal(panel.searched, timeout=5000):
        qtbot.keyClick(panel.search_text, Qt.Key.Key_Return)
    assert panel.results.count() == 1 and "suprapatellar recess" in panel.results.item(0).text()
    panel.search_text.setText("gout")
    with qtbot.waitSignal(panel.searched, timeout=5000):
        qtbot.keyClick(panel.search_text, Qt.Key.Key_Return)
    assert panel.results.count() == 0
    panel.search_text.setText("")
    with qtbot.waitSignal(panel.searched, timeout=5000):
        panel.search()
    panel.results.item(0).setSelected(True)
    panel.session_title.setText("Anterior knee")
    with qtbot.waitSignal(panel.session_shown, timeout=5000):
        qtbot.mouseClick(panel.plan_button, Qt.MouseButton.LeftButton)
    assert panel.session is not None and panel.session.practice_steps == tuple(STEPS["knee"])
    assert "suprapatellar long axis" in panel.session_info.text()
    qtbot.mouseClick(panel.slides_button, Qt.MouseButton.LeftButton)
    page = tmp_path / "library" / "sessions" / f"session-{panel.session.id:04d}" / "index.html"
    assert page.is_file() and "moderate joint effusion" in page.read_text()
    signed_in.append(TOM)
    with qtbot.waitSignal(panel.session_shown, timeout=5000):
        qtbot.mouseClick(panel.attend_button, Qt.MouseButton.LeftButton)
    assert attendance(db, panel.session.id) == ["tom"] and "Attended: tom" in panel.session_info.text()
