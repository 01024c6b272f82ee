"""A real IRC network for the session (InspIRCd 3 + Atheme, scripts/ircd/ircd.py), NickServ
accounts registered once, and people (raw-socket drivers) connected once and shared.

InspIRCd registers a client only on its once-a-second tick, so every connection costs ~1 s:
everything here connects concurrently and is reused across tests.
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import os
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import pytest_asyncio

from meetbot.adapters.irc import IrcAdapter, Timings
from meetbot.app import App, build_app
from meetbot.clock import SystemClock
from meetbot.config.schema import IrcNetwork, Settings
from meetbot.events import RoomRef
from tests.irc.driver import Driver, register_account

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = os.environ.get("MEETBOT_REQUIRE_IRC") == "1"
HOST = "127.0.0.1"
PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "meetbot": "meetbot-pw", "botty": "botty-pw"}
# Short enough that reconnect tests take seconds, long enough never to fire by accident.
FAST = Timings(
    connect_timeout=5,
    register_timeout=10,
    ping_interval=30,
    ping_timeout=10,
    backoff_base=0.2,
    backoff_cap=2,
    healthy_after=5,
    regain_interval=1,
)


def _load_harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location("meetbot_ircd", ROOT / "scripts" / "ircd" / "ircd.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


harness = _load_harness()


def ensure_binaries() -> None:
    try:
        harness.install()
    except harness.HarnessError as error:
        if REQUIRED:
            pytest.fail(f"MEETBOT_REQUIRE_IRC=1 but there is no IRC server: {error}")
        pytest.skip(f"no IRC server (InspIRCd + Atheme) and it cannot be installed here: {error}")


def start_server(directory: Path) -> Any:
    ensure_binaries()
    server = harness.IrcServer(directory)
    server.start()
    return server


@pytest.fixture(scope="session")
def ircd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    server = start_server(tmp_path_factory.mktemp("ircd"))
    yield server
    server.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def accounts(ircd: Any) -> dict[str, str]:
    await asyncio.gather(*(register_account(HOST, ircd.ports.plain, n, p) for n, p in PASSWORDS.items()))
    return PASSWORDS


@dataclass
class People:
    alice: Driver  # account alice
    bob: Driver  # account bob
    carol: Driver  # no account
    mallory: Driver  # no account; takes other people's nicks

    def all(self) -> list[Driver]:
        return [self.alice, self.bob, self.carol, self.mallory]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def people(ircd: Any, accounts: dict[str, str]) -> AsyncIterator[People]:
    port = ircd.ports.plain
    drivers = await asyncio.gather(
        Driver.connect(HOST, port, "alice", account=("alice", accounts["alice"])),
        Driver.connect(HOST, port, "bob", account=("bob", accounts["bob"])),
        Driver.connect(HOST, port, "carol"),
        Driver.connect(HOST, port, "mallory"),
    )
    yield People(*drivers)
    await asyncio.gather(*(driver.close() for driver in drivers))


def irc_network(ircd: Any, **overrides: Any) -> IrcNetwork:
    fields: dict[str, Any] = {
        "name": "testnet",
        "type": "irc",
        "host": HOST,
        "port": ircd.ports.limited,  # Libera-like flood limits: flooding gets the bot killed
        "tls": False,
        "nick": "meetbot",
        "sasl": {"username": "meetbot", "password": PASSWORDS["meetbot"]},
        "join_on_invite": True,
    }
    fields.update(overrides)
    return IrcNetwork.model_validate(fields)


@dataclass
class Bot:
    adapter: IrcAdapter
    app: App
    publish_dir: Path
    task: asyncio.Task[None]


async def start_bot(network: IrcNetwork, tmp: Path, timings: Timings = FAST) -> Bot:
    settings = Settings.model_validate({"publish": {"dir": str(tmp / "minutes")}})
    adapter = IrcAdapter(network, SystemClock(), timings=timings, version="test")
    app = await build_app(settings, [adapter], database_url=f"sqlite+aiosqlite:///{tmp / 'meetbot.db'}")
    task = asyncio.create_task(app.run())
    return Bot(adapter, app, tmp / "minutes", task)


async def stop_bot(bot: Bot) -> None:
    bot.task.cancel()
    await asyncio.gather(bot.task, return_exceptions=True)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def bot(
    ircd: Any, accounts: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Bot]:
    """The bot under test, on the flood-limited port, logged in with SASL, shared by the tests
    (each test invites it into a channel of its own)."""
    running = await start_bot(irc_network(ircd), tmp_path_factory.mktemp("bot"))
    # SASL completes before registration (InspIRCd registers on its 1 s tick): wait for both,
    # or a test's INVITE can reach the server before the bot's nick exists (401).
    await wait_until(
        lambda: running.adapter.account == "meetbot" and running.adapter.registered, 10, "the bot to log in"
    )
    yield running
    await stop_bot(running)


async def wait_until(condition: Any, timeout: float, what: str) -> None:  # noqa: ASYNC109
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


_channel_numbers = itertools.count(1)


@pytest.fixture
def channel(request: pytest.FixtureRequest) -> str:
    return f"#t{next(_channel_numbers)}-{request.node.name[5:25].replace('_', '-')}"


async def bring_bot(bot: Bot, host: Driver, channel: str) -> None:
    """`host` creates the channel (and so is its op), invites the bot and waits for it."""
    await host.join(channel)
    mark = len(host.lines)
    host.send(f"INVITE {bot.adapter.bot_nick} {channel}")
    await host.wait(lambda x: x.command == "JOIN" and x.source == bot.adapter.bot_nick, after=mark)
    # The bot learns who is here (NAMES, WHOX) right after joining; minutes need the accounts.
    await wait_until(
        lambda: any(m.nick == host.nick for m in bot.adapter.members(_room(bot, channel))),
        5,
        "the bot to see the channel's members",
    )


def _room(bot: Bot, channel: str) -> RoomRef:
    return RoomRef(bot.adapter.network, channel)
