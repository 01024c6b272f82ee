"""Reminder bookkeeping: the exactly-once claim, and which process is the leader."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker

from meetbot.storage.meetings import translate_outages
from meetbot.storage.tables import SentReminderRow

# Any fixed number works; every meetbot process on one database competes for this one.
LEADER_LOCK_ID = 0x6D65_6574  # "meet"


class ReminderStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    @translate_outages
    async def claim(self, key: str, at: datetime) -> bool:
        """Record the reminder as sent; False when it already was (by us before a restart, or
        by another process). Called before sending, so a reminder never goes out twice."""
        async with self._sessions() as session:
            try:
                async with session.begin():
                    session.add(SentReminderRow(key=key, sent_at=at))
            except IntegrityError:
                return False
            return True

    @translate_outages
    async def claimed(self, keys: list[str]) -> set[str]:
        if not keys:
            return set()
        async with self._sessions() as session:
            rows = await session.scalars(select(SentReminderRow.key).where(SentReminderRow.key.in_(keys)))
            return set(rows)


class LeaderLock:
    """Only one bot process plans reminders. On PostgreSQL that is whoever holds a session-level
    advisory lock (released by the server when that process dies, so another takes over); a
    SQLite database serves one process, which is always the leader."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None

    async def hold(self) -> bool:
        if self._engine.dialect.name != "postgresql":
            return True
        if self._connection is not None:
            try:
                await self._connection.execute(text("SELECT 1"))
                return True
            except Exception:  # the server restarted or the link broke: the lock went with it
                await self.release()
        connection = await self._engine.connect()
        got = await connection.scalar(text("SELECT pg_try_advisory_lock(:id)"), {"id": LEADER_LOCK_ID})
        if got:
            self._connection = connection
            return True
        await connection.close()
        return False

    async def release(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            try:
                await connection.close()
            except Exception:  # closing a dead link: nothing left to release
                return
