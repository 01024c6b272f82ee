"""The connection a meeting's lines and state are written through: the write on every reply's
path and every group commit.

Through the general async engine a one-line transaction costs ~0.6 ms on SQLite and ~1 ms on
PostgreSQL (measured here), most of it not the database: aiosqlite hops to its worker thread
and back for each of BEGIN, INSERT and COMMIT, and the PostgreSQL pool pings the server on
every checkout. A writer keeps one connection of its own instead, and runs a whole unit of
work (a plain function of a synchronous connection) in one go:

- SQLite (a file): a synchronous connection on a thread of its own; the work is one
  transaction and one hop (~0.1-0.2 ms). The file is shared with the async engine; SQLite
  serialises the two writers (WAL, busy timeout). `small` work (a few rows: a command's line)
  runs on the event loop's thread instead when the writer thread is idle, sparing the hop; it
  never waits there for a lock another connection holds (that one may need the loop to finish
  its transaction): busy, it goes to the thread like the rest.
- PostgreSQL: one held connection in autocommit, the work run on it through SQLAlchemy's
  `run_sync`: a single statement (an INSERT of one line or many) is one round trip and atomic.
  Work of several statements that must hold together (`atomic`: a meeting's state with its
  items) runs between a BEGIN and a COMMIT of its own on the same connection, in turn with the
  rest. A held connection that fails is dropped and the next write opens a new one (the caller
  sees the failure and retries).
- SQLite in memory: the async engine itself (its one shared connection is the database).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from sqlalchemy import URL, Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from meetbot.storage.sqlite import apply_pragmas

log = logging.getLogger(__name__)

T = TypeVar("T")
Work = Callable[[Connection], T]

BUSY_TIMEOUT_MS = 30_000  # how long the writer thread waits for another connection's write lock
# WAL checkpoints: after this many units of work (a group commit, a command's line), or the
# first unit this long after the last one (a busy room's group commits are large).
CHECKPOINT_EVERY = 100
CHECKPOINT_SECONDS = 1.0


class _Busy(Exception):
    """Another connection holds the write lock: the work goes to the thread, which may wait."""


class LineWriter(Protocol):
    async def run(self, work: Work[T], *, atomic: bool = False, small: bool = False) -> T:
        """Run `work` with a synchronous connection; `atomic`: all of it or nothing, even where
        a single statement would not need a transaction; `small`: a few rows, quick enough to
        run without leaving the event loop (see the module doc)."""

    async def close(self) -> None: ...


def line_writer(engine: AsyncEngine) -> LineWriter:
    url = engine.url
    if url.get_backend_name() == "sqlite":
        if url.database in (None, "", ":memory:"):
            return EngineWriter(engine)
        return ThreadedSqliteWriter(url.set(drivername="sqlite"))
    return HeldConnectionWriter(engine)


class EngineWriter:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def run(self, work: Work[T], *, atomic: bool = False, small: bool = False) -> T:
        async with self._engine.begin() as connection:
            return await connection.run_sync(work)

    async def close(self) -> None:
        pass


class ThreadedSqliteWriter:
    def __init__(self, url: URL) -> None:
        self._url = url
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-lines")
        self._engine: Engine | None = None
        self._connection: Connection | None = None
        self._in_flight = 0  # units of work handed to the thread and not finished
        self._since_checkpoint = 0  # units of work
        self._checkpoint_due = time.monotonic() + CHECKPOINT_SECONDS
        self._checkpoints = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-checkpoint")
        self._checkpoint_connection: sqlite3.Connection | None = None
        self._checkpointing = False

    def _sync_engine(self) -> Engine:
        if self._engine is None:
            engine = create_engine(
                self._url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
            )

            @event.listens_for(engine, "connect")
            def _pragmas(dbapi_connection: Any, _record: Any) -> None:
                apply_pragmas(dbapi_connection, memory=False)
                # Checkpoints have a thread of their own (see _count_unit), never a commit's.
                dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")

            self._engine = engine
        return self._engine

    async def run(self, work: Work[T], *, atomic: bool = False, small: bool = False) -> T:
        # Always a transaction here: one costs nothing extra on SQLite.
        engine = self._sync_engine()
        try:
            if small and not self._in_flight:
                with contextlib.suppress(_Busy):
                    return self._run_here(engine, work)
            self._in_flight += 1
            try:
                return await asyncio.get_running_loop().run_in_executor(self._thread, self._run, engine, work)
            finally:
                self._in_flight -= 1
        finally:
            self._count_unit()

    def _count_unit(self) -> None:
        """Copy the write-ahead log into the database file now and then, on a thread and a
        connection of its own. SQLite would otherwise do it in whichever commit filled the log,
        at times on the event loop's thread (a small write): 5-25 ms with the whole bot
        standing still, every few hundred lines. PASSIVE: writers and readers never wait."""
        self._since_checkpoint += 1
        due = self._since_checkpoint >= CHECKPOINT_EVERY or time.monotonic() >= self._checkpoint_due
        if not due or self._checkpointing:
            return
        self._since_checkpoint = 0
        self._checkpoint_due = time.monotonic() + CHECKPOINT_SECONDS
        self._checkpointing = True
        done = asyncio.get_running_loop().run_in_executor(self._checkpoints, self._checkpoint)
        done.add_done_callback(self._checkpointed)

    def _checkpoint(self) -> None:
        if self._checkpoint_connection is None:
            self._checkpoint_connection = sqlite3.connect(
                self._url.database or "", check_same_thread=False, isolation_level=None
            )
        self._checkpoint_connection.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _checkpointed(self, done: asyncio.Future[None]) -> None:
        self._checkpointing = False
        if not done.cancelled() and done.exception() is not None:
            # Harmless for the data (the log keeps it); the next checkpoint tries again.
            log.warning("checkpointing the SQLite write-ahead log failed: %s", done.exception())

    def _run_here(self, engine: Engine, work: Work[T]) -> T:
        """On the caller's thread (the writer thread is idle, so the connection is free),
        giving up at once where another connection's lock would make it wait."""
        dbapi = self._connected(engine).connection.dbapi_connection
        assert dbapi is not None
        dbapi.execute("PRAGMA busy_timeout=0")
        try:
            return self._run(engine, work, busy_fails=True)
        finally:
            if self._connection is not None:
                dbapi.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")

    def _connected(self, engine: Engine) -> Connection:
        if self._connection is None:
            self._connection = engine.connect()
        return self._connection

    def _run(self, engine: Engine, work: Work[T], *, busy_fails: bool = False) -> T:
        connection = self._connected(engine)
        try:
            with connection.begin():
                return work(connection)
        except IntegrityError:
            raise  # rolled back, the connection is fine: the caller sorts out the duplicate
        except OperationalError as error:
            if busy_fails and getattr(error.orig, "sqlite_errorname", "") == "SQLITE_BUSY":
                raise _Busy from error  # rolled back, the connection is fine
            self._drop(connection)
            raise
        except DBAPIError:
            self._drop(connection)
            raise

    def _drop(self, connection: Connection) -> None:
        self._connection = None
        with contextlib.suppress(Exception):
            connection.close()

    async def close(self) -> None:
        def shut() -> None:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
            if self._engine is not None:
                self._engine.dispose()

        def shut_checkpoints() -> None:
            if self._checkpoint_connection is not None:
                self._checkpoint_connection.close()
                self._checkpoint_connection = None

        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._checkpoints, shut_checkpoints)
        self._checkpoints.shutdown(wait=True)
        await loop.run_in_executor(self._thread, shut)
        self._thread.shutdown(wait=True)


class HeldConnectionWriter:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._connection: AsyncConnection | None = None
        self._lock = asyncio.Lock()  # one unit of work at a time, in the order they came

    async def run(self, work: Work[T], *, atomic: bool = False, small: bool = False) -> T:
        async with self._lock:
            if self._connection is None:
                self._connection = await self._engine.connect()
            connection = self._connection
            try:
                return await connection.run_sync(_in_transaction(work) if atomic else work)
            except IntegrityError:
                await connection.rollback()  # no transaction in autocommit; resets our side only
                raise
            except BaseException:
                # Failed mid-way (server gone, cancelled): its state is unknown, start afresh.
                self._connection = None
                with contextlib.suppress(Exception):
                    await connection.invalidate()
                raise

    async def close(self) -> None:
        async with self._lock:
            if self._connection is not None:
                with contextlib.suppress(Exception):
                    await self._connection.close()
                self._connection = None


def _in_transaction(work: Work[T]) -> Work[T]:
    """`work` in a transaction of its own on the held connection (in autocommit, so SQLAlchemy
    sends no BEGIN itself), rather than on a pooled connection, whose checkout pings the
    server first: a round trip more before every meeting's state or end is written."""

    def atomically(connection: Connection) -> T:
        connection.exec_driver_sql("BEGIN")
        try:
            done = work(connection)
        except BaseException:
            connection.exec_driver_sql("ROLLBACK")
            raise
        connection.exec_driver_sql("COMMIT")
        return done

    return atomically
