"""Engine creation: the embedded SQLite default and PostgreSQL through one URL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry, PoolProxiedConnection
from sqlalchemy.util import await_only

from meetbot.storage import migrate
from meetbot.storage.admin import AdminStore
from meetbot.storage.errors import SchemaOutOfDateError
from meetbot.storage.lease import LeaseStore
from meetbot.storage.listing import ListingStore
from meetbot.storage.meetings import MeetingStore
from meetbot.storage.reminders import ReminderStore
from meetbot.storage.search import SearchStore
from meetbot.storage.sqlite import apply_pragmas
from meetbot.storage.teams import TeamStore
from meetbot.storage.urls import is_sqlite


def is_memory_sqlite(url: str) -> bool:
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")


def create_engine(url: str) -> AsyncEngine:
    if not is_sqlite(url):
        engine = create_async_engine(url)
        event.listen(engine.sync_engine, "checkout", _ping)
        return engine
    kwargs: dict[str, Any] = {"connect_args": {"timeout": 30}}
    if is_memory_sqlite(url):
        # One connection, or every session would see its own empty in-memory database; and
        # one session at a time on it. A static pool handed the one connection to concurrent
        # sessions, whose statements then interleaved on it (a commit while another session's
        # INSERT ... RETURNING was still being read: "cannot commit transaction - SQL statements
        # in progress", and a replayed meeting was lost).
        kwargs.update(poolclass=AsyncAdaptedQueuePool, pool_size=1, max_overflow=0, pool_timeout=60)
    engine = create_async_engine(url, **kwargs)
    memory = is_memory_sqlite(url)

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        apply_pragmas(dbapi_connection, memory=memory)

    return engine


def _ping(_dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection) -> None:
    """A pooled PostgreSQL connection is asked whether the server still answers before it is
    used, so one the server dropped (a restart, a failover) is replaced unseen: the pool
    retries with a new connection on DisconnectionError. One round trip, a query in
    the simple protocol; `pool_pre_ping` took three, as SQLAlchemy's asyncpg ping wraps its
    query in a transaction of its own (BEGIN, a prepared statement, ROLLBACK)."""
    connection = record.driver_connection
    if connection is None:  # invalidated meanwhile
        raise DisconnectionError("the connection was closed")
    try:
        await_only(connection.execute("SELECT 1"))
    except Exception as error:
        raise DisconnectionError(f"the database did not answer: {error}") from error


class Database:
    """An open database: the engine plus the repositories built on it."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.meetings = MeetingStore(engine)
        self.teams = TeamStore(engine, lambda: self.meetings.writer)
        self.reminders = ReminderStore(engine)
        self.leases = LeaseStore(engine)
        # Read-only views for the archive and the web site.
        self.listing = ListingStore(engine)
        self.search = SearchStore(engine, self.listing)
        self.admin = AdminStore(engine)

    @classmethod
    async def open(cls, url: str) -> Database:
        """Connect; the embedded SQLite default upgrades itself, PostgreSQL must be upgraded by
        `meetbot db upgrade` (several bot processes must not race to migrate it)."""
        engine = create_engine(url)
        if is_sqlite(url):
            await migrate.upgrade(engine)
            return cls(engine)
        current, head = await migrate.current_revision(engine), migrate.head_revision()
        if current != head:
            await engine.dispose()
            raise SchemaOutOfDateError(
                f"the database schema is at {current or 'nothing'}, this meetbot needs {head}: "
                "run `meetbot db upgrade -c <config>` first"
            )
        return cls(engine)

    async def close(self) -> None:
        await self.meetings.close()
        await self.listing.close()
        await self.engine.dispose()
