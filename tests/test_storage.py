"""The storage layer against real SQLite and PostgreSQL databases."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event, func, insert, select
from sqlalchemy import text as sql
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from meetbot.domain.model import Item, ItemKind, Line
from meetbot.engine import Engine
from meetbot.events import LineKind, RoomRef
from meetbot.storage import migrate
from meetbot.storage.database import create_engine as create_database_engine
from meetbot.storage.listing import ListingStore
from meetbot.storage.meetings import (
    MeetingAlreadyOpenError,
    MeetingStore,
    StorageUnavailableError,
    _insert_lines,
    _line_values,
    translate_outages,
)
from meetbot.storage.tables import Base, ItemRow, LineRow, MeetingRow
from tests.conftest import PG_REQUIRED, PG_URL, T0, fresh_pg_database

ROOM = RoomRef("libera", "#centos-meeting")


@pytest.fixture
def database(migrated_engine: AsyncEngine) -> AsyncEngine:
    return migrated_engine


@pytest.fixture
async def store(database: AsyncEngine) -> AsyncIterator[MeetingStore]:
    meetings = MeetingStore(database)
    yield meetings
    await meetings.close()


def line(seq: int, text: str, *, nick: str = "alice", native_id: str | None = None) -> Line:
    return Line(
        seq, T0 + timedelta(seconds=seq), LineKind.SAY, nick, f"libera:{nick}", text, native_id=native_id
    )


def _diff(connection: Connection) -> list[object]:
    opts = {
        "compare_type": True,
        # The search objects of migration 0005 exist only in raw SQL.
        "include_name": migrate.include_name,
        "include_object": migrate.include_object,
    }
    return list(compare_metadata(MigrationContext.configure(connection, opts=opts), Base.metadata))


async def test_migrations_reach_head_and_match_the_models(database: AsyncEngine) -> None:
    assert await migrate.current_revision(database) == migrate.head_revision()
    async with database.connect() as connection:
        assert await connection.run_sync(_diff) == []


async def test_upgrade_is_idempotent(database: AsyncEngine) -> None:
    await migrate.upgrade(database)
    assert await migrate.current_revision(database) == migrate.head_revision()


async def test_lines_round_trip_with_aware_utc_times(store: MeetingStore) -> None:
    header = await store.start_meeting(ROOM, line(1, "#startmeeting infra"))
    texts = ["Ünïcödé 🎉 text", "<script>alert(1)</script>", "x" * 5000, ""]
    for seq, text in enumerate(texts, 2):
        assert await store.append_line(header.id, line(seq, text))
    stored = await store.lines(header.id)
    assert [s.text for s in stored] == ["#startmeeting infra", *texts]
    assert stored[0].at == T0 + timedelta(seconds=1)
    assert stored[0].at.utcoffset() == timedelta(0)
    assert await store.open_meeting(ROOM) == header
    assert header.started_at == T0 + timedelta(seconds=1)


async def test_line_count_gives_a_meetings_stored_lines_and_its_last_number(store: MeetingStore) -> None:
    header = await store.start_meeting(ROOM, line(1, "#startmeeting infra"))
    other = await store.start_meeting(RoomRef("libera", "#other"), line(1, "#startmeeting other"))
    assert await store.line_count(header.id) == (1, 1)
    for seq in (2, 3, 7):  # numbers need not follow on for the count
        assert await store.append_line(header.id, line(seq, f"line {seq}"))
    assert await store.line_count(header.id) == (4, 7)
    assert await store.line_count(other.id) == (1, 1)
    assert await store.line_count(other.id + header.id + 1) == (0, None)


async def test_one_open_meeting_per_room(store: MeetingStore, engine: Engine) -> None:
    header = await store.start_meeting(ROOM, line(1, "#startmeeting"))
    with pytest.raises(MeetingAlreadyOpenError):
        await store.start_meeting(ROOM, line(1, "#startmeeting", nick="bob"))
    other_room = await store.start_meeting(RoomRef("libera", "#other"), line(1, "#startmeeting"))
    assert other_room.id != header.id

    meeting = engine.rebuild(header, await store.lines(header.id))
    meeting.ended_at = T0 + timedelta(hours=1)
    await store.save_state(meeting, items=False)
    assert await store.open_meeting(ROOM) is None
    again = await store.start_meeting(ROOM, line(1, "#startmeeting"))
    assert again.id not in (header.id, other_room.id)
    assert {h.id for h in await store.open_meetings()} == {other_room.id, again.id}


async def test_a_meetings_row_alone_is_written_in_one_statement_without_a_transaction(
    store: MeetingStore, engine: Engine, database: AsyncEngine
) -> None:
    """A meeting's end (its row alone, no lines or items) is one statement, atomic by itself:
    on PostgreSQL no BEGIN and COMMIT around it (two round trips before the minutes). With its
    items it is a unit of several statements, in a transaction. (SQLite's writer is a
    connection of its own, on a thread, that begins its transactions itself.)"""
    header = await store.start_meeting(ROOM, line(1, "#startmeeting"))
    meeting = engine.rebuild(header, await store.lines(header.id))
    sent: list[str] = []

    def note(*args: Any) -> None:
        sent.append(args[2].split()[0].upper())

    event.listen(database.sync_engine, "before_cursor_execute", note)
    try:
        meeting.ended_at = T0 + timedelta(hours=1)
        await store.save_state(meeting, items=False)
        assert await store.open_meeting(ROOM) is None
        ended = sent[:]
        sent.clear()
        meeting.title = "Infra weekly"
        meeting.items = [Item(ItemKind.INFO, "info", "alice", "libera:alice", T0, 1)]
        await store.save_state(meeting, items=True)
    finally:
        event.remove(database.sync_engine, "before_cursor_execute", note)
    if database.dialect.name == "postgresql":
        assert ended[0] == "UPDATE"  # then open_meeting()'s SELECT, on a pooled connection
        assert [sent[0], sent[-1]] == ["BEGIN", "COMMIT"]
    async with store._session() as session:
        row = await session.get(MeetingRow, header.id)
        items = await session.scalar(select(func.count()).where(ItemRow.meeting_id == header.id))
    assert row is not None
    assert (row.title, row.ended_at, items) == ("Infra weekly", meeting.ended_at, 1)


async def test_a_network_event_seen_twice_is_logged_once(store: MeetingStore) -> None:
    header = await store.start_meeting(ROOM, line(1, "#startmeeting"))
    assert await store.append_line(header.id, line(2, "hello", native_id="msgid-1"))
    assert not await store.append_line(header.id, line(3, "hello", native_id="msgid-1"))
    assert [s.seq for s in await store.lines(header.id)] == [1, 2]


async def test_state_projection(store: MeetingStore, engine: Engine) -> None:
    header = await store.start_meeting(ROOM, line(1, "#startmeeting"))
    meeting = engine.rebuild(header, await store.lines(header.id))
    meeting.name, meeting.title, meeting.restricted = "infra", "Infra weekly", True
    meeting.items = [Item(ItemKind.INFO, f"info {n}", "alice", "libera:alice", T0, n) for n in range(3)]
    await store.save_state(meeting, items=True)
    meeting.items = meeting.items[:1]
    await store.save_state(meeting, items=True)
    async with store._session() as session:  # the projection is for queries; look at it directly
        from sqlalchemy import select

        from meetbot.storage.tables import ItemRow, MeetingRow

        row = await session.get(MeetingRow, header.id)
        assert row is not None
        assert (row.name, row.title, row.restricted) == ("infra", "Infra weekly", True)
        assert (await session.scalars(select(ItemRow.text).where(ItemRow.meeting_id == header.id))).all() == [
            "info 0"
        ]


async def test_one_group_commit_saves_the_state_of_many_meetings(
    store: MeetingStore, database: AsyncEngine, engine: Engine
) -> None:
    """A group commit writes every meeting's state in a few statements; after this process
    stood by while another wrote (forget_saved, as the service does on stepping down), a
    meeting's items are all rewritten, not just the ones this store has not written."""
    rooms = [RoomRef("libera", f"#room{n}") for n in range(3)]
    meetings = []
    for room in rooms:
        header = await store.start_meeting(room, line(1, "#startmeeting"))
        meeting = engine.rebuild(header, await store.lines(header.id))
        meeting.items = [
            Item(ItemKind.INFO, f"{room.room} {n}", "alice", "libera:alice", T0, n) for n in range(2)
        ]
        meetings.append(meeting)
    await store.write((), [(meeting, True) for meeting in meetings])
    first, second, third = meetings
    other_process = MeetingStore(database)
    kept = second.items
    second.items = [Item(ItemKind.INFO, "written elsewhere", "bob", "libera:bob", T0, 9)]
    await other_process.save_state(second, items=True)  # unknown to `store`
    await other_process.close()
    store.forget_saved()
    first.items.append(Item(ItemKind.INFO, "#room0 2", "alice", "libera:alice", T0, 2))
    # Two items as `store` last wrote them, and one more: only the new one would be written,
    # next to "written elsewhere", if `store` trusted its copy.
    second.items = [*kept, Item(ItemKind.IDEA, "#room1 again", "alice", "libera:alice", T0, 3)]
    third.name = "renamed"
    await store.write((), [(first, True), (second, True), (third, False)])
    async with store._session() as session:
        from sqlalchemy import select

        from meetbot.storage.tables import ItemRow, MeetingRow

        for meeting in meetings:
            texts = await session.scalars(
                select(ItemRow.text).where(ItemRow.meeting_id == meeting.id).order_by(ItemRow.position)
            )
            assert texts.all() == [item.text for item in meeting.items]
        third_row = await session.get(MeetingRow, third.id)
        assert third_row is not None
        assert third_row.name == "renamed"


async def test_the_meeting_row_is_written_only_when_it_changed(
    store: MeetingStore, database: AsyncEngine, engine: Engine
) -> None:
    """A save after an #info leaves the meeting row alone when this store wrote it last with
    the same values; after forget_saved (standing by) it is written again."""
    from meetbot.storage.tables import MeetingRow

    header = await store.start_meeting(ROOM, line(1, "#startmeeting"))
    meeting = engine.rebuild(header, await store.lines(header.id))
    meeting.title = "Ours"
    await store.save_state(meeting, items=False)
    other_process = MeetingStore(database)
    elsewhere = engine.rebuild(header, await store.lines(header.id))
    elsewhere.title = "Theirs"
    await other_process.save_state(elsewhere, items=False)
    await other_process.close()

    async def stored_title() -> str | None:
        async with store._session() as session:
            row = await session.get(MeetingRow, header.id, populate_existing=True)
            assert row is not None
            return row.title

    meeting.items.append(Item(ItemKind.INFO, "an item", "alice", "libera:alice", T0, 1))
    await store.save_state(meeting, items=True)
    assert await stored_title() == "Theirs"  # unchanged here: no update sent
    meeting.title = "Ours, renamed"
    await store.save_state(meeting, items=False)
    assert await stored_title() == "Ours, renamed"
    store.forget_saved()
    third_process = MeetingStore(database)
    await third_process.save_state(elsewhere, items=False)
    await third_process.close()
    await store.save_state(meeting, items=False)
    assert await stored_title() == "Ours, renamed"


async def _stored_item_texts(store: MeetingStore, meeting_id: int) -> list[str]:
    from sqlalchemy import select

    from meetbot.storage.tables import ItemRow

    async with store._session() as session:
        texts = await session.scalars(
            select(ItemRow.text).where(ItemRow.meeting_id == meeting_id).order_by(ItemRow.position)
        )
        return list(texts.all())


async def test_item_saves_follow_appends_undos_edits_and_redactions(
    store: MeetingStore, engine: Engine
) -> None:
    """A save after items were only added writes just the new rows without looking at the old
    ones (a long meeting's saves were quadratic); any other change (#undo, an edit or a
    redaction of an item's line) is found and written."""
    header = await store.start_meeting(ROOM, line(1, "#startmeeting"))
    meeting = engine.rebuild(header, await store.lines(header.id))
    seq = 1

    async def say(
        text: str, *, kind: LineKind = LineKind.SAY, edit_of: str | None = None, save: bool = True
    ) -> None:
        nonlocal seq
        seq += 1
        said = Line(seq, T0, kind, "alice", "libera:alice", text, native_id=f"m{seq}", edit_of=edit_of)
        engine.apply(meeting, said)
        assert await store.append_line(header.id, said)
        if save:  # else the next save covers this change too
            await store.save_state(meeting, items=True)
            assert await _stored_item_texts(store, header.id) == [item.text for item in meeting.items]

    for n in range(30):
        await say(f"#info item {n}")
    rows_before = store._saved_items[header.id].rows
    await say("#info one more")
    # Appended to the committed copy in place: nothing was rebuilt or compared.
    assert store._saved_items[header.id].rows is rows_before
    await say("#undo")
    await say("#idea after the undo")
    await say("#undo", save=False)
    await say("#idea in place of the undone one")  # as many items as before, one revision more
    await say("#info item 3, edited", kind=LineKind.EDIT, edit_of="m5", save=False)
    await say("#info and another")  # one item more, two revisions: not only appended
    await say("", kind=LineKind.REDACT, edit_of="m3")
    await say("#info last")
    assert [item.text for item in meeting.items][:3] == ["item 0", "item 2", "item 3, edited"]


class _ServerSays(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"SQLSTATE {sqlstate}")
        self.sqlstate = sqlstate


@pytest.mark.parametrize(("sqlstate", "outage"), [("57P03", True), ("08006", True), ("42P01", False)])
async def test_a_server_starting_up_is_an_outage_a_wrong_query_is_not(sqlstate: str, outage: bool) -> None:
    @translate_outages
    async def connect() -> None:
        raise DBAPIError("connect", None, _ServerSays(sqlstate))

    expected: type[Exception] = StorageUnavailableError if outage else DBAPIError
    with pytest.raises(expected):
        await connect()


async def test_atomic_work_on_the_writer_is_all_or_nothing(
    store: MeetingStore, database: AsyncEngine
) -> None:
    """A meeting's state and its items are written as one unit (`atomic`): on PostgreSQL the
    writer's own connection is in autocommit, so this takes a transaction of its own, there,
    without a connection from the pool (whose checkout pings the server). After a unit that
    failed, the writer goes on."""
    header = await store.start_meeting(ROOM, line(1, "#startmeeting"))

    def half_done(connection: Connection) -> None:
        _insert_lines([(header.id, line(2, "kept only with the rest"))])(connection)
        raise RuntimeError("failed after the first statement")

    with pytest.raises(RuntimeError):
        await store.writer.run(half_done, atomic=True)
    assert [stored.seq for stored in await store.lines(header.id)] == [1]
    await store.writer.run(_insert_lines([(header.id, line(2, "two"))]))  # the writer's connection is up
    checkouts: list[object] = []
    event.listen(database.sync_engine.pool, "checkout", lambda *args: checkouts.append(args))
    both = _insert_lines([(header.id, line(3, "three")), (header.id, line(4, "four"))])
    await store.writer.run(both, atomic=True)
    assert [(stored.seq, stored.text) for stored in await store.lines(header.id)] == [
        (1, "#startmeeting"),
        (2, "two"),
        (3, "three"),
        (4, "four"),
    ]
    if database.dialect.name == "postgresql":
        assert len(checkouts) == 1  # store.lines()' own read; the atomic unit took none


@pytest.mark.postgres
@pytest.mark.skipif(PG_URL is None and not PG_REQUIRED, reason="MEETBOT_TEST_PG_URL not set")
async def test_a_pooled_connection_the_server_dropped_is_replaced_before_it_is_used() -> None:
    """A connection the server dropped while it sat in the pool (a restart, a failover) is
    found out when it is taken (the checkout's ping) and replaced: the read that took it
    succeeds, on a new connection."""
    assert PG_URL is not None
    async with fresh_pg_database(PG_URL, "meetbot_t") as url:
        engine = create_database_engine(url)
        try:
            async with engine.connect() as connection:
                dropped = (await connection.execute(sql("SELECT pg_backend_pid()"))).scalar_one()
            async with engine.connect() as connection:
                assert (await connection.execute(sql("SELECT pg_backend_pid()"))).scalar_one() == dropped
            other = create_database_engine(url)
            try:
                async with other.connect() as connection:
                    # Waits (up to 5 s) until that server process has gone.
                    await connection.execute(sql(f"SELECT pg_terminate_backend({int(dropped)}, 5000)"))
            finally:
                await other.dispose()
            async with engine.connect() as connection:
                now = (await connection.execute(sql("SELECT pg_backend_pid()"))).scalar_one()
            assert now != dropped
        finally:
            await engine.dispose()


async def _in_transaction(connection: AsyncConnection) -> bool:
    """The server's own word: the status of its last ReadyForQuery message, as asyncpg keeps it."""
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    return bool(driver.is_in_transaction())


@pytest.mark.postgres
@pytest.mark.skipif(PG_URL is None and not PG_REQUIRED, reason="MEETBOT_TEST_PG_URL not set")
async def test_a_publishs_reads_on_postgresql_take_no_transaction_and_leave_none_in_the_pool() -> None:
    """A reader's statements run outside any transaction (no BEGIN and ROLLBACK around them:
    two round trips at every publish); its connection goes back to the pool as it came, so the
    next user of it gets transactions as usual."""
    assert PG_URL is not None
    async with fresh_pg_database(PG_URL, "meetbot_t") as url:
        engine = create_database_engine(url)
        listing = ListingStore(engine)
        try:
            async with listing.reader() as reader:
                assert isinstance(reader, AsyncConnection)
                pid = (await reader.execute(sql("SELECT pg_backend_pid()"))).scalar_one()
                assert not await _in_transaction(reader)
            async with engine.connect() as connection:
                assert (await connection.execute(sql("SELECT pg_backend_pid()"))).scalar_one() == pid
                assert await _in_transaction(connection)
        finally:
            await listing.close()
            await engine.dispose()


async def test_a_group_commit_stores_exactly_what_the_compiled_insert_stores(
    store: MeetingStore, database: AsyncEngine
) -> None:
    """On SQLite the group commit binds its rows itself, not through SQLAlchemy's types: the
    raw rows (time text, booleans, NULLs) must be the same as the compiled insert's, or reads
    and comparisons of times as text would see two formats."""
    header = await store.start_meeting(ROOM, line(1, "#startmeeting"))
    at = datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=2)))  # not UTC, no microseconds
    variants = [
        Line(2, at, LineKind.SAY, "ken[", "libera:ken[", "Ünïcödé <b>", native_id="m2"),
        Line(3, at + timedelta(microseconds=7), LineKind.ACTION, "bob", "libera:bob", "", is_bot=True),
        Line(4, T0, LineKind.EDIT, "bob", "libera:bob", "fixed", privileged=True, edit_of="m2", thread="t1"),
        Line(5, T0, LineKind.SAY, "carol", "libera:carol", "late", backfilled=True),
    ]
    other = await store.start_meeting(RoomRef("libera", "#other"), line(1, "#startmeeting"))
    ours = [(header.id, variant) for variant in variants]
    theirs = [(other.id, variant) for variant in variants]

    def compiled_insert(connection: Connection) -> None:
        connection.execute(insert(LineRow), [_line_values(mid, variant) for mid, variant in theirs])

    await store.write(ours)
    await store.writer.run(compiled_insert)
    async with database.connect() as connection:
        rows = (await connection.exec_driver_sql("SELECT * FROM meeting_lines")).mappings().all()
    stored = {(row["meeting_id"], row["seq"]): dict(row) for row in rows}
    for variant in variants:
        mine, compiled = stored[header.id, variant.seq], stored[other.id, variant.seq]
        assert {**mine, "id": 0, "meeting_id": 0} == {**compiled, "id": 0, "meeting_id": 0}
    assert [stored.at for stored in await store.lines(header.id)][1:5] == [v.at for v in variants]


async def test_sessions_on_an_in_memory_database_take_its_one_connection_in_turn() -> None:
    """`meetbot replay` runs on SQLite in memory: one connection, which two sessions must never
    use at once (their statements interleaved: a commit while another's rows were being read)."""
    from sqlalchemy import text

    from meetbot.replay import IN_MEMORY
    from meetbot.storage.database import create_engine

    engine = create_engine(IN_MEMORY)
    events: list[str] = []

    async def session(name: str) -> None:
        async with engine.connect() as connection:
            events.append(f"{name} in")
            await connection.execute(text("SELECT 1"))
            await asyncio.sleep(0.05)
            events.append(f"{name} out")

    try:
        await asyncio.gather(session("a"), session("b"))
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE kept (x INTEGER)"))
        async with engine.connect() as connection:  # still the same database
            await connection.execute(text("SELECT x FROM kept"))
    finally:
        await engine.dispose()
    assert events == ["a in", "a out", "b in", "b out"]


async def test_a_publishs_reads_on_an_sqlite_file_share_a_connection_off_the_event_loop(
    tmp_path: Path,
) -> None:
    engine = create_database_engine(f"sqlite+aiosqlite:///{tmp_path / 'read.db'}")
    listing = ListingStore(engine)
    threads: list[int] = []
    checkouts: list[object] = []
    assert listing._sqlite is not None
    sqlite = listing._sqlite
    event.listen(sqlite, "before_cursor_execute", lambda *_args: threads.append(threading.get_ident()))
    event.listen(sqlite, "checkout", lambda *args: checkouts.append(args))
    try:
        async with engine.begin() as connection:
            await connection.execute(sql("CREATE TABLE t (x INTEGER)"))
            await connection.execute(sql("INSERT INTO t VALUES (1), (2)"))
        async with listing.reader() as reader:
            rows = (await reader.execute(sql("SELECT x FROM t ORDER BY x"))).all()
            count = await reader.execute(sql("SELECT count(*) FROM t WHERE x > :at_least"), {"at_least": 1})
            assert count.scalar_one() == 1
        assert [row.x for row in rows] == [1, 2]
        assert len(checkouts) == 1
        assert len(threads) == 2
        assert threading.get_ident() not in threads  # never on the event loop's thread
    finally:
        await listing.close()
        await engine.dispose()


async def test_a_read_that_finds_the_sqlite_file_busy_waits_off_the_event_loop(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("PRAGMA journal_mode=WAL")
    locker.execute("CREATE TABLE t (x INTEGER)")
    locker.execute("INSERT INTO t VALUES (1)")
    # An exclusive lock in WAL mode keeps even readers out: SQLite answers SQLITE_BUSY.
    locker.execute("PRAGMA locking_mode=EXCLUSIVE")
    locker.execute("BEGIN EXCLUSIVE")
    locker.execute("INSERT INTO t VALUES (2)")
    engine = create_database_engine(f"sqlite+aiosqlite:///{path}")
    listing = ListingStore(engine)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    async def read() -> list[int]:
        async with listing.reader() as reader:
            return [row.x for row in await reader.execute(sql("SELECT x FROM t ORDER BY x"))]

    ticker = asyncio.create_task(tick())
    try:
        reading = asyncio.create_task(read())
        await asyncio.sleep(0.2)
        assert not reading.done()
        # The event loop kept turning while the read waited for the lock (blocked, it would
        # have ticked once): ~20 times in 0.2 s, at least a few on a loaded machine.
        assert ticks >= 5
        locker.execute("COMMIT")
        locker.close()
        assert await asyncio.wait_for(reading, 10) == [1, 2]
    finally:
        locker.close()
        ticker.cancel()
        await listing.close()
        await engine.dispose()
