"""The lease row that makes one of several bot processes on a database the active one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from meetbot.storage.meetings import translate_outages
from meetbot.storage.tables import LeaseRow


@dataclass(frozen=True)
class LeaseView:
    holder: str | None
    version: int


class LeaseStore:
    """Compare-and-set operations on one lease row. Every change bumps `version`, so a standby
    can tell a live holder (the version moves) from a dead one (it stands still)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    @translate_outages
    async def look(self, name: str) -> LeaseView | None:
        async with self._sessions() as session:
            row = await session.scalar(select(LeaseRow).where(LeaseRow.name == name))
            return LeaseView(row.holder, row.version) if row else None

    @translate_outages
    async def claim_free(self, name: str, holder: str) -> bool:
        """Take the lease if nobody holds it (no row yet, or released by a clean shutdown)."""
        async with self._sessions() as session:
            try:
                async with session.begin():
                    session.add(LeaseRow(name=name, holder=holder, version=1, renewed_at=_now()))
                return True
            except IntegrityError:
                pass
        return await self._set(name, holder, LeaseRow.holder.is_(None))

    @translate_outages
    async def take_over(self, name: str, holder: str, seen_version: int) -> bool:
        """Take the lease from a holder that stopped renewing; fails if it renewed meanwhile."""
        return await self._set(name, holder, LeaseRow.version == seen_version)

    @translate_outages
    async def renew(self, name: str, holder: str) -> bool:
        """Show we are alive; False if someone else holds the lease now."""
        return await self._set(name, holder, LeaseRow.holder == holder)

    @translate_outages
    async def release(self, name: str, holder: str) -> None:
        """A clean shutdown hands over at once instead of making a standby wait out the lease."""
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(LeaseRow)
                .where(LeaseRow.name == name, LeaseRow.holder == holder)
                .values(holder=None, version=LeaseRow.version + 1, renewed_at=_now())
            )

    async def _set(self, name: str, holder: str, condition: object) -> bool:
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                update(LeaseRow)
                .where(LeaseRow.name == name, condition)  # type: ignore[arg-type]
                .values(holder=holder, version=LeaseRow.version + 1, renewed_at=_now())
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]


def _now() -> datetime:
    return datetime.now(UTC)
