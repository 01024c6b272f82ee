"""`meetbot run` alone on its SQLite file connects and registers while its core is still being
built, joins its channels once the core is ready, and handles what reached it meanwhile
(meetbot.early)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
from pathlib import Path
from typing import Any

import pytest

import meetbot.app
from meetbot import cli
from meetbot.adapters.factory import build_adapters
from meetbot.adapters.irc import IrcAdapter
from meetbot.clock import SystemClock
from meetbot.config import IrcNetwork, Settings
from meetbot.storage.errors import SchemaOutOfDateError
from tests.irc.conftest import FAST, HOST, People
from tests.irc.driver import Driver, Line
from tests.irc.test_live import minutes, say_and_wait

pytestmark = pytest.mark.asyncio(loop_scope="session")

BOT = "earlybot"


async def test_the_bot_registers_while_its_core_is_built_and_joins_once_it_is_ready(
    ircd: Any, people: People, tmp_path: Path, channel: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = people.alice, people.bob
    await alice.join(channel)
    await bob.join(channel)
    built, building = asyncio.Event(), asyncio.Event()
    build_app = meetbot.app.build_app

    async def held_back(*args: Any, **kwargs: Any) -> meetbot.app.App:
        building.set()
        await built.wait()
        return await build_app(*args, **kwargs)

    monkeypatch.setattr(meetbot.app, "build_app", held_back)
    monkeypatch.setattr(cli, "settle_garbage_collector", lambda: None)  # not the test process's
    settings = _settings(ircd, tmp_path, channel)
    mark = len(alice.lines)
    # Waiting to join is not failing to register: the core may take longer than that allows.
    (network,) = settings.networks
    assert isinstance(network, IrcNetwork)
    adapter = IrcAdapter(
        network,
        SystemClock(),
        timings=dataclasses.replace(FAST, register_timeout=2.5, ping_interval=0.4, ping_timeout=0.4),
    )
    serving = asyncio.create_task(cli._serve(settings, [adapter], None))
    try:
        await building.wait()
        assert await _known(alice, BOT)  # registered while the core is built,
        await asyncio.sleep(2.0)  # past register_timeout
        assert not any(_joined(line) for line in alice.lines[mark:])  # in no channel yet,
        assert adapter.reconnects == 0  # and still on its first connection
        built.set()
        await alice.wait(_joined, after=mark)
        await say_and_wait(alice, BOT, channel, "#startmeeting Early Bird", "Meeting started")
        bob.say(channel, "said once the core was ready")
        await say_and_wait(alice, BOT, channel, "#endmeeting", "Meeting ended")
    finally:
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
        asyncio.get_running_loop().remove_signal_handler(signal.SIGTERM)
    _, log = minutes(tmp_path / "minutes", "early_bird")
    said = [text for text in (line.partition(" ")[2] for line in log.splitlines()) if text.startswith("<")]
    assert [text for text in said if not text.startswith(f"<{BOT}>")] == [
        "<alice> #startmeeting Early Bird",
        "<bob> said once the core was ready",
        "<alice> #endmeeting",
    ]


async def test_a_core_that_fails_to_start_leaves_no_join_behind(
    ircd: Any, people: People, tmp_path: Path, channel: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad plugin or an old schema stops start-up after the bot has registered: it quits the
    network having joined nothing (a restart loop would otherwise flash it in and out)."""
    alice = people.alice
    await alice.join(channel)

    async def broken(*args: Any, **kwargs: Any) -> meetbot.app.App:
        assert await _known(alice, BOT)  # registered first
        raise SchemaOutOfDateError("the database schema is older than this meetbot")

    monkeypatch.setattr(meetbot.app, "build_app", broken)
    settings = _settings(ircd, tmp_path, channel)
    mark = len(alice.lines)
    with pytest.raises(SchemaOutOfDateError):
        await cli._serve(settings, build_adapters(settings.networks, SystemClock(), version="test"), None)
    assert not await _known(alice, BOT, wanted=False)  # gone from the server
    assert not any(_joined(line) for line in alice.lines[mark:])


def _settings(ircd: Any, tmp_path: Path, channel: str) -> Settings:
    return Settings.model_validate(
        {
            "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'meetbot.db'}"},
            "publish": {"dir": str(tmp_path / "minutes")},
            "networks": [
                {"name": "testnet", "type": "irc", "host": HOST, "port": ircd.ports.plain, "tls": False}
                | {"nick": BOT, "channels": [channel]}
            ],
        }
    )


def _joined(line: Line) -> bool:
    return line.command == "JOIN" and line.source == BOT


async def _known(driver: Driver, nick: str, *, wanted: bool = True) -> bool:
    """Whether the server knows `nick` (WHOIS: 311 or 401), asked until it says `wanted`, for
    up to 10 seconds."""
    known = not wanted
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(10):
            while known != wanted:
                mark = len(driver.lines)
                driver.send(f"WHOIS {nick}")
                answer = await driver.wait(lambda x: x.command in ("311", "401"), after=mark)
                known = answer.command == "311"
                if known != wanted:
                    await asyncio.sleep(0.05)
    return known
