"""Practice scores in the trainee's logbook, on the workstation's SQLite and on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scanner_app.programme.db import ProgrammeDatabase, open_database, sqlite_url
from scanner_app.programme.practice import (
    PracticeScore,
    ProbePath,
    practice_scores,
    progress_series,
    record_score,
)
from tests.postgres_fixture import PostgresServer, postgres_server  # noqa: F401 - a fixture

DAY0 = datetime(2026, 3, 2, 12, 30, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ProgrammeDatabase]:
    if request.param == "sqlite":
        url = sqlite_url(tmp_path)
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.create_database()
    with open_database(url) as opened:
        yield opened


def test_scores_are_kept_per_person_and_kind_and_plot_over_time(db: ProgrammeDatabase) -> None:
    path = ProbePath()
    path.add(0.0, {"position_mm": 40.0, "lateral_mm": 0.0, "rotation_deg": 45.0, "tilt_deg": 0.0})
    path.add(9.5, {"position_mm": 1.0, "lateral_mm": 2.0, "rotation_deg": 0.0, "tilt_deg": 0.0})
    record_score(
        db, PracticeScore("tom", "quiz", "tendon,fluid,tissue", 66.7, DAY0 + timedelta(days=7), "knee")
    )
    record_score(db, PracticeScore("tom", "quiz", "tendon,fluid,tissue", 33.3, DAY0, "knee"))
    day1 = DAY0 + timedelta(days=1)
    view_score = PracticeScore("tom", "view", "quadriceps tendon long axis", 90.0, day1, "knee", time_s=9.5)
    record_score(db, replace(view_score, detail=path.to_json(), workstation="us-1"))
    record_score(db, PracticeScore("sam", "quiz", "tendon,fluid,tissue", 100.0, DAY0))

    quiz = practice_scores(db, "tom", "quiz")
    assert [s.score_percent for s in quiz] == [33.3, 66.7]  # oldest first
    assert quiz[0].practiced_at == DAY0
    assert progress_series(quiz) == [(0.0, 33.3), (7.0, 66.7)]
    everything = practice_scores(db, "tom")
    assert [s.kind for s in everything] == ["quiz", "view", "quiz"]
    view = everything[1]
    assert view.time_s == 9.5 and view.workstation == "us-1"
    assert [s.pose["position_mm"] for s in ProbePath.from_json(view.detail).samples] == [40.0, 1.0]
    assert [s.person for s in practice_scores(db, "sam")] == ["sam"]
    with pytest.raises(ValueError):
        record_score(db, PracticeScore("tom", "quiz", "x", 101.0, DAY0))
