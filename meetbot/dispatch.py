"""One ordered queue and one worker per room, so a room's lines are handled strictly in order
while rooms never wait on each other. A line that finds its room idle is handled at once, in
the caller's turn of the event loop (see submit)."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import deque
from collections.abc import Callable, Coroutine, Generator
from typing import Any

from meetbot.events import MessageIn, RoomRef
from meetbot.logs import set_meeting_id, set_room

log = logging.getLogger(__name__)

# What handling a line gives back: None once the line is in the database, or (while the database
# is away and the line only buffered) a future that completes when it is.
Durable = asyncio.Future[None] | None
Handler = Callable[[MessageIn], Coroutine[Any, Any, object]]


# How many lines one future may be carried across (see submit): it completes at most this
# many lines after the line it was made for, however long a backlog lasts.
SHARED_LINES = 100


class _Entry:
    __slots__ = ("handled", "message", "sharing")

    def __init__(self, message: MessageIn, handled: asyncio.Future[Durable] | None, sharing: int) -> None:
        self.message = message
        # None once a later line of the same burst carries the future on (see submit).
        self.handled = handled
        self.sharing = sharing  # lines this future stands for so far


class _Room:
    """A room's lines not yet taken by its worker, and the worker."""

    __slots__ = ("context", "current", "pending", "resume", "wake", "worker")

    def __init__(self, key: RoomRef) -> None:
        self.pending: deque[_Entry] = deque()
        self.current: _Entry | None = None  # the line being handled now
        self.wake: asyncio.Future[None] | None = None  # set while the worker waits for a line
        self.worker: asyncio.Task[None] | None = None
        # A line begun at once in submit that then had to wait: the worker carries it on.
        self.resume: _Resumed | None = None
        # The room's own context, the worker's and that of every line handled at once, so
        # every record names the room and a line's context variables last across its waits.
        self.context = contextvars.copy_context()
        self.context.run(set_room, key.network, key.room)

    @property
    def idle(self) -> bool:
        return self.current is None and not self.pending and self.wake is not None and not self.wake.done()


class _Resumed:
    """The rest of a handler's coroutine whose first step ran in submit: awaited by the worker
    (in the room's context), it passes on what the coroutine waits for and resumes it, as a
    task does."""

    __slots__ = ("coroutine", "waiting_for")

    def __init__(self, coroutine: Coroutine[Any, Any, object], waiting_for: object) -> None:
        self.coroutine = coroutine
        self.waiting_for = waiting_for

    def __await__(self) -> Generator[Any, Any, None]:
        coroutine, waiting_for = self.coroutine, self.waiting_for
        while True:
            try:
                sent = yield waiting_for
            except BaseException as error:  # a cancellation or the awaited future's error: pass it in
                try:
                    waiting_for = coroutine.throw(error)
                except StopIteration:
                    return
            else:
                try:
                    waiting_for = coroutine.send(sent)
                except StopIteration:
                    return


class Dispatcher:
    def __init__(self, handler: Handler, durable: Callable[[], Durable] = lambda: None) -> None:
        """`durable`: after a line is handled, None if everything handled so far is in the
        database, else a future that completes once it is (see submit)."""
        self._handler = handler
        self._durable = durable
        self._rooms: dict[RoomRef, _Room] = {}
        self._done: asyncio.Future[Durable] | None = None  # completed with None, shared

    def submit(self, message: MessageIn) -> asyncio.Future[Durable]:
        """Enqueue without awaiting: safe from the synchronous callbacks of network libraries.

        The future completes once the line has been handled (stored, acted on, answered); an
        adapter that keeps a position in the network's history (Matrix's sync token) awaits it
        before moving that position on, so a crash in between can't skip a line. Its result is
        None, or during a database outage a second future: the line is durable when that one
        completes.

        A line whose room is idle is handled at once, here, up to the first thing it waits for
        (a command's reply is written before submit returns, without a turn of the event loop
        in between); the room's worker carries on from there, before any later line. Lines
        that queue up behind each other (a burst, a busy channel) share one future, up to
        SHARED_LINES of them: it completes with the newest, which is after the older ones.
        Most adapters ignore it: a future for every line of a busy channel is work nobody asked
        for (too little to show in bench/core_path.py, but no less correct)."""
        room = self._rooms.get(message.room)
        if room is None:
            room = self._rooms[message.room] = _Room(message.room)
            room.worker = asyncio.create_task(
                self._work(room),
                name=f"room {message.room.network}/{message.room.room}",
                context=room.context,
            )
        elif room.idle:
            return self._handle_now(room, message)
        pending = room.pending
        newest = pending[-1] if pending else None
        if newest is not None and newest.handled is not None and newest.sharing < SHARED_LINES:
            entry = _Entry(message, newest.handled, newest.sharing + 1)
            newest.handled = None
        else:
            entry = _Entry(message, asyncio.get_running_loop().create_future(), 1)
        pending.append(entry)
        if room.wake is not None and not room.wake.done():
            room.wake.set_result(None)
        assert entry.handled is not None
        return entry.handled

    def _handle_now(self, room: _Room, message: MessageIn) -> asyncio.Future[Durable]:
        entry = room.current = _Entry(message, None, 1)
        coroutine = self._handler(message)
        try:
            waiting_for = room.context.run(coroutine.send, None)
        except StopIteration:
            pass
        except Exception:
            room.context.run(_failed, message)  # in the room's context: the record names it
        except BaseException:
            room.context.run(self._finish, room, entry)
            raise
        else:
            # It waits (for the database, a lookup): the worker, now idle, takes the rest over.
            entry.handled = asyncio.get_running_loop().create_future()
            room.resume = _Resumed(coroutine, waiting_for)
            assert room.wake is not None
            room.wake.set_result(None)
            return entry.handled
        room.context.run(self._finish, room, entry)
        durable = self._durable()
        if durable is None:
            if self._done is None:
                self._done = asyncio.get_running_loop().create_future()
                self._done.set_result(None)
            return self._done
        handled: asyncio.Future[Durable] = asyncio.get_running_loop().create_future()
        handled.set_result(durable)
        return handled

    def _finish(self, room: _Room, entry: _Entry) -> None:
        set_meeting_id(None)  # a meeting id set while handling one line ends with it
        room.current = None
        handled = entry.handled
        if handled is not None and not handled.done():
            handled.set_result(self._durable())

    async def _work(self, room: _Room) -> None:
        pending = room.pending
        while True:
            resumed, room.resume = room.resume, None
            if resumed is None:
                if not pending:
                    room.wake = asyncio.get_running_loop().create_future()
                    await room.wake
                    room.wake = None
                    continue
                entry = room.current = pending.popleft()
            else:
                assert room.current is not None
                entry = room.current
            try:
                await (self._handler(entry.message) if resumed is None else resumed)
            except Exception:
                _failed(entry.message)
            finally:
                self._finish(room, entry)

    @property
    def waiting(self) -> int:
        """Lines received and not yet handled, over all rooms."""
        return sum(len(room.pending) + (room.current is not None) for room in self._rooms.values())

    async def drain(self) -> None:
        """Wait until every line submitted so far has been handled."""
        for room in list(self._rooms.values()):
            # The newest line's future completes last (the older lines' went on to it).
            last = room.pending[-1] if room.pending else room.current
            if last is not None and last.handled is not None:
                await asyncio.shield(last.handled)

    async def close(self) -> None:
        workers = [room.worker for room in self._rooms.values() if room.worker is not None]
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        self._rooms.clear()


def _failed(message: MessageIn) -> None:
    # One bad line must not stop the room: log it and go on with the next.
    log.exception("handling a line in %s/%s failed", message.room.network, message.room.room)
