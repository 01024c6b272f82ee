"""Full-text indexing off the line-write path on SQLite: new lines are queued, not indexed.

Indexing a line into FTS5 (0005's insert trigger) was ~80 % of a line's write cost. The insert
trigger now only records the line's id in `meeting_lines_search_queue`; the search repository
indexes the queued lines' current text (`meetbot.storage.search_index`) before every search and,
in the bot, every couple of seconds, so the queue stays short and search never misses a line.

The delete and text-update triggers must know whether a line is in FTS5 yet: an external-content
FTS5 'delete' of a row it never indexed corrupts the index. A queued line is just dequeued on
delete, and left queued on update (it is indexed with whatever text it has when its turn comes);
an indexed line has its old text deleted from FTS5 and is queued again for the new text.

The queue table's name starts with `meeting_lines_search` so `meetbot.storage.migrate` leaves it
out of model comparisons, like the other raw-SQL search objects. 0005's caution holds: a
`batch_alter_table("meeting_lines")` drops these triggers; recreate them (`SQLITE_TRIGGERS`).
PostgreSQL indexes at query time (its GIN index): nothing changes there.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DROP_TRIGGERS = [
    "DROP TRIGGER IF EXISTS meeting_lines_search_au",
    "DROP TRIGGER IF EXISTS meeting_lines_search_ad",
    "DROP TRIGGER IF EXISTS meeting_lines_search_ai",
]

# OR IGNORE: a line already queued needs nothing more, and a write must not fail over it.
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

# Every existing line was indexed by 0005's triggers, so the queue starts empty.
SQLITE_UP = [
    *DROP_TRIGGERS,
    "CREATE TABLE meeting_lines_search_queue (id INTEGER PRIMARY KEY)",
    *SQLITE_TRIGGERS,
]

# 0005's triggers as they were; the rebuild indexes whatever was still queued.
SQLITE_DOWN = [
    *DROP_TRIGGERS,
    "DROP TABLE meeting_lines_search_queue",
    "CREATE TRIGGER meeting_lines_search_ai AFTER INSERT ON meeting_lines BEGIN "
    "INSERT INTO meeting_lines_search(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER meeting_lines_search_ad AFTER DELETE ON meeting_lines BEGIN "
    "INSERT INTO meeting_lines_search(meeting_lines_search, rowid, text) "
    "VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER meeting_lines_search_au AFTER UPDATE OF text ON meeting_lines BEGIN "
    "INSERT INTO meeting_lines_search(meeting_lines_search, rowid, text) "
    "VALUES ('delete', old.id, old.text); "
    "INSERT INTO meeting_lines_search(rowid, text) VALUES (new.id, new.text); END",
    "INSERT INTO meeting_lines_search(meeting_lines_search) VALUES ('rebuild')",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_UP:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_DOWN:
            op.execute(statement)
