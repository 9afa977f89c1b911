"""The programme's tables (SQLAlchemy 2 declarative). Changing them needs a migration under
`migrations/versions/`; `tests/test_programme_db.py` checks the two agree."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class UserRow(Base):
    """A person who signs in: operator (sonographer), trainee, reviewer or administrator."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    department: Mapped[str] = mapped_column(String(64), default="")
    pin_hash: Mapped[str] = mapped_column(String(160), default="")  # "scrypt$salt$hash"; empty: none set


class LogbookRow(Base):
    """One examination (one patient encounter) in a person's logbook, as FUSIC counts them."""

    __tablename__ = "logbook_entries"
    __table_args__ = (UniqueConstraint("study_uid", "person", name="uq_logbook_study_person"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_uid: Mapped[str] = mapped_column(String(64))
    person: Mapped[str] = mapped_column(String(64))  # username whose logbook this is
    role_in_exam: Mapped[str] = mapped_column(String(16))  # "operator" or "trainee"
    performed_on: Mapped[date] = mapped_column(Date)
    region: Mapped[str] = mapped_column(String(32))
    protocol_id: Mapped[str] = mapped_column(String(64), default="")
    supervised: Mapped[bool] = mapped_column(Boolean, default=False)
    supervisor: Mapped[str] = mapped_column(String(64), default="")
    findings: Mapped[str] = mapped_column(Text, default="")
    practice: Mapped[bool] = mapped_column(Boolean, default=False)  # simulator or phantom
    workstation: Mapped[str] = mapped_column(String(64), default="")
    signed_off_by: Mapped[str] = mapped_column(String(64), default="")
    signed_off_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class FlagRow(Base):
    """An exam (or one image of it) flagged for follow-up, teaching or QA review."""

    __tablename__ = "flags"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_uid: Mapped[str] = mapped_column(String(64))
    sop_instance_uid: Mapped[str] = mapped_column(String(64), default="")  # empty: the whole exam
    reason: Mapped[str] = mapped_column(String(16))
    finding: Mapped[str] = mapped_column(Text, default="")  # the ultrasound finding under review
    operator: Mapped[str] = mapped_column(String(64), default="")
    flagged_by: Mapped[str] = mapped_column(String(64))
    flagged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OutcomeRow(Base):
    """What later imaging, surgery or the lab found for a flagged exam."""

    __tablename__ = "outcomes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_uid: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    outcome_on: Mapped[date] = mapped_column(Date)
    text: Mapped[str] = mapped_column(Text)
    entered_by: Mapped[str] = mapped_column(String(64))


class ReviewRow(Base):
    """A reviewer's classification of a flagged exam against its outcome."""

    __tablename__ = "reviews"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    flag_id: Mapped[int] = mapped_column(ForeignKey("flags.id"), unique=True)
    classification: Mapped[str] = mapped_column(String(16))
    reviewer: Mapped[str] = mapped_column(String(64))
    reviewed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    note: Mapped[str] = mapped_column(Text, default="")


class PracticeScoreRow(Base):
    """One graded practice in a trainee's logbook: a quiz run or a view found in the simulator."""

    __tablename__ = "practice_scores"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person: Mapped[str] = mapped_column(String(64))  # username whose logbook this is
    kind: Mapped[str] = mapped_column(String(16))  # "quiz" or "view"
    item: Mapped[str] = mapped_column(String(128))  # the track ("tendon,fluid,tissue") or the view's name
    scene_id: Mapped[str] = mapped_column(String(32), default="")
    score_percent: Mapped[float] = mapped_column(Float)
    time_s: Mapped[float] = mapped_column(Float, default=0.0)
    detail: Mapped[str] = mapped_column(Text, default="")  # the answers, or the probe path as JSON
    practiced_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    workstation: Mapped[str] = mapped_column(String(64), default="")


class TeachingCaseRow(Base):
    """A de-identified copy of a case marked for teaching, in the searchable library, with its tags."""

    __tablename__ = "teaching_cases"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # A keyed hash of the original study UID: one copy per study, no way back to the patient.
    source_key: Mapped[str] = mapped_column(String(64), unique=True)
    pseudonym: Mapped[str] = mapped_column(String(32))
    folder: Mapped[str] = mapped_column(Text)  # the de-identified export (DICOM files + manifest.json)
    title: Mapped[str] = mapped_column(String(200))
    region: Mapped[str] = mapped_column(String(32))
    structure: Mapped[str] = mapped_column(String(128), default="")
    pathology: Mapped[str] = mapped_column(String(128), default="")
    correlation: Mapped[str] = mapped_column(String(64), default="")  # "mri", "surgery", ... comma-separated
    finding: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[str] = mapped_column(Text, default="")
    added_by: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TeachingSessionRow(Base):
    """A lecture-then-scan session: slides from the library, then practice on the simulator."""

    __tablename__ = "teaching_sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    region: Mapped[str] = mapped_column(String(32))
    held_on: Mapped[date] = mapped_column(Date)
    case_ids: Mapped[str] = mapped_column(Text)  # JSON list of teaching_cases.id, in slide order
    practice_steps: Mapped[str] = mapped_column(Text)  # JSON list of {scene, variant, view}
    planned_by: Mapped[str] = mapped_column(String(64))


class AttendanceRow(Base):
    """Who came to a teaching session."""

    __tablename__ = "session_attendance"
    __table_args__ = (UniqueConstraint("session_id", "person", name="uq_attendance_session_person"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("teaching_sessions.id"))
    person: Mapped[str] = mapped_column(String(64))
    attended_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ProcedureLogRow(Base):
    """One guided procedure in its operator's procedure logbook: what was done and the pain right after."""

    __tablename__ = "procedure_log"
    __table_args__ = (UniqueConstraint("study_uid", "person", name="uq_procedure_study_person"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_uid: Mapped[str] = mapped_column(String(64))
    person: Mapped[str] = mapped_column(String(64))  # username of the operator (or trainee)
    role_in_exam: Mapped[str] = mapped_column(String(16))
    performed_on: Mapped[date] = mapped_column(Date)
    protocol_id: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(Text, default="")
    side: Mapped[str] = mapped_column(String(16), default="")
    time_out: Mapped[str] = mapped_column(Text, default="")  # "complete", or "skipped: <reason>"
    medication: Mapped[str] = mapped_column(Text, default="")
    dose_mg: Mapped[float | None] = mapped_column(Float, nullable=True)
    volume_ml: Mapped[float | None] = mapped_column(Float, nullable=True)
    needle_gauge: Mapped[int | None] = mapped_column(Integer, nullable=True)
    needle_length_mm: Mapped[float | None] = mapped_column(Float, nullable=True)
    approach: Mapped[str] = mapped_column(Text, default="")
    complications: Mapped[str] = mapped_column(Text, default="")
    tolerance: Mapped[str] = mapped_column(String(16), default="")
    pain_before: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pain_after: Mapped[int | None] = mapped_column(Integer, nullable=True)
    practice: Mapped[bool] = mapped_column(Boolean, default=False)


class PainFollowUpRow(Base):
    """A patient-reported pain score due some weeks after a procedure; `pain_score` stays empty until
    it is entered."""

    __tablename__ = "pain_follow_ups"
    __table_args__ = (UniqueConstraint("study_uid", "weeks", name="uq_pain_follow_up_study_weeks"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_uid: Mapped[str] = mapped_column(String(64))
    weeks: Mapped[int] = mapped_column(Integer)
    due_on: Mapped[date] = mapped_column(Date)
    pain_score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    entered_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    entered_by: Mapped[str] = mapped_column(String(64), default="")
