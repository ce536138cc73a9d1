"""transcripts: the caption lines of each meeting

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import meeting_shared.db.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "transcript_lines",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("meeting_id", sa.Uuid(), nullable=False),
        sa.Column("speaker_id", sa.Uuid(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("started_at", meeting_shared.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", meeting_shared.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("emotion", sa.String(length=16), nullable=True),
        sa.Column("emotion_score", sa.Float(), nullable=True),
        sa.Column("created_at", meeting_shared.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_transcript_lines_meeting_id_meetings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["speaker_id"], ["users.id"], name=op.f("fk_transcript_lines_speaker_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transcript_lines")),
    )
    with op.batch_alter_table("transcript_lines", schema=None) as batch_op:
        batch_op.create_index(
            "ix_transcript_lines_meeting_started", ["meeting_id", "started_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("transcript_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_transcript_lines_meeting_started")
    op.drop_table("transcript_lines")
