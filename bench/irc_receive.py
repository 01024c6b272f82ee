"""Micro-benchmark of the IRC receive path, in process: raw channel lines -> MessageIn.

    .venv/bin/python bench/irc_receive.py [--lines 100000] [--runs 7] [--chunk 50] [--slow]

Registers an IrcAdapter on a connection with a fake transport (CAP ACK, 001, 005, MOTD, our JOIN,
NAMES), then feeds tagged channel PRIVMSGs from alice, `--chunk` lines per read, through the
protocol's data_received (the socket's entry point) with the core's submit replaced by a list
append. Prints the median and spread of us/line over the runs. `--slow` turns the adapter's fast
path off, so the same process measures jaraco's parsing path for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from meetbot.adapters.irc import IrcAdapter
from meetbot.adapters.irc.protocol import format_server_time
from meetbot.clock import SystemClock
from meetbot.config.schema import IrcNetwork
from meetbot.events import MessageIn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests/: the offline connection
from tests.irc.offline import offline_connection

SETUP = [
    ":irc.test CAP meetbot ACK :account-notify account-tag batch echo-message extended-join "
    "message-tags multi-prefix server-time userhost-in-names",
    ":irc.test 001 meetbot :Welcome to the test network",
    ":irc.test 005 meetbot CHANTYPES=# PREFIX=(ov)@+ WHOX :are supported by this server",
    ":irc.test 376 meetbot :End of message of the day.",
    "@time=2026-11-21T15:59:00.000Z :meetbot!meetbot@bot.host JOIN #chan * :meetbot",
    ":irc.test 353 meetbot = #chan :@meetbot alice!alice@host bob!bob@host",
    ":irc.test 366 meetbot #chan :End of /NAMES list.",
]


class Collector:
    """The core's submit, doing nothing: it keeps no messages, so the garbage collector's work
    does not grow with the run as it would with 100,000 live MessageIn."""

    def __init__(self) -> None:
        self.count = 0
        self.last: MessageIn | None = None

    def __call__(self, message: MessageIn) -> None:
        self.count += 1
        self.last = message


def connect(loop: asyncio.AbstractEventLoop, *, fast: bool = True) -> tuple[IrcAdapter, Any, Collector]:
    """An adapter registered on a connection that writes nowhere, and what it submits."""
    network = IrcNetwork.model_validate(
        {"name": "bench", "type": "irc", "host": "127.0.0.1", "nick": "meetbot", "channels": ["#chan"]}
    )
    adapter = IrcAdapter(network, SystemClock(), version="bench")
    collected = Collector()
    adapter._submit = collected
    conn, _transport = offline_connection(adapter, loop, fast=fast)
    protocol = conn.protocol_class(conn, loop)
    protocol.data_received("".join(line + "\r\n" for line in SETUP).encode())
    return adapter, protocol, collected


def chunks(lines: int, per_chunk: int) -> list[bytes]:
    start = datetime(2026, 11, 21, 16, 0, tzinfo=UTC)
    raw = [
        f"@time={format_server_time(start + timedelta(milliseconds=i))};account=alice;msgid=m{i:08x}"
        f" :alice!alice@host PRIVMSG #chan :line {i:06d} of the meeting, chatter about the agenda\r\n"
        for i in range(lines)
    ]
    return ["".join(raw[i : i + per_chunk]).encode() for i in range(0, lines, per_chunk)]


def run_once(data: list[bytes], lines: int, *, fast: bool) -> float:
    loop = asyncio.new_event_loop()
    try:
        _, protocol, collected = connect(loop, fast=fast)
        feed = protocol.data_received
        began = time.perf_counter()
        for chunk in data:
            feed(chunk)
        elapsed = time.perf_counter() - began
    finally:
        loop.close()
    if collected.count != lines:
        raise SystemExit(f"expected {lines} messages, got {collected.count}")
    return elapsed / lines * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--chunk", type=int, default=50, help="lines per data_received call")
    parser.add_argument("--slow", action="store_true", help="jaraco's path: the fast path off")
    args = parser.parse_args()
    data = chunks(args.lines, args.chunk)
    results = [run_once(data, args.lines, fast=not args.slow) for _ in range(args.runs)]
    print(
        f"{'jaraco path' if args.slow else 'fast path'}: {statistics.median(results):.2f} us/line median "
        f"(min {min(results):.2f}, max {max(results):.2f}; {args.runs} runs of {args.lines:,} lines)"
    )


if __name__ == "__main__":
    main()
