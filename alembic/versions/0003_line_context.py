"""What a line carries besides its text: the sender's platform rank (privileged), the message an
edit or redaction changes (edit_of), and its thread.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("meeting_lines") as batch:
        batch.add_column(sa.Column("privileged", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.add_column(sa.Column("edit_of", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("thread", sa.String(length=255), nullable=True))
        batch.create_index("ix_meeting_lines_native_id", ["native_id"])


def downgrade() -> None:
    with op.batch_alter_table("meeting_lines") as batch:
        batch.drop_index("ix_meeting_lines_native_id")
        batch.drop_column("thread")
        batch.drop_column("edit_of")
        batch.drop_column("privileged")
