"""An IRC adapter's connection without a socket: what AioConnection.connect() sets up, with a
transport that keeps what is written. For feeding raw lines through the real receive path
(tests/irc/test_fast_path.py, bench/irc_receive.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import irc.client_aio  # type: ignore[import-untyped]

from meetbot.adapters.irc import IrcAdapter
from meetbot.adapters.irc.wire import FastConnection


class RecordingTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def close(self) -> None:
        pass


def offline_connection(
    adapter: IrcAdapter, loop: asyncio.AbstractEventLoop, *, fast: bool
) -> tuple[FastConnection, RecordingTransport]:
    """`adapter`'s connection, "connected" to nothing; `fast`: its fast path on."""
    conn = adapter._connection(irc.client_aio.AioReactor(loop=loop))
    conn.fast_path = fast
    conn.buffer = conn.buffer_class()
    conn.handlers = {}
    conn.real_server_name = ""
    conn.real_nickname = conn.nickname = "meetbot"
    conn.server = "127.0.0.1"
    transport = RecordingTransport()
    conn.transport = transport
    conn.connected = True
    adapter._conn = conn
    return conn, transport
