"""One ordered queue and one worker per room, so a room's lines are handled strictly in order
while rooms never wait on each other."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from meetbot.events import MessageIn, RoomRef

log = logging.getLogger(__name__)

Handler = Callable[[MessageIn], Awaitable[None]]


class Dispatcher:
    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._queues: dict[RoomRef, asyncio.Queue[tuple[MessageIn, asyncio.Future[None]]]] = {}
        self._workers: dict[RoomRef, asyncio.Task[None]] = {}

    def submit(self, message: MessageIn) -> asyncio.Future[None]:
        """Enqueue without awaiting: safe from the synchronous callbacks of network libraries.

        The future completes once the line has been handled (stored, acted on, answered); an
        adapter that keeps a position in the network's history (Matrix's sync token) awaits it
        before moving that position on, so a crash in between can't skip a line."""
        handled: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._queues.get(message.room)
        if queue is None:
            queue = self._queues[message.room] = asyncio.Queue()
            self._workers[message.room] = asyncio.create_task(
                self._work(message.room, queue), name=f"room {message.room.network}/{message.room.room}"
            )
        queue.put_nowait((message, handled))
        return handled

    async def _work(
        self, room: RoomRef, queue: asyncio.Queue[tuple[MessageIn, asyncio.Future[None]]]
    ) -> None:
        while True:
            message, handled = await queue.get()
            try:
                await self._handler(message)
            except Exception:
                # One bad line must not stop the room: log it and go on with the next.
                log.exception("handling a line in %s/%s failed", room.network, room.room)
            finally:
                if not handled.done():
                    handled.set_result(None)
                queue.task_done()

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
