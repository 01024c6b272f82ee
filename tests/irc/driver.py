"""A tiny raw-socket IRC client that plays the people in the integration tests.

Deliberately independent of the adapter and of jaraco `irc`: a bug in either must not be able
to hide itself by being on both ends of the wire.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Line:
    raw: str
    tags: dict[str, str]
    source: str  # nick (or server name)
    command: str
    params: list[str]
    received: float = field(default_factory=time.monotonic)

    @property
    def text(self) -> str:
        return self.params[-1] if self.params else ""


def parse(raw: str) -> Line:
    tags: dict[str, str] = {}
    rest = raw
    if rest.startswith("@"):
        tag_text, _, rest = rest[1:].partition(" ")
        for item in tag_text.split(";"):
            key, _, value = item.partition("=")
            tags[key] = value
    source = ""
    if rest.startswith(":"):
        prefix, _, rest = rest[1:].partition(" ")
        source = prefix.split("!", 1)[0]
    trailing = None
    if " :" in rest:
        rest, _, trailing = rest.partition(" :")
    params = rest.split()
    command = params.pop(0).upper() if params else ""
    if trailing is not None:
        params.append(trailing)
    return Line(raw, tags, source, command, params)


class Driver:
    """One connected person. `lines` keeps everything received, for tests to search."""

    def __init__(self, nick: str) -> None:
        self.nick = nick
        self.lines: list[Line] = []
        self._changed = asyncio.Condition()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self.caps: set[str] = set()

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        nick: str,
        *,
        account: tuple[str, str] | None = None,
        caps: tuple[str, ...] = ("server-time", "message-tags", "account-tag", "extended-join"),
        tls: ssl.SSLContext | None = None,
    ) -> Driver:
        self = cls(nick)
        self._reader, self._writer = await asyncio.open_connection(
            host, port, ssl=tls, server_hostname="localhost" if tls else None
        )
        sock = self._writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._task = asyncio.create_task(self._read())
        wanted = set(caps) | ({"sasl"} if account else set())
        self.send("CAP LS 302")
        self.send(f"NICK {nick}")
        self.send(f"USER {nick} 0 * :{nick} (test driver)")
        await self.wait(lambda x: x.command == "CAP" and x.params[1] == "LS" and x.params[2] != "*")
        offered = {
            c.split("=")[0]
            for line in self.lines
            if line.command == "CAP" and line.params[1] == "LS"
            for c in line.text.split()
        }
        request = sorted(wanted & offered)
        if request:
            self.send(f"CAP REQ :{' '.join(request)}")
            ack = await self.wait(lambda x: x.command == "CAP" and x.params[1] in ("ACK", "NAK"))
            self.caps = set(ack.text.split()) if ack.params[1] == "ACK" else set()
        if account and "sasl" in self.caps:
            self.send("AUTHENTICATE PLAIN")
            await self.wait(lambda x: x.command == "AUTHENTICATE")
            user, password = account
            self.send("AUTHENTICATE " + base64.b64encode(f"{user}\0{user}\0{password}".encode()).decode())
            result = await self.wait(lambda x: x.command in ("903", "904", "905"))
            if result.command != "903":
                raise RuntimeError(f"{nick}: SASL failed: {result.raw}")
        self.send("CAP END")
        await self.wait(lambda x: x.command in ("001", "433"))
        await self.wait(lambda x: x.command in ("376", "422"))
        return self

    def send(self, line: str) -> None:
        assert self._writer is not None
        self._writer.write(line.encode() + b"\r\n")

    def say(self, target: str, text: str) -> None:
        self.send(f"PRIVMSG {target} :{text}")

    def act(self, target: str, text: str) -> None:
        self.send(f"PRIVMSG {target} :\x01ACTION {text}\x01")

    async def join(self, channel: str) -> None:
        mark = len(self.lines)
        self.send(f"JOIN {channel}")
        await self.wait(lambda x: x.command == "366" and x.params[1].lower() == channel.lower(), after=mark)

    async def _read(self) -> None:
        assert self._reader is not None
        try:
            while raw := await self._reader.readline():
                line = parse(raw.decode("utf-8", "replace").rstrip("\r\n"))
                if line.command == "PING":
                    self.send(f"PONG :{line.text}")
                self.lines.append(line)
                async with self._changed:
                    self._changed.notify_all()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            async with self._changed:
                self._changed.notify_all()

    @property
    def connected(self) -> bool:
        return self._task is not None and not self._task.done()

    async def wait(self, match: Callable[[Line], bool], timeout: float = 10, after: int = 0) -> Line:  # noqa: ASYNC109
        """The first line from index `after` on that matches, waiting for it if need be."""

        async def find() -> Line:
            index = after
            async with self._changed:
                while True:
                    for line in self.lines[index:]:
                        if match(line):
                            return line
                    index = len(self.lines)
                    if not self.connected:
                        raise ConnectionError(f"{self.nick}: disconnected while waiting")
                    await self._changed.wait()

        try:
            return await asyncio.wait_for(find(), timeout)
        except TimeoutError:
            tail = "\n".join(line.raw for line in self.lines[-15:])
            raise AssertionError(
                f"{self.nick}: no matching line within {timeout}s; last lines:\n{tail}"
            ) from None

    def said_by(self, nick: str, channel: str, after: int = 0) -> list[Line]:
        return [
            line
            for line in self.lines[after:]
            if line.command == "PRIVMSG" and line.source == nick and line.params[0].lower() == channel.lower()
        ]

    async def close(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self.send("QUIT :bye")
                await self._writer.drain()
            self._writer.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task


async def register_account(host: str, port: int, nick: str, password: str) -> None:
    """NickServ REGISTER once (an existing account from an earlier run is fine)."""
    driver = await Driver.connect(host, port, nick, caps=())
    try:
        mark = len(driver.lines)
        driver.say("NickServ", f"REGISTER {password} {nick}@example.invalid")
        reply = await driver.wait(lambda x: x.source == "NickServ" and x.command == "NOTICE", after=mark)
        if "registered" not in reply.text.lower():
            raise RuntimeError(f"NickServ REGISTER {nick}: {reply.text}")
    finally:
        await driver.close()
