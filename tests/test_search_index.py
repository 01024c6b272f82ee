"""Full-text indexing off the line-write path (SQLite, migration 0008): lines are queued when
written and indexed by a catch-up, before every search and in the bot's background. Search
never misses a line nor finds withdrawn text, and FTS5 stays consistent with meeting_lines
whichever comes first: indexing, a redaction or a deletion."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncEngine

from meetbot.app import App, build_app
from meetbot.config import Settings
from meetbot.domain.model import Line
from meetbot.engine import Engine
from meetbot.events import Identity, LineKind, MessageIn, Outbound, RoomRef
from meetbot.storage.database import Database, create_engine
from meetbot.storage.search_index import SearchIndexer
from meetbot.storage.tables import MeetingRow
from tests.conftest import MATRIX_ROOM, T0, finished_meeting

ROOM = MATRIX_ROOM
ALICE = Identity("matrix", "@alice:example.org", "alice")


def line(seq: int, text_: str, native_id: str | None = None) -> Line:
    at = T0 + timedelta(seconds=seq)
    return Line(seq, at, LineKind.SAY, "alice", "matrix:@alice:example.org", text_, native_id=native_id)


@pytest.fixture
async def sqlite_database(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(f"sqlite+aiosqlite:///{tmp_path / 'meetbot.db'}")
    yield database
    await database.close()


async def texts(database: Database, query: str) -> list[str]:
    return [hit.text for hit in (await database.search.search(query)).hits]


async def queued(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(text("SELECT count(*) FROM meeting_lines_search_queue")) or 0)


async def assert_index_matches_lines(engine: AsyncEngine) -> None:
    """Nothing queued, and FTS5 holds exactly the text of meeting_lines: rank 1 compares the
    index with the content table (the plain check misses a 'delete' of a never-indexed row)."""
    assert await queued(engine) == 0
    async with engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO meeting_lines_search(meeting_lines_search, rank) VALUES ('integrity-check', 1)")
        )


async def test_a_line_is_found_right_after_it_is_written(opened_database: Database, engine: Engine) -> None:
    database = opened_database
    await finished_meeting(
        database, engine, [line(1, "#startmeeting"), line(2, "the heron migration"), line(3, "#endmeeting")]
    )
    if database.search.indexer.queues:
        assert await queued(database.engine) == 3  # written, not indexed
    assert await texts(database, "heron") == ["the heron migration"]
    if database.search.indexer.queues:
        await assert_index_matches_lines(database.engine)


@pytest.mark.parametrize("indexed_first", [False, True], ids=["queued", "indexed"])
async def test_a_redacted_line_is_not_found_by_its_old_text(
    sqlite_database: Database, engine: Engine, indexed_first: bool
) -> None:
    database = sqlite_database
    meeting_id = await finished_meeting(
        database,
        engine,
        [line(1, "#startmeeting"), line(2, "my secret numbat token", native_id="$c"), line(3, "#endmeeting")],
    )
    if indexed_first:
        assert await database.search.indexer.catch_up() == 3
    await database.meetings.blank_lines(meeting_id, "$c")
    assert await queued(database.engine) == (1 if indexed_first else 3)  # re-queued: its new text
    assert await texts(database, "numbat") == []
    assert await texts(database, "secret token") == []
    await assert_index_matches_lines(database.engine)


@pytest.mark.parametrize("indexed_first", [False, True], ids=["queued", "indexed"])
async def test_deleting_a_meeting_keeps_the_index_consistent(
    sqlite_database: Database, engine: Engine, indexed_first: bool
) -> None:
    database = sqlite_database
    kept = await finished_meeting(database, engine, [line(1, "#startmeeting"), line(2, "a kept kestrel")])
    gone = await finished_meeting(database, engine, [line(1, "#startmeeting"), line(2, "a deleted kestrel")])
    if indexed_first:
        await database.search.indexer.catch_up()
    async with database.engine.begin() as connection:
        await connection.execute(delete(MeetingRow).where(MeetingRow.id == gone))  # lines by cascade
    assert await queued(database.engine) == (0 if indexed_first else 2)
    assert await texts(database, "kestrel") == ["a kept kestrel"]
    await assert_index_matches_lines(database.engine)
    assert kept != gone


async def test_a_backlog_is_indexed_in_batches(sqlite_database: Database, engine: Engine) -> None:
    database = sqlite_database
    await finished_meeting(database, engine, [line(seq, f"pelican number {seq}") for seq in range(1, 26)])
    indexer = SearchIndexer(database.engine, batch=10)
    assert await indexer.catch_up() == 25
    assert await indexer.catch_up() == 0
    await assert_index_matches_lines(database.engine)
    assert len((await database.search.search("pelican", limit=100)).hits) == 25


async def test_two_processes_catching_up_at_once_index_each_line_once(
    sqlite_database: Database, engine: Engine
) -> None:
    database = sqlite_database
    await finished_meeting(database, engine, [line(seq, f"the osprey said {seq}") for seq in range(1, 401)])
    # A second engine on the file stands for `meetbot serve` beside the bot.
    other = create_engine(str(database.engine.url))
    try:
        done = await asyncio.gather(
            *(SearchIndexer(e, batch=7).catch_up() for e in (database.engine, other, database.engine, other))
        )
    finally:
        await other.dispose()
    assert sum(done) == 400
    await assert_index_matches_lines(database.engine)


async def test_postgresql_queues_nothing(opened_database: Database) -> None:
    indexer = opened_database.search.indexer
    assert indexer.queues == (opened_database.engine.dialect.name == "sqlite")
    if not indexer.queues:
        assert await indexer.catch_up() == 0
        assert not indexer.runs_in_background


class _Speaker:
    """An adapter that says a few lines and then stays connected until the app stops."""

    network, bot_nick = "matrix", "meetbot"

    async def run(self, submit: object) -> None:
        for n, said in enumerate(["#startmeeting", "the grebe plan", "more grebes"]):
            submit(MessageIn(ROOM, ALICE, said, T0 + timedelta(seconds=n), native_id=f"$e{n}"))  # type: ignore[operator]
        await asyncio.Event().wait()

    def members(self, room: RoomRef) -> list[Identity]:
        return [ALICE]

    async def send(self, message: Outbound) -> None:
        pass


async def _until_indexed(app: App) -> None:
    engine = app.database.engine
    while True:
        async with engine.connect() as connection:
            lines = await connection.scalar(text("SELECT count(*) FROM meeting_lines"))
        if lines and not await queued(engine):
            return
        await asyncio.sleep(0.05)


async def test_the_bot_catches_up_in_the_background(tmp_path: Path) -> None:
    app = await build_app(
        Settings(),
        [_Speaker()],
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
        publish_dir=tmp_path,
    )
    running = asyncio.create_task(app.run())
    try:
        await asyncio.wait_for(_until_indexed(app), 10)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    assert not [task for task in asyncio.all_tasks() if task.get_name() == "search index"]
