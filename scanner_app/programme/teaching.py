"""The teaching file: cases marked for teaching, copied de-identified into a searchable library with
tags and their outcome, and lecture-then-scan sessions (slides from the library, then the same
anatomy scanned on the simulator) with their attendance.

A library case is the existing de-identified export (`scanner_app.studies.export`) in a folder of the
library, plus a row holding its tags, the ultrasound finding and what later imaging or surgery found.
The row keeps no name, ID, date of birth or study UID: only a hash of the UID, so a study is copied once.
"""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pydicom
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from scanner_app.programme.db import ProgrammeDatabase
from scanner_app.programme.people import NotAllowed, Role, User
from scanner_app.programme.quality import FlagReason
from scanner_app.programme.schema import (
    AttendanceRow,
    FlagRow,
    OutcomeRow,
    TeachingCaseRow,
    TeachingSessionRow,
)
from scanner_app.studies.dicom_writer import first_frame
from scanner_app.studies.export import export_deidentified
from scanner_app.studies.report_images import ImageGeometry, png_of, render_key_image
from scanner_app.studies.store import StudyStore

MAX_SLIDE_IMAGES = 2  # per case


@dataclass(frozen=True, slots=True)
class TeachingTags:
    """How a case is found again: region, structure(s), pathology and the correlating modality."""

    region: str
    structure: str = ""
    pathology: str = ""
    correlation: str = ""  # "mri", "surgery", ...; empty: taken from the case's outcomes


@dataclass(frozen=True, slots=True)
class TeachingCase:
    id: int
    title: str
    tags: TeachingTags
    finding: str
    outcome: str
    pseudonym: str
    folder: Path
    added_by: str
    added_at: datetime


@dataclass(frozen=True, slots=True)
class PracticeStep:
    """A view to scan after the lecture: a simulator scene (and variant) and the view's name."""

    scene: str
    variant: str
    view: str


@dataclass(frozen=True, slots=True)
class TeachingSession:
    id: int
    title: str
    region: str
    held_on: date
    case_ids: tuple[int, ...]
    practice_steps: tuple[PracticeStep, ...]
    planned_by: str


def source_key(study_uid: str) -> str:
    return hashlib.sha256(study_uid.encode("ascii")).hexdigest()


def add_teaching_case(
    db: ProgrammeDatabase,
    store: StudyStore,
    study_uid: str,
    library_dir: Path,
    tags: TeachingTags,
    *,
    title: str,
    by: User,
) -> TeachingCase:
    """Copy a study flagged for teaching, de-identified, into the library with its tags and outcome.

    ValueError when the study is not flagged for teaching or is in the library already; NotAllowed for
    a trainee (a trainee suggests cases by flagging them; an operator or reviewer files them).
    """
    if by.role is Role.TRAINEE:
        raise NotAllowed(f"{by.username} is a trainee: an operator or reviewer files teaching cases")
    key = source_key(study_uid)
    with db.session() as s:
        flags = list(
            s.scalars(
                sa.select(FlagRow).where(
                    FlagRow.study_uid == study_uid, FlagRow.reason == FlagReason.TEACHING.value
                )
            )
        )
        if not flags:
            raise ValueError("only a case flagged for teaching goes into the teaching file")
        if s.scalar(sa.select(TeachingCaseRow.id).where(TeachingCaseRow.source_key == key)) is not None:
            raise ValueError("this case is in the teaching file already")
        outcomes = list(
            s.scalars(
                sa.select(OutcomeRow).where(OutcomeRow.study_uid == study_uid).order_by(OutcomeRow.outcome_on)
            )
        )
    finding = "; ".join(f.finding for f in flags if f.finding)
    # The outcome's text is copied without its date: dates are shifted in the copy, not here.
    outcome = "; ".join(f"{o.kind.upper()}: {o.text}" for o in outcomes)
    correlation = tags.correlation or ",".join(dict.fromkeys(o.kind for o in outcomes))
    folder = library_dir / key[:16]
    export = export_deidentified(store, study_uid, folder)
    row = TeachingCaseRow(
        source_key=key,
        pseudonym=export.pseudonym,
        folder=str(folder),
        title=title,
        region=tags.region,
        structure=tags.structure,
        pathology=tags.pathology,
        correlation=correlation,
        finding=finding,
        outcome=outcome,
        added_by=by.username,
        added_at=datetime.now(UTC),
    )
    try:
        with db.session() as s:
            s.add(row)
            s.flush()
            return _case(row)
    except IntegrityError:
        raise ValueError("this case is in the teaching file already (filed at the same time)") from None


def is_filed(db: ProgrammeDatabase, study_uid: str) -> bool:
    """Whether this study is in the teaching file already."""
    with db.session() as s:
        query = sa.select(TeachingCaseRow.id).where(TeachingCaseRow.source_key == source_key(study_uid))
        return s.scalar(query) is not None


def search_cases(
    db: ProgrammeDatabase,
    text: str = "",
    *,
    region: str = "",
    structure: str = "",
    pathology: str = "",
    correlation: str = "",
) -> list[TeachingCase]:
    """Library cases matching every tag given (a substring, any case) and the free text (in the title,
    tags, finding or outcome), newest first."""
    query = sa.select(TeachingCaseRow)
    for column, wanted in (
        (TeachingCaseRow.region, region),
        (TeachingCaseRow.structure, structure),
        (TeachingCaseRow.pathology, pathology),
        (TeachingCaseRow.correlation, correlation),
    ):
        if wanted:
            query = query.where(sa.func.lower(column).contains(wanted.lower(), autoescape=True))
    for word in text.lower().split():
        query = query.where(
            sa.or_(
                *(
                    sa.func.lower(c).contains(word, autoescape=True)
                    for c in (
                        TeachingCaseRow.title,
                        TeachingCaseRow.region,
                        TeachingCaseRow.structure,
                        TeachingCaseRow.pathology,
                        TeachingCaseRow.correlation,
                        TeachingCaseRow.finding,
                        TeachingCaseRow.outcome,
                    )
                )
            )
        )
    with db.session() as s:
        return [
            _case(r)
            for r in s.scalars(query.order_by(TeachingCaseRow.added_at.desc(), TeachingCaseRow.id.desc()))
        ]


def plan_session(
    db: ProgrammeDatabase,
    title: str,
    *,
    region: str,
    held_on: date,
    cases: Sequence[TeachingCase],
    practice_steps: Sequence[PracticeStep],
    by: User,
) -> TeachingSession:
    """A lecture (the cases' slides, in this order) then a scan of the same anatomy (the steps)."""
    if by.role is Role.TRAINEE:
        raise NotAllowed(f"{by.username} is a trainee: an operator or reviewer plans sessions")
    if not cases and not practice_steps:
        raise ValueError("a session needs cases to show or views to scan")
    steps = [{"scene": p.scene, "variant": p.variant, "view": p.view} for p in practice_steps]
    with db.session() as s:
        row = TeachingSessionRow(
            title=title,
            region=region,
            held_on=held_on,
            case_ids=json.dumps([c.id for c in cases]),
            practice_steps=json.dumps(steps),
            planned_by=by.username,
        )
        s.add(row)
        s.flush()
        return _session(row)


def get_session(db: ProgrammeDatabase, session_id: int) -> TeachingSession:
    with db.session() as s:
        row = s.get(TeachingSessionRow, session_id)
        if row is None:
            raise KeyError(f"no teaching session {session_id}")
        return _session(row)


def session_cases(db: ProgrammeDatabase, session: TeachingSession) -> list[TeachingCase]:
    """The session's cases in slide order (a case since removed from the library is left out)."""
    with db.session() as s:
        rows = {
            r.id: r
            for r in s.scalars(sa.select(TeachingCaseRow).where(TeachingCaseRow.id.in_(session.case_ids)))
        }
        return [_case(rows[i]) for i in session.case_ids if i in rows]


def log_attendance(db: ProgrammeDatabase, session_id: int, person: str, at: datetime | None = None) -> bool:
    """Record that `person` came; False when they were recorded already."""
    try:
        with db.session() as s:
            if s.get(TeachingSessionRow, session_id) is None:
                raise KeyError(f"no teaching session {session_id}")
            s.add(AttendanceRow(session_id=session_id, person=person, attended_at=at or datetime.now(UTC)))
    except IntegrityError:
        return False
    return True


def attendance(db: ProgrammeDatabase, session_id: int) -> list[str]:
    """Who came, by username."""
    with db.session() as s:
        query = sa.select(AttendanceRow.person).where(AttendanceRow.session_id == session_id)
        return sorted(s.scalars(query))


def sessions_attended(db: ProgrammeDatabase, person: str) -> list[TeachingSession]:
    """The sessions `person` came to, oldest first (their teaching log)."""
    with db.session() as s:
        query = (
            sa.select(TeachingSessionRow)
            .join(AttendanceRow, AttendanceRow.session_id == TeachingSessionRow.id)
            .where(AttendanceRow.person == person)
            .order_by(TeachingSessionRow.held_on, TeachingSessionRow.id)
        )
        return [_session(r) for r in s.scalars(query)]


def build_session_slides(db: ProgrammeDatabase, session: TeachingSession, out_dir: Path) -> Path:
    """Write the session's slides (`index.html`, images beside it): a title, one slide per case with
    its de-identified images, finding, outcome and tags, then the views to scan. Returns the page."""
    out_dir.mkdir(parents=True, exist_ok=True)
    images_dir = out_dir / "images"
    images_dir.mkdir(exist_ok=True)
    e = html.escape
    slides = [
        f"<section><h1>{e(session.title)}</h1><p>{e(session.region)} — 30 minutes of cases, "
        f"then 30 minutes of scanning the same anatomy</p></section>"
    ]
    for n, case in enumerate(session_cases(db, session), start=1):
        pictures = _case_pngs(case, images_dir, n)
        imgs = "".join(f'<img src="images/{p.name}" alt="case {n} image">' for p in pictures)
        tags = ", ".join(
            f"{k}: {v}"
            for k, v in (
                ("structure", case.tags.structure),
                ("pathology", case.tags.pathology),
                ("correlation", case.tags.correlation),
            )
            if v
        )
        slides.append(
            f"<section><h2>Case {n}: {e(case.title)}</h2><div class=imgs>{imgs}</div>"
            f"<p><b>Ultrasound:</b> {e(case.finding or '—')}</p>"
            f"<p><b>Outcome:</b> {e(case.outcome or 'none recorded')}</p>"
            f"<p class=tags>{e(tags)}</p></section>"
        )
    if session.practice_steps:
        items = "".join(
            f"<li>{e(p.view)} <span class=tags>({e(_where(p))})</span></li>" for p in session.practice_steps
        )
        slides.append(f"<section><h2>Now scan</h2><p>On the simulator, find:</p><ol>{items}</ol></section>")
    page = out_dir / "index.html"
    page.write_text(
        _PAGE.replace("{title}", e(session.title)).replace("{slides}", "\n".join(slides)), encoding="utf-8"
    )
    return page


def _where(step: PracticeStep) -> str:
    return f"{step.scene}, {step.variant}" if step.variant else step.scene


def _case_pngs(case: TeachingCase, folder: Path, number: int) -> list[Path]:
    """The case's first de-identified images, as PNG (pixels only: the copy has no overlays or text)."""
    paths = []
    for i, dcm in enumerate(sorted(case.folder.glob("*.dcm"))[:MAX_SLIDE_IMAGES]):
        ds = pydicom.dcmread(dcm)
        image = render_key_image(first_frame(ds), ImageGeometry.of(ds), [])
        path = folder / f"case{number:02d}-{i + 1}.png"
        path.write_bytes(png_of(image))
        paths.append(path)
    return paths


def _case(row: TeachingCaseRow) -> TeachingCase:
    added = row.added_at if row.added_at.tzinfo is not None else row.added_at.replace(tzinfo=UTC)
    tags = TeachingTags(row.region, row.structure, row.pathology, row.correlation)
    return TeachingCase(
        row.id,
        row.title,
        tags,
        row.finding,
        row.outcome,
        row.pseudonym,
        Path(row.folder),
        row.added_by,
        added,
    )


def _session(row: TeachingSessionRow) -> TeachingSession:
    steps = tuple(PracticeStep(p["scene"], p["variant"], p["view"]) for p in json.loads(row.practice_steps))
    return TeachingSession(
        row.id, row.title, row.region, row.held_on, tuple(json.loads(row.case_ids)), steps, row.planned_by
    )


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body { margin: 0; background: #111; color: #eee; font-family: sans-serif; }
section { display: none; min-height: 100vh; box-sizing: border-box; padding: 3vh 4vw; }
section.on { display: block; }
.imgs img { max-height: 55vh; max-width: 40vw; margin-right: 1vw; border: 1px solid #444; }
.tags { color: #aaa; }
</style></head><body>
{slides}
<script>
const s = document.querySelectorAll("section"); let i = 0;
function show(n) {
  s[i].classList.remove("on"); i = Math.max(0, Math.min(s.length - 1, n)); s[i].classList.add("on");
}
s[0].classList.add("on");
document.addEventListener("keydown", ev => { if (ev.key === "ArrowRight" || ev.key === " ") show(i + 1);
  if (ev.key === "ArrowLeft") show(i - 1); });
document.addEventListener("click", () => show(i + 1));
</script></body></html>
"""
