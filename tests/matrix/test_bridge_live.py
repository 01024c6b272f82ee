"""A bridged meeting place with a real bridge: InspIRCd + Atheme, Synapse, and heisenbridge (from
PyPI, in its own venv under .cache/heisenbridge-venv, registered with this test's Synapse as an
application service) plumbing an IRC channel into a Matrix room, and the bot on both sides.

heisenbridge relays Matrix people to IRC as `<name> text` from its own IRC nick and shows IRC
people in Matrix as puppets `@irc_<network>_<nick>`, so both of meetbot's copy rules (relay
lines, Matrix puppets) run against what a real bridge does. heisenbridge is installed on first
use (~20 s); where it cannot be, the test skips (fails with MEETBOT_REQUIRE_MATRIX=1).
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from nio import AsyncClient, AsyncClientConfig, SyncResponse

from meetbot.adapters.irc import IrcAdapter
from meetbot.adapters.matrix import MatrixAdapter
from meetbot.app import build_app
from meetbot.clock import SystemClock
from meetbot.config.schema import IrcNetwork, MatrixAccount, Settings
from tests.irc.conftest import FAST, HOST, start_server
from tests.irc.driver import Driver, register_account
from tests.matrix.conftest import PASSWORD, REQUIRED, Person, harness, new_user, ok

ROOT = Path(__file__).resolve().parents[2]
BRIDGE_VENV = ROOT / ".cache" / "heisenbridge-venv"
BRIDGE_REQUIREMENT = os.environ.get("MEETBOT_HEISENBRIDGE_REQUIREMENT", "heisenbridge==1.15.4")
RELAY_NICK = "hbrelay"  # heisenbridge's own IRC nick, which relays Matrix people
CHANNEL = "#bridged"


def _bridge_python() -> Path:
    return BRIDGE_VENV / "bin" / "python"


def _install_bridge() -> None:
    probe = [str(_bridge_python()), "-c", "import heisenbridge"]
    if _bridge_python().exists() and subprocess.run(probe, check=False, capture_output=True).returncode == 0:
        return
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(BRIDGE_VENV)], check=True)
    subprocess.run(
        [
            str(_bridge_python()),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            BRIDGE_REQUIREMENT,
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )


@dataclass
class World:
    ircd: Any
    synapse: Any
    bridge: subprocess.Popen[bytes]
    owner: str  # the Matrix user heisenbridge obeys (its -o)
    directory: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    directory = tmp_path_factory.mktemp("bridge")
    try:
        harness.install()
        _install_bridge()
    except (harness.HarnessError, subprocess.SubprocessError, OSError) as error:
        if REQUIRED:
            pytest.fail(f"MEETBOT_REQUIRE_MATRIX=1 but Synapse/heisenbridge cannot be installed: {error}")
        pytest.skip(f"no Synapse or heisenbridge here: {error}")
    ircd = start_server(directory / "ircd")
    registration = directory / "heisenbridge.yaml"
    port = harness.free_port()
    subprocess.run(
        [str(_bridge_python()), "-m", "heisenbridge", "-c", str(registration), "--generate", "-p", str(port)],
        check=True,
        capture_output=True,
    )
    synapse = harness.start(directory / "synapse", appservices=(registration,))
    owner = new_user(synapse, "owner")
    log = open(directory / "heisenbridge.log", "wb")  # noqa: SIM115 - the child owns it
    bridge = subprocess.Popen(
        [
            str(_bridge_python()),
            "-m",
            "heisenbridge",
            "-v",
            "-c",
            str(registration),
            "-o",
            owner,
            synapse.url,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    try:
        yield World(ircd, synapse, bridge, owner, directory)
    finally:
        bridge.terminate()
        try:
            bridge.wait(10)
        except subprocess.TimeoutExpired:
            bridge.kill()
        synapse.stop()
        ircd.stop()


async def _login_existing(world: World, user_id: str) -> Person:
    client = AsyncClient(world.synapse.url, user_id, config=AsyncClientConfig(max_limit_exceeded=None))
    ok(await client.login(PASSWORD, device_name="test"))
    person = Person(client)
    person._task = asyncio.create_task(_sync_with_invites(person))
    return person


async def _sync_with_invites(person: Person) -> None:
    """Person's sync loop, also joining every room it is invited to (heisenbridge's rooms)."""
    while True:
        response = await person.client.sync(timeout=30_000)
        if not isinstance(response, SyncResponse):
            await asyncio.sleep(0.1)
            continue
        for room_id in response.rooms.invite:
            await person.client.join(room_id)
        for room_id, joined in response.rooms.join.items():
            for event in joined.timeline.events:
                person.events.append({**event.source, "room_id": room_id})
        person._changed.set()


def _notice_from(bridge_user: str, contains: str) -> Any:
    return lambda e: (
        e.get("sender") == bridge_user
        and contains.lower() in str(e.get("content", {}).get("body", "")).lower()
    )


async def _until_on_irc(driver: Driver, nick: str, within: float = 30) -> None:
    """Until `nick` is connected to the IRC server (heisenbridge says nothing when registered)."""
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        mark = len(driver.lines)
        driver.send(f"ISON {nick}")
        reply = await driver.wait(lambda x: x.command == "303", after=mark)
        if nick.lower() in reply.text.lower().split():
            return
        await asyncio.sleep(0.3)
    raise AssertionError(f"{nick} did not come on IRC within {within}s")


async def test_heisenbridge_plumbed_room_is_one_meeting(world: World, tmp_path: Path) -> None:
    synapse, ircd = world.synapse, world.ircd
    bridge_user = "@heisenbridge:localhost"
    owner = await _login_existing(world, world.owner)
    alice = await Person.login(synapse, "alice")  # a Matrix person
    bot_user = new_user(synapse, "meetbot")
    await register_account(HOST, ircd.ports.plain, "bob", "bob-pw")
    bob = await Driver.connect(HOST, ircd.ports.plain, "bob", account=("bob", "bob-pw"))
    try:
        # heisenbridge opens a control room for its owner at start; set up a network there.
        control = await owner.wait_for(_notice_from(bridge_user, ""), 60, "heisenbridge's control room")
        control_room = control["room_id"]
        for command in (
            "ADDNETWORK testnet",
            f"ADDSERVER testnet 127.0.0.1 {ircd.ports.plain}",
            "OPEN testnet",
        ):
            await owner.send(control_room, command)
        opened = await owner.wait_for(
            lambda e: e["room_id"] != control_room and e.get("sender") == bridge_user, 30, "the network room"
        )
        network_room = opened["room_id"]
        await owner.send(network_room, f"NICK {RELAY_NICK}")
        await owner.send(network_room, "CONNECT")
        await _until_on_irc(bob, RELAY_NICK)

        await bob.join(CHANNEL)
        room = await alice.create_room(public=True, invite=(bot_user,))
        await owner.send(network_room, f"PLUMB {room} {CHANNEL}")
        await bob.wait(lambda x: x.command == "JOIN" and x.source == RELAY_NICK, 30)

        settings = Settings.model_validate(
            {
                "publish": {"dir": str(tmp_path / "minutes")},
                "networks": [
                    {
                        "name": "testnet",
                        "type": "irc",
                        "host": HOST,
                        "port": ircd.ports.plain,
                        "tls": False,
                        "nick": "meetbot",
                        "channels": [CHANNEL],
                    },
                    {
                        "name": "mx",
                        "type": "matrix",
                        "homeserver": synapse.url,
                        "user_id": bot_user,
                        "password": PASSWORD,
                        "rooms": [room],
                        "state_dir": str(tmp_path / "mx"),
                    },
                ],
                "bridges": [
                    {
                        "irc": {"network": "testnet", "channel": CHANNEL},
                        "matrix": {"network": "mx", "room": room},
                        "preset": "heisenbridge",
                        "reply_on": "irc",
                        "relay": {"nick": RELAY_NICK},
                    },
                ],
            }
        )
        irc_config, matrix_config = settings.networks
        assert isinstance(irc_config, IrcNetwork)
        assert isinstance(matrix_config, MatrixAccount)
        irc_adapter = IrcAdapter(irc_config, SystemClock(), timings=FAST, version="test")
        matrix_adapter = MatrixAdapter(matrix_config)
        app = await build_app(
            settings,
            [irc_adapter, matrix_adapter],
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'meetbot.db'}",
            publish_dir=tmp_path / "minutes",
        )
        running = asyncio.create_task(app.run())
        try:
            await asyncio.wait_for(matrix_adapter.wait_ready(), 30)
            await bob.wait(lambda x: x.command == "JOIN" and x.source == "meetbot", 30)
            await _scenario(
                bob, alice, room, bot_user, minutes=tmp_path / "minutes", database=tmp_path / "meetbot.db"
            )
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
    finally:
        await bob.close()
        await alice.close()
        await owner.close()


def _bot_on_irc(bob: Driver, contains: str, after: int) -> Any:
    return bob.wait(
        lambda x: x.command == "PRIVMSG" and x.source == "meetbot" and contains in x.text, 20, after=after
    )


def _puppet_said(text: str) -> Any:
    return lambda e: (
        str(e.get("sender", "")).startswith("@irc_") and text in str(e.get("content", {}).get("body", ""))
    )


async def _scenario(
    bob: Driver, alice: Person, room: str, bot_user: str, *, minutes: Path, database: Path
) -> None:
    mark = len(bob.lines)
    bob.say(CHANNEL, "#startmeeting bridged")
    await _bot_on_irc(bob, "Meeting started", mark)
    # The bot's IRC reply reaches Matrix through heisenbridge's puppet of the bot ...
    await alice.wait_for(_puppet_said("Meeting started"), 20, "the bridge to carry the bot's reply")

    alice_name = alice.user_id[1:].partition(":")[0]
    await alice.send(room, "hello from matrix")
    await alice.send(room, "#info matrix people can see this")
    # ... and Matrix lines reach IRC as heisenbridge's relay lines `<alice> text`.
    await bob.wait(lambda x: x.source == RELAY_NICK and "#info matrix people" in x.text, 20)
    bob.say(CHANNEL, "hello from irc")
    mark = len(bob.lines)
    bob.say(CHANNEL, "#action bob to write the docs")
    # The action's copy arrives in Matrix from the puppet @irc_testnet_bob: a command again.
    await alice.wait_for(_puppet_said("#action bob to write the docs"), 20, "the puppet's copy of #action")
    await asyncio.sleep(1)  # the bot has had the copy: had it run, its answer would come now
    await alice.send(room, "#endmeeting")
    await _bot_on_irc(bob, "Meeting ended", mark)

    log_txt = next(minutes.rglob("*.log.txt")).read_text()
    for line in (
        "hello from matrix",
        "#info matrix people can see this",
        "hello from irc",
        "#action bob to write the docs",
        "#endmeeting",
    ):
        assert log_txt.count(line) == 1, (line, log_txt)
    assert RELAY_NICK not in log_txt
    assert "irc_testnet" not in log_txt
    minutes_txt = next(p for p in minutes.rglob("*.txt") if not p.name.endswith(".log.txt")).read_text()
    assert minutes_txt.count("bob to write the docs") >= 1
    # Each human line once, under the identity of the side it was written on (the account for
    # bob, the Matrix user id for alice); who was present lists both sides, no puppet or relay.
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT kind, sender_key, text FROM meeting_lines ORDER BY seq").fetchall()
    said = [(key, text) for kind, key, text in rows if kind == "say" and not key.endswith(":@bot")]
    # Sorted: the two sides race (the bot's Matrix sync may deliver after heisenbridge relays).
    assert sorted(said) == sorted(
        [
            ("testnet:bob", "#startmeeting bridged"),
            (f"mx:{alice.user_id}", "hello from matrix"),
            (f"mx:{alice.user_id}", "#info matrix people can see this"),
            ("testnet:bob", "hello from irc"),
            ("testnet:bob", "#action bob to write the docs"),
            (f"mx:{alice.user_id}", "#endmeeting"),
        ]
    )
    (present,) = [json.loads(text) for kind, _, text in rows if kind == "present"]
    assert sorted(account for _, account in present) == sorted(["bob", alice.user_id])
    data = json.loads(next(minutes.rglob("*.json")).read_text())
    assert sorted((i["kind"], i["nick"]) for i in data["items"]) == [("ACTION", "bob"), ("INFO", alice_name)]
    # The bot spoke on IRC only: nothing from its Matrix account in the room.
    assert alice.said_by(bot_user, room) == []
