"""The connection meeting lines are written through: the one write on every reply's path.

Through the general async engine a one-line transaction costs ~0.6 ms on SQLite and ~1 ms on
PostgreSQL (measured here), most of it not the database: aiosqlite hops to its worker thread
and back for each of BEGIN, INSERT and COMMIT, and the PostgreSQL pool pings the server on
every checkout. A writer keeps one connection of its own instead:

- SQLite (a file): a synchronous connection on a thread of its own, so a whole transaction is
  one hop (~0.1-0.2 ms). The file is shared with the async engine; SQLite serialises the two
  writers (WAL, busy timeout).
- PostgreSQL: one held connection in autocommit, so a write is a single round trip (a batch
  is still atomic). A connection that fails is dropped and the next write opens
  a new one (the caller sees the failure and retries).
- SQLite in memory: the async engine itself (its one shared connection is the database).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from sqlalchemy import URL, Connection, Engine, Executable, create_engine, event
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from meetbot.storage.sqlite import apply_pragmas

Params = Sequence[dict[str, object]]


class LineWriter(Protocol):
    async def insert(self, statement: Executable, rows: Params) -> None:
        """Run `statement` for every row in one transaction."""

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

    async def insert(self, statement: Executable, rows: Params) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(statement, rows[0] if len(rows) == 1 else list(rows))

    async def close(self) -> None:
        pass


class ThreadedSqliteWriter:
    def __init__(self, url: URL) -> None:
        self._url = url
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-lines")
        self._engine: Engine | None = None
        self._connection: Connection | None = None

    @property
    def sync_engine(self) -> Engine:
        """Created on first use; tests listen to its events (commits)."""
        if self._engine is None:
            engine = create_engine(self._url, connect_args={"timeout": 30, "check_same_thread": False})

            @event.listens_for(engine, "connect")
            def _pragmas(dbapi_connection: Any, _record: Any) -> None:
                apply_pragmas(dbapi_connection, memory=False)

            self._engine = engine
        return self._engine

    async def insert(self, statement: Executable, rows: Params) -> None:
        engine = self.sync_engine
        await asyncio.get_running_loop().run_in_executor(self._thread, self._insert, engine, statement, rows)

    def _insert(self, engine: Engine, statement: Executable, rows: Params) -> None:
        if self._connection is None:
            self._connection = engine.connect()
        connection = self._connection
        try:
            with connection.begin():
                connection.execute(statement, rows[0] if len(rows) == 1 else list(rows))
        except IntegrityError:
            raise  # the connection is fine: the caller sorts out the duplicate
        except DBAPIError:
            self._connection = None
            with contextlib.suppress(Exception):
                connection.close()
            raise

    async def close(self) -> None:
        def shut() -> None:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
            if self._engine is not None:
                self._engine.dispose()

        await asyncio.get_running_loop().run_in_executor(self._thread, shut)
        self._thread.shutdown(wait=True)


class HeldConnectionWriter:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._connection: AsyncConnection | None = None
        self._lock = asyncio.Lock()  # one statement at a time on the one connection

    async def insert(self, statement: Executable, rows: Params) -> None:
        async with self._lock:
            if self._connection is None:
                self._connection = await self._engine.connect()
            connection = self._connection
            try:
                # One round trip in autocommit: a single INSERT, or a batch, which asyncpg's
                # executemany (or SQLAlchemy's multi-row INSERT) runs atomically.
                await connection.execute(statement, rows[0] if len(rows) == 1 else list(rows))
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
