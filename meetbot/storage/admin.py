"""What `meetbot meeting ...` needs beyond the other repositories: every meeting (restricted and
open ones too, for admins), and a handle on any stored line so an amendment can name it."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from meetbot.storage.listing import MeetingSummary, series_name
from meetbot.storage.meetings import translate_outages
from meetbot.storage.tables import LineRow, MeetingRow


class AdminStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    def _session(self) -> AsyncSession:
        return self._sessions()

    @translate_outages
    async def meetings(
        self, *, team: str | None = None, limit: int = 50
    ) -> list[tuple[MeetingSummary, bool]]:
        """(meeting, restricted) newest first, whatever their state."""
        async with self._session() as session:
            rows = await session.scalars(
                select(MeetingRow).order_by(MeetingRow.started_at.desc(), MeetingRow.id.desc())
            )
            out: list[tuple[MeetingSummary, bool]] = []
            for row in rows:
                team_name = series_name(row.name, row.room)
                if team is not None and team_name != team:
                    continue
                summary = MeetingSummary(
                    row.id,
                    team_name,
                    row.network,
                    row.room,
                    row.title,
                    row.started_at,
                    row.ended_at,
                    row.owner_nick,
                )
                out.append((summary, row.restricted))
                if len(out) >= limit:
                    break
            return out

    @translate_outages
    async def line_handle(self, meeting_id: int, seq: int) -> str | None:
        """The native id of a stored line, giving it one (`admin:<meeting>:<seq>`) if the network
        gave none (IRC), so an EDIT or REDACT line can name it like any platform edit does."""
        async with self._session() as session, session.begin():
            row = await session.scalar(
                select(LineRow).where(LineRow.meeting_id == meeting_id, LineRow.seq == seq)
            )
            if row is None:
                return None
            if row.native_id is None:
                handle = f"admin:{meeting_id}:{seq}"
                await session.execute(update(LineRow).where(LineRow.id == row.id).values(native_id=handle))
                return handle
            return row.native_id

    @translate_outages
    async def next_seq(self, meeting_id: int) -> int:
        async with self._session() as session:
            return (
                int(
                    await session.scalar(
                        select(func.max(LineRow.seq)).where(LineRow.meeting_id == meeting_id)
                    )
                    or 0
                )
                + 1
            )
