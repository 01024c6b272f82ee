"""Full-text search over meeting lines: SQLite FTS5 on the embedded default, a GIN index on
to_tsvector('simple', text) on PostgreSQL. Both live only in raw SQL (no model can describe
them); `meetbot.storage.migrate.include_object` keeps autogenerate from wanting them removed.

SQLite: an external-content FTS5 table (the text is stored once, in meeting_lines) kept in
sync by triggers, so every write path (append, redaction blanking, cascade deletes) updates
the index without the repositories knowing about it. Caution for later migrations: a
`batch_alter_table("meeting_lines")` on SQLite recreates the table and drops these triggers;
such a migration must recreate them and rebuild. Since 0008 the triggers to recreate are
0008's (`SQLITE_TRIGGERS` there: lines are queued for indexing), not these.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Raw SQL (Alembic has no FTS5 or trigger operations); IF NOT EXISTS makes a re-run harmless.
SQLITE_UP = [
    # unicode61 folds case and (remove_diacritics 2) accents, like people expect of a search box.
    "CREATE VIRTUAL TABLE IF NOT EXISTS meeting_lines_search USING fts5("
    "text, content='meeting_lines', content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER IF NOT EXISTS meeting_lines_search_ai AFTER INSERT ON meeting_lines BEGIN "
    "INSERT INTO meeting_lines_search(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER IF NOT EXISTS meeting_lines_search_ad AFTER DELETE ON meeting_lines BEGIN "
    "INSERT INTO meeting_lines_search(meeting_lines_search, rowid, text) "
    "VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER IF NOT EXISTS meeting_lines_search_au AFTER UPDATE OF text ON meeting_lines BEGIN "
    "INSERT INTO meeting_lines_search(meeting_lines_search, rowid, text) "
    "VALUES ('delete', old.id, old.text); "
    "INSERT INTO meeting_lines_search(rowid, text) VALUES (new.id, new.text); END",
    # Lines stored before this migration.
    "INSERT INTO meeting_lines_search(meeting_lines_search) VALUES ('rebuild')",
]

SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS meeting_lines_search_au",
    "DROP TRIGGER IF EXISTS meeting_lines_search_ad",
    "DROP TRIGGER IF EXISTS meeting_lines_search_ai",
    "DROP TABLE IF EXISTS meeting_lines_search",
]

# 'simple': no stemming or stop words, so any language and nicks and jargon match as typed.
POSTGRES_UP = [
    "CREATE INDEX ix_meeting_lines_search ON meeting_lines USING gin (to_tsvector('simple', text))",
]
POSTGRES_DOWN = ["DROP INDEX IF EXISTS ix_meeting_lines_search"]


def create_sqlite_search() -> None:
    for statement in SQLITE_UP:
        op.execute(statement)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        create_sqlite_search()
    elif dialect == "postgresql":
        for statement in POSTGRES_UP:
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    statements = SQLITE_DOWN if dialect == "sqlite" else POSTGRES_DOWN if dialect == "postgresql" else []
    for statement in statements:
        op.execute(statement)
