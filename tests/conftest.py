"""Shared fixtures: real databases (a SQLite file, and PostgreSQL when the test script gave
one), and a meeting engine with the bundled plugins."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy.engine import make_url

from meetbot.engine import Engine
from meetbot_plugins.meeting.plugin import MeetingPlugin

T0 = datetime(2026, 11, 21, 16, 0, 0, tzinfo=UTC)

PG_URL = os.environ.get("MEETBOT_TEST_PG_URL")
# The test script sets this so that a missing PostgreSQL fails the run instead of skipping.
PG_REQUIRED = os.environ.get("MEETBOT_REQUIRE_PG") == "1"


@pytest.fixture
def engine() -> Engine:
    return Engine([MeetingPlugin()])


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
    url = make_url(PG_URL)
    name = f"meetbot_t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(
        host=url.host, port=url.port, user=url.username, password=url.password, database=url.database
    )
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
