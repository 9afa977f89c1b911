"""The programme's tables (SQLAlchemy 2 declarative). Changing them needs a migration under
`migrations/versions/`; `tests/test_programme_db.py` checks the two agree."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
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
