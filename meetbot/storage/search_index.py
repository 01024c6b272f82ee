"""Catching up the full-text index with the lines written since (migrations 0008 and 0010).

On SQLite a line's write only queues its id (`meeting_lines_search_queue`): indexing it there
cost ~80 % of the write. `SearchIndexer.catch_up` indexes the queued lines' current text and
empties the queue. On PostgreSQL a line's write does nothing for the index (its GIN index cost
the server ~15 % of a line's write); `catch_up` makes the vectors of the newest lines that have
none (`meeting_lines_search_vectors`). Search catches up before it looks, so it never misses a
line; the bot also catches up every couple of seconds (`run_forever`) so that a search rarely
has anything to do, except while it logs lines faster than any meeting says them (a burst, a
benchmark): then the index waits, up to a minute, for a quieter moment.

Several processes may catch up on one file at once (the bot and `meetbot serve`): each batch is
one transaction that takes the write lock first (BEGIN IMMEDIATE), so reading the queue,
indexing and dequeuing see one state and no line is indexed twice. Batches are bounded so a
long backlog (a bulk import) never holds the lock long against the bot's line writes.

On PostgreSQL, with no queue, the lines without a vector are looked for among the newest: those
above the highest line indexed less MARGIN ids, which leaves room for a transaction that took
its ids before another's and committed after it. A line that commits later still than that is
found by `sweep` (every line without a vector), which the bot runs as it starts and every
SWEEP_INTERVAL. Processes catching up at once may make the same vector: the second is ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import text
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

# Line ids below the highest indexed one that catch_up still looks at (PostgreSQL): a group commit
# is a few hundred lines at most, so transactions in flight together hold far fewer ids.
MARGIN = 2_000
# How often the bot looks at every line for one without a vector (PostgreSQL).
SWEEP_INTERVAL = 600.0
# More lines than this since the bot last looked (2 s before: 500 lines a second, far more than
# meetings say) and it is logging hard: its catch-ups wait (run_forever), MAX_WAIT seconds at
# most. A search meanwhile catches up itself, as always.
QUIET_LINES = 1_000
MAX_WAIT = 60.0
_NEWEST_LINE = "SELECT max(id) FROM meeting_lines"
_PG_INDEX = (
    "INSERT INTO meeting_lines_search_vectors (id, vector) "
    "SELECT line.id, to_tsvector('simple', line.text) FROM meeting_lines AS line "
    "WHERE line.id > "
    "(SELECT coalesce(max(id), 0) FROM meeting_lines_search_vectors) - CAST(:margin AS BIGINT) "
    "AND NOT EXISTS (SELECT 1 FROM meeting_lines_search_vectors AS indexed WHERE indexed.id = line.id) "
    "ORDER BY line.id LIMIT :batch ON CONFLICT (id) DO NOTHING"
)
# A margin that takes in every line (ids are 32-bit).
_EVERY_LINE = 1 << 40


class SearchIndexer:
    def __init__(self, engine: AsyncEngine, *, batch: int = BATCH) -> None:
        self._engine = engine
        self._batch = batch
        self._postgresql = engine.dialect.name == "postgresql"
        # One shared connection in memory: a background transaction would land in whatever
        # the foreground is doing on it. Search still catches up there, between its own uses.
        self.runs_in_background = self._postgresql or engine.url.database not in (None, "", ":memory:")

    async def catch_up(self) -> int:
        """Index every line queued so far (SQLite), or the newest lines without a vector
        (PostgreSQL); the number of lines indexed."""
        if self._postgresql:
            return await self._index_newest(everything=False)
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

    async def sweep(self) -> int:
        """catch_up, on PostgreSQL over every line: a line that committed long after lines with
        higher ids (see MARGIN) is indexed here. Elsewhere, catch_up."""
        if self._postgresql:
            return await self._index_newest(everything=True)
        return await self.catch_up()

    async def _index_newest(self, *, everything: bool) -> int:
        parameters = {"margin": _EVERY_LINE if everything else MARGIN, "batch": self._batch}
        total = 0
        while True:
            # One transaction a batch, so a long backlog never holds one open. Until a batch finds
            # nothing: one that found less than it could may have met another process's.
            async with self._engine.begin() as connection:
                indexed = (await connection.execute(text(_PG_INDEX), parameters)).rowcount
            total += indexed
            if not indexed:
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

    async def run_forever(
        self,
        interval: float = 2.0,
        sweep_interval: float = SWEEP_INTERVAL,
        *,
        quiet_lines: int = QUIET_LINES,
        max_wait: float = MAX_WAIT,
    ) -> None:
        """Catch up every `interval` seconds until cancelled, and sweep as it starts and every
        `sweep_interval`; a failure (the file locked for 30 s, a full disk, the server away) is
        logged and tried again next time, search catches up by itself.

        While more than `quiet_lines` lines came in since the last look, the bot is logging hard
        and the index waits, for `max_wait` seconds at most: indexing takes SQLite's write lock
        from the line writer and CPU from the rest (bench/run's sustained logging over 100
        channels on SQLite: 13,344 lines/s with a catch-up every 2 s, 20,471 waiting; Round 10
        of bench/NOTES.md)."""
        loop = asyncio.get_running_loop()
        swept: float | None = None
        seen: int | None = None  # the newest line at the last look
        waiting_since: float | None = None
        while True:
            try:
                newest = await self._newest_line()
                busy = seen is not None and newest - seen > quiet_lines
                seen = newest
                now = loop.time()
                if busy and waiting_since is None:
                    waiting_since = now
                if not busy or (waiting_since is not None and now - waiting_since >= max_wait):
                    waiting_since = None
                    if swept is None or now - swept >= sweep_interval:
                        await self.sweep()
                        swept = loop.time()
                    else:
                        await self.catch_up()
            except Exception:
                log.exception("catching up the search index failed; trying again in %.0fs", interval)
            await asyncio.sleep(interval)

    async def _newest_line(self) -> int:
        async with self._engine.connect() as connection:
            return int((await connection.exec_driver_sql(_NEWEST_LINE)).scalar() or 0)
