"""Read-only listings for the archive and the web site: meetings by team, room and year,
neighbours, and who attended what. Returns plain values, never ORM rows.

A meeting's team is its series name: the `#meetingname` when one was given, else the
normalised room name (see `Meeting.series_name`). The second half can't be computed in SQL,
so a team filter is turned into "name = team, or no name and one of these rooms", with the
rooms found by normalising the (few) distinct unnamed rooms in Python.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Executable,
    FrozenResult,
    Result,
    Row,
    and_,
    bindparam,
    create_engine,
    false,
    func,
    or_,
    select,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.util.typing import TupleAny

from meetbot.domain.model import normalize_name
from meetbot.storage.meetings import translate_outages
from meetbot.storage.tables import ItemRow, LineRow, MeetingRow

T = TypeVar("T")


class Reader(Protocol):
    """One connection for several reads of one task (a publish), handed back to the stores'
    methods that take a `reader`: their statements then share it (one checkout), where each
    would otherwise take a connection of its own. Callers only pass it on. An AsyncConnection,
    or on an SQLite file a synchronous connection on a thread (see ListingStore.reader)."""

    async def execute(
        self, statement: Executable, parameters: Mapping[str, Any] | None = None
    ) -> Result[*TupleAny]: ...


# Where a statement may run: an ORM session or a connection (both execute Core statements).
_Executor = AsyncSession | Reader
_MEETINGS = MeetingRow.__table__
# (name, network, room, public meetings, the last one's start): see ListingStore._groups.
_Group = tuple[str | None, str, str, int, datetime]


class _ThreadReader:
    """A Reader over a synchronous SQLite connection that lives on `thread`: one hop there and
    back a statement, its rows read there (aiosqlite made ~4 hops of each)."""

    def __init__(self, connection: Connection, thread: ThreadPoolExecutor) -> None:
        self._connection = connection
        self._thread = thread

    async def execute(
        self, statement: Executable, parameters: Mapping[str, Any] | None = None
    ) -> Result[*TupleAny]:
        def run() -> FrozenResult[*TupleAny]:
            return self._connection.execute(statement, parameters).freeze()

        frozen = await asyncio.get_running_loop().run_in_executor(self._thread, run)
        return frozen()

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._connection.close)


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
    (lines are only ever added, numbered on from the last, so the last number tells a change;
    an edit or a redaction adds a line)."""

    network: str
    room: str
    started_at: datetime
    owner_key: str
    owner_nick: str
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
    # What stored() says of every meeting in the three lists, from the same reads.
    stored: Mapping[int, StoredMeeting] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing and the total it was cut from."""

    rows: tuple[T, ...]
    total: int
    offset: int
    limit: int


def _summary(row: MeetingRow | Row[Any], lines: int = 0) -> MeetingSummary:
    """From an ORM row or a Core row of the table (same attribute names)."""
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


# Built once, the statements every publish runs (see archive_lists): building one took as long
# as SQLite took to run it.
_OF_MEETING = LineRow.meeting_id == MeetingRow.id
# A meeting's last line number, which is how many lines it has: they are numbered from 1 and
# never renumbered, and an edit or a redaction is a line of its own. One index probe a meeting,
# where count(*) read every line of every meeting listed, at every publish (300 meetings of 500
# lines: 40 ms on PostgreSQL, whose estimate of it made the server JIT-compile the statement
# too). A line number only skipped (a duplicate event whose line was not stored) still counts.
_LAST_SEQ = select(func.max(LineRow.seq)).where(_OF_MEETING).scalar_subquery().label("last_seq")
# Meeting rows, each with its last line number: what stored() says of it (_stored).
_WITH_LINES = select(_MEETINGS, _LAST_SEQ)
# The same for the ORM's sessions: (MeetingRow, last line number).
_WITH_LAST_SEQ = select(MeetingRow, _LAST_SEQ)
# Public meetings, newest first.
_LISTED = _WITH_LINES.where(PUBLIC).order_by(MeetingRow.started_at.desc(), MeetingRow.id.desc())
_IN_ROOM = and_(MeetingRow.network == bindparam("network"), MeetingRow.room == bindparam("room"))
# The team's meetings (by name; and the unnamed ones in its rooms, where it has any) and the room's.
_OF_TEAM_OR_ROOM = {
    False: _LISTED.where(or_(MeetingRow.name == bindparam("team"), _IN_ROOM)),
    True: _LISTED.where(
        or_(
            MeetingRow.name == bindparam("team"),
            and_(
                MeetingRow.name.is_(None),
                tuple_(MeetingRow.network, MeetingRow.room).in_(bindparam("unnamed", expanding=True)),
            ),
            _IN_ROOM,
        )
    ),
}
_GROUPS = (
    select(
        MeetingRow.name, MeetingRow.network, MeetingRow.room, func.count(), func.max(MeetingRow.started_at)
    )
    .where(PUBLIC)
    .group_by(MeetingRow.network, MeetingRow.room, MeetingRow.name)
    .order_by(MeetingRow.network, MeetingRow.room)
)


class ListingStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        url = engine.url
        file_sqlite = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
        # See reader(): SQLite's reads on a synchronous connection of a thread of their own.
        self._sqlite: Engine | None = create_engine(url.set(drivername="sqlite")) if file_sqlite else None
        self._sqlite_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-reads")

    def _session(self) -> AsyncSession:
        return self._sessions()

    @contextlib.asynccontextmanager
    async def reader(self) -> AsyncIterator[Reader]:
        """A connection for several reads in turn (see Reader), returned when the block ends.

        On an SQLite file, a synchronous connection on a thread of the listing's own, one hop
        a statement: a publish's 6-8 statements were ~30 trips to aiosqlite's thread and back
        (9-10 ms of `StaticArchive.prepare` in bench/publish_10k.py's `#endmeeting`). Not on
        the event loop's thread: the archive's lists grow with the archive (300 meetings of
        500 lines: ~10 ms, bench/archive_lists.py)."""
        if self._sqlite is None:
            connection = await self._connect()
            try:
                yield connection
            finally:
                await connection.close()
            return
        loop = asyncio.get_running_loop()
        reader = _ThreadReader(
            await loop.run_in_executor(self._sqlite_thread, self._sqlite.connect), self._sqlite_thread
        )
        try:
            yield reader
        finally:
            await reader.close()

    async def close(self) -> None:
        if self._sqlite is not None:
            # Its connections were made on the thread: closed there too, the event loop not held.
            await asyncio.get_running_loop().run_in_executor(self._sqlite_thread, self._sqlite.dispose)
        self._sqlite_thread.shutdown()

    @translate_outages
    async def _connect(self) -> AsyncConnection:
        connection = await self._engine.connect().start()
        # A reader only reads, and under READ COMMITTED each statement sees a snapshot of its own
        # within a transaction too: without one, PostgreSQL's reads spare a BEGIN and a ROLLBACK
        # (two round trips, each a turn of the event loop, at every publish).
        return await connection.execution_options(isolation_level="AUTOCOMMIT")

    async def team_clause(self, session: _Executor, team: str) -> ColumnElement[bool]:
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
            rows = await session.execute(
                _WITH_LAST_SEQ.where(*clauses).order_by(*order).offset(offset).limit(limit)
            )
            summaries = tuple(_summary(row, last or 0) for row, last in rows)
            return Page(summaries, total, offset, limit)

    @translate_outages
    async def ping(self) -> None:
        """A round trip to the database (for /healthz)."""
        async with self._session() as session:
            await session.execute(select(1))

    @translate_outages
    async def meeting(self, meeting_id: int) -> MeetingSummary | None:
        """A public meeting by id; None if unknown, still open or restricted."""
        async with self._session() as session:
            found = (await session.execute(_WITH_LAST_SEQ.where(MeetingRow.id == meeting_id, PUBLIC))).first()
            return None if found is None else _summary(found[0], found[1] or 0)

    @translate_outages
    async def stored(self, meeting_id: int) -> StoredMeeting | None:
        """The meeting's header and last line number, in one statement."""
        async with self._engine.connect() as connection:
            row = (await connection.execute(_WITH_LINES.where(MeetingRow.id == meeting_id))).first()
        return None if row is None else _stored(row)

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
            found = (await session.execute(_WITH_LAST_SEQ.where(MeetingRow.id == meeting_id, PUBLIC))).first()
            if found is None:
                return None
            row, last = found
            before, after = await self._neighbours(session, row)
            return _summary(row, last or 0), before, after

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
    async def archive_lists(
        self, team: str, network: str, room: str, *, recent: int = 20, reader: Reader | None = None
    ) -> ArchiveLists:
        """What the indexes a published meeting appears in list, as meetings(team=...),
        meetings(network=..., room=...), meetings(limit=recent), teams() and rooms() give it,
        in one connection (`reader`, or one of its own)."""
        if reader is not None:
            return await self._archive_lists(reader, team, network, room, recent)
        async with self._engine.connect() as connection:
            return await self._archive_lists(connection, team, network, room, recent)

    async def _archive_lists(
        self, connection: Reader, team: str, network: str, room: str, recent: int
    ) -> ArchiveLists:
        # Core rows, not ORM objects: read at every publish. Three statements (each a few trips
        # to SQLite's thread): the public meetings counted per room and name, which give teams(),
        # rooms() and the team's unnamed rooms; the team's and the room's meetings together; the
        # newest; the last two with each meeting's last line number.
        groups = await self._groups(connection)
        # team_clause() from public meetings alone: the statement it goes into takes no others.
        unnamed = {
            (n, r) for name, n, r, _count, _last in groups if name is None and series_name(None, r) == team
        }

        def of_team(row: Row[Any]) -> bool:
            return row.name == team or (row.name is None and (row.network, row.room) in unnamed)

        parameters = {"team": team, "network": network, "room": room, "unnamed": sorted(unnamed)}
        both = list(await connection.execute(_OF_TEAM_OR_ROOM[bool(unnamed)], parameters))
        newest = list(await connection.execute(_LISTED.limit(recent)))
        rows = {row.id: row for row in [*both, *newest]}
        # One summary a meeting, however many lists show it: a team that meets in one room has
        # every meeting in both of the first two (hundreds, in an archive of some years).
        made = {meeting_id: _summary(row, row.last_seq or 0) for meeting_id, row in rows.items()}

        def summaries(found: Iterable[Row[Any]]) -> tuple[MeetingSummary, ...]:
            return tuple(made[row.id] for row in found)

        return ArchiveLists(
            team=summaries(row for row in both if of_team(row)),
            room=summaries(row for row in both if row.network == network and row.room == room),
            recent=summaries(newest),
            teams=_teams_of(groups),
            rooms=_rooms_of(groups),
            stored=_StoredOf(rows),
        )

    @staticmethod
    async def _groups(session: _Executor) -> list[_Group]:
        """(name, network, room, meetings, last start) of public meetings, by network and room."""
        result = await session.execute(_GROUPS)
        return [(name, network, room, count, last) for name, network, room, count, last in result]

    @translate_outages
    async def teams(self) -> list[TeamSummary]:
        """Every team with public meetings, most recently active first."""
        async with self._session() as session:
            return _teams_of(await self._groups(session))

    @translate_outages
    async def rooms(self) -> list[tuple[str, str, int]]:
        """(network, room, public meetings) for every room, sorted by name."""
        async with self._session() as session:
            return _rooms_of(await self._groups(session))

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


class _StoredOf(Mapping[int, StoredMeeting]):
    """_stored() of each row by its meeting's id, made when looked up: a publish looks at its
    two neighbours' of the hundreds it read."""

    def __init__(self, rows: Mapping[int, Row[Any]]) -> None:
        self._rows = rows

    def __getitem__(self, meeting_id: int) -> StoredMeeting:
        return _stored(self._rows[meeting_id])

    def __iter__(self) -> Iterator[int]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)


def _stored(row: Row[Any]) -> StoredMeeting:
    """From a row of _WITH_LINES."""
    return StoredMeeting(row.network, row.room, row.started_at, row.owner_key, row.owner_nick, row.last_seq)


def _teams_of(groups: Iterable[_Group]) -> list[TeamSummary]:
    """teams() from ListingStore._groups()."""
    merged: dict[str, tuple[int, datetime]] = {}
    for name, _network, room, count, last in groups:
        team = series_name(name, room)
        # max() keeps the column's type, so `last` is an aware UTC datetime already.
        seen = merged.get(team)
        merged[team] = (count, last) if seen is None else (seen[0] + count, max(seen[1], last))
    teams = [TeamSummary(team, count, last) for team, (count, last) in merged.items()]
    return sorted(teams, key=lambda t: (t.last_started_at, t.team), reverse=True)


def _rooms_of(
    groups: Iterable[_Group],
) -> list[tuple[str, str, int]]:
    """rooms() from ListingStore._groups(): in the database's order of rooms, which sorts them."""
    merged: dict[tuple[str, str], int] = {}
    for _name, network, room, count, _last in groups:
        merged[network, room] = merged.get((network, room), 0) + count
    return [(network, room, count) for (network, room), count in merged.items()]
