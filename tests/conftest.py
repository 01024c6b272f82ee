"""Shared fixtures: real databases (a SQLite file, and PostgreSQL when the test script gave
one), and a meeting engine with the bundled plugins."""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from meetbot.domain.model import Line
from meetbot.engine import Engine
from meetbot.events import RoomRef
from meetbot.storage import migrate
from meetbot.storage.database import Database, create_engine
from meetbot_plugins.meeting.plugin import MeetingPlugin

T0 = datetime(2026, 11, 21, 16, 0, 0, tzinfo=UTC)

PG_URL = os.environ.get("MEETBOT_TEST_PG_URL")
# The test script sets this so that a missing PostgreSQL fails the run instead of skipping.
PG_REQUIRED = os.environ.get("MEETBOT_REQUIRE_PG") == "1"


MATRIX_ROOM = RoomRef("matrix", "!room:example.org")


async def finished_meeting(
    database: Database, engine: Engine, lines: list[Line], room: RoomRef = MATRIX_ROOM
) -> int:
    """A meeting of `lines` (the first starts it) stored and ended an hour after T0; its id."""
    header = await database.meetings.start_meeting(room, lines[0])
    for one in lines[1:]:
        assert await database.meetings.append_line(header.id, one)
    meeting = engine.rebuild(header, await database.meetings.lines(header.id))
    meeting.ended_at = T0 + timedelta(hours=1)
    await database.meetings.save_state(meeting, items=True)
    return header.id


@pytest.fixture
def engine() -> Engine:
    return Engine([MeetingPlugin()])


def free_port() -> int:
    """A loopback port nobody listens on (nothing stays bound to it after the probe closes)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def upgrade_schema(url: str) -> None:
    """What `meetbot db upgrade` does: a PostgreSQL database is never upgraded implicitly
    (Database.open refuses an old schema; SQLite upgrades itself)."""
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def migrated_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on an empty database of each backend, at the newest schema."""
    engine = create_engine(database_url)
    await migrate.upgrade(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def opened_database(database_url: str) -> AsyncIterator[Database]:
    """`Database.open` on an empty database of each backend, at the newest schema."""
    await upgrade_schema(database_url)
    database = await Database.open(database_url)
    yield database
    await database.close()


def _pg_params() -> list[object]:
    marks = [pytest.mark.postgres]
    if PG_URL is None and not PG_REQUIRED:
        marks.append(pytest.mark.skip(reason="MEETBOT_TEST_PG_URL not set (scripts/test.sh sets it)"))
    return [pytest.param("sqlite", id="sqlite"), pytest.param("postgresql", id="postgresql", marks=marks)]


@pytest.fixture(params=_pg_params())
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """An empty database of each backend, made fresh for each test."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'meetbot.db'}"
        return
    if PG_URL is None:
        pytest.fail("MEETBOT_REQUIRE_PG=1 but MEETBOT_TEST_PG_URL is not set")
    async with fresh_pg_database(PG_URL, "meetbot_t") as url:
        yield url


@contextlib.asynccontextmanager
async def fresh_pg_database(server_url: str, prefix: str) -> AsyncIterator[str]:
    """An empty PostgreSQL database on the server of `server_url`, dropped afterwards."""
    url = make_url(server_url)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(
        host=url.host, port=url.port, user=url.username, password=url.password, database=url.database
    )
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
