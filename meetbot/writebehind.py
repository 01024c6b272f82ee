"""The writes of open meetings, in order: group-committed as they come, and kept while the
database is away.

A line that the engine acts on (a command with a reply, a new item, the end) is durable before
anything is done about it: the room waits for its write. A line nothing acts on (chatter, the
bot's own replies) is queued and the room goes on; a background task commits what has queued
up in one transaction, so a busy channel costs one commit per batch, not per line. A crash can
take only the lines queued in the last moments (never one that was acted on).

When the database is unreachable (restarting, failing over) every write waits here, in order,
so the bot keeps answering; the same task writes them the moment the database is back. The
queue is bounded: when it is full, rooms wait for the database (as they would without it) and
the log says so. A crash while lines wait here loses them: during an outage there is nowhere
durable to put them.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from meetbot.domain.model import Line, Meeting
from meetbot.storage.meetings import MeetingStore, StorageUnavailableError

log = logging.getLogger(__name__)

BATCH_LINES = 500  # lines per transaction at most
# How long queued writes may wait for more to join them when nobody waits for them: the bot's
# reply line then goes in one transaction with the next command's line (which arrives within a
# round trip) instead of holding the connection just as that command needs it.
GATHER_SECONDS = 0.003


@dataclass(slots=True)
class _Completion:
    """Whether a write is in the database, and a future for it made only when someone waits:
    most writes (every line of a busy channel) are never waited for one by one."""

    written: bool = False
    waiter: asyncio.Future[None] | None = None

    def future(self) -> asyncio.Future[None]:
        if self.waiter is None:
            self.waiter = asyncio.get_running_loop().create_future()
            if self.written:
                self.waiter.set_result(None)
        return self.waiter

    def finish(self) -> None:
        self.written = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


@dataclass(slots=True)
class _AppendLine:
    line: Line
    done: _Completion = field(default_factory=_Completion)


@dataclass(slots=True)
class _SaveState:
    meeting: Meeting  # the live meeting: what is saved is its state when the write runs
    items: bool
    done: _Completion = field(default_factory=_Completion)


@dataclass(slots=True)
class _BlankLines:
    native_id: str
    done: _Completion = field(default_factory=_Completion)


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
        self._queue: deque[tuple[int, _Write]] = deque()  # (meeting id, write), oldest first
        self.buffered_lines = 0  # lines queued and not in the database yet
        self.lines_logged = 0  # for /metrics: lines that reached the database
        self._outage = False
        self._outage_started = asyncio.Event()
        self._has_room = asyncio.Event()
        self._has_room.set()
        self._flusher: asyncio.Task[None] | None = None
        self._said_full = False
        # The newest write someone waits for: the flusher does not gather while it is queued.
        self._awaited: _Write | None = None
        # Set while the flusher gathers: someone waiting for a write ends the gathering.
        self._hurry: asyncio.Future[None] | None = None

    @property
    def outage(self) -> bool:
        """The database was unreachable at the last attempt; writes wait for it."""
        return self._outage

    async def append_line(self, meeting_id: int, line: Line, *, durable: bool = True) -> bool:
        """Store a line (False: a duplicate of one stored before). `durable`: return once it is
        in the database, or buffered during an outage; else return at once (queued)."""
        if durable and not self._queue:
            try:
                stored = await self._store.append_line(meeting_id, line)
            except StorageUnavailableError as error:
                self._enter_outage(error)
            else:
                self.lines_logged += stored
                return stored
        if self.buffered_lines >= self.capacity:
            await self._make_room()
        self.buffered_lines += 1
        write = _AppendLine(line)
        self._enqueue(meeting_id, write)
        if durable:
            self._await(write)
            await self._settled(write)
        return True

    async def save_state(self, meeting: Meeting, *, items: bool) -> None:
        """Queue a save of the meeting's state projection; it goes with the next group commit,
        after every line queued before it. Nothing waits for it: the lines are the truth and a
        state is only acted on in memory (a rebuild after a crash recomputes it)."""
        meeting_id = _id(meeting)
        last = self._queue[-1] if self._queue else None
        if last is not None and last[0] == meeting_id and isinstance(last[1], _SaveState):
            last[1].items |= items  # one save of the newest state covers both
            return
        self._enqueue(meeting_id, _SaveState(meeting, items))

    async def blank_lines(self, meeting_id: int, native_id: str) -> None:
        if not self._queue:
            try:
                await self._store.blank_lines(meeting_id, native_id)
                return
            except StorageUnavailableError as error:
                self._enter_outage(error)
        self._enqueue(meeting_id, _BlankLines(native_id))

    def written(self) -> asyncio.Future[None] | None:
        """A future that completes once everything queued so far is in the database; None when
        nothing is queued (all is written already)."""
        if not self._queue:
            return None
        return self._queue[-1][1].done.future()

    async def flushed(self) -> None:
        waiter = self.written()
        if waiter is not None:
            self._await(self._queue[-1][1])
            await asyncio.shield(waiter)

    async def close(self, grace: float) -> None:
        """Shutting down: give the queued lines a last chance to reach the database."""
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

    def _enter_outage(self, error: StorageUnavailableError) -> None:
        if not self._outage:
            log.warning("database unavailable (%s): buffering the lines of open meetings", error)
        self._outage = True
        self._outage_started.set()

    async def _settled(self, write: _Write) -> None:
        """Until the write is in the database, or the database is away (then the bot goes on)."""
        if self._outage:
            return
        self._outage_started.clear()
        outage: asyncio.Future[bool] = asyncio.ensure_future(self._outage_started.wait())
        written: asyncio.Future[None] = asyncio.shield(write.done.future())
        try:
            either: list[asyncio.Future[Any]] = [written, outage]
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            outage.cancel()

    async def _make_room(self) -> None:
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

    def _await(self, write: _Write) -> None:
        self._awaited = write
        if self._hurry is not None:
            _settle(self._hurry)

    async def _gather(self) -> None:
        """Let more writes join the next batch, unless someone waits for a queued one."""
        if self._outage or (self._awaited is not None and not self._awaited.done.written):
            return
        # A future and a timer, not wait_for(): that made a task and cancelled it on every
        # group commit, which a busy channel has hundreds of a second.
        loop = asyncio.get_running_loop()
        hurry = self._hurry = loop.create_future()
        timer = loop.call_later(GATHER_SECONDS, _settle, hurry)
        try:
            await hurry
        finally:
            timer.cancel()
            self._hurry = None

    def _enqueue(self, meeting_id: int, write: _Write) -> None:
        self._queue.append((meeting_id, write))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="write-behind flusher")

    def _next_batch(self) -> list[tuple[int, _Write]]:
        """The oldest write, with the line and state writes (of any meetings) right after it:
        one group commit. A redaction runs alone, in its place."""
        batch = [self._queue[0]]
        if isinstance(batch[0][1], _BlankLines):
            return batch
        lines = int(isinstance(batch[0][1], _AppendLine))
        for queued in itertools.islice(self._queue, 1, None):
            write = queued[1]
            if isinstance(write, _BlankLines):
                break
            if isinstance(write, _AppendLine):
                if lines >= BATCH_LINES:
                    break
                lines += 1
            batch.append(queued)
        return batch

    async def _flush(self) -> None:
        delays = itertools.chain(self._retry_delays, itertools.repeat(self._retry_delays[-1]))
        recovered = 0
        while self._queue:
            await self._gather()
            batch = self._next_batch()
            try:
                await self._run(batch)
            except StorageUnavailableError as error:
                self._enter_outage(error)
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
                log.exception("a write for meeting %s failed and was dropped: %r", *batch[0])
            for _ in batch:
                _, write = self._queue.popleft()
                if isinstance(write, _AppendLine):
                    self.buffered_lines -= 1
                    if self._outage:
                        recovered += 1
                write.done.finish()
            if self.buffered_lines < self.capacity:
                self._has_room.set()
        if self._outage:
            self._outage = False
            self._said_full = False
            log.info("database back: wrote %d buffered line(s)", recovered)

    async def _run(self, batch: list[tuple[int, _Write]]) -> None:
        meeting_id, first = batch[0]
        if isinstance(first, _BlankLines):
            await self._store.blank_lines(meeting_id, first.native_id)
            return
        lines: list[tuple[int, Line]] = []
        # One save per meeting, of its live state, after its lines; with items if any asked.
        saves: dict[int, tuple[Meeting, bool]] = {}
        for meeting_id, write in batch:
            if isinstance(write, _AppendLine):
                lines.append((meeting_id, write.line))
            elif isinstance(write, _SaveState):
                items = write.items or saves.get(meeting_id, (write.meeting, False))[1]
                saves[meeting_id] = (write.meeting, items)
        self.lines_logged += await self._store.write(lines, list(saves.values()))


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _id(meeting: Meeting) -> int:
    if meeting.id is None:
        raise ValueError("only stored meetings have writes")
    return meeting.id
