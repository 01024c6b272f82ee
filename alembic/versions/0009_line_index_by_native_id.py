"""A line's network id leads its unique index, which also replaces the index on it alone.

Every logged line went into three indexes besides its row: (meeting_id, seq), (meeting_id,
native_id) and (native_id). With many meetings at once, a group commit's lines land in each
meeting's own part of the first two, one page a meeting, so a commit of 45 lines over 100
meetings wrote ~90 index pages to the write-ahead log. (native_id, meeting_id) keeps the same
uniqueness, serves every lookup by network id (edits, redactions, search's edit targets), and
as a server's message ids grow (InspIRCd's `00A~<start>~<counter>`) its new entries sit
together. sqlite3 alone, 100 meetings, 45 lines a commit, InspIRCd ids: 14.0 -> 7.3 us a row;
random ids (Matrix event ids): 24 -> 14.

On SQLite a table constraint's index can only go with a copy of the table (Alembic's batch
mode), which drops the full-text search triggers: they are created again, as 0008 left them.
Line ids are kept, so the search index and its queue stay valid.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-21
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# 0008's triggers, as they are after it (a migration keeps its own copy of what it restores).
SQLITE_TRIGGERS = [
    "CREATE TRIGGER meeting_lines_search_ai AFTER INSERT ON meeting_lines BEGIN "
    "INSERT OR IGNORE INTO meeting_lines_search_queue(id) VALUES (new.id); END",
    "CREATE TRIGGER meeting_lines_search_ad AFTER DELETE ON meeting_lines BEGIN "
    "INSERT INTO meeting_lines_search(meeting_lines_search, rowid, text) "
    "SELECT 'delete', old.id, old.text "
    "WHERE NOT EXISTS (SELECT 1 FROM meeting_lines_search_queue WHERE id = old.id); "
    "DELETE FROM meeting_lines_search_queue WHERE id = old.id; END",
    "CREATE TRIGGER meeting_lines_search_au AFTER UPDATE OF text ON meeting_lines "
    "WHEN NOT EXISTS (SELECT 1 FROM meeting_lines_search_queue WHERE id = old.id) BEGIN "
    "INSERT INTO meeting_lines_search(meeting_lines_search, rowid, text) "
    "VALUES ('delete', old.id, old.text); "
    "INSERT OR IGNORE INTO meeting_lines_search_queue(id) VALUES (new.id); END",
]


def _restore_sqlite_triggers() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def upgrade() -> None:
    with op.batch_alter_table("meeting_lines") as batch:
        batch.drop_index("ix_meeting_lines_native_id")
        batch.drop_constraint("uq_meeting_lines_meeting_id_native_id", type_="unique")
        batch.create_unique_constraint("uq_meeting_lines_native_id_meeting_id", ["native_id", "meeting_id"])
    _restore_sqlite_triggers()


def downgrade() -> None:
    with op.batch_alter_table("meeting_lines") as batch:
        batch.drop_constraint("uq_meeting_lines_native_id_meeting_id", type_="unique")
        batch.create_unique_constraint("uq_meeting_lines_meeting_id_native_id", ["meeting_id", "native_id"])
        batch.create_index("ix_meeting_lines_native_id", ["native_id"])
    _restore_sqlite_triggers()
