"""Schedules through a real `meetbot run` on the test IRC server: a reminder reaches the channel
exactly once (also across a kill -9 and restart), and SIGHUP reloads the schedules."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.irc.conftest import PASSWORDS, People
from tests.irc.driver import Line

# The shared server clients live on the session's event loop.
pytestmark = pytest.mark.asyncio(loop_scope="session")

BOT = "remindy"


def _series(team: str, at: datetime, channel: str) -> str:
    return f"""
    - project: {team.title()} SIG
      meeting_id: {team}
      schedule:
        - time: '{at:%H%M}'
          day: {at:%A}
          irc: '{channel}'
          frequency: weekly
      reminders:
        - at_start: true
"""


def _config(tmp_path: Path, ircd: Any, channel: str, series: str) -> str:
    return f"""
database: {{url: "sqlite+aiosqlite:///{tmp_path / "meetbot.db"}"}}
publish: {{dir: "{tmp_path / "minutes"}"}}
networks:
  - {{name: testnet, type: irc, host: 127.0.0.1, port: {ircd.ports.plain}, tls: false, nick: {BOT},
     sasl: {{username: botty, password: "{PASSWORDS["botty"]}"}}, channels: ["{channel}"]}}
schedules:
  series:{series}"""


def _from_bot(text: str) -> Any:
    return lambda line: line.command == "PRIVMSG" and line.source == BOT and text in line.text


async def test_a_reminder_reaches_the_channel_once_and_sighup_reloads(
    ircd: Any, accounts: dict[str, str], people: People, tmp_path: Path, channel: str
) -> None:
    alice = people.alice
    await alice.join(channel)
    now = datetime.now(UTC)
    start = (now + timedelta(minutes=1)).replace(second=0, microsecond=0)
    if start - now < timedelta(seconds=10):  # leave the bot time to connect first
        start += timedelta(minutes=1)
    later = start + timedelta(hours=3)
    config = tmp_path / "meetbot.yaml"
    config.write_text(_config(tmp_path, ircd, channel, _series("alpha", start, channel)), encoding="utf-8")

    def spawn() -> subprocess.Popen[bytes]:
        with (tmp_path / "bot.log").open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "meetbot.cli", "run", "-c", str(config)],
                cwd=tmp_path,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    async def ask(text: str, reply: str) -> Line:
        mark = len(alice.lines)
        alice.say(channel, text)
        return await alice.wait(_from_bot(reply), after=mark, timeout=10)

    mark = len(alice.lines)
    process = spawn()
    try:
        await alice.wait(lambda x: x.command == "JOIN" and x.source == BOT, after=mark, timeout=20)
        await ask("#nextmeeting beta", "No schedule for beta. Known teams: alpha.")
        # Add a series and send SIGHUP: the running bot knows it, no restart needed.
        both = _series("alpha", start, channel) + _series("beta", later, channel)
        config.write_text(_config(tmp_path, ircd, channel, both), encoding="utf-8")
        process.send_signal(signal.SIGHUP)
        for _ in range(50):
            mark = len(alice.lines)
            alice.say(channel, "#nextmeeting beta")
            reply = await alice.wait(_from_bot("beta"), after=mark, timeout=10)
            if reply.text.startswith("Next beta meeting"):
                break
            await asyncio.sleep(0.2)
        assert reply.text.startswith(f"Next beta meeting: {later:%a %Y-%m-%d %H:%M} UTC")

        # The at-start reminder of alpha, in the channel, once.
        wait = (start - datetime.now(UTC)).total_seconds() + 15
        reminder = await alice.wait(_from_bot("Alpha SIG (alpha) starts now"), timeout=wait)
        reminders_seen = len([line for line in alice.lines if _from_bot("Alpha SIG (alpha)")(line)])
        assert reminders_seen == 1, reminder.raw

        # kill -9 and start again within the reminder's grace: it is not sent a second time.
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        mark = len(alice.lines)
        process = spawn()
        await alice.wait(lambda x: x.command == "JOIN" and x.source == BOT, after=mark, timeout=20)
        await ask("#nextmeeting alpha", "Next alpha meeting")  # up, planned, and answering
        await asyncio.sleep(2)
        assert len([line for line in alice.lines if _from_bot("Alpha SIG (alpha)")(line)]) == 1
    finally:
        process.terminate()
        process.wait(10)
