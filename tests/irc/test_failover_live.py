"""Two real `meetbot run` processes with one config on one PostgreSQL database, on the test IRC
server: one is active, the other stands by without joining. `kill -9` of the active one hands
the bot over within 15 seconds; the meeting goes on and its minutes hold both halves; a
reminder that falls due during the switch goes out exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from meetbot.events import RoomRef
from meetbot.storage.database import create_engine
from meetbot.storage.meetings import MeetingStore
from tests.conftest import PG_REQUIRED, PG_URL, fresh_pg_database
from tests.irc.conftest import PASSWORDS, People, harness
from tests.irc.driver import Line

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.postgres, pytest.mark.slow]

BOT = "failbot"
TAKE_OVER_LIMIT = 15.0  # seconds, from kill -9 to the standby joined


@pytest_asyncio.fixture(loop_scope="session")
async def pg_url() -> AsyncIterator[str]:
    if PG_URL is None:
        if PG_REQUIRED:
            pytest.fail("MEETBOT_REQUIRE_PG=1 but MEETBOT_TEST_PG_URL is not set")
        pytest.skip("MEETBOT_TEST_PG_URL not set (scripts/test.sh sets it)")
    async with fresh_pg_database(PG_URL, "meetbot_failover") as url:
        yield url


def _config(tmp_path: Path, ircd: Any, channel: str, database: str, start: datetime) -> str:
    return f"""
database: {{url: "{database}"}}
publish: {{dir: "{tmp_path / "minutes"}"}}
web: {{host: 127.0.0.1, port: "${{MEETBOT_WEB_PORT}}"}}
networks:
  - {{name: testnet, type: irc, host: 127.0.0.1, port: {ircd.ports.plain}, tls: false, nick: {BOT},
     sasl: {{username: botty, password: "{PASSWORDS["botty"]}"}}, channels: ["{channel}"]}}
schedules:
  series:
    - project: Failover SIG
      meeting_id: failover
      schedule:
        - {{time: '{start:%H%M}', day: {start:%A}, irc: '{channel}', frequency: weekly}}
      reminders:
        - at_start: true
"""


def _from_bot(text: str) -> Any:
    return lambda line: line.command == "PRIVMSG" and line.source == BOT and text in line.text


def _joined(line: Line) -> bool:
    return line.command == "JOIN" and line.source == BOT


async def _health(port: int) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/healthz") as response,
    ):
        body: dict[str, Any] = json.loads(await response.text())
        return body


async def _until_healthy(port: int, process: subprocess.Popen[bytes]) -> dict[str, Any]:
    async with asyncio.timeout(30):
        while True:
            assert process.poll() is None, "the bot process exited"
            try:
                return await _health(port)
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.1)


async def test_kill_9_of_the_active_process_hands_over_to_the_standby(  # noqa: PLR0917 - fixtures
    ircd: Any, accounts: dict[str, str], people: People, tmp_path: Path, channel: str, pg_url: str
) -> None:
    alice = people.alice
    await alice.join(channel)
    now = datetime.now(UTC)
    # The reminder falls due just after the kill below: the standby must send it, once.
    start = (now + timedelta(seconds=35)).replace(second=0, microsecond=0) + timedelta(minutes=1)
    config = tmp_path / "meetbot.yaml"
    config.write_text(_config(tmp_path, ircd, channel, pg_url, start), encoding="utf-8")
    ports = {"a": harness.free_port(), "b": harness.free_port()}
    environment = {**os.environ, "MEETBOT_WEB_PORT": "0"}
    upgrade = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "meetbot.cli", "db", "upgrade", "-c", str(config)],
        env=environment,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert upgrade.returncode == 0, upgrade.stderr.decode()

    def spawn(name: str) -> subprocess.Popen[bytes]:
        with (tmp_path / f"bot-{name}.log").open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "meetbot.cli", "run", "-c", str(config)],
                cwd=tmp_path,
                env={**os.environ, "MEETBOT_WEB_PORT": str(ports[name])},
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def logs() -> str:
        return "".join(f"--- {p.name}\n{p.read_text()}" for p in sorted(tmp_path.glob("bot-*.log")))

    mark = len(alice.lines)
    active = spawn("a")
    standby: subprocess.Popen[bytes] | None = None
    try:
        await alice.wait(_joined, after=mark, timeout=20)
        assert (await _until_healthy(ports["a"], active))["role"] == "active"
        standby = spawn("b")
        health = await _until_healthy(ports["b"], standby)
        assert health == {"status": "ok", "role": "standby", "buffered_lines": 0, "database": "ok"}, logs()
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{ports['b']}/metrics") as response,
        ):
            assert "meetbot_active 0.0" in await response.text()

        mark = len(alice.lines)
        alice.say(channel, "#startmeeting failover drill")
        await alice.wait(_from_bot("Meeting started"), after=mark, timeout=10)
        alice.say(channel, "#topic before the switch")
        alice.say(channel, "#info said to the first process")
        alice.say(channel, "#agreed kept across the switch")
        mark = len(alice.lines)
        alice.say(channel, "#help")  # answered only after the lines before it are stored
        await alice.wait(_from_bot(""), after=mark, timeout=10)
        await asyncio.sleep(1.0)
        # The standby never joined: one bot in the channel, and it is the first process.
        assert [line for line in alice.lines[mark:] if _joined(line)] == []

        delay = (start - datetime.now(UTC)).total_seconds() - 2
        await asyncio.sleep(max(0.0, delay))
        mark = len(alice.lines)
        os.kill(active.pid, signal.SIGKILL)
        killed = time.monotonic()
        active.wait(10)
        joined = await alice.wait(_joined, after=mark, timeout=30)
        take_over = joined.received - killed
        print(f"take-over: kill -9 to the standby joined in {take_over:.2f}s")
        assert take_over < TAKE_OVER_LIMIT, logs()
        assert (await _health(ports["b"]))["role"] == "active"

        # The meeting goes on in the new process, from the database.
        mark = len(alice.lines)
        alice.say(channel, "#info said to the second process")
        alice.say(channel, "#endmeeting")
        await alice.wait(_from_bot("Meeting ended at"), after=mark, timeout=20)
        reminder = await alice.wait(_from_bot("Failover SIG (failover) starts now"), timeout=150)
        await asyncio.sleep(2)
        sent = [line for line in alice.lines if _from_bot("Failover SIG (failover)")(line)]
        assert len(sent) == 1, reminder.raw

        (minutes,) = (tmp_path / "minutes").rglob("*[0-9].txt")
        text = minutes.read_text(encoding="utf-8")
        for said in ("before the switch", "said to the first process", "kept across the switch"):
            assert said in text
        assert "said to the second process" in text
        # One meeting, its lines numbered without a gap across the two processes.
        engine = create_engine(pg_url)
        try:
            store = MeetingStore(engine)
            (header,) = await store.meetings_in(RoomRef("testnet", channel))
            lines = await store.lines(header.id)
            assert [line.seq for line in lines] == list(range(1, len(lines) + 1))
            assert await store.open_meeting(RoomRef("testnet", channel)) is None
        finally:
            await engine.dispose()

        # SIGTERM: the active process quits the network politely and exits cleanly.
        mark = len(alice.lines)
        standby.send_signal(signal.SIGTERM)
        assert standby.wait(20) == 0, logs()
        await alice.wait(lambda line: line.command == "QUIT" and line.source == BOT, after=mark, timeout=10)
    finally:
        for process in (active, standby):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(10)
