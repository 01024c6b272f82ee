"""A meeting far longer than a page: the log paginates, search links land on the right page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import insert

from meetbot.config import Settings
from meetbot.domain.model import Line
from meetbot.engine import Engine
from meetbot.events import LineKind, RoomRef
from meetbot.registry import load_plugins
from meetbot.storage import migrate
from meetbot.storage.database import Database, create_engine
from meetbot.storage.tables import LineRow
from meetbot.web.site import LOG_PAGE_LINES, build_site
from tests.conftest import T0

LINES = 2 * LOG_PAGE_LINES + 500
ROOM = RoomRef("libera", "#marathon")


async def seed_huge(database: Database, engine: Engine) -> int:
    first = Line(1, T0, LineKind.SAY, "alice", "libera:alice", "#startmeeting marathon")
    header = await database.meetings.start_meeting(ROOM, first)
    rows: list[dict[str, Any]] = []
    for seq in range(2, LINES):
        text = f"line {seq} about the kestrel" if seq == LOG_PAGE_LINES + 500 else f"chatter number {seq}"
        if seq == 10:
            text = "#action alice counts the kestrels"
        rows.append(
            {
                "meeting_id": header.id,
                "seq": seq,
                "at": T0 + timedelta(seconds=seq),
                "kind": "say",
                "nick": "alice",
                "sender_key": "libera:alice",
                "text": text,
                "is_bot": False,
            }
        )
    rows.append({**rows[-1], "seq": LINES, "text": "#endmeeting", "at": T0 + timedelta(seconds=LINES)})
    # One bulk insert: storing 2500 lines one by one would only slow the test down.
    async with database.engine.begin() as connection:
        await connection.execute(insert(LineRow), rows)
    meeting = engine.rebuild(header, await database.meetings.lines(header.id))
    assert meeting.ended_at is not None
    await database.meetings.save_state(meeting, items=True)
    return header.id


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[TestClient[Any, Any]]:
    migration_engine = create_engine(database_url)
    await migrate.upgrade(migration_engine)
    await migration_engine.dispose()
    database = await Database.open(database_url)
    settings = Settings()
    engine = Engine(load_plugins(settings), settings.command_prefixes)
    await seed_huge(database, engine)
    async with TestClient(TestServer(build_site(settings, database, engine))) as client:
        yield client
    await database.close()


async def test_the_log_paginates_and_search_links_to_the_right_page(client: TestClient[Any, Any]) -> None:
    first = await (await client.get("/meetings/1.log.html")).text()
    assert f'id="l-{LOG_PAGE_LINES}"' in first
    assert f'id="l-{LOG_PAGE_LINES + 1}"' not in first
    assert 'href="/meetings/1.log.html?page=2"' in first
    last = await (await client.get("/meetings/1.log.html?page=3")).text()
    assert f'id="l-{LINES}"' in last
    assert 'id="l-1"' not in last
    assert (await client.get("/meetings/1.log.html?page=4")).status == 404
    assert (await client.get("/meetings/1.log.html?page=x")).status == 400
    everything = await (await client.get("/meetings/1.log.html?page=all")).text()
    assert 'id="l-1"' in everything
    assert f'id="l-{LINES}"' in everything
    # Minutes items point into the single page that holds every line.
    minutes = await (await client.get("/meetings/1.html")).text()
    assert 'href="1.log.html?page=all#l-10"' in minutes
    data = await (await client.get("/api/search", params={"q": "kestrel"})).json()
    assert data["total"] == 1
    assert data["hits"][0]["url"].endswith(f"/meetings/1.log.html?page=2#l-{LOG_PAGE_LINES + 500}")
