"""Group commit of meeting lines, on a real database of each backend: lines nothing acts on are
queued and committed together; a line that is acted on is durable, with all before it, first."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from meetbot.domain.model import Line
from meetbot.events import LineKind, RoomRef
from meetbot.storage.meetings import MeetingStore
from meetbot.writebehind import WriteBehind
from tests.conftest import T0

ROOM = RoomRef("libera", "#busy")


@pytest.fixture
def database(migrated_engine: AsyncEngine) -> AsyncEngine:
    return migrated_engine


def said(seq: int, text: str) -> Line:
    return Line(seq, T0 + timedelta(seconds=seq), LineKind.SAY, "alice", "libera:alice", text)


async def test_chatter_is_group_committed_and_a_command_waits_for_all_before_it(
    database: AsyncEngine,
) -> None:
    store = MeetingStore(database)
    header = await store.start_meeting(ROOM, said(1, "#startmeeting busy"))
    writes = 0
    run = store.writer.run

    async def counted(work: Any, **options: Any) -> Any:
        nonlocal writes
        writes += 1
        return await run(work, **options)

    store.writer.run = counted  # type: ignore[method-assign]
    buffer = WriteBehind(store)
    for seq in range(2, 302):
        assert await buffer.append_line(header.id, said(seq, f"chatter {seq}"), durable=False)
    # Queued, not waited for: the room went on at once.
    assert buffer.buffered_lines > 0
    assert await buffer.append_line(header.id, said(302, "#agreed all of the above"))
    # Durable means this line and every line before it are in the database.
    texts = [line.text for line in await store.lines(header.id)]
    assert texts == [
        "#startmeeting busy",
        *(f"chatter {seq}" for seq in range(2, 302)),
        "#agreed all of the above",
    ]
    assert buffer.buffered_lines == 0
    assert buffer.lines_logged == 301
    assert 1 <= writes < 30, f"{writes} transactions for 301 lines: not grouped"
    await store.close()
