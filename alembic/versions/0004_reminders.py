"""Reminders sent (recorded before sending, so each goes out once) and occurrences skipped by chairs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sent_reminders",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("sent_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sent_reminders")),
    )
    op.create_table(
        "schedule_skips",
        sa.Column("team", sa.String(length=100), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("added_by_key", sa.String(length=320), nullable=False),
        sa.Column("added_by_nick", sa.String(length=255), nullable=False),
        sa.Column("added_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("team", "day", name=op.f("pk_schedule_skips")),
    )


def downgrade() -> None:
    op.drop_table("schedule_skips")
    op.drop_table("sent_reminders")
