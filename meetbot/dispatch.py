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
        self._queues: dict[RoomRef, asyncio.Queue[MessageIn]] = {}
        self._workers: dict[RoomRef, asyncio.Task[None]] = {}

    def submit(self, message: MessageIn) -> None:
        """Enqueue without awaiting: safe from the synchronous callbacks of network libraries."""
        queue = self._queues.get(message.room)
        if queue is None:
            queue = self._queues[message.room] = asyncio.Queue()
            self._workers[message.room] = asyncio.create_task(
                self._work(message.room, queue), name=f"room {message.room.network}/{message.room.room}"
            )
        queue.put_nowait(message)

    async def _work(self, room: RoomRef, queue: asyncio.Queue[MessageIn]) -> None:
        while True:
            message = await queue.get()
            try:
                await self._handler(message)
            except Exception:
                # One bad line must not stop the room: log it and go on with the next.
                log.exception("handling a line in %s/%s failed", room.network, room.room)
            finally:
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
