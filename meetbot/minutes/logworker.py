"""A long meeting's log, rendered in a process of its own while the bot does the rest of its end.

Publishing a meeting is CPU-bound Python on one core: the database's reads, the minutes and the
log one after the other. The log (the `.log.html` lines and the `.log.txt` text) is most of the
rendering and needs nothing the reads find (the team's agenda, the archive's navigation), so it
can start first, on the other core: the minutes, the reads and the archive's pages go on meanwhile
in the bot. 1,000 lines on the bench machine: ~9 ms of the log in process against ~2.5 ms of
the bot's CPU to hand the lines over and take the text back (bench/NOTES.md, Round 9).

The worker is started by the first meeting to grow to WARM_AT lines (or the first long meeting's
publish, which is then rendered in process, as every publish is while there is no worker ready)
and lives until the bot stops: a bot whose meetings are all short never pays for a second
interpreter (~26 MB idle here). A worker that fails or dies costs that publish nothing but the
time it waited: the log is rendered in process, and the next long meeting starts a new worker.

The worker is `python -m meetbot.minutes.logworker`, talking over its stdin and stdout: a length
and a `marshal` of plain tuples each way (the same interpreter on both ends; unlike a pickle it
makes nothing but numbers, strings and tuples). Not a multiprocessing pool: a pool's child runs
the parent's main script again, and a script embedding meetbot without a `__main__` guard would
start a second bot. The worker ignores Ctrl-C (the bot decides when it stops) and leaves when its
stdin closes, so it never outlives the bot, however the bot ends.
"""

from __future__ import annotations

import asyncio
import logging
import marshal
import os
import signal
import struct
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import BinaryIO

from meetbot.domain.model import Line
from meetbot.events import LineKind
from meetbot.minutes.render import log_html, log_text
from meetbot.minutes.view import PrerenderedLog, log_lines

log = logging.getLogger(__name__)

# Below this the log renders in process in about as long as handing it over takes (~2.5 us a
# line each way on the bench machine against ~9 us a line to render).
MIN_LINES = 300
# A meeting this long starts the worker (warm()), so that it is up, its imports done (~1 s on
# the bench machine), when the meeting reaches MIN_LINES and ends.
WARM_AT = 100

# What crosses to the worker: a tuple of plain values a line. Pickling the Line dataclasses (with
# their enum and datetime) cost 10 ms for 1,000 lines, packing and pickling these 1.2 ms.
PackedLine = tuple[int, float, str, str, str, bool, bool, bool, bool]

# The `.log.html` lines and the `.log.txt` text, to come from the worker.
LogJob = asyncio.Task[tuple[str, str]]

_KINDS = {kind.value: kind for kind in LineKind}
_LENGTH = struct.Struct("!I")
_READY = b"ready"


def pack(lines: Sequence[Line]) -> list[PackedLine]:
    return [
        (
            line.seq,
            line.at.timestamp(),
            line.kind.value,
            line.nick,
            line.text,
            line.is_bot,
            line.backfilled,
            line.edited,
            line.redacted,
        )
        for line in lines
    ]


def unpack(packed: Sequence[PackedLine]) -> list[Line]:
    return [
        Line(
            seq,
            datetime.fromtimestamp(stamp, UTC),
            _KINDS[kind],
            nick,
            "",  # who said it by account: not in the log
            text,
            is_bot,
            backfilled=backfilled,
            edited=edited,
            redacted=redacted,
        )
        for seq, stamp, kind, nick, text, is_bot, backfilled, edited, redacted in packed
    ]


def render_packed(packed: Sequence[PackedLine], command_prefixes: Sequence[str]) -> tuple[str, str]:
    """In the worker: the `.log.html` lines and the `.log.txt` text, as the packaged log.html
    and log.txt lay them out through the log_html and log_text filters."""
    lines = log_lines(unpack(packed), command_prefixes)
    return str(log_html(lines)), log_text(lines)


def usable() -> bool:
    """A second core to run on: with one, the worker would only take turns with the bot."""
    try:
        return len(os.sched_getaffinity(0)) > 1
    except AttributeError:  # not on Linux
        return (os.cpu_count() or 1) > 1


class WorkerFailedError(Exception):
    """The worker could not start, or could not render a log (its error, as it said it)."""


class LogWorker:
    """The process that renders long logs, and the jobs handed to it. One job at a time: the
    archive publishes one meeting at a time anyway."""

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled and usable()
        self.started = 0  # workers started
        self.rendered = 0  # logs the worker rendered
        self._process: asyncio.Task[asyncio.subprocess.Process] | None = None
        self._turn = asyncio.Lock()

    def warm(self) -> None:
        """Start the worker, unless it runs (or may not)."""
        if self.enabled and self._process is None:
            self._spawn()

    def start(self, lines: Sequence[Line], command_prefixes: Sequence[str]) -> LogJob | None:
        """Hand a meeting's lines over; None when they are rendered in process instead: few of
        them, or no worker up yet (then one is started, for the next time)."""
        if not self.enabled or len(lines) < MIN_LINES:
            return None
        if self._process is None:
            self._spawn()
            return None
        process = self._running()
        if process is None:
            return None  # still starting, or could not start (said when it failed)
        # A copy of the list, which an open meeting (#save) still appends to.
        job = self._exchange(process, list(lines), tuple(command_prefixes))
        return asyncio.create_task(job, name="log worker job")

    async def result(self, job: LogJob) -> PrerenderedLog | None:
        """The job's log, or None (logged) if the worker failed it: render it in process then.
        A worker cut off in the middle of a job is not given another (a new one is started for
        the next long meeting); one that said it could not render this log is."""
        try:
            html, text = await job
        except Exception:
            log.warning("the log worker failed; rendering in process", exc_info=True)
            return None
        self.rendered += 1
        return PrerenderedLog(html, text)

    async def ready(self) -> None:
        """Once the worker started last is up (or has failed to start)."""
        if self._process is not None:
            await asyncio.wait([self._process])

    def pids(self) -> list[int]:
        process = self._running()
        return [] if process is None else [process.pid]

    def _running(self) -> asyncio.subprocess.Process | None:
        """The worker's process once started; None while it starts, or if it could not."""
        starting = self._process
        if starting is None or not starting.done() or starting.cancelled() or starting.exception():
            return None
        return starting.result()

    async def close(self) -> None:
        await self._discard()

    def _spawn(self) -> None:
        self._process = asyncio.create_task(self._started(), name="log worker start")
        self.started += 1

    @staticmethod
    async def _started() -> asyncio.subprocess.Process:
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                __name__,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
        except OSError:
            log.warning("the log worker could not be started; logs render in the bot", exc_info=True)
            raise
        assert process.stdout is not None
        try:
            if await _read_frame(process.stdout) != _READY:
                raise WorkerFailedError("the log worker did not start")
        except Exception:
            log.warning("the log worker did not start; logs render in the bot", exc_info=True)
            process.kill()
            await process.wait()
            raise
        return process

    async def _exchange(
        self, process: asyncio.subprocess.Process, lines: list[Line], command_prefixes: tuple[str, ...]
    ) -> tuple[str, str]:
        assert process.stdin is not None
        assert process.stdout is not None
        # Packed in a thread (10,000 lines: ~17 ms of CPU), as the bot renders in one: the
        # rooms go on meanwhile.
        request = await asyncio.to_thread(_request, lines, command_prefixes)
        async with self._turn:
            try:
                process.stdin.write(_LENGTH.pack(len(request)) + request)
                await process.stdin.drain()
                # Our own child, on a pipe no one else holds.
                ok, answer = marshal.loads(await _read_frame(process.stdout))  # noqa: S302
            except BaseException:
                # Cut off between a request and its answer (cancelled, the pipe broken, the
                # worker gone): the next job would read this one's answer. No more jobs for it.
                self._abandon(process)
                raise
        if not ok:
            raise WorkerFailedError(answer)
        html, text = answer
        return str(html), str(text)

    def _abandon(self, process: asyncio.subprocess.Process) -> None:
        if self._running() is process:
            self._process = None
        if process.returncode is None:
            process.kill()

    async def _discard(self) -> None:
        starting, self._process = self._process, None
        if starting is None:
            return
        try:
            process = await starting
        except Exception:
            return  # never started (logged then)
        assert process.stdin is not None
        process.stdin.close()  # the worker leaves at the end of its input
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            process.kill()
            await process.wait()


def _request(lines: Sequence[Line], command_prefixes: tuple[str, ...]) -> bytes:
    return marshal.dumps((pack(lines), command_prefixes))


async def _read_frame(stream: asyncio.StreamReader) -> bytes:
    (length,) = _LENGTH.unpack(await stream.readexactly(_LENGTH.size))
    return await stream.readexactly(length)


def _write(out: BinaryIO, payload: bytes) -> None:
    out.write(_LENGTH.pack(len(payload)) + payload)
    out.flush()


def serve(requests: BinaryIO, answers: BinaryIO) -> None:
    """The worker's loop: a request is (packed lines, command prefixes), its answer (True,
    (html, text)) or (False, what went wrong); it ends with its input."""
    _write(answers, _READY)
    while header := requests.read(_LENGTH.size):
        (length,) = _LENGTH.unpack(header)
        packed, prefixes = marshal.loads(requests.read(length))  # noqa: S302 - from the bot that started us
        try:
            answer: tuple[bool, tuple[str, str] | str] = (True, render_packed(packed, prefixes))
        except Exception as error:  # said to the bot, which renders in process instead
            answer = (False, f"{type(error).__name__}: {error}")
        _write(answers, marshal.dumps(answer))


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal: the bot decides
    serve(sys.stdin.buffer, sys.stdout.buffer)
