"""Adapters started before the core is built (meetbot.early): what they hand over waits, in order,
and reaches the core once it is ready. The network side here is a scripted adapter; the real
IRC adapter against a real server is in tests/irc/test_early_live.py."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from meetbot.adapters.base import Handled, Submit
from meetbot.early import EarlyAdapters
from meetbot.events import Identity, MessageIn, Outbound, RoomRef
from meetbot.storage.urls import is_sqlite

ROOM = RoomRef("net", "#room")


def line(text: str) -> MessageIn:
    return MessageIn(ROOM, Identity("net", "alice", None), text, datetime(2026, 1, 1, tzinfo=UTC))


class Scripted:
    """Hands over its lines as soon as it runs, keeps what `submit` gave back, then waits."""

    network, bot_nick = "net", "meetbot"

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = texts
        self.handed: list[Handled] = []
        self.more: asyncio.Queue[str] = asyncio.Queue()
        self.stopped = False

    async def run(self, submit: Submit) -> None:
        try:
            self.handed = [submit(line(text)) for text in self.texts]
            while True:
                self.handed.append(submit(line(await self.more.get())))
        finally:
            self.stopped = True

    async def send(self, message: Outbound) -> None:
        raise AssertionError("nothing is sent here")

    def members(self, room: RoomRef) -> Sequence[Identity]:
        return []


class Core:
    """What the dispatcher gives back for each line: a future it completes later."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.futures: list[Handled] = []

    def submit(self, message: MessageIn) -> Handled:
        self.seen.append(message.text)
        handled: Handled = asyncio.get_running_loop().create_future()
        self.futures.append(handled)
        return handled


async def test_lines_wait_for_the_core_in_order_and_then_go_straight_to_it() -> None:
    adapter, core = Scripted(["one", "two", "three"]), Core()
    early = EarlyAdapters([adapter])
    await asyncio.sleep(0)  # the adapter runs and hands its lines over
    assert early.waiting == 3
    assert not any(handled.done() for handled in adapter.handed)
    early.open(core.submit)
    assert core.seen == ["one", "two", "three"]
    assert early.waiting == 0
    # Each line is done when the core is done with it, with what the core says (durable: None,
    # or during a database outage a future of its own), not before.
    outage: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    core.futures[0].set_result(None)
    core.futures[1].set_result(outage)
    await asyncio.sleep(0)
    assert adapter.handed[0].result() is None
    assert adapter.handed[1].result() is outage
    assert not adapter.handed[2].done()
    adapter.more.put_nowait("four")
    await asyncio.sleep(0)
    assert core.seen[-1] == "four"
    assert adapter.handed[-1] is core.futures[-1]  # no waiting any more: the core's own future
    await early.cancel()


async def test_a_line_the_core_fails_on_fails_for_the_adapter_too() -> None:
    adapter, core = Scripted(["one", "two"]), Core()
    early = EarlyAdapters([adapter])
    await asyncio.sleep(0)
    early.open(core.submit)
    core.futures[0].set_exception(RuntimeError("broken"))
    core.futures[1].cancel()
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="broken"):
        adapter.handed[0].result()
    assert adapter.handed[1].cancelled()
    await early.cancel()


async def test_cancelled_before_the_core_is_ready_the_adapters_stop() -> None:
    adapters = [Scripted(["one"]), Scripted([])]
    early = EarlyAdapters(adapters)
    await asyncio.sleep(0)
    await early.cancel()
    assert all(adapter.stopped for adapter in adapters)
    assert all(task.cancelled() for task in early.tasks)


@pytest.mark.parametrize(
    ("url", "alone"),
    [
        ("sqlite+aiosqlite:///meetbot.db", True),
        ("sqlite+aiosqlite:////var/lib/meetbot/meetbot.db", True),
        ("sqlite://", True),
        ("postgresql+asyncpg://meetbot@db/meetbot", False),
        ("postgresql+asyncpg://sqlite@db/sqlite", False),
        ("meetbot.db", False),
    ],
)
def test_which_urls_are_sqlite(url: str, alone: bool) -> None:
    assert is_sqlite(url) is alone
