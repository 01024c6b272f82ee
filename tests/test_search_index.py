"""Full-text indexing off the line-write path (SQLite, migration 0008; PostgreSQL, 0010): lines
are queued (SQLite) or left without a vector (PostgreSQL) when written and indexed by a
catch-up, before every search and in the bot's background. Search never misses a line nor finds
withdrawn text, and the index stays consistent with meeting_lines whichever comes first:
indexing, a redaction or a deletion."""

from __future__ import annotations

import asyncio
import logging
import uuid
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
from meetbot.storage import search_index
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


_UNINDEXED_PG = (
    "SELECT count(*) FROM meeting_lines AS line WHERE NOT EXISTS "
    "(SELECT 1 FROM meeting_lines_search_vectors AS indexed WHERE indexed.id = line.id)"
)
# Vectors that are not what the line's text makes now.
_STALE_PG = (
    "SELECT count(*) FROM meeting_lines_search_vectors AS indexed JOIN meeting_lines AS line "
    "ON line.id = indexed.id WHERE indexed.vector <> to_tsvector('simple', line.text)"
)


async def scalar(engine: AsyncEngine, sql: str) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(text(sql)) or 0)


async def queued(engine: AsyncEngine) -> int:
    """Lines waiting to be indexed: queued (SQLite), or without a vector (PostgreSQL)."""
    if engine.dialect.name == "postgresql":
        return await scalar(engine, _UNINDEXED_PG)
    return await scalar(engine, "SELECT count(*) FROM meeting_lines_search_queue")


async def assert_index_matches_lines(engine: AsyncEngine) -> None:
    """Nothing waiting, and the index holds exactly the text of meeting_lines. SQLite: rank 1
    compares FTS5 with the content table (the plain check misses a 'delete' of a never-indexed
    row). PostgreSQL: every vector is what its line's text makes (a vector of a line gone
    cannot be: the foreign key)."""
    assert await queued(engine) == 0
    if engine.dialect.name == "postgresql":
        assert await scalar(engine, _STALE_PG) == 0
        return
    async with engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO meeting_lines_search(meeting_lines_search, rank) VALUES ('integrity-check', 1)")
        )


async def test_a_line_is_found_right_after_it_is_written(opened_database: Database, engine: Engine) -> None:
    database = opened_database
    await finished_meeting(
        database, engine, [line(1, "#startmeeting"), line(2, "the heron migration"), line(3, "#endmeeting")]
    )
    assert database.search.indexer.runs_in_background
    assert await queued(database.engine) == 3  # written, not indexed
    assert await texts(database, "heron") == ["the heron migration"]
    await assert_index_matches_lines(database.engine)


@pytest.mark.parametrize("indexed_first", [False, True], ids=["queued", "indexed"])
async def test_a_redacted_line_is_not_found_by_its_old_text(
    opened_database: Database, engine: Engine, indexed_first: bool
) -> None:
    database = opened_database
    meeting_id = await finished_meeting(
        database,
        engine,
        [line(1, "#startmeeting"), line(2, "my secret numbat token", native_id="$c"), line(3, "#endmeeting")],
    )
    if indexed_first:
        assert await database.search.indexer.catch_up() == 3
    await database.meetings.blank_lines(meeting_id, "$c")
    # An indexed line is queued again for its new text (SQLite) or has its vector made again at
    # once (PostgreSQL); a waiting one waits on.
    again = 1 if database.engine.dialect.name == "sqlite" else 0
    assert await queued(database.engine) == (again if indexed_first else 3)
    assert await texts(database, "numbat") == []
    assert await texts(database, "secret token") == []
    await assert_index_matches_lines(database.engine)


@pytest.mark.parametrize("indexed_first", [False, True], ids=["queued", "indexed"])
async def test_deleting_a_meeting_keeps_the_index_consistent(
    opened_database: Database, engine: Engine, indexed_first: bool
) -> None:
    database = opened_database
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


async def test_a_backlog_is_indexed_in_batches(opened_database: Database, engine: Engine) -> None:
    database = opened_database
    await finished_meeting(database, engine, [line(seq, f"pelican number {seq}") for seq in range(1, 26)])
    indexer = SearchIndexer(database.engine, batch=10)
    assert await indexer.catch_up() == 25
    assert await indexer.catch_up() == 0
    await assert_index_matches_lines(database.engine)
    assert len((await database.search.search("pelican", limit=100)).hits) == 25


async def test_two_processes_catching_up_at_once_index_each_line_once(
    opened_database: Database, engine: Engine
) -> None:
    database = opened_database
    await finished_meeting(database, engine, [line(seq, f"the osprey said {seq}") for seq in range(1, 401)])
    # A second engine on the database stands for `meetbot serve` beside the bot.
    other = create_engine(database.engine.url.render_as_string(hide_password=False))
    try:
        done = await asyncio.gather(
            *(SearchIndexer(e, batch=7).catch_up() for e in (database.engine, other, database.engine, other))
        )
    finally:
        await other.dispose()
    assert sum(done) == 400
    await assert_index_matches_lines(database.engine)


POSTGRESQL = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@POSTGRESQL
async def test_postgresql_a_line_that_commits_long_after_newer_ones_is_found_by_the_sweep(
    opened_database: Database, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = opened_database
    indexer = SearchIndexer(database.engine, batch=4)
    monkeypatch.setattr(search_index, "MARGIN", 5)
    await finished_meeting(database, engine, [line(seq, f"the curlew said {seq}") for seq in range(1, 21)])
    assert await indexer.catch_up() == 20
    # As if the third line's transaction had committed after all the others were indexed.
    async with database.engine.begin() as connection:
        await connection.execute(
            text(
                "DELETE FROM meeting_lines_search_vectors WHERE id = "
                "(SELECT id FROM meeting_lines WHERE text = 'the curlew said 3')"
            )
        )
    assert await indexer.catch_up() == 0  # below the newest ids less the margin
    assert await indexer.sweep() == 1
    await assert_index_matches_lines(database.engine)
    assert await texts(database, "curlew 3") == ["the curlew said 3"]


@POSTGRESQL
async def test_postgresql_a_process_that_may_only_read_searches_what_is_indexed(
    opened_database: Database, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """`meetbot serve` with a role that may only read: its searches cannot catch up, so they find
    what the bot's own catch-ups indexed, and say why once."""
    database = opened_database
    await finished_meeting(database, engine, [line(1, "#startmeeting"), line(2, "the dunlin count")])
    await database.search.indexer.catch_up()
    await finished_meeting(database, engine, [line(1, "#startmeeting"), line(2, "a later dunlin")])
    role = f"meetbot_reader_{uuid.uuid4().hex[:8]}"
    async with database.engine.begin() as connection:
        await connection.execute(text(f"CREATE ROLE {role} LOGIN"))
        await connection.execute(text(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"))
    try:
        reader = await Database.open(database.engine.url.set(username=role).render_as_string(False))
        try:
            with caplog.at_level(logging.WARNING, logger="meetbot.storage.search"):
                assert await texts(reader, "dunlin") == ["the dunlin count"]
                assert await texts(reader, "dunlin") == ["the dunlin count"]
        finally:
            await reader.close()
        assert caplog.text.count("may not write to the database") == 1
        assert await texts(database, "dunlin") == ["a later dunlin", "the dunlin count"]
    finally:
        async with database.engine.begin() as connection:
            await connection.execute(text(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}"))
            await connection.execute(text(f"DROP ROLE {role}"))


async def _looks(
    indexer: SearchIndexer,
    monkeypatch: pytest.MonkeyPatch,
    newest: list[int],
    *,
    max_wait: float = 3600,
) -> list[str]:
    """What run_forever does at each look, the newest line being each of `newest` in turn."""
    done: list[str] = []
    script = iter(newest)

    async def newest_line() -> int:
        try:
            return next(script)
        except StopIteration:
            raise asyncio.CancelledError from None

    async def sweep() -> int:
        done.append("sweep")
        return 0

    async def catch_up() -> int:
        done.append("catch up")
        return 0

    monkeypatch.setattr(indexer, "_newest_line", newest_line)
    monkeypatch.setattr(indexer, "sweep", sweep)
    monkeypatch.setattr(indexer, "catch_up", catch_up)
    with pytest.raises(asyncio.CancelledError):
        await indexer.run_forever(interval=0, sweep_interval=3600, quiet_lines=100, max_wait=max_wait)
    return done


async def test_the_bot_sweeps_as_it_starts_then_catches_up_while_lines_come_slowly(
    sqlite_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    indexer = sqlite_database.search.indexer
    assert await _looks(indexer, monkeypatch, [7, 50, 150]) == ["sweep", "catch up", "catch up"]


async def test_the_index_waits_while_the_bot_logs_hard(
    sqlite_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    indexer = sqlite_database.search.indexer
    # 101 lines or more since the last look: busy, nothing done; then a quiet look catches up.
    done = await _looks(indexer, monkeypatch, [0, 101, 1_000, 5_000, 5_050, 5_100, 9_000])
    assert done == ["sweep", "catch up", "catch up"]
    # However busy, not for longer than max_wait.
    done = await _looks(indexer, monkeypatch, [0, 500, 1_000, 1_500], max_wait=0)
    assert done == ["sweep", "catch up", "catch up", "catch up"]


async def test_the_newest_line_is_read_from_the_database(
    opened_database: Database, engine: Engine
) -> None:
    database = opened_database
    assert await database.search.indexer._newest_line() == 0
    await finished_meeting(database, engine, [line(1, "#startmeeting"), line(2, "a godwit")])
    async with database.engine.connect() as connection:
        newest = await connection.scalar(text("SELECT max(id) FROM meeting_lines"))
    assert await database.search.indexer._newest_line() == newest


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
