"""Micro-benchmark of a logged line's whole path in the bot, in process: raw IRC bytes -> stored row.

    .venv/bin/python bench/core_path.py [--lines 50000] [--runs 5] [--chunk 100] [--channels 1]
                                        [--rate N] [--database URL]

The real app (build_app: dispatcher, service, engine, group-committing storage) on a fresh
SQLite file (or `--database`, e.g. a PostgreSQL URL for an empty database), and an IrcAdapter
registered on a connection with a fake transport (tests/irc/offline.py). A meeting is started,
then `--lines` channel PRIVMSGs (every 10th `#info`, every 50th `#action`, like bench/run's
logging script) go through the protocol's data_received, `--chunk` lines per read, the event loop
running between reads as it would between socket reads. Timed until every line is in the
database. `--rate` offers the lines at that pace instead (group commits then stay small, as in
bench/run's logging steps). Prints wall and process CPU (loop and writer threads together) per
line: the cost that bounds the sustained logging rate of `bench/run`, without the ircd and driver
sharing the cores; and, of that CPU, the event loop thread's own (what the GIL leaves to the
writer thread is the rest).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.irc_receive import SETUP  # noqa: E402
from meetbot.adapters.irc import IrcAdapter  # noqa: E402
from meetbot.adapters.irc.protocol import format_server_time  # noqa: E402
from meetbot.app import build_app  # noqa: E402
from meetbot.cli import settle_garbage_collector  # noqa: E402
from meetbot.clock import SystemClock  # noqa: E402
from meetbot.config.schema import IrcNetwork, Settings  # noqa: E402
from tests.irc.offline import offline_connection  # noqa: E402

# Lines received and not yet stored at most: about what 0.1 s behind means at 20,000 lines/s.
BACKLOG = 2_000
START = datetime(2026, 11, 21, 16, 0, tzinfo=UTC)


def script_line(i: int) -> str:
    if i % 50 == 0:
        return f"#action bob to look at item {i} before the next meeting"
    if i % 10 == 0:
        return f"#info line {i}: the release branch needs tests and docs"
    return f"line {i:06d} of the meeting, chatter about the agenda and more"


# Message ids new in every process: a database reused across runs keeps the earlier runs'
# lines, and lines it already holds would be dropped as redelivered.
RUN = uuid.uuid4().hex[:8]


def channel(n: int) -> str:
    return "#chan" if n == 0 else f"#chan{n}"


def raw(i: int, text: str, to: str = "#chan") -> str:
    at = format_server_time(START + timedelta(milliseconds=i))
    return f"@time={at};account=alice;msgid={RUN}-{i:08x} :alice!alice@host PRIVMSG {to} :{text}\r\n"


def joined(channels: int) -> str:
    """The bot's JOIN and NAMES of the channels beyond SETUP's #chan."""
    return "".join(
        f":meetbot!meetbot@bot.host JOIN {channel(n)} * :meetbot\r\n"
        f":irc.test 353 meetbot = {channel(n)} :@meetbot alice!alice@host bob!bob@host\r\n"
        f":irc.test 366 meetbot {channel(n)} :End of /NAMES list.\r\n"
        for n in range(1, channels)
    )


def chunks(lines: int, per_chunk: int, run: int, channels: int) -> list[bytes]:
    """The lines round-robin over the channels, as bench/run's 100-channel step offers them."""
    every = [raw(run * lines + i + 1, script_line(i), channel(i % channels)) for i in range(lines)]
    return ["".join(every[i : i + per_chunk]).encode() for i in range(0, lines, per_chunk)]


async def stored_lines(app: object) -> int:
    async with app.database.engine.connect() as connection:  # type: ignore[attr-defined]
        return int((await connection.exec_driver_sql("SELECT count(*) FROM meeting_lines")).scalar_one())


async def run_once(data: list[bytes], opts: argparse.Namespace) -> tuple[float, float, float]:
    lines, database, rate, channels = opts.lines, opts.database, opts.rate, opts.channels
    per_chunk = opts.chunk
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        network = IrcNetwork.model_validate(
            {
                "name": "bench",
                "type": "irc",
                "host": "127.0.0.1",
                "nick": "meetbot",
                "channels": [channel(n) for n in range(channels)],
                "flood": {"burst": 1_000_000, "per_second": 1_000_000},
            }
        )
        settings = Settings.model_validate({"publish": {"dir": str(tmp / "minutes")}})
        adapter = IrcAdapter(network, SystemClock(), version="bench")
        url = database or f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
        app = await build_app(settings, [adapter], database_url=url)
        try:
            loop = asyncio.get_running_loop()
            adapter._submit = app.submit
            conn, _transport = offline_connection(adapter, loop, fast=True)
            protocol = conn.protocol_class(conn, loop)
            protocol.data_received("".join(line + "\r\n" for line in SETUP).encode())
            protocol.data_received(joined(channels).encode())
            for n in range(channels):
                protocol.data_received(raw(-1 - n, "#startmeeting bench", channel(n)).encode())
            await app.settled()
            before = await stored_lines(app)
            settle_garbage_collector()
            wall, cpu, loop_cpu = time.perf_counter(), time.process_time(), time.thread_time()
            for n, chunk in enumerate(data):
                # From a callback, as the event loop delivers a socket's data: outside any task.
                loop.call_soon(protocol.data_received, chunk)
                await asyncio.sleep(0)
                if rate:  # paced like a busy channel: small group commits, as in bench/run
                    await asyncio.sleep(max(0.0, wall + (n + 1) * per_chunk / rate - time.perf_counter()))
                # Never so far ahead that the write buffer fills (it would make rooms wait).
                while app.service.buffer.buffered_lines > BACKLOG:  # noqa: ASYNC110 (a poll: no event to wait on)
                    await asyncio.sleep(0.001)
            await app.settled()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            loop_cpu = time.thread_time() - loop_cpu
            stored = await stored_lines(app) - before
            if stored < lines:
                raise SystemExit(f"expected {lines} lines stored, found {stored}")
        finally:
            await app.close()
    return wall / lines * 1e6, cpu / lines * 1e6, loop_cpu / lines * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--chunk", type=int, default=100, help="lines per data_received call")
    parser.add_argument("--channels", type=int, default=1, help="a meeting in each, lines round-robin")
    parser.add_argument("--rate", type=float, default=0, help="lines/s to offer (default: at once)")
    parser.add_argument("--database", help="SQLAlchemy URL of an empty, migrated database (default: SQLite)")
    args = parser.parse_args()
    results = [
        asyncio.run(
            run_once(chunks(args.lines, args.chunk, run, args.channels), args)
        )
        for run in range(args.runs)
    ]
    walls, cpus, loops = [r[0] for r in results], [r[1] for r in results], [r[2] for r in results]
    print(
        f"{args.lines:,} lines x {args.runs} runs: wall {statistics.median(walls):.1f} us/line "
        f"(min {min(walls):.1f}, max {max(walls):.1f}), CPU {statistics.median(cpus):.1f} us/line "
        f"(min {min(cpus):.1f}, max {max(cpus):.1f}), of it the event loop's thread "
        f"{statistics.median(loops):.1f} us/line (min {min(loops):.1f}, max {max(loops):.1f})"
    )


if __name__ == "__main__":
    main()
