"""Practice scores in the trainee's logbook: quiz runs and views found in the simulator.

Revision ID: 0003_practice_scores
Revises: 0002_user_pins
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_practice_scores"
down_revision = "0002_user_pins"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "practice_scores",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("person", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("item", sa.String(128), nullable=False),
        sa.Column("scene_id", sa.String(32), nullable=False),
        sa.Column("score_percent", sa.Float, nullable=False),
        sa.Column("time_s", sa.Float, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("practiced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("workstation", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("practice_scores")
