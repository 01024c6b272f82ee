"""One ordered queue and one worker per room, so a room's lines are handled strictly in order
while rooms never wait on each other."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from meetbot.events import MessageIn, RoomRef
from meetbot.logs import set_meeting_id, set_room

log = logging.getLogger(__name__)

# What handling a line gives back: None once the line is in the database, or (while the database
# is away and the line only buffered) a future that completes when it is.
Durable = asyncio.Future[None] | None
Handler = Callable[[MessageIn], Awaitable[Durable]]
Entry = tuple[MessageIn, "asyncio.Future[Durable]"]


class Dispatcher:
    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._queues: dict[RoomRef, asyncio.Queue[Entry]] = {}
        self._workers: dict[RoomRef, asyncio.Task[None]] = {}

    def submit(self, message: MessageIn) -> asyncio.Future[Durable]:
        """Enqueue without awaiting: safe from the synchronous callbacks of network libraries.

        The future completes once the line has been handled (stored, acted on, answered); an
        adapter that keeps a position in the network's history (Matrix's sync token) awaits it
        before moving that position on, so a crash in between can't skip a line. Its result is
        None, or during a database outage a second future: the line is durable when that one
        completes."""
        handled: asyncio.Future[Durable] = asyncio.get_running_loop().create_future()
        queue = self._queues.get(message.room)
        if queue is None:
            queue = self._queues[message.room] = asyncio.Queue()
            self._workers[message.room] = asyncio.create_task(
                self._work(message.room, queue), name=f"room {message.room.network}/{message.room.room}"
            )
        queue.put_nowait((message, handled))
        return handled

    async def _work(self, room: RoomRef, queue: asyncio.Queue[Entry]) -> None:
        set_room(room.network, room.room)  # this task's own context: every record names the room
        while True:
            message, handled = await queue.get()
            durable: Durable = None
            try:
                durable = await self._handler(message)
            except Exception:
                # One bad line must not stop the room: log it and go on with the next.
                log.exception("handling a line in %s/%s failed", room.network, room.room)
            finally:
                set_meeting_id(None)  # a meeting id set while handling one line ends with it
                if not handled.done():
                    handled.set_result(durable)
                queue.task_done()

    @property
    def waiting(self) -> int:
        """Lines received and not yet handled, over all rooms."""
        return sum(queue.qsize() for queue in self._queues.values())

    async def drain(self) -> None:
        """Wait until every line submitted so far has been handled."""
        for queue in list(self._queues.values()):
            await queue.join()

    async def close(self) -> None:
        for task in self._workers.values():
            task.cancel()
        await asyncio.gather(*self._workers.values(), return_exceptions=True)
        self._workers.clear()
        self._queues.clear()
