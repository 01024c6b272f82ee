"""A minimal stdlib asyncio IRC client for the benchmark driver.

Independent of meetbot and of jaraco `irc` (the line parser is the test suite's stdlib one), so
the same code drives every bot and times the server's own round trip. Lines are timestamped when
read; waiters are registered *before* the line that provokes the answer is sent, so an answer can
never be missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# The repository root, for the test suite's stdlib IRC line parser.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.irc.driver import parse as parse_line


@dataclass(slots=True)
class Msg:
    source: str  # nick, or the server's name
    command: str
    params: list[str]
    at: float  # time.perf_counter() when the chunk holding it was read

    @property
    def text(self) -> str:
        return self.params[-1] if self.params else ""

    @property
    def target(self) -> str:
        return self.params[0] if self.params else ""


def parse(raw: str, at: float) -> Msg:
    line = parse_line(raw)
    return Msg(line.source, line.command, line.params, at)


Predicate = Callable[[Msg], bool]


class Client:
    """One connected person. `watch` hooks see every parsed line (e.g. counting JOINs)."""

    def __init__(self, nick: str) -> None:
        self.nick = nick
        self.watch: list[Callable[[Msg], None]] = []
        self._waiters: list[tuple[Predicate, asyncio.Future[Msg]]] = []
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()

    async def connect(self, port: int, limit: float = 20) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)
        sock = writer.get_extra_info("socket")
        # Nagle would hold our small writes for an ACK and inflate every latency we time.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._writer = writer
        welcome = self.expect(lambda m: m.command == "001")
        self._reader_task = asyncio.create_task(self._read(reader))
        self.send(f"NICK {self.nick}", f"USER {self.nick} 0 * :{self.nick}")
        # InspIRCd completes registration on its once-a-second tick: ~1 s is normal.
        await asyncio.wait_for(welcome, limit)

    def send(self, *lines: str) -> None:
        assert self._writer is not None
        self._writer.write("".join(f"{line}\r\n" for line in lines).encode())

    async def send_paced(self, lines: list[str], chunk: int = 100) -> None:
        """Many lines, at most `chunk` per write with a 1 ms pause between writes. InspIRCd 3
        handles only a couple of hundred lines of one read at once and the rest on its
        once-a-second tick: 300 lines written at once took 2.0 s to be delivered, 1,000 took
        6.0 s, while the same in writes of 100 took 0.02 s (measured here). Unpaced bursts
        would time the server, not the bot."""
        for start in range(0, len(lines), chunk):
            self.send(*lines[start : start + chunk])
            await self.drain()
            await asyncio.sleep(0.001)

    def say(self, channel: str, text: str) -> None:
        self.send(f"PRIVMSG {channel} :{text}")

    def expect(self, predicate: Predicate) -> asyncio.Future[Msg]:
        future: asyncio.Future[Msg] = asyncio.get_running_loop().create_future()
        self._waiters.append((predicate, future))
        return future

    async def join(self, channels: list[str], limit: float = 60) -> None:
        """Join in chunks (InspIRCd's maxtargets is 20) and wait for every end of NAMES."""
        pending = {c.lower() for c in channels}
        done = asyncio.get_running_loop().create_future()

        def seen(m: Msg) -> None:
            if m.command == "366" and len(m.params) > 1:
                pending.discard(m.params[1].lower())
                if not pending and not done.done():
                    done.set_result(None)

        self.watch.append(seen)
        for i in range(0, len(channels), 20):
            self.send("JOIN " + ",".join(channels[i : i + 20]))
        try:
            await asyncio.wait_for(done, limit)
        finally:
            self.watch.remove(seen)

    async def drain(self) -> None:
        if self._writer is not None:
            await self._writer.drain()

    async def close(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self.send("QUIT :bench done")
                await self._writer.drain()
            self._writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader_task

    async def _read(self, reader: asyncio.StreamReader) -> None:
        buffer = b""
        try:
            while True:
                chunk = await reader.read(1 << 20)
                if not chunk:
                    break
                at = time.perf_counter()
                buffer += chunk
                *lines, buffer = buffer.split(b"\r\n")
                for raw in lines:
                    self._handle(parse(raw.decode("utf-8", "replace"), at))
        finally:
            self.closed.set()
            for _, future in self._waiters:
                if not future.done():
                    future.set_exception(ConnectionError(f"{self.nick}: connection closed"))

    def _handle(self, msg: Msg) -> None:
        if msg.command == "PING":
            self.send(f"PONG :{msg.text}")
            return
        for hook in self.watch:
            hook(msg)
        if not self._waiters:
            return
        kept = []
        for predicate, future in self._waiters:
            if future.done():
                continue
            if predicate(msg):
                future.set_result(msg)
            else:
                kept.append((predicate, future))
        self._waiters = kept
