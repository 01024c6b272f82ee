"""meetbot's start-up: spawn -> its JOIN seen by a client in the channel, N times, on SQLite.

    .venv/bin/python bench/startup.py [-n 15] [--no-baseline] [--no-work-tree] [--tree LABEL=DIR ...]

Starts a private InspIRCd (scripts/ircd/ircd.py, profile `bench`) and spawns `meetbot run` the
way bench/compare.py does (bots.Meetbot: fresh SQLite file, schema created before the clock
starts; compare.BotRun times spawn -> JOIN). Next to it, and alternating with it, a baseline: a
bare `python -c` stdlib client that connects, registers and joins (the floor: interpreter
start plus the server's registration).

InspIRCd completes a client's registration about a second after it connects, whoever the
client is, so spawn -> JOIN is spawn -> TCP connect plus that second. The bot reaches the
server through a pass-through port that notes when it connects, and both figures are reported:
the connect one is the part the bot's own start-up work decides.

`--tree LABEL=DIR` runs meetbot from another copy of the package in the same rotation
(before/after, alternately, on one server and one machine state): PYTHONPATH=DIR, e.g.

    git archive HEAD meetbot alembic plugins | tar -x -C DIR && mv DIR/plugins DIR/meetbot_plugins
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "scripts" / "ircd")]

import ircd  # noqa: E402
from bots import Bot, Meetbot  # noqa: E402
from compare import BotRun  # noqa: E402
from ircwire import Msg  # noqa: E402

CHANNEL = "#startup"

# What the baseline does: connect, register, join, stay until terminated. Stdlib only.
BASELINE = """\
import socket, sys
port, nick, channel = int(sys.argv[1]), sys.argv[2], sys.argv[3]
sock = socket.create_connection(("127.0.0.1", port))
sock.sendall(f"NICK {nick}\\r\\nUSER {nick} 0 * :{nick}\\r\\n".encode())
buffer = b""
while True:
    chunk = sock.recv(65536)
    if not chunk:
        sys.exit(1)
    buffer += chunk
    *lines, buffer = buffer.split(b"\\r\\n")
    for line in lines:
        if line.startswith(b"PING"):
            sock.sendall(b"PONG" + line[4:] + b"\\r\\n")
        elif line.split(b" ")[1:2] == [b"001"]:
            sock.sendall(f"JOIN {channel}\\r\\n".encode())
"""


class Baseline(Bot):
    def __init__(self) -> None:
        super().__init__(
            key="python",
            label="python -c (stdlib client)",
            nick="baseline",
            topic_command="",
            probe_reply="",
            end_reply=lambda _text: False,
        )

    def prepare(self, work: Path, port: int, channels: list[str]) -> list[str]:
        return [sys.executable, "-c", BASELINE, str(port), self.nick, channels[0]]

    def version(self) -> str:
        return sys.version.split()[0]


class MeetbotFrom(Meetbot):
    """meetbot on SQLite, importing the package from `tree` when given."""

    def __init__(self, label: str, tree: Path | None) -> None:
        super().__init__("sqlite")
        self.key, self.tree = label, tree

    def env(self) -> dict[str, str]:
        env = super().env()
        if self.tree is not None:
            env["PYTHONPATH"] = str(self.tree)
        return env


class PassThrough:
    """A loopback port in front of the ircd that notes when each connection arrives."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.accepted: list[float] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted.append(time.perf_counter())
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        pipes = [
            asyncio.create_task(self._pipe(reader, up_writer)),
            asyncio.create_task(self._pipe(up_reader, writer)),
        ]
        self._tasks.update(pipes)
        await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        for task in pipes:
            task.cancel()
            self._tasks.discard(task)
        for side in (writer, up_writer):
            side.close()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while chunk := await reader.read(1 << 16):
            writer.write(chunk)
            await writer.drain()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._server is not None:
            self._server.close()


async def one_start(run: BotRun, proxy: PassThrough, work: Path) -> tuple[float, float]:
    """(spawn -> connect, spawn -> JOIN) in seconds; waits for the bot's QUIT after stopping it,
    so the next start finds its nick free."""
    run.joins.clear()
    proxy.accepted.clear()
    gone = run.alice.expect(lambda m: m.command == "QUIT" and m.source == run.bot.nick)
    try:
        joined = (await run.start_bot(work, [CHANNEL], limit=60))["first"]
    finally:
        run.bot.stop()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(gone, 10)
    spawned = run.joins[CHANNEL] - joined
    return proxy.accepted[0] - spawned, joined


def summary(samples: list[float]) -> str:
    return f"median {statistics.median(samples):6.3f}  min {min(samples):6.3f}  max {max(samples):6.3f}"


async def main_async(n: int, bots: list[Bot], work: Path) -> dict[str, dict[str, list[float]]]:
    server = ircd.IrcServer(work / "ircd", profile="bench")
    server.start()
    proxy = PassThrough(server.ports.plain)
    port = await proxy.start()
    results: dict[str, dict[str, list[float]]] = {b.key: {"connect": [], "join": []} for b in bots}
    runs = [BotRun(bot, port, "startup") for bot in bots]
    # One watcher for every variant, on the ircd itself: its own start is not timed.
    watcher = runs[0].alice
    try:
        await watcher.connect(server.ports.plain)
        await watcher.join([CHANNEL])
        for run in runs:
            run.alice = watcher

            def joined(m: Msg, run: BotRun = run) -> None:
                if m.command == "JOIN" and m.source == run.bot.nick:
                    run.joins.setdefault(m.target.lower(), m.at)

            watcher.watch.append(joined)
        for i in range(n):
            # Rotate the order, so a slow moment of a shared machine hits every variant.
            for run in runs[i % len(runs) :] + runs[: i % len(runs)]:
                connect, join = await one_start(run, proxy, work / f"{run.bot.key}-{i}")
                results[run.bot.key]["connect"].append(connect)
                results[run.bot.key]["join"].append(join)
                print(f"{i:3d} {run.bot.key:12s} connect {connect:6.3f}  join {join:6.3f}", flush=True)
    finally:
        for run in runs:
            run.bot.stop()
        await watcher.close()
        await proxy.close()
        server.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("-n", type=int, default=15, help="starts per variant (default 15)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the bare python client")
    parser.add_argument("--no-work-tree", action="store_true", help="only the --tree copies")
    parser.add_argument(
        "--tree", action="append", default=[], metavar="LABEL=DIR", help="meetbot from DIR too"
    )
    args = parser.parse_args()
    bots: list[Bot] = [] if args.no_work_tree else [MeetbotFrom("meetbot", None)]
    for spec in args.tree:
        label, _, directory = spec.partition("=")
        bots.append(MeetbotFrom(label, Path(directory).resolve()))
    if not args.no_baseline:
        bots.append(Baseline())
    ircd.install()
    with tempfile.TemporaryDirectory(prefix="meetbot-startup-") as tmp:
        results = asyncio.run(main_async(args.n, bots, Path(tmp)))
    print(f"\nspawn -> event, seconds, {args.n} starts each (load {os.getloadavg()[0]:.2f}):")
    for key, figures in results.items():
        for figure, samples in figures.items():
            if samples:
                print(f"  {key:12s} {figure:8s} {summary(samples)}")


if __name__ == "__main__":
    main()
