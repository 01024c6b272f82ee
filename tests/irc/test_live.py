"""The IRC adapter against a real server with services (InspIRCd 3 + Atheme on loopback),
people played by raw-socket drivers, the whole bot built by build_app on SQLite."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from meetbot.adapters.irc import IrcAdapter
from meetbot.clock import SystemClock
from meetbot.events import MessageIn, RoomRef, Say
from tests.irc.conftest import (
    FAST,
    HOST,
    PASSWORDS,
    Bot,
    People,
    bring_bot,
    irc_network,
    start_bot,
    start_server,
    stop_bot,
    wait_until,
)
from tests.irc.driver import Driver, Line, register_account

pytestmark = pytest.mark.asyncio(loop_scope="session")


def minutes(publish_dir: Path, name: str) -> tuple[dict[str, Any], str]:
    (json_file,) = (publish_dir / name).rglob("*.json")
    (log_file,) = (publish_dir / name).rglob("*.log.txt")
    return json.loads(json_file.read_text(encoding="utf-8")), log_file.read_text(encoding="utf-8")


def from_bot(bot_nick: str, channel: str, containing: str) -> Any:
    def match(line: Line) -> bool:
        return (
            line.command == "PRIVMSG"
            and line.source == bot_nick
            and line.params[0].lower() == channel.lower()
            and containing in line.text
        )

    return match


async def say_and_wait(driver: Driver, bot_nick: str, channel: str, text: str, reply: str) -> Line:
    mark = len(driver.lines)
    driver.say(channel, text)
    return await driver.wait(from_bot(bot_nick, channel, reply), after=mark)


async def test_a_full_meeting_through_the_server(bot: Bot, people: People, channel: str) -> None:
    """Chair by account across a nick change, /me, joins, parts, nick changes and formatting
    codes all reach the log; the topic cannot be set without ops and the bot says so once;
    CTCP VERSION and PING are answered."""
    alice, bob, carol = people.alice, people.bob, people.carol
    me = bot.adapter.bot_nick
    await bring_bot(bot, alice, channel)
    await bob.join(channel)
    await say_and_wait(alice, me, channel, "#startmeeting Live Meeting", "Meeting started")
    await asyncio.gather(carol.join(channel), people.mallory.join(channel))
    await say_and_wait(alice, me, channel, "#chair bob", "Current chairs")
    mark = len(alice.lines)
    alice.say(channel, "#topic Releases")
    bob.say(channel, "hi \x02all\x02, \x0304red\x03 text")
    carol.act(channel, "waves")
    bob.send("NICK bobby")
    await alice.wait(lambda x: x.command == "NICK" and x.text == "bobby", after=mark)
    # bob's account keeps his chair under another nick.
    bob.say(channel, "#agreed ship it on Friday")
    alice.say(channel, "#topic Second topic")  # no second "cannot set the topic"
    carol.send(f"PART {channel} :lunch")
    alice.send(f"KICK {channel} mallory :not today")
    bob.send("NICK bob")
    await alice.wait(lambda x: x.command == "NICK" and x.text == "bob", after=mark)
    ctcp_mark = len(carol.lines)
    carol.send(f"PRIVMSG {me} :\x01VERSION\x01")
    carol.send(f"PRIVMSG {me} :\x01PING 12345\x01")
    await say_and_wait(alice, me, channel, "#endmeeting", "Meeting ended")

    refusals = alice.said_by(me, channel, after=mark)
    assert [line.text for line in refusals].count(
        "I can't change the channel topic here (that needs channel operator status, or the channel "
        "set -t); the meeting goes on without it."
    ) == 1
    version = await carol.wait(lambda x: x.command == "NOTICE" and "VERSION" in x.text, after=ctcp_mark)
    assert version.text == "\x01VERSION meetbot test\x01"
    ping = await carol.wait(lambda x: x.command == "NOTICE" and "PING" in x.text, after=ctcp_mark)
    assert ping.text == "\x01PING 12345\x01"

    data, log = minutes(bot.publish_dir, "live_meeting")
    items = [(item["kind"], item["text"], item["nick"]) for item in data["items"]]
    assert items == [
        ("TOPIC", "Releases", "alice"),
        ("AGREED", "ship it on Friday", "bobby"),
        ("TOPIC", "Second topic", "alice"),
    ]
    assert data["meeting"]["room"] == channel
    for expected in (
        "carol has joined",
        "<bob> hi all, red text",  # formatting codes gone, words kept
        "* carol waves",
        "bob is now known as bobby",
        "carol has left (lunch)",
        "mallory was kicked (by alice: not today)",
        "bobby is now known as bob",
        "<alice> #endmeeting",
    ):
        assert expected in log, (expected, log)
    # Times come from the server (server-time), in order.
    assert log.index("carol has joined") < log.index("* carol waves") < log.index("carol has left")


async def test_the_bot_sets_the_topic_when_it_is_op(bot: Bot, people: People, channel: str) -> None:
    alice = people.alice
    me = bot.adapter.bot_nick
    await bring_bot(bot, alice, channel)
    mark = len(alice.lines)
    alice.send(f"MODE {channel} +o {me}")
    await alice.wait(lambda x: x.command == "MODE" and me in x.params, after=mark)
    await say_and_wait(alice, me, channel, "#startmeeting Topic Setting", "Meeting started")
    alice.say(channel, "#topic Budget")
    topic = await alice.wait(lambda x: x.command == "TOPIC" and x.source == me, after=mark)
    assert "Budget" in topic.text
    await say_and_wait(alice, me, channel, "#endmeeting", "Meeting ended")
    assert not [line for line in alice.said_by(me, channel, after=mark) if "can't change" in line.text]


async def test_history_replayed_on_join_is_not_taken_as_live(bot: Bot, people: People, channel: str) -> None:
    """InspIRCd's +H replays recent lines to whoever joins; an old #startmeeting among them
    must not start a meeting."""
    alice = people.alice
    me = bot.adapter.bot_nick
    await alice.join(channel)
    alice.send(f"MODE {channel} +H 20:1h")
    alice.say(channel, "#startmeeting From The Past")
    alice.say(channel, "said before the bot came")
    await asyncio.sleep(1.1)  # server-time has millisecond precision: make "before" unambiguous
    mark = len(alice.lines)
    alice.send(f"INVITE {me} {channel}")
    await alice.wait(lambda x: x.command == "JOIN" and x.source == me, after=mark)
    await say_and_wait(alice, me, channel, "#commands", "")  # anything the bot answers, after the replay
    assert await bot.app.service.meeting_in(RoomRef(bot.adapter.network, channel)) is None
    assert not [line for line in alice.said_by(me, channel, after=mark) if "Meeting started" in line.text]


async def test_a_nick_spoofer_is_refused_chair_commands(bot: Bot, people: People, channel: str) -> None:
    alice, mallory = people.alice, people.mallory
    me = bot.adapter.bot_nick
    await bring_bot(bot, alice, channel)
    await mallory.join(channel)
    await say_and_wait(alice, me, channel, "#startmeeting Spoof Test", "Meeting started")
    mark = len(alice.lines)
    alice.send("NICK alice_away")
    await alice.wait(lambda x: x.command == "NICK" and x.text == "alice_away", after=mark)
    mallory.send("NICK alice")
    await alice.wait(lambda x: x.command == "NICK" and x.text == "alice", after=mark)
    try:
        refusal = await say_and_wait(mallory, me, channel, "#endmeeting", "is for the meeting chairs")
        assert refusal.text.startswith("alice: #endmeeting is for the meeting chairs")
        await say_and_wait(mallory, me, channel, "#chair alice", "is for the meeting chairs")
    finally:
        mallory.send("NICK mallory")
        await alice.wait(lambda x: x.command == "NICK" and x.text == "mallory", after=mark)
        alice.send("NICK alice")
        await alice.wait(lambda x: x.command == "NICK" and x.text == "alice" and x.source == "alice_away")
    meeting = await bot.app.service.meeting_in(RoomRef(bot.adapter.network, channel))
    assert meeting is not None, "the spoofer ended the meeting"
    await say_and_wait(alice, me, channel, "#endmeeting", "Meeting ended")
    data, _ = minutes(bot.publish_dir, "spoof_test")
    assert data["meeting"]["chairs"] == ["alice"]


async def test_100_commands_in_a_second_keep_the_bot_connected_and_within_budget(
    bot: Bot, people: People, channel: str
) -> None:
    """The bot sits on a port with Libera-like limits (Excess Flood kills). 100 refused
    commands produce 100 refusals, merged into a few lines; a backlog of long lines that
    cannot merge goes out at the configured rate after the burst."""
    alice, carol, mallory = people.alice, people.carol, people.mallory
    me = bot.adapter.bot_nick
    await bring_bot(bot, alice, channel)
    await asyncio.gather(carol.join(channel), mallory.join(channel))
    await say_and_wait(alice, me, channel, "#startmeeting Flood Test", "Meeting started")
    commands = [
        "agreed",
        "accepted",
        "rejected",
        "topic",
        "undo",
        "lurk",
        "save",
        "chair",
        "unchair",
        "meetingname",
    ]
    mark = len(alice.lines)
    started = time.monotonic()
    for i in range(100):
        (carol if i % 2 else mallory).say(channel, f"#{commands[i % 10]} item {i}")
        if i % 10 == 9:
            await asyncio.sleep(0.09)
    assert time.monotonic() - started < 1.2

    def refusals_counted() -> int:
        total = 0
        for line in alice.said_by(me, channel, after=mark):
            for piece in line.text.split(" | "):
                if "is for the meeting chairs" in piece:
                    count = piece.rsplit("(×", 1)
                    total += int(count[1].rstrip(")")) if len(count) == 2 else 1
        return total

    await wait_until(lambda: refusals_counted() >= 100, 30, "100 refusals")
    assert refusals_counted() == 100
    replies = alice.said_by(me, channel, after=mark)
    assert len(replies) <= 10, [line.text for line in replies]  # merged, not one line per reply
    within_budget([line.received for line in replies], burst=4, rate=1.0)

    # A backlog that cannot be merged: each line alone fills most of a message.
    mark = len(alice.lines)
    for i in range(9):
        await bot.adapter.send(Say(RoomRef(bot.adapter.network, channel), f"{i} " + "x" * 380))
    await alice.wait(lambda x: x.command == "PRIVMSG" and x.text.startswith("8 "), after=mark, timeout=15)
    times = [line.received for line in alice.said_by(me, channel, after=mark)]
    assert len(times) == 9
    within_budget(times, burst=4, rate=1.0)
    assert times[-1] - times[0] < 9 / 1.0 + 1.0  # and not needlessly slow
    assert bot.adapter.joined >= {channel}
    assert not [x for x in alice.lines[mark:] if x.command == "QUIT" and x.source == me]
    await say_and_wait(alice, me, channel, "#endmeeting", "Meeting ended")


def within_budget(times: list[float], burst: int, rate: float) -> None:
    """A bucket never holds more than `burst` tokens, so whatever its state at the first line,
    line i may only arrive once (i + 1 - burst) more tokens have been earned (50 ms of slack
    for the network and the loop)."""
    for i in range(burst, len(times)):
        assert times[i] - times[0] >= (i + 1 - burst) / rate - 0.05, (
            i,
            [round(t - times[0], 2) for t in times],
        )


async def test_connecting_tls_ipv6_sasl_failure_nick_regain_and_nickserv(
    ircd: Any, accounts: dict[str, str], people: People, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="meetbot.adapters.irc")
    cert = str(ircd.cert)
    alice = people.alice
    await alice.join("#keyed")
    alice.send("MODE #keyed +k sekrit")
    await alice.wait(lambda x: x.command == "MODE" and x.params[:2] == ["#keyed", "+k"])
    adapters = {
        # The self-signed server certificate is not trusted by the system store: refused.
        "untrusted": IrcAdapter(
            irc_network(ircd, name="untrusted", port=ircd.ports.tls, tls=True, nick="u1", sasl=None),
            SystemClock(),
            timings=FAST,
        ),
        # Trusted through ca_file; wrong SASL password.
        "wrongpw": IrcAdapter(
            irc_network(
                ircd,
                name="wrongpw",
                port=ircd.ports.tls,
                tls=True,
                ca_file=cert,
                nick="w1",
                sasl={"username": "botty", "password": "not-the-password"},
                join_on_invite=False,
            ),
            SystemClock(),
            timings=FAST,
        ),
        # Verification explicitly off, over IPv6; nick taken (carol) -> alternative, then regain.
        "ipv6": IrcAdapter(
            irc_network(
                ircd,
                name="ipv6",
                host="::1",
                port=ircd.ports.tls,
                tls=True,
                tls_verify=False,
                nick="carol",
                alt_nicks=["carol-bot"],
                sasl=None,
            ),
            SystemClock(),
            timings=FAST,
        ),
        # No SASL configured: NickServ IDENTIFY; a channel with a key.
        "nickserv": IrcAdapter(
            irc_network(
                ircd,
                name="nickserv",
                port=ircd.ports.plain,
                nick="botty",
                sasl=None,
                nickserv_password=PASSWORDS["botty"],
                channels=[{"name": "#keyed", "key": "sekrit"}],
            ),
            SystemClock(),
            timings=FAST,
        ),
    }
    seen: list[MessageIn] = []
    tasks = [asyncio.create_task(adapter.run(seen.append)) for adapter in adapters.values()]
    try:
        await wait_until(
            lambda: adapters["wrongpw"].auth_error is not None and adapters["wrongpw"].registered,
            10,
            "the wrong-password bot to register",
        )
        assert adapters["wrongpw"].auth_error == (
            "SASL PLAIN as 'botty' failed: SASL authentication failed (check the account name and password)"
        )
        assert adapters["wrongpw"].account is None
        assert any(
            r.levelno == logging.ERROR and "SASL PLAIN as 'botty' failed" in r.getMessage()
            for r in caplog.records
        )

        await wait_until(lambda: adapters["nickserv"].account == "botty", 10, "NickServ IDENTIFY")
        await wait_until(lambda: "#keyed" in adapters["nickserv"].joined, 5, "the bot to join with the key")

        # join_on_invite is off: an invitation is logged and declined.
        alice.send("INVITE w1 #keyed")
        await wait_until(
            lambda: any("ignored an invitation to #keyed" in r.getMessage() for r in caplog.records),
            5,
            "the invitation to be declined",
        )
        assert adapters["wrongpw"].joined == set()

        await wait_until(lambda: adapters["ipv6"].registered, 10, "the IPv6 bot to register")
        assert adapters["ipv6"].bot_nick == "carol-bot"
        mark = len(people.carol.lines)
        people.carol.send("NICK carol-away")
        await people.carol.wait(lambda x: x.command == "NICK" and x.text == "carol-away", after=mark)
        await wait_until(lambda: adapters["ipv6"].bot_nick == "carol", 5, "the bot to regain its nick")

        assert not adapters["untrusted"].registered
        assert any(
            "certificate verify failed" in r.getMessage()
            for r in caplog.records
            if r.getMessage().startswith("untrusted:")
        )
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        mark = len(people.carol.lines)
        people.carol.send("NICK carol")
        await people.carol.wait(lambda x: x.command == "NICK" and x.text == "carol", after=mark)


async def test_sasl_external_with_a_client_certificate(
    ircd: Any, accounts: dict[str, str], tmp_path: Path
) -> None:
    """The certificate's fingerprint is added to an account (NickServ CERT ADD, over a TLS
    connection presenting it), then the bot logs in with it and no password."""
    cert, key = tmp_path / "bot.pem", tmp_path / "bot.key"
    await asyncio.to_thread(
        subprocess.run,
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=meetbot-test-client",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    context = ssl.create_default_context(cafile=str(ircd.cert))
    context.load_cert_chain(str(cert), str(key))
    owner = await Driver.connect(
        HOST, ircd.ports.tls, "certowner", account=("bob", PASSWORDS["bob"]), tls=context
    )
    try:
        mark = len(owner.lines)
        owner.say("NickServ", "CERT ADD")
        added = await owner.wait(lambda x: x.source == "NickServ" and x.command == "NOTICE", after=mark)
        assert "added" in added.text.lower(), added.text
    finally:
        await owner.close()
    network = irc_network(
        ircd,
        name="external",
        port=ircd.ports.tls,
        tls=True,
        ca_file=str(ircd.cert),
        nick="extbot",
        sasl={"mechanism": "EXTERNAL", "cert_file": str(cert), "key_file": str(key)},
    )
    adapter = IrcAdapter(network, SystemClock(), timings=FAST)
    task = asyncio.create_task(adapter.run(lambda message: None))
    try:
        await wait_until(lambda: adapter.registered, 10, "the EXTERNAL bot to register")
        assert adapter.account == "bob"
        assert adapter.auth_error is None
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_server_restart_mid_meeting(tmp_path: Path, accounts: dict[str, str]) -> None:
    """Its own server (the restart would disturb the shared one): the bot reconnects, rejoins
    and the meeting goes on; the minutes hold every line the server delivered."""
    server = start_server(tmp_path / "ircd")
    try:
        port = server.ports.plain
        await asyncio.gather(
            register_account(HOST, port, "alice", "pw-a"), register_account(HOST, port, "bob", "pw-b")
        )
        channel = "#restart"
        bot = await start_bot(
            irc_network(server, port=server.ports.limited, channels=[channel], sasl=None), tmp_path
        )
        alice, bob = await asyncio.gather(
            Driver.connect(HOST, port, "alice", account=("alice", "pw-a")),
            Driver.connect(HOST, port, "bob", account=("bob", "pw-b")),
        )
        me = bot.adapter.bot_nick
        await wait_until(lambda: channel in bot.adapter.joined, 10, "the bot to join")
        await asyncio.gather(alice.join(channel), bob.join(channel))
        await say_and_wait(alice, me, channel, "#startmeeting Restart Test", "Meeting started")
        bob.say(channel, "before the restart")
        alice.say(channel, "#info one")
        # The reply to a later line proves the earlier ones were stored (one ordered queue).
        await say_and_wait(alice, me, channel, "#chair bob", "Current chairs")
        for driver in (alice, bob):
            await driver.close()
        await asyncio.to_thread(server.restart_ircd)

        alice, bob = await asyncio.gather(
            Driver.connect(HOST, port, "alice", account=("alice", "pw-a")),
            Driver.connect(HOST, port, "bob", account=("bob", "pw-b")),
        )
        await asyncio.gather(alice.join(channel), bob.join(channel))
        await wait_until(lambda: channel in bot.adapter.joined, 15, "the bot to rejoin")
        bob.say(channel, "after the restart")
        bob.say(channel, "#agreed the meeting survived")
        await say_and_wait(alice, me, channel, "#endmeeting", "Meeting ended")
        data, log = minutes(bot.publish_dir, "restart_test")
        assert [(i["kind"], i["text"]) for i in data["items"]] == [
            ("INFO", "one"),
            ("AGREED", "the meeting survived"),
        ]
        for text in ("<bob> before the restart", "<bob> after the restart", "<alice> #endmeeting"):
            assert text in log
        await stop_bot(bot)
        await asyncio.gather(alice.close(), bob.close())
    finally:
        server.stop()


async def test_a_dead_link_is_detected_and_the_bot_comes_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The server freezes (SIGSTOP: the TCP link stays up, nothing comes through): the bot
    PINGs, gives up, and once the server thaws reconnects and rejoins."""
    caplog.set_level(logging.INFO, logger="meetbot.adapters.irc")
    server = start_server(tmp_path / "ircd")
    timings = dataclasses.replace(FAST, ping_interval=0.5, ping_timeout=0.5, register_timeout=3)
    adapter = IrcAdapter(
        irc_network(server, port=server.ports.plain, channels=["#alive"], sasl=None),
        SystemClock(),
        timings=timings,
    )
    task = asyncio.create_task(adapter.run(lambda message: None))
    try:
        await wait_until(lambda: "#alive" in adapter.joined, 10, "the bot to join")
        pid = server.pids()["inspircd"]
        os.kill(pid, signal.SIGSTOP)
        try:
            await wait_until(lambda: not adapter.registered, 5, "the bot to notice the dead link")
        finally:
            os.kill(pid, signal.SIGCONT)
        assert any("the link is dead" in record.getMessage() for record in caplog.records)
        await wait_until(lambda: "#alive" in adapter.joined, 10, "the bot to rejoin")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        server.stop()


async def test_kill_9_of_the_bot_process_mid_meeting(
    ircd: Any, accounts: dict[str, str], people: People, tmp_path: Path, channel: str
) -> None:
    """`meetbot run` as a user runs it; SIGKILL mid-meeting; started again it rejoins and the
    meeting goes on with nothing lost and nothing said twice."""
    alice, bob = people.alice, people.bob
    config = tmp_path / "meetbot.yaml"
    config.write_text(
        f"""
database: {{url: "sqlite+aiosqlite:///{tmp_path / "meetbot.db"}"}}
publish: {{dir: "{tmp_path / "minutes"}"}}
networks:
  - {{name: testnet, type: irc, host: 127.0.0.1, port: {ircd.ports.limited}, tls: false, nick: botty,
     sasl: {{username: botty, password: "{PASSWORDS["botty"]}"}}, channels: ["{channel}"]}}
""",
        encoding="utf-8",
    )
    await alice.join(channel)
    await bob.join(channel)

    def spawn() -> subprocess.Popen[bytes]:
        with (tmp_path / "bot.log").open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "meetbot.cli", "run", "-c", str(config)],
                cwd=tmp_path,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    async def run_bot() -> subprocess.Popen[bytes]:
        mark = len(alice.lines)
        process = spawn()
        await alice.wait(lambda x: x.command == "JOIN" and x.source == "botty", after=mark, timeout=20)
        return process

    process = await run_bot()
    mark = len(alice.lines)
    try:
        await say_and_wait(alice, "botty", channel, "#startmeeting Kill Nine", "Meeting started")
        bob.say(channel, "said before the kill")
        await say_and_wait(alice, "botty", channel, "#chair bob", "Current chairs")
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        await alice.wait(lambda x: x.command == "QUIT" and x.source == "botty", after=mark)
        process = await run_bot()
        bob.say(channel, "said after the restart")
        bob.say(channel, "#agreed chairs survive a kill")
        await say_and_wait(alice, "botty", channel, "#endmeeting", "Meeting ended")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)
    said = [line.text for line in alice.said_by("botty", channel, after=mark)]
    assert len(said) == len(set(said)), said  # nothing said twice
    data, log = minutes(tmp_path / "minutes", "kill_nine")
    assert [(i["kind"], i["text"], i["nick"]) for i in data["items"]] == [
        ("AGREED", "chairs survive a kill", "bob")
    ]
    for text in ("<bob> said before the kill", "<alice> #chair bob", "<bob> said after the restart"):
        assert text in log
