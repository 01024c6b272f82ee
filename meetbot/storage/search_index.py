"""Catching up SQLite's full-text index with the lines written since (migration 0008).

A line's write only queues its id (`meeting_lines_search_queue`): indexing it there cost ~80 %
of the write. `SearchIndexer.catch_up` indexes the queued lines' current text and empties the
queue. Search catches up before it looks, so it never misses a line; the bot also catches up
every couple of seconds (`run_forever`) so that a search rarely has anything to do.

Several processes may catch up on one file at once (the bot and `meetbot serve`): each batch is
one transaction that takes the write lock first (BEGIN IMMEDIATE), so reading the queue,
indexing and dequeuing see one state and no line is indexed twice. Batches are bounded so a
long backlog (a bulk import) never holds the lock long against the bot's line writes.

PostgreSQL indexes at query time (a GIN expression index): nothing is queued, nothing to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

# Lines a transaction: ~10-15 ms holding the write lock at ~2-3 us a line (bench/search_index.py).
BATCH = 5_000

_ANY_QUEUED = "SELECT EXISTS (SELECT 1 FROM meeting_lines_search_queue)"
_LAST_OF_BATCH = "SELECT max(id) FROM (SELECT id FROM meeting_lines_search_queue ORDER BY id LIMIT ?)"
# The join only ever drops ids whose line is gone, and the delete trigger dequeues those.
_INDEX = (
    "INSERT INTO meeting_lines_search(rowid, text) "
    "SELECT line.id, line.text FROM meeting_lines_search_queue AS queued "
    "JOIN meeting_lines AS line ON line.id = queued.id WHERE queued.id <= ?"
)
_DEQUEUE = "DELETE FROM meeting_lines_search_queue WHERE id <= ?"


class SearchIndexer:
    def __init__(self, engine: AsyncEngine, *, batch: int = BATCH) -> None:
        self._engine = engine
        self._batch = batch
        self.queues = engine.dialect.name == "sqlite"
        # One shared connection in memory: a background transaction would land in whatever
        # the foreground is doing on it. Search still catches up there, between its own uses.
        self.runs_in_background = self.queues and engine.url.database not in (None, "", ":memory:")

    async def catch_up(self) -> int:
        """Index every line queued so far; the number of lines indexed."""
        if not self.queues:
            return 0
        total = 0
        async with self._engine.connect() as connection:
            # The usual case (before every search): one read, ~0.2 ms, and no write lock.
            if not (await connection.exec_driver_sql(_ANY_QUEUED)).scalar():
                return 0
            await connection.rollback()  # ends the read, so the isolation level may change
            # Autocommit: the transactions below are begun and ended here, as IMMEDIATE ones.
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            while True:
                indexed = await self._index_batch(connection)
                total += indexed
                if indexed < self._batch:
                    return total

    async def _index_batch(self, connection: AsyncConnection) -> int:
        # Waits (busy timeout) while another process writes; from here on the queue is ours.
        await connection.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            last = (await connection.exec_driver_sql(_LAST_OF_BATCH, (self._batch,))).scalar()
            indexed = 0
            if last is not None:
                await connection.exec_driver_sql(_INDEX, (last,))
                indexed = (await connection.exec_driver_sql(_DEQUEUE, (last,))).rowcount
            await connection.exec_driver_sql("COMMIT")
        except BaseException:
            # Also on cancellation: the connection goes back to the pool with no transaction.
            with contextlib.suppress(Exception):
                await connection.exec_driver_sql("ROLLBACK")
            raise
        return indexed

    async def run_forever(self, interval: float = 2.0) -> None:
        """Catch up every `interval` seconds until cancelled; a failure (the file locked for
        30 s, a full disk) is logged and tried again next time, search catches up by itself."""
        while True:
            try:
                await self.catch_up()
            except Exception:
                log.exception("catching up the search index failed; trying again in %.0fs", interval)
            await asyncio.sleep(interval)
