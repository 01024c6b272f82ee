"""Backfill against the real server (InspIRCd's +H replays a channel's history to whoever
joins: after a server restart the bot gets what was said while it was away, logs it once, and
runs none of it), and who may start meetings per channel (voice, op, services account)."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from meetbot.adapters.irc import IrcAdapter
from meetbot.app import build_app
from meetbot.clock import SystemClock
from meetbot.config.schema import Settings
from meetbot.events import RoomRef
from tests.irc.conftest import (
    FAST,
    HOST,
    Bot,
    People,
    irc_network,
    start_bot,
    start_server,
    stop_bot,
    wait_until,
)
from tests.irc.driver import Driver, register_account
from tests.irc.test_live import minutes, say_and_wait

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Every reconnect attempt waits exactly 4 s (no jitter): the people are back and talking well
# before the bot, whatever the machine's load.
SLOW_RETURN = dataclasses.replace(FAST, backoff_base=8, backoff_cap=8)


async def test_lines_said_while_the_bot_was_away_are_backfilled_once_and_never_run(
    tmp_path: Path,
) -> None:
    server = start_server(tmp_path / "ircd")
    drivers: list[Driver] = []
    bot: Bot | None = None
    try:
        port = server.ports.plain
        await asyncio.gather(
            register_account(HOST, port, "alice", "pw-a"), register_account(HOST, port, "bob", "pw-b")
        )

        async def connect_people() -> tuple[Driver, Driver]:
            alice, bob = await asyncio.gather(
                Driver.connect(HOST, port, "alice", account=("alice", "pw-a")),
                Driver.connect(HOST, port, "bob", account=("bob", "pw-b")),
            )
            drivers[:] = [alice, bob]
            return alice, bob

        adapter = IrcAdapter(
            irc_network(server, port=server.ports.limited, sasl=None),
            SystemClock(),
            timings=SLOW_RETURN,
            version="test",
            rand=lambda: 0.0,
        )
        settings = Settings.model_validate({"publish": {"dir": str(tmp_path / "minutes")}})
        app = await build_app(settings, [adapter], database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
        bot = Bot(adapter, app, tmp_path / "minutes", asyncio.create_task(app.run()))
        room = RoomRef(adapter.network, "#backfill")
        channel = room.room
        alice, bob = await connect_people()
        await wait_until(lambda: adapter.registered, 10, "the bot to connect")
        me = adapter.bot_nick

        # alice creates the channel (so she is its op) and invites the bot, which then keeps
        # the channel among those it rejoins.
        await alice.join(channel)
        alice.send(f"MODE {channel} +H 50:1h")
        await bob.join(channel)
        mark = len(alice.lines)
        alice.send(f"INVITE {me} {channel}")
        await alice.wait(lambda x: x.command == "JOIN" and x.source == me, after=mark)
        await say_and_wait(alice, me, channel, "#startmeeting Backfill Test", "Meeting started")
        bob.say(channel, "#info said before the restart")
        await say_and_wait(alice, me, channel, "#commands", "Available commands")  # bob's line is in

        for driver in (alice, bob):
            await driver.close()
        await asyncio.to_thread(server.restart_ircd)
        assert not adapter.registered

        # The restarted server has forgotten the channel: alice creates it again, as its op,
        # with history on, and the talk goes on before the bot is back (+i keeps it out until
        # alice invites it, so the order cannot depend on timing).
        alice, bob = await connect_people()
        await alice.join(channel)
        mark = len(alice.lines)
        alice.send(f"MODE {channel} +iH 50:1h")
        await alice.wait(lambda x: x.command == "MODE" and x.params[0] == channel, after=mark)
        alice.send(f"INVITE bob {channel}")
        await bob.join(channel)
        bob.say(channel, "said while the bot was away")
        alice.say(channel, "#topic Replayed topic")
        bob.say(channel, "#info replayed info")
        alice.say(channel, "#endmeeting")
        await bob.wait(lambda x: x.command == "PRIVMSG" and x.text == "#endmeeting")
        assert not [x for x in alice.lines if x.command == "JOIN" and x.source == me]  # not back yet

        await wait_until(lambda: adapter.registered, 15, "the bot to reconnect")
        mark = len(alice.lines)
        alice.send(f"INVITE {me} {channel}")
        await alice.wait(lambda x: x.command == "JOIN" and x.source == me, after=mark)
        await say_and_wait(alice, me, channel, "#chair bob", "Current chairs")  # the meeting is open

        # Once more, now with lines the bot has seen among the replayed ones: kicked and
        # invited back, it gets the whole history again and logs none of it twice.
        mark = len(alice.lines)
        alice.send(f"KICK {channel} {me} :again")
        await alice.wait(lambda x: x.command == "KICK", after=mark)
        alice.send(f"INVITE {me} {channel}")
        await alice.wait(lambda x: x.command == "JOIN" and x.source == me, after=mark)
        bob.say(channel, "#agreed the meeting held")
        await say_and_wait(alice, me, channel, "#endmeeting", "Meeting ended")
    finally:
        for driver in drivers:
            await driver.close()
        if bot is not None:
            await stop_bot(bot)
        server.stop()

    data, log = minutes(tmp_path / "minutes", "backfill_test")
    assert [(item["kind"], item["text"], item["nick"]) for item in data["items"]] == [
        ("INFO", "said before the restart", "bob"),
        ("AGREED", "the meeting held", "bob"),
    ]
    replayed = " (replayed by the server)"
    for text in (
        "<bob> said while the bot was away" + replayed,
        "<alice> #topic Replayed topic" + replayed,
        "<bob> #info replayed info" + replayed,
        "<alice> #endmeeting" + replayed,
    ):
        assert log.count(text) == 1, (text, log)
    for text in ("said while the bot was away", "#info replayed info", "<alice> #chair bob"):
        assert log.count(text) == 1, (text, log)
    assert log.count("<alice> #endmeeting") == 2  # the replayed one and the one that ended it
    assert log.index("said while the bot was away") < log.index("<alice> #chair bob")
    # The replayed lines count for the people's accounts, not for second, unverified namesakes.
    assert [person["nick"] for person in data["attendees"]] == ["alice", "bob", me]


async def test_who_may_start_a_meeting_is_configured_per_channel(
    ircd: Any, people: People, tmp_path: Path, channel: str
) -> None:
    """`start: voiced` plus a listed account: a plain member is refused (one line, no meeting),
    a voiced one may start, and so may the listed account without voice."""
    alice, bob, carol = people.alice, people.bob, people.carol
    await alice.join(channel)  # first in, so alice is the channel's op and can give voice
    rule = {"name": channel, "start": "voiced", "start_accounts": ["bob"]}
    bot = await start_bot(irc_network(ircd, nick="policybot", sasl=None, channels=[rule]), tmp_path)
    try:
        me = bot.adapter.bot_nick
        await wait_until(lambda: channel in bot.adapter.joined, 10, "the bot to join")
        await asyncio.gather(bob.join(channel), carol.join(channel))
        refused = await say_and_wait(carol, me, channel, "#startmeeting Not Yet", "may start")
        assert refused.text == (
            "carol: only voiced people and channel operators and the account bob may start a meeting here."
        )
        assert await bot.app.service.meeting_in(RoomRef(bot.adapter.network, channel)) is None

        mark = len(carol.lines)
        alice.send(f"MODE {channel} +v carol")
        await carol.wait(lambda x: x.command == "MODE" and x.params[-1] == "carol", after=mark)
        await say_and_wait(carol, me, channel, "#startmeeting Voiced Start", "Meeting started")
        await say_and_wait(carol, me, channel, "#endmeeting", "Meeting ended")

        await say_and_wait(bob, me, channel, "#startmeeting Account Start", "Meeting started")
        await say_and_wait(bob, me, channel, "#endmeeting", "Meeting ended")
    finally:
        await stop_bot(bot)
    assert minutes(bot.publish_dir, "voiced_start")[0]["meeting"]["started_by"] == "carol"
    assert minutes(bot.publish_dir, "account_start")[0]["meeting"]["started_by"] == "bob"
    assert not list(bot.publish_dir.rglob("*not_yet*"))
