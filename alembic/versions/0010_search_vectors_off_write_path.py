"""Full-text indexing off the line-write path on PostgreSQL, as 0008 did on SQLite.

0005's GIN index on `to_tsvector('simple', text)` made every line's insert cut its text into
lexemes and enter them in the index, on the server's CPU, which the bot shares the machine with:
bench/core_path.py over 100 meetings, unthrottled, 64 us a line of wall time with the index and
55 without. The vectors now live in `meeting_lines_search_vectors` (a line's id and its
tsvector, GIN-indexed), written in batches by the search indexer (meetbot.storage.search_index)
before every search and in the bot every couple of seconds: a line's write does nothing more.
A line whose text changes (a redaction blanks it) has its vector made again by a trigger, if it
has one yet; a deleted line's goes with it (the foreign key cascades).

The names start with `meeting_lines_search` so `meetbot.storage.migrate` leaves them out of
model comparisons, like the other raw-SQL search objects. SQLite: nothing changes.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POSTGRES_UP = [
    "CREATE TABLE meeting_lines_search_vectors ("
    "id INTEGER PRIMARY KEY REFERENCES meeting_lines (id) ON DELETE CASCADE, "
    "vector TSVECTOR NOT NULL)",
    # The lines stored before: indexed here, then the index built once over all of them.
    "INSERT INTO meeting_lines_search_vectors (id, vector) "
    "SELECT id, to_tsvector('simple', text) FROM meeting_lines",
    "CREATE INDEX meeting_lines_search_vectors_gin ON meeting_lines_search_vectors USING gin (vector)",
    "DROP INDEX IF EXISTS ix_meeting_lines_search",
    "CREATE FUNCTION meeting_lines_search_retext() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "UPDATE meeting_lines_search_vectors SET vector = to_tsvector('simple', NEW.text) "
    "WHERE id = NEW.id; RETURN NULL; END $$",
    "CREATE TRIGGER meeting_lines_search_au AFTER UPDATE OF text ON meeting_lines FOR EACH ROW "
    "WHEN (OLD.text IS DISTINCT FROM NEW.text) EXECUTE FUNCTION meeting_lines_search_retext()",
]

# 0005's index as it was.
POSTGRES_DOWN = [
    "DROP TRIGGER IF EXISTS meeting_lines_search_au ON meeting_lines",
    "DROP FUNCTION IF EXISTS meeting_lines_search_retext()",
    "DROP TABLE IF EXISTS meeting_lines_search_vectors",
    "CREATE INDEX IF NOT EXISTS ix_meeting_lines_search ON meeting_lines "
    "USING gin (to_tsvector('simple', text))",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRES_UP:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRES_DOWN:
            op.execute(statement)
