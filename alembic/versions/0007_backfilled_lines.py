"""Lines the server delivered late (IRC chathistory / +H playback after a reconnect): logged into
the meeting but never run as commands, also when the meeting is rebuilt from its lines.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN, not batch mode: batch mode copies meeting_lines into a new table on
    # SQLite, which silently drops the full-text search triggers of migration 0005.
    op.add_column(
        "meeting_lines", sa.Column("backfilled", sa.Boolean(), server_default=sa.false(), nullable=False)
    )


def downgrade() -> None:
    op.drop_column("meeting_lines", "backfilled")  # SQLite >= 3.35 drops a column in place
