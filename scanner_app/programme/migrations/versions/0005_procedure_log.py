"""Guided procedures: the operator's procedure logbook and the patient-reported pain follow-ups.

Revision ID: 0005_procedure_log
Revises: 0004_teaching_file
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_procedure_log"
down_revision = "0004_teaching_file"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "procedure_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("study_uid", sa.String(64), nullable=False),
        sa.Column("person", sa.String(64), nullable=False),
        sa.Column("role_in_exam", sa.String(16), nullable=False),
        sa.Column("performed_on", sa.Date, nullable=False),
        sa.Column("protocol_id", sa.String(64), nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("side", sa.String(16), nullable=False),
        sa.Column("time_out", sa.Text, nullable=False),
        sa.Column("medication", sa.Text, nullable=False),
        sa.Column("dose_mg", sa.Float, nullable=True),
        sa.Column("volume_ml", sa.Float, nullable=True),
        sa.Column("needle_gauge", sa.Integer, nullable=True),
        sa.Column("needle_length_mm", sa.Float, nullable=True),
        sa.Column("approach", sa.Text, nullable=False),
        sa.Column("complications", sa.Text, nullable=False),
        sa.Column("tolerance", sa.String(16), nullable=False),
        sa.Column("pain_before", sa.Integer, nullable=True),
        sa.Column("pain_after", sa.Integer, nullable=True),
        sa.Column("practice", sa.Boolean, nullable=False),
        sa.UniqueConstraint("study_uid", "person", name="uq_procedure_study_person"),
    )
    op.create_table(
        "pain_follow_ups",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("study_uid", sa.String(64), nullable=False),
        sa.Column("weeks", sa.Integer, nullable=False),
        sa.Column("due_on", sa.Date, nullable=False),
        sa.Column("pain_score", sa.Integer, nullable=True),
        sa.Column("entered_on", sa.Date, nullable=True),
        sa.Column("entered_by", sa.String(64), nullable=False),
        sa.UniqueConstraint("study_uid", "weeks", name="uq_pain_follow_up_study_weeks"),
    )


def downgrade() -> None:
    op.drop_table("pain_follow_ups")
    op.drop_table("procedure_log")
