"""The dispatcher: a room's lines in order, and what submit's future promises."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from meetbot.dispatch import SHARED_LINES, Dispatcher
from meetbot.events import Identity, MessageIn, RoomRef
from meetbot.logs import current_context
from tests.conftest import T0

ROOM, OTHER = RoomRef("libera", "#meetbot"), RoomRef("libera", "#other")
ALICE = Identity("libera", "alice", "alice")


def said(room: RoomRef, n: int) -> MessageIn:
    return MessageIn(room, ALICE, f"line {n}", T0 + timedelta(seconds=n))


class Recorder:
    """A handler that can be held at a gate, and remembers what it handled, in order."""

    def __init__(self) -> None:
        self.handled: list[MessageIn] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.durable: asyncio.Future[None] | None = None

    async def __call__(self, message: MessageIn) -> None:
        await self.gate.wait()
        self.handled.append(message)


async def test_every_future_completes_only_after_its_line_is_handled() -> None:
    recorder = Recorder()
    dispatcher = Dispatcher(recorder, lambda: recorder.durable)
    recorder.gate.clear()
    early: list[tuple[MessageIn, bool]] = []
    futures = []
    try:
        for n in range(SHARED_LINES * 2 + 5):  # a backlog longer than one future may stand for
            message = said(ROOM, n)
            future = dispatcher.submit(message)
            future.add_done_callback(lambda _f, m=message: early.append((m, m in recorder.handled)))
            futures.append(future)
        await asyncio.sleep(0.01)
        assert not any(future.done() for future in futures)  # held at the gate: nothing handled
        recorder.gate.set()
        await asyncio.wait_for(asyncio.gather(*futures), 5)
        assert recorder.handled == [said(ROOM, n) for n in range(len(futures))]
        assert [handled for _m, handled in early] == [True] * len(futures)
        # Shared along a burst, but never across more than SHARED_LINES lines.
        assert 3 <= len({id(future) for future in futures}) <= 4
    finally:
        await dispatcher.close()


async def test_the_future_carries_what_durable_says_after_the_line() -> None:
    recorder = Recorder()
    dispatcher = Dispatcher(recorder, lambda: recorder.durable)
    try:
        assert await dispatcher.submit(said(ROOM, 1)) is None
        recorder.durable = asyncio.get_running_loop().create_future()  # an outage: only buffered
        assert await dispatcher.submit(said(ROOM, 2)) is recorder.durable
    finally:
        await dispatcher.close()


async def test_drain_waits_for_every_room_and_waiting_counts_what_is_left() -> None:
    recorder = Recorder()
    dispatcher = Dispatcher(recorder)
    recorder.gate.clear()
    try:
        for n in range(5):
            dispatcher.submit(said(ROOM, n))
            dispatcher.submit(said(OTHER, n))
        await asyncio.sleep(0)
        assert dispatcher.waiting == 10
        draining = asyncio.create_task(dispatcher.drain())
        await asyncio.sleep(0.01)
        assert not draining.done()
        recorder.gate.set()
        await asyncio.wait_for(draining, 5)
        assert len(recorder.handled) == 10
        assert dispatcher.waiting == 0
        # A line submitted while its room's worker handles another gets a future of its own.
        recorder.gate.clear()
        first = dispatcher.submit(said(ROOM, 10))
        await asyncio.sleep(0)  # the worker took it and waits at the gate
        second = dispatcher.submit(said(ROOM, 11))
        assert first is not second
        recorder.gate.set()
        await asyncio.wait_for(dispatcher.drain(), 5)
        assert first.done()
        assert second.done()
    finally:
        await dispatcher.close()


async def test_a_failing_line_is_logged_and_the_room_goes_on() -> None:
    handled: list[str] = []

    async def handler(message: MessageIn) -> None:
        if message.text == "line 1":
            raise RuntimeError("a bug")
        handled.append(message.text)

    dispatcher = Dispatcher(handler)
    try:
        futures = [dispatcher.submit(said(ROOM, n)) for n in range(3)]
        await asyncio.wait_for(asyncio.gather(*futures), 5)
        assert handled == ["line 0", "line 2"]
    finally:
        await dispatcher.close()


async def test_the_lines_behind_one_that_waits_keep_their_order() -> None:
    recorder = Recorder()
    dispatcher = Dispatcher(recorder)
    recorder.gate.clear()
    try:
        first = dispatcher.submit(said(ROOM, 0))  # waits at the gate
        later = [dispatcher.submit(said(ROOM, n)) for n in range(1, 4)]
        other = dispatcher.submit(said(OTHER, 0))
        await asyncio.sleep(0.01)
        assert not first.done()
        assert dispatcher.waiting == 5
        recorder.gate.set()
        await asyncio.wait_for(asyncio.gather(first, *later, other), 5)
        assert [m for m in recorder.handled if m.room == ROOM] == [said(ROOM, n) for n in range(4)]
    finally:
        await dispatcher.close()


async def test_a_line_submitted_by_the_handling_itself_waits_its_turn() -> None:
    dispatcher: Dispatcher
    handled: list[str] = []

    async def handler(message: MessageIn) -> None:
        if message.text == "line 0":
            dispatcher.submit(said(ROOM, 1))  # e.g. an echo delivered from inside a send
        handled.append(message.text)

    dispatcher = Dispatcher(handler)
    try:
        dispatcher.submit(said(ROOM, 0))
        await asyncio.wait_for(dispatcher.drain(), 5)
        await asyncio.sleep(0)
        assert handled == ["line 0", "line 1"]
    finally:
        await dispatcher.close()


class GatedAtLineOne:
    """A handler that notes each line with the room its log records name, and waits at a gate
    on "line 1" (noting it again after the wait)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, object]] = []
        self.gate = asyncio.Event()

    async def __call__(self, message: MessageIn) -> None:
        self.seen.append((message.text, current_context().get("room")))
        if message.text == "line 1":
            await self.gate.wait()
            self.seen.append(("line 1 after waiting", current_context().get("room")))


async def test_every_record_of_a_line_names_its_room_also_after_it_waited() -> None:
    handler = GatedAtLineOne()
    seen, gate = handler.seen, handler.gate
    dispatcher = Dispatcher(handler)
    try:
        dispatcher.submit(said(ROOM, 0))
        waiting = dispatcher.submit(said(OTHER, 1))
        queued = dispatcher.submit(said(OTHER, 2))
        dispatcher.submit(said(ROOM, 3))
        gate.set()
        await asyncio.wait_for(asyncio.gather(waiting, queued), 5)
        assert [entry for entry in seen if entry[1] == "#meetbot"] == [
            ("line 0", "#meetbot"),
            ("line 3", "#meetbot"),
        ]
        assert [entry for entry in seen if entry[1] != "#meetbot"] == [
            ("line 1", "#other"),
            ("line 1 after waiting", "#other"),
            ("line 2", "#other"),
        ]
        assert current_context().get("room") is None  # the caller's context is left alone
    finally:
        await dispatcher.close()


async def test_closing_cancels_a_line_that_waits_and_completes_its_future() -> None:
    recorder = Recorder()
    dispatcher = Dispatcher(recorder)
    recorder.gate.clear()
    future = dispatcher.submit(said(ROOM, 0))
    await asyncio.sleep(0)
    await dispatcher.close()
    assert future.done()
    assert recorder.handled == []


async def idle(dispatcher: Dispatcher, room: RoomRef) -> None:
    """Let `room`'s worker start and wait for lines: the room is idle."""
    await dispatcher.submit(said(room, -1))
    await asyncio.sleep(0)


async def test_a_line_in_an_idle_room_is_handled_before_submit_returns() -> None:
    recorder = Recorder()
    dispatcher = Dispatcher(recorder)
    try:
        await idle(dispatcher, ROOM)
        future = dispatcher.submit(said(ROOM, 1))
        # No turn of the event loop in between: a command's reply is written already.
        assert recorder.handled[-1] == said(ROOM, 1)
        assert future.done()
        assert future.result() is None
        assert dispatcher.waiting == 0
    finally:
        await dispatcher.close()


async def test_a_line_begun_at_once_that_waits_is_finished_before_the_lines_behind_it() -> None:
    handler = GatedAtLineOne()
    seen, gate = handler.seen, handler.gate
    dispatcher = Dispatcher(handler)
    try:
        await idle(dispatcher, ROOM)
        first = dispatcher.submit(said(ROOM, 1))  # begun here, then waits at the gate
        behind = [dispatcher.submit(said(ROOM, n)) for n in (2, 3)]
        assert not first.done()
        assert dispatcher.waiting == 3
        await asyncio.sleep(0.01)
        assert [text for text, _room in seen] == ["line -1", "line 1"]
        gate.set()
        await asyncio.wait_for(asyncio.gather(first, *behind), 5)
        assert seen[1:] == [
            ("line 1", "#meetbot"),
            ("line 1 after waiting", "#meetbot"),
            ("line 2", "#meetbot"),
            ("line 3", "#meetbot"),
        ]
        assert current_context().get("room") is None  # the caller's context is left alone
        later = dispatcher.submit(said(ROOM, 4))  # idle again: handled at once
        assert later.done()
        assert seen[-1] == ("line 4", "#meetbot")
    finally:
        await dispatcher.close()


async def test_a_line_begun_at_once_fails_before_or_after_waiting_and_the_room_goes_on() -> None:
    handled: list[str] = []

    async def handler(message: MessageIn) -> None:
        if message.text == "line 1":
            raise RuntimeError("a bug, at once")
        if message.text == "line 2":
            await asyncio.sleep(0)
            raise RuntimeError("a bug, after waiting")
        handled.append(message.text)

    dispatcher = Dispatcher(handler)
    try:
        await idle(dispatcher, ROOM)
        assert dispatcher.submit(said(ROOM, 1)).done()
        waiting = dispatcher.submit(said(ROOM, 2))
        after = dispatcher.submit(said(ROOM, 3))
        await asyncio.wait_for(asyncio.gather(waiting, after), 5)
        assert handled == ["line -1", "line 3"]
        assert dispatcher.submit(said(ROOM, 4)).done()
        assert handled[-1] == "line 4"
    finally:
        await dispatcher.close()


async def test_closing_cancels_a_line_begun_at_once_that_waits() -> None:
    recorder = Recorder()
    dispatcher = Dispatcher(recorder)
    await idle(dispatcher, ROOM)
    recorder.gate.clear()
    future = dispatcher.submit(said(ROOM, 1))
    await asyncio.sleep(0)
    await dispatcher.close()
    assert future.done()
    assert recorder.handled == [said(ROOM, -1)]


async def test_a_line_begun_at_once_gets_what_it_waited_for() -> None:
    answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    got: list[str] = []

    async def handler(message: MessageIn) -> None:
        if message.text == "line 1":
            got.append(await answer)
            try:
                await asyncio.wait_for(asyncio.Event().wait(), 0.01)
            except TimeoutError:
                got.append("timed out")

    dispatcher = Dispatcher(handler)
    try:
        await idle(dispatcher, ROOM)
        future = dispatcher.submit(said(ROOM, 1))
        answer.set_result("the value")
        await asyncio.wait_for(future, 5)
        assert got == ["the value", "timed out"]
    finally:
        await dispatcher.close()
