"""recording files: the recording node, per-track files, timeline, captions, mixing claims

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 16:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import meeting_shared.db.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("node_id", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column(
                "tracks",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("timeline_key", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("captions_key", sa.String(length=255), nullable=True))
        batch_op.add_column(
            sa.Column(
                "claimed_at", meeting_shared.db.types.UTCDateTime(timezone=True), nullable=True
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_column("claimed_at")
        batch_op.drop_column("captions_key")
        batch_op.drop_column("timeline_key")
        batch_op.drop_column("tracks")
        batch_op.drop_column("node_id")
