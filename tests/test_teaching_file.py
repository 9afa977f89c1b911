"""The teaching file on the workstation's SQLite and on a real PostgreSQL: a case flagged for teaching
is copied de-identified into the library with its tags and outcome, found again by tag and text, shown
in a lecture-then-scan session's slides beside the views to scan; attendance is logged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pydicom
import pytest
import sqlalchemy as sa

from drivers.sim.scenes import named_views
from protocols.validation import load_library
from scanner_app.programme.db import ProgrammeDatabase, open_database, sqlite_url
from scanner_app.programme.people import NotAllowed, Role, User, add_user
from scanner_app.programme.quality import FlagReason, OutcomeKind, add_outcome, flag
from scanner_app.programme.teaching import (
    PracticeStep,
    TeachingTags,
    add_teaching_case,
    attendance,
    build_session_slides,
    log_attendance,
    plan_session,
    search_cases,
    sessions_attended,
)
from scanner_app.studies import StudyStore
from tests.postgres_fixture import PostgresServer, postgres_server  # noqa: F401 - a fixture
from tests.report_support import run_knee_exam

ANNA = User("anna", "Anna Sonographer", Role.OPERATOR)
TOM = User("tom", "Tom Trainee", Role.TRAINEE)
SECRETS = ("Doe", "KNEE-001", "Jane", "19650114", "Smith", "Olivia", "Lee^Sam")


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ProgrammeDatabase]:
    if request.param == "sqlite":
        url = sqlite_url(tmp_path)
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.create_database()
    with open_database(url) as opened:
        add_user(opened, User("admin", "Administrator", Role.ADMINISTRATOR), pin="admin-pin")
        for u in (ANNA, TOM):
            add_user(opened, u, pin=f"{u.username}-pin")
        yield opened


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StudyStore]:
    opened = StudyStore(tmp_path / "studies")
    yield opened
    opened.close()


def _knee_steps() -> list[PracticeStep]:
    protocols, _ = load_library(views=named_views())
    return [
        PracticeStep(s.practice.scene, s.practice.variant, s.practice.view)
        for p in protocols
        if p.region == "knee"
        for s in p.steps
        if s.practice is not None
    ]


def test_a_teaching_case_is_filed_de_identified_and_found_by_tag_and_text(
    db: ProgrammeDatabase, store: StudyStore, tmp_path: Path
) -> None:
    exam = run_knee_exam(store)
    library = tmp_path / "library"
    tags = TeachingTags("knee", "suprapatellar recess", "joint effusion")
    with pytest.raises(ValueError, match="flagged for teaching"):
        add_teaching_case(db, store, exam.study_uid, library, tags, title="Effusion", by=ANNA)
    flag(
        db, exam.study_uid, FlagReason.TEACHING, TOM, operator="anna", finding="suprapatellar effusion 6.2 mm"
    )
    add_outcome(db, exam.study_uid, OutcomeKind.MRI, date(2026, 11, 20), "moderate joint effusion", by=ANNA)
    with pytest.raises(NotAllowed):
        add_teaching_case(db, store, exam.study_uid, library, tags, title="Effusion", by=TOM)
    case = add_teaching_case(db, store, exam.study_uid, library, tags, title="Knee effusion", by=ANNA)
    assert case.tags.correlation == "mri"  # from the outcome
    assert case.finding == "suprapatellar effusion 6.2 mm" and case.outcome == "MRI: moderate joint effusion"
    with pytest.raises(ValueError, match="already"):
        add_teaching_case(db, store, exam.study_uid, library, tags, title="Again", by=ANNA)

    # The copy is the de-identified export: its files name nobody, and nor does the library's row.
    files = sorted(case.folder.glob("*.dcm"))
    assert files and len(files) == len(store.get_study(exam.study_uid).captures)
    for path in files:
        ds = pydicom.dcmread(path)
        assert str(ds.PatientID) == case.pseudonym and str(ds.PatientName).startswith(case.pseudonym)
        assert all(s not in str(ds) for s in SECRETS)
    assert json.loads((case.folder / "manifest.json").read_text())["pseudonym"] == case.pseudonym
    with db.engine.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM teaching_cases")).one()
    assert exam.study_uid not in " ".join(str(v) for v in row)
    assert all(s not in " ".join(str(v) for v in row) for s in SECRETS)

    assert [c.id for c in search_cases(db, region="KNEE")] == [case.id]
    assert [c.id for c in search_cases(db, structure="recess", correlation="mri")] == [case.id]
    assert [c.id for c in search_cases(db, "moderate effusion")] == [case.id]  # every word, any field
    assert search_cases(db, region="shoulder") == []
    assert search_cases(db, "gout") == []
    assert search_cases(db, pathology="100%") == []  # a wildcard is a character, not "anything"


def test_a_lecture_then_scan_session_with_slides_and_attendance(
    db: ProgrammeDatabase, store: StudyStore, tmp_path: Path
) -> None:
    exam = run_knee_exam(store)
    flag(
        db,
        exam.study_uid,
        FlagReason.TEACHING,
        ANNA,
        operator="anna",
        finding="suprapatellar effusion 6.2 mm",
    )
    add_outcome(
        db, exam.study_uid, OutcomeKind.ASPIRATION, date(2026, 11, 21), "clear synovial fluid", by=ANNA
    )
    case = add_teaching_case(
        db, store, exam.study_uid, tmp_path / "library", TeachingTags("knee", "suprapatellar recess"),
        title="Knee effusion", by=ANNA,
    )  # fmt: skip
    steps = _knee_steps()
    assert steps and "knee" in {s.scene for s in steps}  # (and the popliteal fossa of the knee protocol)
    with pytest.raises(NotAllowed):
        plan_session(
            db, "Knee", region="knee", held_on=date(2026, 12, 2), cases=[case], practice_steps=steps, by=TOM
        )
    session = plan_session(
        db,
        "Anterior knee",
        region="knee",
        held_on=date(2026, 12, 2),
        cases=[case],
        practice_steps=steps,
        by=ANNA,
    )
    assert session.case_ids == (case.id,) and session.practice_steps == tuple(steps)

    page = build_session_slides(db, session, tmp_path / "slides").read_text()
    assert page.count("<section>") == 3  # title, the case, the scan
    assert "Knee effusion" in page and "ASPIRATION: clear synovial fluid" in page and "Now scan" in page
    assert all(s.view in page for s in steps)
    pictures = sorted((tmp_path / "slides" / "images").glob("*.png"))
    assert pictures and all(f"images/{p.name}" in page for p in pictures)
    assert all(s not in page for s in SECRETS)

    at = datetime(2026, 12, 2, 12, 30, tzinfo=UTC)
    assert log_attendance(db, session.id, "tom", at) and log_attendance(db, session.id, "anna", at)
    assert not log_attendance(db, session.id, "tom", at)  # once per session
    assert attendance(db, session.id) == ["anna", "tom"]
    assert [s.title for s in sessions_attended(db, "tom")] == ["Anterior knee"]
    with pytest.raises(KeyError):
        log_attendance(db, 999, "tom")
