"""The meetings repository: meetings, their lines, and the items projection.

Returns domain objects (`MeetingHeader`, `Line`), never ORM rows.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Row, delete, func, insert, or_, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from meetbot.domain.model import Item, Line, Meeting
from meetbot.engine import MeetingHeader
from meetbot.events import LineKind, RoomRef
from meetbot.storage.linewriter import LineWriter, line_writer
from meetbot.storage.tables import ItemRow, LineRow, MeetingRow


class MeetingAlreadyOpenError(Exception):
    """Another process (or an earlier life of this one) opened a meeting in this room first."""


class StorageUnavailableError(Exception):
    """The database can't be reached right now (restarting, network); worth retrying."""


P = ParamSpec("P")
R = TypeVar("R")


def translate_outages(method: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except (OperationalError, InterfaceError, OSError) as error:
            # OSError: asyncpg's refused connects reach us unwrapped while the server is down.
            raise StorageUnavailableError(str(error).splitlines()[0]) from error
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
            raise StorageUnavailableError(str(error).splitlines()[0]) from error

    return wrapper


def _header(row: MeetingRow) -> MeetingHeader:
    return MeetingHeader(
        id=row.id,
        room=RoomRef(row.network, row.room),
        started_at=row.started_at,
        owner_key=row.owner_key,
        owner_nick=row.owner_nick,
    )


def _line(row: LineRow | Row[Any]) -> Line:
    """From an ORM row or a Core row of the same table (same attribute names)."""
    return Line(
        seq=row.seq,
        at=row.at,
        kind=LineKind(row.kind),
        nick=row.nick,
        sender_key=row.sender_key,
        text=row.text,
        is_bot=row.is_bot,
        native_id=row.native_id,
        privileged=row.privileged,
        edit_of=row.edit_of,
        thread=row.thread,
        backfilled=row.backfilled,
    )


def _line_values(meeting_id: int, line: Line) -> dict[str, object]:
    return {
        "meeting_id": meeting_id,
        "seq": line.seq,
        "at": line.at,
        "kind": line.kind.value,
        "nick": line.nick,
        "sender_key": line.sender_key,
        "text": line.text,
        "is_bot": line.is_bot,
        "native_id": line.native_id,
        "privileged": line.privileged,
        "edit_of": line.edit_of,
        "thread": line.thread,
        "backfilled": line.backfilled,
    }


_LINES = LineRow.__table__
_INSERT_LINE = insert(LineRow)
_INSERT_ITEM = insert(ItemRow)


def _item_values(meeting_id: int, position: int, item: Item) -> dict[str, object]:
    return {
        "meeting_id": meeting_id,
        "position": position,
        "line_seq": item.line_seq,
        "kind": item.kind.value,
        "text": item.text,
        "nick": item.nick,
        "sender_key": item.sender_key,
        "at": item.at,
    }


class MeetingStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        # meeting id -> the item rows last committed by this store (see save_state)
        self._saved_items: dict[int, list[dict[str, object]]] = {}
        self._writer: LineWriter | None = None

    @property
    def writer(self) -> LineWriter:
        """The connection lines are written through (made on first use, closed by close())."""
        if self._writer is None:
            self._writer = line_writer(self._engine)
        return self._writer

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer.close()
            self._writer = None

    def _session(self) -> AsyncSession:
        return self._sessions()

    @translate_outages
    async def open_meeting(self, room: RoomRef) -> MeetingHeader | None:
        async with self._session() as session:
            row = await session.scalar(
                select(MeetingRow).where(
                    MeetingRow.network == room.network,
                    MeetingRow.room == room.room,
                    MeetingRow.ended_at.is_(None),
                )
            )
            return _header(row) if row else None

    @translate_outages
    async def open_meetings(self) -> list[MeetingHeader]:
        async with self._session() as session:
            rows = await session.scalars(select(MeetingRow).where(MeetingRow.ended_at.is_(None)))
            return [_header(row) for row in rows]

    @translate_outages
    async def header(self, meeting_id: int) -> MeetingHeader | None:
        async with self._session() as session:
            row = await session.get(MeetingRow, meeting_id)
            return _header(row) if row else None

    @translate_outages
    async def start_meeting(self, room: RoomRef, first: Line) -> MeetingHeader:
        """Create the meeting and store its first line in one transaction."""
        async with self._session() as session:
            try:
                async with session.begin():
                    row = MeetingRow(
                        network=room.network,
                        room=room.room,
                        started_at=first.at,
                        owner_key=first.sender_key,
                        owner_nick=first.nick,
                    )
                    session.add(row)
                    await session.flush()
                    await session.execute(insert(LineRow).values(**_line_values(row.id, first)))
            except IntegrityError as error:
                raise MeetingAlreadyOpenError(f"a meeting is already open in {room.room}") from error
            return _header(row)

    @translate_outages
    async def append_line(self, meeting_id: int, line: Line) -> bool:
        """Store one line; False when its native id was already stored (a duplicate event).

        Storing the very same line again is a success: that is a retry after a commit whose
        answer was lost when the database went away."""
        try:
            # Through the store's own line writer: this is on every reply's path (see linewriter).
            # One statement built once, parameters apart: `insert().values(**row)` built and
            # cache-keyed a new statement per line, half of this method's time (py-spy, bench/).
            await self.writer.insert(_INSERT_LINE, [_line_values(meeting_id, line)])
        except IntegrityError:
            async with self._session() as session:
                existing = await session.scalar(
                    select(LineRow).where(LineRow.meeting_id == meeting_id, LineRow.seq == line.seq)
                )
            if existing is not None and _line(existing) == line:
                return True
            if line.native_id is not None and existing is None:
                return False
            raise
        return True

    @translate_outages
    async def append_lines(self, meeting_id: int, lines: Sequence[Line]) -> int:
        """Store consecutive lines in one transaction (a group commit); returns how many were
        new. A clash among them (a retry after a lost commit answer, a redelivered event) falls
        back to storing them one by one, which sorts those out."""
        if len(lines) == 1:
            return int(await self.append_line(meeting_id, lines[0]))
        try:
            await self.writer.insert(_INSERT_LINE, [_line_values(meeting_id, line) for line in lines])
        except IntegrityError:
            stored = 0
            for line in lines:
                stored += await self.append_line(meeting_id, line)
            return stored
        return len(lines)

    @translate_outages
    async def lines(self, meeting_id: int) -> list[Line]:
        # Core rows, not ORM objects: publishing a 10,000-line meeting loads every line, and
        # building (and identity-mapping) an ORM instance per row was most of the load time.
        async with self._engine.connect() as connection:
            result = await connection.execute(
                select(_LINES).where(_LINES.c.meeting_id == meeting_id).order_by(_LINES.c.seq)
            )
            return [_line(row) for row in result]

    @translate_outages
    async def save_state(self, meeting: Meeting, *, items: bool) -> None:
        """Update the queryable projection of a meeting's state (its lines stay the truth).

        Items are rewritten from the first one that differs from what this store last
        committed for the meeting: usually just the new last item. Rewriting all of them on
        every #info made a long meeting quadratic (1,000 items rewritten per item; the ORM
        bulk insert showed in py-spy while logging). Without a trusted copy (first save since
        start, or a save that failed, when what was committed is unknown) all are rewritten."""
        if meeting.id is None:
            raise ValueError("meeting has no id")
        meeting_id = meeting.id
        rows = [_item_values(meeting_id, position, item) for position, item in enumerate(meeting.items)]
        saved = self._saved_items.pop(meeting_id, None) if items else None
        same = 0
        if saved is not None:
            for old, new in zip(saved, rows, strict=False):
                if old != new:
                    break
                same += 1
        async with self._engine.begin() as connection:
            await connection.execute(
                update(MeetingRow)
                .where(MeetingRow.id == meeting_id)
                .values(
                    name=meeting.name,
                    title=meeting.title,
                    ended_at=meeting.ended_at,
                    restricted=meeting.restricted,
                    owner_key=meeting.owner_key,
                    owner_nick=meeting.owner_nick,
                )
            )
            if items:
                if saved is not None:
                    # Another process may have written them meanwhile (a fail-over and back):
                    # a copy that no longer matches the table's count and last line is not used.
                    count, last = (
                        await connection.execute(
                            select(func.count(), func.max(ItemRow.line_seq)).where(
                                ItemRow.meeting_id == meeting_id
                            )
                        )
                    ).one()
                    if count != len(saved) or (saved and last != saved[-1]["line_seq"]):
                        saved, same = None, 0
                if saved is None or len(saved) > same:
                    await connection.execute(
                        delete(ItemRow).where(ItemRow.meeting_id == meeting_id, ItemRow.position >= same)
                    )
                if rows[same:]:
                    await connection.execute(_INSERT_ITEM, rows[same:])
        if items:
            # Only after the commit: a failure leaves no copy, so the next save rewrites all.
            self._saved_items[meeting_id] = rows
            if meeting.ended_at is not None:
                del self._saved_items[meeting_id]  # ended: keep no memory per finished meeting

    @translate_outages
    async def meetings_in(self, room: RoomRef) -> list[MeetingHeader]:
        """Every meeting held in a room, oldest first."""
        async with self._session() as session:
            rows = await session.scalars(
                select(MeetingRow)
                .where(MeetingRow.network == room.network, MeetingRow.room == room.room)
                .order_by(MeetingRow.started_at, MeetingRow.id)
            )
            return [_header(row) for row in rows]

    @translate_outages
    async def meeting_with_line(self, room: RoomRef, native_id: str) -> MeetingHeader | None:
        """The meeting in this room that logged the network message `native_id`, if any."""
        async with self._session() as session:
            row = await session.scalar(
                select(MeetingRow)
                .join(LineRow, LineRow.meeting_id == MeetingRow.id)
                .where(
                    MeetingRow.network == room.network,
                    MeetingRow.room == room.room,
                    LineRow.native_id == native_id,
                )
                .limit(1)
            )
            return _header(row) if row else None

    @translate_outages
    async def blank_lines(self, meeting_id: int, native_id: str) -> None:
        """A redaction: blank the stored text of the message and of every edit of it, so what
        was withdrawn is not kept (unlike an edit, whose original stays for admins)."""
        async with self._session() as session, session.begin():
            await session.execute(
                update(LineRow)
                .where(
                    LineRow.meeting_id == meeting_id,
                    or_(LineRow.native_id == native_id, LineRow.edit_of == native_id),
                    LineRow.kind != LineKind.REDACT.value,
                )
                .values(text="")
            )
