"""Take-over time of a standby after `kill -9` of the active bot process, measured N times.

    .venv/bin/python bench/failover_takeover.py [-n 5] [--pg-url URL]

Starts a private InspIRCd + Atheme (scripts/ircd/ircd.py), makes a scratch PostgreSQL database,
and runs two real `meetbot run` processes with one config. Each round kills the active one with
SIGKILL and times, as a person in the channel sees it, the gap from the kill to the standby's
JOIN; the killed process is then started again as the next standby. Prints each round and the
median/min/max. The lease is `failover.lease_seconds` (default 8): a standby takes over once it
has seen the lease stand still that long, so the take-over is about that plus connect and join.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import asyncpg  # type: ignore[import-untyped]  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from tests.irc.conftest import PASSWORDS, harness  # noqa: E402
from tests.irc.driver import Driver, Line, register_account  # noqa: E402

BOT = "takeover"
CHANNEL = "#takeover"


def config_text(database: str, port: int, minutes: Path, lease: float) -> str:
    return f"""
database: {{url: "{database}"}}
publish: {{dir: "{minutes}"}}
failover: {{lease_seconds: {lease}}}
networks:
  - {{name: bench, type: irc, host: 127.0.0.1, port: {port}, tls: false, nick: {BOT},
     sasl: {{username: botty, password: "{PASSWORDS["botty"]}"}}, channels: ["{CHANNEL}"]}}
"""


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=5, help="take-overs to time")
    parser.add_argument("--lease", type=float, default=8.0, help="failover.lease_seconds")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("MEETBOT_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"),
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="meetbot-takeover-"))
    harness.install()
    server = harness.IrcServer(work / "ircd")
    server.start()
    url = make_url(args.pg_url)
    name = f"meetbot_takeover_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(host=url.host, port=url.port, user=url.username, database=url.database)
    await admin.execute(f'CREATE DATABASE "{name}"')
    database = url.set(database=name).render_as_string(hide_password=False)
    config = work / "meetbot.yaml"
    config.write_text(config_text(database, server.ports.plain, work / "minutes", args.lease))
    processes: list[subprocess.Popen[bytes]] = []
    watcher: Driver | None = None
    try:
        await register_account("127.0.0.1", server.ports.plain, "botty", PASSWORDS["botty"])
        upgrade = [sys.executable, "-m", "meetbot.cli", "db", "upgrade", "-c", str(config)]
        await asyncio.to_thread(subprocess.run, upgrade, check=True)
        watcher = await Driver.connect("127.0.0.1", server.ports.plain, "watcher")
        await watcher.join(CHANNEL)

        def spawn() -> subprocess.Popen[bytes]:
            with (work / "bots.log").open("ab") as log:
                process = subprocess.Popen(
                    [sys.executable, "-m", "meetbot.cli", "run", "-c", str(config)],
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                )
            processes.append(process)
            return process

        def joined(line: Line) -> bool:
            return line.command == "JOIN" and line.source == BOT

        mark = len(watcher.lines)
        active = spawn()
        await watcher.wait(joined, after=mark, timeout=30)
        standby = spawn()
        times = []
        for round_number in range(1, args.n + 1):
            await asyncio.sleep(3)  # the standby is up and watching the lease
            mark = len(watcher.lines)
            os.kill(active.pid, signal.SIGKILL)
            killed = time.monotonic()
            active.wait(10)
            line = await watcher.wait(joined, after=mark, timeout=60)
            times.append(line.received - killed)
            print(f"round {round_number}: kill -9 -> standby joined in {times[-1]:.2f}s", flush=True)
            active, standby = standby, spawn()
        print(
            f"take-over over {len(times)} rounds (lease {args.lease:g}s): "
            f"median {statistics.median(times):.2f}s, min {min(times):.2f}s, max {max(times):.2f}s"
        )
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
        if watcher is not None:
            await watcher.close()
        server.stop()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
