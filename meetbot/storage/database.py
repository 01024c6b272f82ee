"""Engine creation: the embedded SQLite default and PostgreSQL through one URL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def is_memory_sqlite(url: str) -> bool:
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")


def create_engine(url: str) -> AsyncEngine:
    if not is_sqlite(url):
        return create_async_engine(url, pool_pre_ping=True)
    kwargs: dict[str, Any] = {"connect_args": {"timeout": 30}}
    if is_memory_sqlite(url):
        # One connection, or every session would see its own empty in-memory database.
        kwargs["poolclass"] = StaticPool
    engine = create_async_engine(url, **kwargs)
    memory = is_memory_sqlite(url)

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        if not memory:
            # WAL lets readers (the web archive, `meetbot replay`) work while the bot writes;
            # FULL sync means a logged line survives even a power cut, not only kill -9.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    return engine
