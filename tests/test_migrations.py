"""Migrations on both backends: from the first released schema with data in it up to the head
(nothing lost, and the models match), one step down and up again, and every step down to the
first schema and back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from meetbot.domain.model import ItemKind
from meetbot.engine import Engine
from meetbot.events import RoomRef
from meetbot.storage import migrate
from meetbot.storage.database import create_engine
from meetbot.storage.meetings import MeetingStore
from meetbot.storage.search_index import SearchIndexer
from tests.conftest import T0
from tests.test_storage import _diff

FIRST_RELEASED = "0001"
ROOM = RoomRef("libera", "#centos-meeting")


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


async def _fill_first_schema(database: AsyncEngine) -> None:
    """A meeting as the first release wrote it: raw SQL against that schema, not today's models."""
    async with database.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO meetings (id, network, room, started_at, ended_at, owner_key, owner_nick, "
                "name, title, restricted) VALUES (1, 'libera', '#centos-meeting', :start, :end, "
                "'libera:alice', 'alice', 'infra', 'Infra weekly', false)"
            ),
            {"start": T0, "end": T0 + timedelta(minutes=3)},
        )
        said = ["#startmeeting Infra weekly", "#topic Mirrors", "#info mirror2 is back", "#endmeeting"]
        for seq, line in enumerate(said, 1):
            await connection.execute(
                text(
                    "INSERT INTO meeting_lines (meeting_id, seq, at, kind, nick, sender_key, text, is_bot, "
                    "native_id) VALUES (1, :seq, :at, 'say', 'alice', 'libera:alice', :text, false, NULL)"
                ),
                {"seq": seq, "at": T0 + timedelta(minutes=seq - 1), "text": line},
            )


async def _search_triggers_survive(database: AsyncEngine) -> None:
    """Migration 0005's full-text triggers are raw SQL on SQLite: a later migration that copies
    meeting_lines into a new table (Alembic's batch mode) would drop them without a word."""
    if database.dialect.name != "sqlite":
        return
    async with database.connect() as connection:
        triggers = await connection.scalar(
            text(
                "SELECT count(*) FROM sqlite_master "
                "WHERE type = 'trigger' AND name LIKE 'meeting_lines_search_%'"
            )
        )
    assert triggers == 3


async def _meeting_reads_back(database: AsyncEngine, engine: Engine) -> None:
    await _search_triggers_survive(database)
    store = MeetingStore(database)
    (header,) = await store.meetings_in(ROOM)
    lines = await store.lines(header.id)
    assert [line.text for line in lines] == [
        "#startmeeting Infra weekly",
        "#topic Mirrors",
        "#info mirror2 is back",
        "#endmeeting",
    ]
    assert lines[0].at == T0
    meeting = engine.rebuild(header, lines)
    assert not meeting.is_open
    assert [item.text for item in meeting.items if item.kind is ItemKind.INFO] == ["mirror2 is back"]


async def test_upgrade_from_the_first_released_schema_keeps_the_data(
    database: AsyncEngine, engine: Engine
) -> None:
    await migrate.upgrade(database, FIRST_RELEASED)
    await _fill_first_schema(database)
    await migrate.upgrade(database)
    assert await migrate.current_revision(database) == migrate.head_revision()
    async with database.connect() as connection:
        assert await connection.run_sync(_diff) == []
    await _meeting_reads_back(database, engine)


async def test_one_step_down_and_up_again(database: AsyncEngine, engine: Engine) -> None:
    await migrate.upgrade(database, FIRST_RELEASED)
    await _fill_first_schema(database)
    await migrate.upgrade(database)
    head = migrate.head_revision()
    await migrate.downgrade(database, "-1")
    assert await migrate.current_revision(database) not in (head, None)
    await migrate.upgrade(database)
    assert await migrate.current_revision(database) == head
    # Read with today's code on today's schema: this code on an older schema is not supported
    # (docs/admin.md, Upgrades), and fails as soon as the last step adds a column it reads.
    await _meeting_reads_back(database, engine)
    async with database.connect() as connection:
        assert await connection.run_sync(_diff) == []


async def test_every_step_down_to_the_first_schema_and_back(database: AsyncEngine, engine: Engine) -> None:
    await migrate.upgrade(database)
    await migrate.downgrade(database, FIRST_RELEASED)
    assert await migrate.current_revision(database) == FIRST_RELEASED
    await _fill_first_schema(database)
    await migrate.upgrade(database)
    await _meeting_reads_back(database, engine)


async def _scalar(database: AsyncEngine, sql: str) -> object:
    async with database.connect() as connection:
        return await connection.scalar(text(sql))


async def _index_matches_lines(database: AsyncEngine) -> None:
    # Rank 1: the index compared with meeting_lines itself (a line indexed twice, or missing, fails).
    async with database.begin() as connection:
        await connection.execute(
            text("INSERT INTO meeting_lines_search(meeting_lines_search, rank) VALUES ('integrity-check', 1)")
        )


async def _found(database: AsyncEngine, word: str) -> object:
    return await _scalar(
        database, f"SELECT count(*) FROM meeting_lines_search WHERE meeting_lines_search MATCH '{word}'"
    )


async def _say(database: AsyncEngine, seq: int, said: str) -> None:
    async with database.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO meeting_lines (meeting_id, seq, at, kind, nick, sender_key, text, is_bot) "
                "VALUES (1, :seq, :at, 'say', 'alice', 'libera:alice', :text, false)"
            ),
            {"seq": seq, "at": T0, "text": said},
        )


async def test_the_search_queue_carries_the_index_over_both_ways(tmp_path: Path) -> None:
    """0008 (SQLite): lines 0005 indexed stay indexed, once; lines queued under 0008 are
    indexed by the downgrade's rebuild."""
    database = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'meetbot.db'}")
    try:
        await migrate.upgrade(database, "0007")
        await _fill_first_schema(database)
        await migrate.upgrade(database, "0008")
        assert await _scalar(database, "SELECT count(*) FROM meeting_lines_search_queue") == 0
        await _index_matches_lines(database)
        assert await _found(database, "mirror2") == 1
        await _say(database, 5, "a late heron")
        assert await _scalar(database, "SELECT count(*) FROM meeting_lines_search_queue") == 1
        assert await _found(database, "heron") == 0  # queued until a catch-up (or a search)

        await migrate.downgrade(database, "0007")
        assert (
            await _scalar(database, "SELECT count(*) FROM sqlite_master WHERE name LIKE '%queue'") == 0
        )
        await _search_triggers_survive(database)
        await _index_matches_lines(database)
        assert await _found(database, "heron") == 1
        await _say(database, 6, "an eager egret")  # 0005's trigger indexes it at once
        assert await _found(database, "egret") == 1

        await migrate.upgrade(database)
        await _say(database, 7, "a queued quail")
        assert await SearchIndexer(database).catch_up() == 1
        await _index_matches_lines(database)
        assert [await _found(database, word) for word in ("mirror2", "heron", "egret", "quail")] == [1] * 4
    finally:
        await database.dispose()


async def test_lines_led_by_network_id_keep_their_search_index(tmp_path: Path) -> None:
    """0009 copies meeting_lines on SQLite (a table constraint's index goes only that way): the
    lines keep their ids, so what was indexed stays indexed once and what was queued stays
    queued; the triggers come back; the two indexes left have the columns the models say."""
    database = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'meetbot.db'}")
    try:
        await migrate.upgrade(database, "0008")
        await _fill_first_schema(database)
        await SearchIndexer(database).catch_up()
        await _say(database, 5, "a late heron")
        await migrate.upgrade(database, "0009")
        await _search_triggers_survive(database)
        assert await _scalar(database, "SELECT count(*) FROM meeting_lines_search_queue") == 1
        assert await _found(database, "heron") == 0
        assert await SearchIndexer(database).catch_up() == 1
        await _index_matches_lines(database)
        assert [await _found(database, word) for word in ("mirror2", "heron")] == [1, 1]
        # Each index's columns, in order; the one on native_id alone is gone.
        indexes = await _scalar(
            database,
            "SELECT group_concat(columns, ' ') FROM (SELECT (SELECT group_concat(name, ',') FROM "
            "pragma_index_info(list.name)) AS columns FROM pragma_index_list('meeting_lines') AS list "
            "ORDER BY columns)",
        )
        assert indexes == "meeting_id,seq native_id,meeting_id"
    finally:
        await database.dispose()


@pytest.mark.parametrize("revision", ["0009", "0008"])
async def test_a_network_id_is_unique_within_a_meeting(database: AsyncEngine, revision: str) -> None:
    """Both sides of 0009 (the up and the way back down) refuse a network event logged twice in
    one meeting, and take the same id in another meeting (two networks may share a form of ids)."""
    await migrate.upgrade(database)
    await migrate.downgrade(database, revision)
    await _fill_first_schema(database)
    async with database.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO meetings (id, network, room, started_at, ended_at, owner_key, owner_nick, "
                "restricted) VALUES (2, 'oftc', '#infra', :start, :start, 'oftc:bob', 'bob', false)"
            ),
            {"start": T0},
        )
    insert = text(
        "INSERT INTO meeting_lines (meeting_id, seq, at, kind, nick, sender_key, text, is_bot, native_id) "
        "VALUES (:meeting, :seq, :at, 'say', 'alice', 'libera:alice', 'hello', false, '00A~1795294716~7')"
    )
    async with database.begin() as connection:
        await connection.execute(insert, {"meeting": 1, "seq": 5, "at": T0})
        await connection.execute(insert, {"meeting": 2, "seq": 1, "at": T0})
    with pytest.raises(IntegrityError):
        async with database.begin() as connection:
            await connection.execute(insert, {"meeting": 1, "seq": 6, "at": T0})


_SEARCH_INDEX_EXISTS = "SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_meeting_lines_search'"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_0010_gives_the_lines_stored_before_it_their_vectors_and_goes_back(
    database: AsyncEngine, engine: Engine
) -> None:
    """0010 moves PostgreSQL's full-text index off the write path: the lines stored before have
    their vectors (and are found) at once; the way back brings 0005's index back."""
    await migrate.upgrade(database, FIRST_RELEASED)
    await _fill_first_schema(database)
    await migrate.upgrade(database, "0009")
    assert await _scalar(database, _SEARCH_INDEX_EXISTS) == 1
    await migrate.upgrade(database, "0010")
    assert await _scalar(database, _SEARCH_INDEX_EXISTS) == 0
    assert await _scalar(database, "SELECT count(*) FROM meeting_lines_search_vectors") == 4
    found = (
        "SELECT count(*) FROM meeting_lines_search_vectors "
        "WHERE vector @@ plainto_tsquery('simple', 'mirror2')"
    )
    assert await _scalar(database, found) == 1
    # A line's new text makes its vector again (a redaction blanks it), each time.
    for new_text, expected in (("", 0), ("#info mirror2 is back", 1)):
        async with database.begin() as connection:
            await connection.execute(
                text("UPDATE meeting_lines SET text = :text WHERE seq = 3"), {"text": new_text}
            )
        assert await _scalar(database, found) == expected
    await migrate.downgrade(database, "0009")
    assert await _scalar(database, _SEARCH_INDEX_EXISTS) == 1
    assert await _scalar(database, "SELECT to_regclass('meeting_lines_search_vectors') IS NULL")
    await migrate.upgrade(database)
    await _meeting_reads_back(database, engine)
    async with database.connect() as connection:
        assert await connection.run_sync(_diff) == []
