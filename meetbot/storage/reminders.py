"""Reminder bookkeeping: the exactly-once claim."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from meetbot.storage.meetings import translate_outages
from meetbot.storage.tables import SentReminderRow


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
