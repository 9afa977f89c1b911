"""The programme database (logbook, credentialing, quality review), the same tests on the
workstation's SQLite and on a real PostgreSQL server started by the test setup."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from scanner_app.programme.db import ProgrammeDatabase, ProgrammeDbError, open_database, sqlite_url
from scanner_app.programme.logbook import ExamFacts, entries, findings_text, record_exam, sign_off
from scanner_app.programme.logbook_export import CSV_COLUMNS, logbook_csv, logbook_pdf
from scanner_app.programme.pathways import (
    Pathway,
    PathwayError,
    Requirement,
    load_pathways,
    months_before,
    progress,
)
from scanner_app.programme.people import NotAllowed, Role, User, add_user, list_users, sign_in
from scanner_app.programme.quality import (
    Classification,
    FlagReason,
    OutcomeKind,
    add_outcome,
    cases,
    classify,
    flag,
    operator_stats,
    review_stats,
)
from scanner_app.programme.review_pack import build_review_pack, quarter_of
from scanner_app.programme.schema import Base
from scanner_app.studies import StudyStore
from tests.cli_support import run_main
from tests.postgres_fixture import PostgresServer, postgres_server  # noqa: F401 - a fixture
from tests.report_support import run_knee_exam

ROOT = Path(__file__).resolve().parents[1]
ANNA = User("anna", "Anna Sonographer", Role.OPERATOR)
TOM = User("tom", "Tom Trainee", Role.TRAINEE)
RITA = User("rita", "Rita Reviewer", Role.REVIEWER)
ADMIN = User("admin", "Department Administrator", Role.ADMINISTRATOR)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database()


@pytest.fixture
def db(db_url: str) -> Iterator[ProgrammeDatabase]:
    with open_database(db_url) as opened:
        for user in (ADMIN, ANNA, TOM, RITA):
            add_user(opened, user, pin=f"{user.username}-pin")
        yield opened


def _exam(uid: str, day: date, region: str = "knee", **kw: object) -> ExamFacts:
    return ExamFacts(
        study_uid=uid, performed_on=day, region=region, operator=kw.pop("operator", "anna"), **kw
    )  # type: ignore[arg-type]


def test_migrations_build_exactly_the_schema_the_code_uses(db: ProgrammeDatabase) -> None:
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        tables = set(sa.inspect(conn).get_table_names())
    assert diff == []
    assert {"users", "logbook_entries", "flags", "outcomes", "reviews", "alembic_version"} <= tables
    assert {"procedure_log", "pain_follow_ups"} <= tables


def test_reopening_migrates_nothing_and_keeps_entries(db_url: str) -> None:
    with open_database(db_url) as first:
        record_exam(first, _exam("1.2.3", date(2026, 3, 1)))
    with open_database(db_url) as again:
        assert [e.study_uid for e in entries(again)] == ["1.2.3"]


def test_an_exam_makes_one_entry_for_operator_and_trainee_once(db: ProgrammeDatabase) -> None:
    exam = _exam("1.2.3", date(2026, 5, 2), trainee="tom", supervisor="anna", findings="Baker's cyst 32 mm")
    made = record_exam(db, exam)
    assert sorted((e.person, e.role_in_exam) for e in made) == [("anna", "operator"), ("tom", "trainee")]
    again = record_exam(db, exam)  # the app restarted and recorded it again
    assert len(again) == 2 and len(entries(db)) == 2
    (toms,) = entries(db, "tom")
    assert toms.supervised and toms.supervisor == "anna" and toms.findings == "Baker's cyst 32 mm"


def test_sign_off_rules(db: ProgrammeDatabase) -> None:
    record_exam(db, _exam("1.2.4", date(2026, 5, 3), trainee="tom", supervisor="anna"))
    toms = entries(db, "tom")[0]
    annas = entries(db, "anna")[0]
    with pytest.raises(NotAllowed, match="trainee cannot sign off"):
        sign_off(db, toms.id, TOM)
    with pytest.raises(NotAllowed, match="own logbook entry"):
        sign_off(db, annas.id, ANNA)
    signed = sign_off(db, toms.id, ANNA, at=datetime(2026, 5, 4, 9, 0, tzinfo=UTC))
    assert signed.signed_off and entries(db, "tom")[0].signed_off_by == "anna"


def test_months_before_handles_month_ends() -> None:
    assert months_before(date(2026, 3, 31), 1) == date(2026, 2, 28)
    assert months_before(date(2026, 11, 29), 36) == date(2023, 11, 29)
    assert months_before(date(2026, 1, 15), 13) == date(2024, 12, 15)


def test_credentialing_counts_the_window_and_leaves_out_qa_failures(db: ProgrammeDatabase) -> None:
    pathway = Pathway("p", "Test pathway", "test", (Requirement("knee exams", 3, 12, frozenset({"knee"})),))
    on = date(2026, 11, 29)
    record_exam(
        db, _exam("old", date(2025, 11, 29))
    )  # exactly 12 months ago: outside (window is (start, on])
    record_exam(db, _exam("a", date(2025, 11, 30)))
    record_exam(db, _exam("b", date(2026, 6, 1)))
    record_exam(db, _exam("c", date(2026, 6, 2), region="shoulder"))  # another region
    record_exam(db, _exam("sim", date(2026, 6, 3), practice=True))  # practice never counts here
    record_exam(db, _exam("missed", date(2026, 7, 1)))
    p = progress(db, "anna", pathway, on)
    assert p.requirements[0].done == 3 and p.complete
    # A reviewer finds "missed" was a miss: it no longer counts.
    f = flag(db, "missed", FlagReason.QA_REVIEW, ANNA, operator="anna", finding="no DVT")
    classify(db, f.id, Classification.MISS, by=RITA, note="thrombus in the peroneal veins on repeat")
    p = progress(db, "anna", pathway, on)
    assert p.requirements[0].done == 2 and not p.complete and p.excluded_qa_failed == 1


def test_shipped_pathways_load_and_aium_counts_150_in_36_months() -> None:
    pathways = {p.id: p for p in load_pathways()}
    aium = pathways["aium_msk_150"]
    assert (aium.requirements[0].count, aium.requirements[0].window_months) == (150, 36)
    assert "AIUM" in aium.source and aium.exclude_qa_failed


def test_a_broken_pathway_file_names_the_file_and_pathway(tmp_path: Path) -> None:
    bad = tmp_path / "pathways.yaml"
    bad.write_text(
        "pathways:\n  - id: mine\n    title: T\n    requirements:\n"
        "      - title: x\n        count: 0\n        window_months: 12\n"
    )
    with pytest.raises(PathwayError, match=r"pathways.yaml: pathway mine: requirement 'x' needs a positive"):
        load_pathways(bad)


def test_quality_review_flags_outcomes_verdicts_and_who_sees_what(db: ProgrammeDatabase) -> None:
    when = datetime(2026, 10, 5, tzinfo=UTC)
    f1 = flag(db, "s1", FlagReason.QA_REVIEW, ANNA, operator="anna", finding="gout: double contour", at=when)
    f2 = flag(db, "s2", FlagReason.QA_REVIEW, ANNA, operator="tom", finding="Baker's cyst", at=when)
    add_outcome(db, "s1", OutcomeKind.ASPIRATION, date(2026, 10, 20), "monosodium urate crystals", by=ANNA)
    with pytest.raises(NotAllowed, match="only reviewers"):
        classify(db, f1.id, Classification.GOOD_CALL, by=ANNA)
    with pytest.raises(ValueError, match="needs its text"):
        add_outcome(db, "s1", OutcomeKind.MRI, date(2026, 10, 21), "  ", by=ANNA)
    classify(db, f1.id, Classification.GOOD_CALL, by=RITA)
    classify(db, f2.id, Classification.OVERCALL, by=RITA)
    classify(db, f2.id, Classification.CONCORDANT, by=RITA, note="on second look, agreed")  # replaces
    quarter = cases(db, date(2026, 10, 1), date(2027, 1, 1))
    assert [(c.flag.study_uid, c.classification) for c in quarter] == [
        ("s1", Classification.GOOD_CALL), ("s2", Classification.CONCORDANT)]  # fmt: skip
    assert quarter[0].outcomes[0].text == "monosodium urate crystals"
    assert cases(db, date(2026, 7, 1), date(2026, 10, 1)) == []  # the previous quarter
    everyone = review_stats(db, date(2026, 10, 1), date(2027, 1, 1), RITA)
    assert set(everyone.by_operator) == {"anna", "tom"}
    assert everyone.by_finding["gout: double contour"]["good_call"] == 1
    own = review_stats(db, date(2026, 10, 1), date(2027, 1, 1), TOM)
    assert set(own.by_operator) == {"tom"}  # a trainee sees only their own line
    with pytest.raises(NotAllowed, match="only their own"):
        operator_stats(db, date(2026, 10, 1), date(2027, 1, 1), "anna", TOM)


def test_logbook_exports(db: ProgrammeDatabase, tmp_path: Path) -> None:
    record_exam(
        db, _exam("1.2.9", date(2026, 9, 9), trainee="tom", supervisor="anna", findings="effusion, 6 mm")
    )
    sign_off(db, entries(db, "tom")[0].id, ANNA)
    mine = entries(db, "tom")
    text = logbook_csv(mine)
    lines = text.splitlines()
    assert lines[0].split(",") == list(CSV_COLUMNS) and len(lines) == 2
    assert "2026-09-09,1.2.9,trainee,knee" in lines[1] and ",anna," in lines[1]
    pathways = load_pathways()
    pdf = logbook_pdf(
        "tom", mine, [progress(db, "tom", p, date(2026, 11, 29)) for p in pathways], date(2026, 11, 29)
    )
    assert pdf.startswith(b"%PDF") and len(pdf) > 2000


def test_a_bad_url_or_an_absent_server_is_named_without_its_password() -> None:
    with pytest.raises(ProgrammeDbError, match="not a database URL"):
        open_database("nonsense://")
    with pytest.raises(ProgrammeDbError, match=r"postgresql\+psycopg://u:\*\*\*@127.0.0.1:1/x"):
        open_database("postgresql+psycopg://u:secret@127.0.0.1:1/x")


WORKSTATION = """
import sys
from datetime import date
from scanner_app.programme.db import open_database
from scanner_app.programme.logbook import ExamFacts, record_exam
url, station, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open_database(url) as db:
    for i in range(n):
        record_exam(db, ExamFacts(f"{station}.{i}", date(2026, 11, 1 + i % 28), "knee", "anna",
                                  trainee="tom", supervisor="anna", workstation=station))
"""


@pytest.mark.slow
def test_two_workstations_record_into_one_database_at_once(db_url: str) -> None:
    n = 40
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKSTATION, db_url, station, str(n)], cwd=ROOT, stderr=subprocess.PIPE
        )
        for station in ("US1", "US2")
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    with open_database(db_url) as db:
        kept = entries(db)
        assert len(kept) == 2 * n * 2  # every exam, for operator and trainee, from both stations
        assert {e.workstation for e in kept} == {"US1", "US2"}
        pathway = Pathway("p", "knee", "test", (Requirement("knee", 2 * n, 12, frozenset({"knee"}), True),))
        assert progress(db, "tom", pathway, date(2026, 11, 29)).requirements[0].done == 2 * n


def test_quarterly_pack_shows_cases_without_identifiers(db: ProgrammeDatabase, tmp_path: Path) -> None:
    store = StudyStore(tmp_path / "studies")
    exam = run_knee_exam(store)
    study = store.get_study(exam.study_uid)
    when = datetime(2026, 11, 2, tzinfo=UTC)
    finding = "suprapatellar effusion 6.2 mm"
    f = flag(db, exam.study_uid, FlagReason.QA_REVIEW, ANNA, operator="anna", finding=finding, at=when)
    add_outcome(db, exam.study_uid, OutcomeKind.MRI, date(2026, 11, 20), "moderate joint effusion", by=ANNA)
    classify(db, f.id, Classification.CONCORDANT, by=RITA)
    flag(
        db, "elsewhere", FlagReason.TEACHING, ANNA, operator="tom", finding="gout tophus", at=when
    )  # not reviewed
    start, end = quarter_of(date(2026, 11, 29))
    assert (start, end) == (date(2026, 10, 1), date(2027, 1, 1))
    pack = build_review_pack(db, store, start, end, tmp_path / "pack", viewer=RITA)
    assert pack.cases == 1  # only classified cases
    page = pack.html_path.read_text()
    assert (
        "suprapatellar effusion 6.2 mm" in page and "moderate joint effusion" in page and "Concordant" in page
    )
    pictures = sorted((tmp_path / "pack" / "images").glob("*.png"))
    assert pictures and all(f"images/{p.name}" in page for p in pictures)
    for secret in (study.patient.name, study.patient.patient_id, "Doe", "KNEE-001", "Smith", "SPR LONG"):
        assert secret not in page  # nor the operator's typed text on the image
    pdftotext = ["pdftotext", str(pack.pdf_path), "-"]
    pdf_text = subprocess.run(pdftotext, capture_output=True, text=True, check=True, timeout=30).stdout
    assert finding in pdf_text and "Concordant" in pdf_text and "Doe" not in pdf_text
    # The reviewer's copy has per-operator numbers; an operator's copy has only their own line.
    assert "By operator" in page and ">anna<" in page
    own = build_review_pack(db, store, start, end, tmp_path / "own", viewer=TOM).html_path.read_text()
    assert ">anna<" not in own
    store.close()


@pytest.mark.slow
def test_two_app_processes_log_their_headless_exams_into_one_database(db_url: str, tmp_path: Path) -> None:
    def app(station: str) -> subprocess.Popen[str]:
        args = ["--headless", "--probe", "sim", "--protocol", "knee", "--seconds", "2",
                "--study-dir", str(tmp_path / station), "--programme-db", db_url]  # fmt: skip
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
        return subprocess.Popen([sys.executable, str(ROOT / "main.py"), *args], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip

    procs = [app("US1"), app("US2")]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert "logbook: exam recorded for HEADLESS SCRIPT" in out
    with open_database(db_url) as db:
        kept = entries(db, "HEADLESS SCRIPT")
        assert len(kept) == 2 and len({e.study_uid for e in kept}) == 2
        assert {e.region for e in kept} == {"knee"} and all(e.protocol_id == "knee" for e in kept)


def test_sign_in_takes_the_pin_and_keeps_only_its_hash(db: ProgrammeDatabase) -> None:
    assert sign_in(db, "anna", "anna-pin") == ANNA
    with pytest.raises(NotAllowed, match="unknown user or wrong PIN"):
        sign_in(db, "anna", "tom-pin")
    with pytest.raises(NotAllowed, match="unknown user or wrong PIN"):
        sign_in(db, "nobody", "anna-pin")
    with db.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT pin_hash FROM users WHERE username = 'anna'")).scalar_one()
    assert stored.startswith("scrypt$") and "anna-pin" not in stored
    with pytest.raises(ValueError, match="4 to 12 characters"):
        add_user(db, User("bob", "Bob", Role.OPERATOR), pin="12")


def test_the_first_user_of_a_new_database_is_an_administrator(tmp_path: Path) -> None:
    with open_database(sqlite_url(tmp_path)) as fresh:
        with pytest.raises(ValueError, match="first user must be an administrator"):
            add_user(fresh, ANNA, pin="anna-pin")
        add_user(fresh, ADMIN, pin="admin-pin")
        add_user(fresh, ANNA, pin="anna-pin")
        assert [u.username for u in list_users(fresh)] == ["admin", "anna"]


def test_findings_line_says_what_was_found_and_what_was_not_done() -> None:
    def step(status: str, *findings: tuple[str, str]) -> dict[str, object]:
        return {"status": status, "findings": [{"id": i, "title": t} for i, t in findings]}

    done_normal = {"complete": True, "steps": [step("done", ("normal", "Normal"))]}
    assert findings_text(done_normal) == "normal"
    cyst = {
        "complete": True,
        "steps": [step("done", ("normal", "Normal")), step("done", ("bakers", "Baker's cyst"))],
    }
    assert findings_text(cyst) == "Baker's cyst"
    untouched = {"complete": False, "steps": [step("pending"), step("pending"), step("current")]}
    assert findings_text(untouched) == "no findings recorded (incomplete: 0 of 3 steps done)"
    partial = {"complete": False, "steps": [step("done", ("normal", "Normal")), step("skipped")]}
    assert findings_text(partial) == "normal (incomplete: 1 of 2 steps done)"


def test_a_bad_programme_db_url_is_refused_before_anything_runs(capsys: pytest.CaptureFixture[str]) -> None:
    run = run_main(["--headless", "--protocol", "knee", "--programme-db", "notaurl"], capsys)
    assert run.code == 2 and "--programme-db: 'notaurl' is not a database URL" in run.err


@pytest.mark.slow
def test_a_headless_exam_the_logbook_could_not_keep_fails_but_keeps_the_study(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nowhere = "postgresql+psycopg://u:secret@127.0.0.1:1/x"
    args = ["--headless", "--probe", "sim", "--protocol", "knee", "--seconds", "1",
            "--study-dir", str(tmp_path), "--programme-db", nowhere]  # fmt: skip
    run = run_main(args, capsys)
    assert run.code == 1 and "the study is kept, but the exam is not in the logbook" in run.err
    assert "secret" not in run.err
    assert list(tmp_path.rglob("*.dcm"))  # the captures were kept
