"""Read-only listings for the archive and the web site: meetings by team, room and year,
neighbours, and who attended what. Returns plain values, never ORM rows.

A meeting's team is its series name: the `#meetingname` when one was given, else the
normalised room name (see `Meeting.series_name`). The second half can't be computed in SQL,
so a team filter is turned into "name = team, or no name and one of these rooms", with the
rooms found by normalising the (few) distinct unnamed rooms in Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from sqlalchemy import ColumnElement, and_, false, func, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from meetbot.domain.model import normalize_name
from meetbot.storage.meetings import translate_outages
from meetbot.storage.tables import ItemRow, LineRow, MeetingRow

T = TypeVar("T")


def series_name(name: str | None, room: str) -> str:
    """`Meeting.series_name` for a stored row."""
    return name or normalize_name(room) or "meeting"


@dataclass(frozen=True, slots=True)
class MeetingSummary:
    id: int
    team: str
    network: str
    room: str
    title: str | None
    started_at: datetime
    ended_at: datetime | None
    owner_nick: str
    lines: int = 0


@dataclass(frozen=True, slots=True)
class StoredMeeting:
    """What a meeting's minutes are rebuilt from, in short: its header and which lines it has
    (lines are numbered from 1 and never renumbered, so the count and the last number tell a
    change; an edit or a redaction adds a line)."""

    network: str
    room: str
    started_at: datetime
    owner_key: str
    owner_nick: str
    lines: int
    last_seq: int | None


@dataclass(frozen=True, slots=True)
class TeamSummary:
    team: str
    meetings: int
    last_started_at: datetime


@dataclass(frozen=True, slots=True)
class ItemSummary:
    meeting_id: int
    team: str
    room: str
    kind: str
    text: str
    nick: str
    at: datetime
    line_seq: int


@dataclass(frozen=True, slots=True)
class ArchiveLists:
    """See ListingStore.archive_lists; meetings newest first."""

    team: tuple[MeetingSummary, ...]
    room: tuple[MeetingSummary, ...]
    recent: tuple[MeetingSummary, ...]
    teams: list[TeamSummary]
    rooms: list[tuple[str, str, int]]


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing and the total it was cut from."""

    rows: tuple[T, ...]
    total: int
    offset: int
    limit: int


def _summary(row: MeetingRow, lines: int = 0) -> MeetingSummary:
    return MeetingSummary(
        id=row.id,
        team=series_name(row.name, row.room),
        network=row.network,
        room=row.room,
        title=row.title,
        started_at=row.started_at,
        ended_at=row.ended_at,
        owner_nick=row.owner_nick,
        lines=lines,
    )


# Public listings show finished meetings that were not #restrictlogs'd: a restricted meeting's
# files are published owner-only, so the archive must not point at (or serve) them either.
PUBLIC = and_(MeetingRow.ended_at.is_not(None), MeetingRow.restricted.is_(False))


class ListingStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    def _session(self) -> AsyncSession:
        return self._sessions()

    async def team_clause(self, session: AsyncSession, team: str) -> ColumnElement[bool]:
        """Rows whose series name is `team` (see the module docstring)."""
        unnamed = await session.execute(
            select(MeetingRow.network, MeetingRow.room).where(MeetingRow.name.is_(None)).distinct()
        )
        rooms = [(network, room) for network, room in unnamed if series_name(None, room) == team]
        by_room: ColumnElement[bool] = (
            and_(MeetingRow.name.is_(None), tuple_(MeetingRow.network, MeetingRow.room).in_(rooms))
            if rooms
            else false()
        )
        return or_(MeetingRow.name == team, by_room)

    async def _filters(
        self,
        session: AsyncSession,
        *,
        team: str | None,
        network: str | None,
        room: str | None,
        year_range: tuple[datetime, datetime] | None,
    ) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = [PUBLIC]
        if team is not None:
            clauses.append(await self.team_clause(session, team))
        if network is not None:
            clauses.append(MeetingRow.network == network)
        if room is not None:
            clauses.append(MeetingRow.room == room)
        if year_range is not None:
            clauses.append(MeetingRow.started_at >= year_range[0])
            clauses.append(MeetingRow.started_at < year_range[1])
        return clauses

    @translate_outages
    async def meetings(
        self,
        *,
        team: str | None = None,
        network: str | None = None,
        room: str | None = None,
        between: tuple[datetime, datetime] | None = None,
        offset: int = 0,
        limit: int = 50,
        newest_first: bool = True,
    ) -> Page[MeetingSummary]:
        """Public meetings matching every filter given, newest first, with their line counts."""
        async with self._session() as session:
            clauses = await self._filters(session, team=team, network=network, room=room, year_range=between)
            total = await session.scalar(select(func.count()).select_from(MeetingRow).where(*clauses)) or 0
            order = (
                (MeetingRow.started_at.desc(), MeetingRow.id.desc())
                if newest_first
                else (MeetingRow.started_at, MeetingRow.id)
            )
            rows = list(
                await session.scalars(
                    select(MeetingRow).where(*clauses).order_by(*order).offset(offset).limit(limit)
                )
            )
            counts = await self._line_counts(session, [row.id for row in rows])
            summaries = tuple(_summary(row, counts.get(row.id, 0)) for row in rows)
            return Page(summaries, total, offset, limit)

    @staticmethod
    async def _line_counts(session: AsyncSession, ids: Sequence[int]) -> dict[int, int]:
        if not ids:
            return {}
        result = await session.execute(
            select(LineRow.meeting_id, func.count())
            .where(LineRow.meeting_id.in_(ids))
            .group_by(LineRow.meeting_id)
        )
        return {meeting_id: count for meeting_id, count in result}

    @translate_outages
    async def ping(self) -> None:
        """A round trip to the database (for /healthz)."""
        async with self._session() as session:
            await session.execute(select(1))

    @translate_outages
    async def meeting(self, meeting_id: int) -> MeetingSummary | None:
        """A public meeting by id; None if unknown, still open or restricted."""
        async with self._session() as session:
            row = await session.scalar(select(MeetingRow).where(MeetingRow.id == meeting_id, PUBLIC))
            if row is None:
                return None
            counts = await self._line_counts(session, [row.id])
            return _summary(row, counts.get(row.id, 0))

    @translate_outages
    async def stored(self, meeting_id: int) -> StoredMeeting | None:
        """The meeting's header and line count and last number, in one statement."""
        of_meeting = LineRow.meeting_id == MeetingRow.id
        query = select(
            MeetingRow.network,
            MeetingRow.room,
            MeetingRow.started_at,
            MeetingRow.owner_key,
            MeetingRow.owner_nick,
            select(func.count()).where(of_meeting).scalar_subquery(),
            select(func.max(LineRow.seq)).where(of_meeting).scalar_subquery(),
        ).where(MeetingRow.id == meeting_id)
        async with self._engine.connect() as connection:
            row = (await connection.execute(query)).first()
        if row is None:
            return None
        network, room, started_at, owner_key, owner_nick, lines, last_seq = row
        return StoredMeeting(network, room, started_at, owner_key, owner_nick, int(lines), last_seq)

    @translate_outages
    async def neighbours(self, meeting_id: int) -> tuple[MeetingSummary | None, MeetingSummary | None]:
        """The team's public meetings just before and just after this one."""
        async with self._session() as session:
            row = await session.get(MeetingRow, meeting_id)
            if row is None:
                return None, None
            return await self._neighbours(session, row)

    @translate_outages
    async def placed(
        self, meeting_id: int
    ) -> tuple[MeetingSummary, MeetingSummary | None, MeetingSummary | None] | None:
        """meeting() and neighbours() in one session: the public meeting, the one before and
        the one after it; None if it is unknown, still open or restricted."""
        async with self._session() as session:
            row = await session.get(MeetingRow, meeting_id)
            if row is None or row.ended_at is None or row.restricted:  # not PUBLIC
                return None
            counts = await self._line_counts(session, [row.id])
            before, after = await self._neighbours(session, row)
            return _summary(row, counts.get(row.id, 0)), before, after

    async def _neighbours(
        self, session: AsyncSession, row: MeetingRow
    ) -> tuple[MeetingSummary | None, MeetingSummary | None]:
        team = await self.team_clause(session, series_name(row.name, row.room))
        key = tuple_(MeetingRow.started_at, MeetingRow.id)
        here = tuple_(row.started_at, row.id)
        before = await session.scalar(
            select(MeetingRow)
            .where(PUBLIC, team, key < here)
            .order_by(MeetingRow.started_at.desc(), MeetingRow.id.desc())
            .limit(1)
        )
        after = await session.scalar(
            select(MeetingRow)
            .where(PUBLIC, team, key > here)
            .order_by(MeetingRow.started_at, MeetingRow.id)
            .limit(1)
        )
        return (_summary(before) if before else None, _summary(after) if after else None)

    @translate_outages
    async def archive_lists(self, team: str, network: str, room: str, *, recent: int = 20) -> ArchiveLists:
        """What the indexes a published meeting appears in list, as meetings(team=...),
        meetings(network=..., room=...), meetings(limit=recent), teams() and rooms() give it,
        in one session and with one count of lines."""
        async with self._session() as session:
            listed = (
                select(MeetingRow).where(PUBLIC).order_by(MeetingRow.started_at.desc(), MeetingRow.id.desc())
            )
            by_team = list(await session.scalars(listed.where(await self.team_clause(session, team))))
            by_room = list(
                await session.scalars(listed.where(MeetingRow.network == network, MeetingRow.room == room))
            )
            newest = list(await session.scalars(listed.limit(recent)))
            ids = sorted({row.id for row in [*by_team, *by_room, *newest]})
            counts = await self._line_counts(session, ids)
            return ArchiveLists(
                team=tuple(_summary(row, counts.get(row.id, 0)) for row in by_team),
                room=tuple(_summary(row, counts.get(row.id, 0)) for row in by_room),
                recent=tuple(_summary(row, counts.get(row.id, 0)) for row in newest),
                teams=await self._teams(session),
                rooms=await self._rooms(session),
            )

    @translate_outages
    async def teams(self) -> list[TeamSummary]:
        """Every team with public meetings, most recently active first."""
        async with self._session() as session:
            return await self._teams(session)

    @staticmethod
    async def _teams(session: AsyncSession) -> list[TeamSummary]:
        result = await session.execute(
            select(MeetingRow.name, MeetingRow.room, func.count(), func.max(MeetingRow.started_at))
            .where(PUBLIC)
            .group_by(MeetingRow.name, MeetingRow.room)
        )
        merged: dict[str, tuple[int, datetime]] = {}
        for name, room, count, last in result:
            team = series_name(name, room)
            # max() keeps the column's type, so `last` is an aware UTC datetime already.
            last_at: datetime = last
            seen = merged.get(team)
            merged[team] = (count, last_at) if seen is None else (seen[0] + count, max(seen[1], last_at))
        teams = [TeamSummary(team, count, last) for team, (count, last) in merged.items()]
        return sorted(teams, key=lambda t: (t.last_started_at, t.team), reverse=True)

    @translate_outages
    async def rooms(self) -> list[tuple[str, str, int]]:
        """(network, room, public meetings) for every room, sorted by name."""
        async with self._session() as session:
            return await self._rooms(session)

    @staticmethod
    async def _rooms(session: AsyncSession) -> list[tuple[str, str, int]]:
        result = await session.execute(
            select(MeetingRow.network, MeetingRow.room, func.count())
            .where(PUBLIC)
            .group_by(MeetingRow.network, MeetingRow.room)
            .order_by(MeetingRow.network, MeetingRow.room)
        )
        return [(network, room, count) for network, room, count in result]

    @translate_outages
    async def attended(self, sender_key: str, *, limit: int = 200) -> list[MeetingSummary]:
        """Public meetings where this identity said anything, newest first."""
        async with self._session() as session:
            ids = select(LineRow.meeting_id).where(LineRow.sender_key == sender_key).distinct()
            rows = await session.scalars(
                select(MeetingRow)
                .where(PUBLIC, MeetingRow.id.in_(ids))
                .order_by(MeetingRow.started_at.desc(), MeetingRow.id.desc())
                .limit(limit)
            )
            return [_summary(row) for row in rows]

    @translate_outages
    async def nick_of(self, sender_key: str) -> str | None:
        """The nick this identity used most recently in a public meeting."""
        async with self._session() as session:
            return await session.scalar(
                select(LineRow.nick)
                .join(MeetingRow, MeetingRow.id == LineRow.meeting_id)
                .where(PUBLIC, LineRow.sender_key == sender_key)
                .order_by(LineRow.at.desc())
                .limit(1)
            )

    @translate_outages
    async def items(
        self,
        *,
        meeting_id: int | None = None,
        team: str | None = None,
        kind: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> Page[ItemSummary]:
        """Minutes items of public meetings, newest first."""
        async with self._session() as session:
            clauses: list[ColumnElement[bool]] = [PUBLIC]
            if meeting_id is not None:
                clauses.append(ItemRow.meeting_id == meeting_id)
            if team is not None:
                clauses.append(await self.team_clause(session, team))
            if kind is not None:
                clauses.append(ItemRow.kind == kind)
            joined = select(ItemRow, MeetingRow).join(MeetingRow, MeetingRow.id == ItemRow.meeting_id)
            total = (
                await session.scalar(
                    select(func.count())
                    .select_from(ItemRow)
                    .join(MeetingRow, MeetingRow.id == ItemRow.meeting_id)
                    .where(*clauses)
                )
                or 0
            )
            result = await session.execute(
                joined.where(*clauses)
                .order_by(MeetingRow.started_at.desc(), ItemRow.meeting_id.desc(), ItemRow.position)
                .offset(offset)
                .limit(limit)
            )
            rows = tuple(
                ItemSummary(
                    meeting_id=item.meeting_id,
                    team=series_name(meeting.name, meeting.room),
                    room=meeting.room,
                    kind=item.kind,
                    text=item.text,
                    nick=item.nick,
                    at=item.at,
                    line_seq=item.line_seq,
                )
                for item, meeting in result
            )
            return Page(rows, total, offset, limit)
