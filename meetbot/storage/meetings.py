"""The meetings repository: meetings, their lines, and the items projection.

Returns domain objects (`MeetingHeader`, `Line`), never ORM rows.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Connection, Row, bindparam, delete, func, insert, or_, select, update
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
            if not (error.connection_invalidated or _server_unavailable(error)):
                raise
            raise StorageUnavailableError(str(error).splitlines()[0]) from error

    return wrapper


def _server_unavailable(error: DBAPIError) -> bool:
    """PostgreSQL refusing for now: starting up or shutting down (SQLSTATE class 57, e.g.
    57P03 "the database system is not yet accepting connections"), or a connection failure
    (class 08). A new connection made while it restarts meets these, not a dead one."""
    state = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    return isinstance(state, str) and state[:2] in ("57", "08")


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
_LINE_COUNT = select(func.count(), func.max(_LINES.c.seq)).where(
    _LINES.c.meeting_id == bindparam("meeting_id")
)
# A write of at most this many new rows may run without a thread hop (see linewriter).
SMALL_WRITE_ROWS = 8
# Built once, parameters apart: building and cache-keying a statement per write was half the
# cost of storing a line (py-spy, bench/).
_INSERT_LINE = insert(LineRow)
_INSERT_ITEM = insert(ItemRow)
_UPDATE_MEETING = (
    update(MeetingRow)
    .where(MeetingRow.id == bindparam("meeting_id"))
    .values(
        name=bindparam("name"),
        title=bindparam("title"),
        ended_at=bindparam("ended_at"),
        restricted=bindparam("restricted"),
        owner_key=bindparam("owner_key"),
        owner_nick=bindparam("owner_nick"),
    )
)
_DELETE_ITEMS_FROM = delete(ItemRow).where(
    ItemRow.meeting_id == bindparam("meeting_id"), ItemRow.position >= bindparam("position")
)


@dataclass(slots=True)
class _SavedItems:
    """The item rows last committed for a meeting, with the items and texts they were made
    from: an item is unchanged while it is the same object with the same text (the engine only
    ever edits an item's text). `revision`: the meeting's items_revision they were made at."""

    rows: list[dict[str, object]]
    items: list[Item]
    texts: list[str]
    revision: int

    def only_appended(self, meeting: Meeting) -> bool:
        """Whether the meeting's items changed since only by items added at the end. Every
        change counts one revision (an append, an #undo's removal, an edit), so as many new
        revisions as new items means appends alone; checking that, unlike comparing every
        item, costs nothing in a meeting of thousands of items (it was quadratic over one)."""
        count = len(self.items)
        return (
            meeting.items_revision - self.revision == len(meeting.items) - count
            and len(meeting.items) >= count
            and (count == 0 or meeting.items[count - 1] is self.items[-1])
        )


@dataclass(slots=True)
class _StateWrite:
    """A meeting's state projection, as it is to be written (prepared on the event loop)."""

    meeting_id: int
    values: dict[str, object]  # the meeting row's projected columns
    items: list[dict[str, object]] | None  # every item row, when the items changed
    saved: int | None  # how many item rows this store last committed, if it has a copy
    same: int  # how many leading rows of those are unchanged
    made_from: _SavedItems | None = None  # what to remember once committed
    # False when the meeting row holds these values already (this store committed them last).
    values_changed: bool = True


def _write_states(connection: Connection, states: Sequence[_StateWrite]) -> None:
    """The states of a group commit's meetings in at most three statements, however many
    meetings: on PostgreSQL every statement is a round trip, and a group commit over 100 busy
    rooms took three or four per meeting."""
    if not states:
        return
    updates = [{"meeting_id": state.meeting_id, **state.values} for state in states if state.values_changed]
    if updates:
        connection.execute(_UPDATE_MEETING, updates)
    with_items = [state for state in states if state.items is not None]
    deletes: list[dict[str, object]] = []
    inserts: list[dict[str, object]] = []
    for state in with_items:
        assert state.items is not None
        saved, same = state.saved, state.same
        if saved is None or saved > same:
            deletes.append({"meeting_id": state.meeting_id, "position": same})
        inserts += state.items[same:]
    if deletes:
        connection.execute(_DELETE_ITEMS_FROM, deletes)
    if inserts:
        connection.execute(_INSERT_ITEM, inserts)


def _insert_lines(lines: Sequence[tuple[int, Line]]) -> Callable[[Connection], None]:
    def work(connection: Connection) -> None:
        # The driver's own statement and parameters: a compiled insert spent ~6 us a line
        # binding and converting values in Python (py-spy, bench/core_path.py). The rows are
        # the same as the compiled insert's (tests/test_storage.py).
        dialect = connection.dialect
        key = (dialect.name, dialect.driver)
        statement = _DRIVER_INSERTS.get(key)
        if statement is None:
            compiled = dialect.statement_compiler(
                dialect, _INSERT_LINE, column_keys=list(_LINE_COLUMNS), for_executemany=True
            )
            statement = _DRIVER_INSERTS[key] = str(compiled)
        as_text = dialect.name == "sqlite"
        rows = [_driver_row(meeting_id, line, as_text) for meeting_id, line in lines]
        connection.exec_driver_sql(statement, rows[0] if len(rows) == 1 else rows)

    return work


# In _driver_row's order.
_LINE_COLUMNS = (
    "meeting_id", "seq", "at", "kind", "nick", "sender_key", "text",
    "is_bot", "native_id", "privileged", "edit_of", "thread", "backfilled",
)  # fmt: skip
# (dialect, driver) -> the insert in that driver's paramstyle
_DRIVER_INSERTS: dict[tuple[str, str], str] = {}


def _driver_row(meeting_id: int, line: Line, time_as_text: bool) -> tuple[object, ...]:
    """A line's row as SQLAlchemy would bind it: the time in UTC, on SQLite as naive text with
    microseconds (its DATETIME format); booleans as they are (sqlite3 binds them as 1 and 0)."""
    at = line.at
    if at.tzinfo is None:
        raise ValueError("naive datetime given to the database; times must be aware UTC")
    at = at.astimezone(UTC)
    return (
        meeting_id,
        line.seq,
        at.replace(tzinfo=None).isoformat(" ", "microseconds") if time_as_text else at,
        line.kind.value,
        line.nick,
        line.sender_key,
        line.text,
        line.is_bot,
        line.native_id,
        line.privileged,
        line.edit_of,
        line.thread,
        line.backfilled,
    )


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
        # meeting id -> the item rows and the meeting row's values last committed by this store
        # (see save_state and forget_saved)
        self._saved_items: dict[int, _SavedItems] = {}
        self._saved_values: dict[int, dict[str, object]] = {}
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
    async def line_count(self, meeting_id: int) -> tuple[int, int | None]:
        """How many lines a meeting has stored, and the number of its last.

        Asked through the line writer, in turn with the lines: at a meeting's end, right after
        they are flushed, the writer is idle and the read runs at once (on a connection of the
        async engine it was ~2 ms of trips to aiosqlite's thread of a 1,000-line meeting's end)."""

        def count(connection: Connection) -> tuple[int, int | None]:
            count, last = connection.execute(_LINE_COUNT, {"meeting_id": meeting_id}).one()
            return int(count), last

        return await self.writer.run(count, small=True)

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
            # Through the store's own writer: this is on every reply's path (see linewriter).
            await self.writer.run(_insert_lines([(meeting_id, line)]), small=True)
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
    async def write(
        self, lines: Sequence[tuple[int, Line]], states: Sequence[tuple[Meeting, bool]] = ()
    ) -> int:
        """The group commit: lines (meeting id, line) of any meetings, then the state of
        meetings (see save_state; `True` when the items changed), in one unit of work. Returns
        how many lines were new. A clash among the lines (a retry after a lost commit answer, a
        redelivered event) falls back to storing them one by one, which sorts those out."""
        plans = [self._plan_state(meeting, items) for meeting, items in states]

        def write_states(connection: Connection) -> None:
            _write_states(connection, plans)

        def lines_then_states(connection: Connection) -> None:
            if lines:
                _insert_lines(lines)(connection)
            write_states(connection)

        new_rows = len(lines) + sum(len(plan.items) - plan.same for plan in plans if plan.items is not None)
        # A transaction only around more than one statement: lines alone are one INSERT, and one
        # meeting's row alone (an end, a title) one UPDATE; on PostgreSQL a transaction around it
        # was two round trips more (BEGIN, COMMIT).
        atomic = bool(plans) and (bool(lines) or len(plans) > 1 or plans[0].items is not None)
        try:
            await self.writer.run(lines_then_states, atomic=atomic, small=new_rows <= SMALL_WRITE_ROWS)
            stored = len(lines)
        except IntegrityError:
            # Nothing of it was kept: the lines failed first, as one statement.
            stored = 0
            for meeting_id, line in lines:
                stored += await self.append_line(meeting_id, line)
            if plans:
                await self.writer.run(write_states, atomic=True)
        for plan in plans:
            self._committed(plan)
        return stored

    @translate_outages
    async def lines(self, meeting_id: int) -> list[Line]:
        # Core rows, not ORM objects: publishing a 10,000-line meeting loads every line, and
        # building (and identity-mapping) an ORM instance per row was most of the load time.
        async with self._engine.connect() as connection:
            result = await connection.execute(
                select(_LINES).where(_LINES.c.meeting_id == meeting_id).order_by(_LINES.c.seq)
            )
            return [_line(row) for row in result]

    async def save_state(self, meeting: Meeting, *, items: bool) -> None:
        """Update the queryable projection of a meeting's state (its lines stay the truth)."""
        await self.write((), [(meeting, items)])

    def forget_saved(self) -> None:
        """Another process may write the meetings from now on (this one stands by): the item
        rows this store committed are no longer known to be what the table holds, so the next
        save of each meeting rewrites all of them. Trusting a copy otherwise costs nothing per
        save; checking it against the table cost a scan of the meeting's items every time."""
        self._saved_items.clear()
        self._saved_values.clear()

    def _plan_state(self, meeting: Meeting, items: bool) -> _StateWrite:
        plan = self._plan_items(meeting, items)
        # Most saves follow an #info or an #action: the meeting row itself is as it was.
        plan.values_changed = self._saved_values.get(plan.meeting_id) != plan.values
        return plan

    def _plan_items(self, meeting: Meeting, items: bool) -> _StateWrite:
        """Items are rewritten from the first one that differs from what this store last
        committed for the meeting: usually just the new last item. Rewriting all of them on
        every #info made a long meeting quadratic (1,000 items rewritten per item; the ORM
        bulk insert showed in py-spy while logging). Without a trusted copy (first save since
        start or since forget_saved, or after a save that failed, when what was committed is
        unknown) all are rewritten."""
        if meeting.id is None:
            raise ValueError("meeting has no id")
        meeting_id = meeting.id
        values: dict[str, object] = {
            "name": meeting.name,
            "title": meeting.title,
            "ended_at": meeting.ended_at,
            "restricted": meeting.restricted,
            "owner_key": meeting.owner_key,
            "owner_nick": meeting.owner_nick,
        }
        if not items:
            return _StateWrite(meeting_id, values, None, None, 0)
        # Taken out until the write succeeds: a failure leaves no copy, so the next save
        # rewrites all.
        saved = self._saved_items.pop(meeting_id, None)
        if saved is None:
            return self._plan_all_items(meeting, values, None, 0)
        committed = len(saved.rows)
        if not saved.only_appended(meeting):
            same = 0
            for old, text, item in zip(saved.items, saved.texts, meeting.items, strict=False):
                if old is not item or text != item.text:
                    break
                same += 1
            return self._plan_all_items(meeting, values, saved, same, committed)
        # Extended in place: the copy is this write's alone until it is committed.
        same = len(saved.rows)
        added = meeting.items[same:]
        saved.rows.extend(
            _item_values(meeting_id, position, item) for position, item in enumerate(added, start=same)
        )
        saved.items.extend(added)
        saved.texts.extend(item.text for item in added)
        saved.revision = meeting.items_revision
        return _StateWrite(meeting_id, values, saved.rows, committed, same, saved)

    @staticmethod
    def _plan_all_items(
        meeting: Meeting,
        values: dict[str, object],
        saved: _SavedItems | None,
        same: int,
        committed: int | None = None,
    ) -> _StateWrite:
        """Every item row, the first `same` of them kept from `saved`."""
        assert meeting.id is not None
        items_now = list(meeting.items)
        rows = (saved.rows[:same] if saved is not None else []) + [
            _item_values(meeting.id, position, item)
            for position, item in enumerate(items_now[same:], start=same)
        ]
        made_from = _SavedItems(rows, items_now, [item.text for item in items_now], meeting.items_revision)
        return _StateWrite(meeting.id, values, rows, committed, same, made_from)

    def _committed(self, plan: _StateWrite) -> None:
        if plan.values["ended_at"] is not None:
            # Ended: keep no memory per finished meeting.
            self._saved_items.pop(plan.meeting_id, None)
            self._saved_values.pop(plan.meeting_id, None)
            return
        self._saved_values[plan.meeting_id] = plan.values
        if plan.made_from is not None:
            self._saved_items[plan.meeting_id] = plan.made_from

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
