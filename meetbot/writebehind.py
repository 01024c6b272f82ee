"""The writes of open meetings, kept in order while the database is away.

Normally each line goes straight to the database before it is acted on. When the database is
unreachable (restarting, failing over) the lines of open meetings wait here instead, in order,
so the bot keeps answering; a background task writes them the moment the database is back.
The buffer is bounded: when it is full, rooms wait for the database (as they would without it)
and the log says so. A crash while lines wait here loses them: the one window in which a line
is not yet durable, and only during an outage.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from dataclasses import dataclass

from meetbot.domain.model import Line, Meeting
from meetbot.storage.meetings import MeetingStore, StorageUnavailableError

log = logging.getLogger(__name__)


@dataclass
class _AppendLine:
    line: Line


@dataclass
class _SaveState:
    meeting: Meeting  # the live meeting: what is saved is its state when the write runs
    items: bool


@dataclass
class _BlankLines:
    native_id: str


_Write = _AppendLine | _SaveState | _BlankLines


class WriteBehind:
    def __init__(
        self,
        store: MeetingStore,
        *,
        capacity: int = 10_000,
        retry_delays: tuple[float, ...] = (0.2, 0.5, 1, 2, 5),
    ) -> None:
        self._store = store
        self.capacity = capacity
        self._retry_delays = retry_delays
        self._pending: dict[int, deque[_Write]] = {}  # meeting id -> its writes, oldest first
        self.buffered_lines = 0
        self.lines_logged = 0  # for /metrics: lines that reached the database
        self._has_room = asyncio.Event()
        self._has_room.set()
        self._flusher: asyncio.Task[None] | None = None
        self._waiters: list[asyncio.Future[None]] = []
        self._said_full = False

    @property
    def outage(self) -> bool:
        """Writes are waiting: the database was unreachable at the last attempt."""
        return bool(self._pending)

    def holds(self, meeting_id: int) -> bool:
        return meeting_id in self._pending

    async def append_line(self, meeting_id: int, line: Line) -> bool:
        """Store a line (False: a duplicate of one stored before), or buffer it."""
        if not self._pending:
            try:
                stored = await self._store.append_line(meeting_id, line)
            except StorageUnavailableError as error:
                log.warning("database unavailable (%s): buffering the lines of open meetings", error)
            else:
                self.lines_logged += stored
                return stored
        while self.buffered_lines >= self.capacity:
            if not self._said_full:
                self._said_full = True
                log.error(
                    "write buffer full (%d lines wait for the database): rooms in meetings now wait "
                    "too; no line is dropped",
                    self.buffered_lines,
                )
            self._has_room.clear()
            await self._has_room.wait()
        self.buffered_lines += 1
        self._enqueue(meeting_id, _AppendLine(line))
        return True

    async def save_state(self, meeting: Meeting, *, items: bool) -> None:
        meeting_id = _id(meeting)
        if not self._pending:
            try:
                await self._store.save_state(meeting, items=items)
                return
            except StorageUnavailableError as error:
                log.warning("database unavailable (%s): buffering the lines of open meetings", error)
        queue = self._pending.get(meeting_id)
        if queue and isinstance(queue[-1], _SaveState):
            queue[-1].items |= items  # one save of the newest state covers both
            return
        self._enqueue(meeting_id, _SaveState(meeting, items))

    async def blank_lines(self, meeting_id: int, native_id: str) -> None:
        if not self._pending:
            try:
                await self._store.blank_lines(meeting_id, native_id)
                return
            except StorageUnavailableError as error:
                log.warning("database unavailable (%s): buffering the lines of open meetings", error)
        self._enqueue(meeting_id, _BlankLines(native_id))

    def written(self) -> asyncio.Future[None] | None:
        """A future that completes once everything buffered so far is in the database; None
        when nothing is buffered (all is written already)."""
        if not self._pending:
            return None
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        return waiter

    async def flushed(self) -> None:
        waiter = self.written()
        if waiter is not None:
            await asyncio.shield(waiter)

    async def close(self, grace: float) -> None:
        """Shutting down: give the buffered lines a last chance to reach the database."""
        if self._flusher is None:
            return
        try:
            await asyncio.wait_for(self.flushed(), grace)
        except TimeoutError:
            log.error(
                "shutting down with %d line(s) still waiting for the database: they are lost",
                self.buffered_lines,
            )
        self._flusher.cancel()

    # -- internals ------------------------------------------------------------------------------

    def _enqueue(self, meeting_id: int, write: _Write) -> None:
        self._pending.setdefault(meeting_id, deque()).append(write)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="write-behind flusher")

    async def _flush(self) -> None:
        delays = itertools.chain(self._retry_delays, itertools.repeat(self._retry_delays[-1]))
        written = 0
        while self._pending:
            meeting_id, queue = next(iter(self._pending.items()))
            write = queue[0]
            try:
                await self._run(meeting_id, write)
            except StorageUnavailableError as error:
                delay = next(delays)
                log.warning(
                    "database still unavailable (%s); %d line(s) buffered; retrying in %ss",
                    error,
                    self.buffered_lines,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            except Exception:
                # Not an outage but a bug: retrying would block every meeting behind this write.
                log.exception("a buffered write for meeting %s failed and was dropped: %r", meeting_id, write)
            queue.popleft()
            if isinstance(write, _AppendLine):
                written += 1
                self.buffered_lines -= 1
                if self.buffered_lines < self.capacity:
                    self._has_room.set()
            if not queue:
                del self._pending[meeting_id]
        log.info("database back: wrote %d buffered line(s)", written)
        self._said_full = False
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _run(self, meeting_id: int, write: _Write) -> None:
        if isinstance(write, _AppendLine):
            self.lines_logged += await self._store.append_line(meeting_id, write.line)
        elif isinstance(write, _SaveState):
            await self._store.save_state(write.meeting, items=write.items)
        else:
            await self._store.blank_lines(meeting_id, write.native_id)


def _id(meeting: Meeting) -> int:
    if meeting.id is None:
        raise ValueError("only stored meetings have writes")
    return meeting.id
