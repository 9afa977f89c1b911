"""The teaching file: de-identified cases with tags, lecture-then-scan sessions and their attendance.

Revision ID: 0004_teaching_file
Revises: 0003_practice_scores
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_teaching_file"
down_revision = "0003_practice_scores"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "teaching_cases",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source_key", sa.String(64), nullable=False, unique=True),
        sa.Column("pseudonym", sa.String(32), nullable=False),
        sa.Column("folder", sa.Text, nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("structure", sa.String(128), nullable=False),
        sa.Column("pathology", sa.String(128), nullable=False),
        sa.Column("correlation", sa.String(64), nullable=False),
        sa.Column("finding", sa.Text, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("added_by", sa.String(64), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "teaching_sessions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("held_on", sa.Date, nullable=False),
        sa.Column("case_ids", sa.Text, nullable=False),
        sa.Column("practice_steps", sa.Text, nullable=False),
        sa.Column("planned_by", sa.String(64), nullable=False),
    )
    op.create_table(
        "session_attendance",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("session_id", sa.Integer, sa.ForeignKey("teaching_sessions.id"), nullable=False),
        sa.Column("person", sa.String(64), nullable=False),
        sa.Column("attended_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("session_id", "person", name="uq_attendance_session_person"),
    )


def downgrade() -> None:
    op.drop_table("session_attendance")
    op.drop_table("teaching_sessions")
    op.drop_table("teaching_cases")
