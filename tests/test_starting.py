"""Who may start meetings per channel: the policy, its configuration and the service's refusal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from meetbot.app import App
from meetbot.config.schema import IrcNetwork
from meetbot.domain.starting import may_start, refusal, who_may_start
from meetbot.events import Identity, MessageIn, RoomRef, Say, Standing, StartPolicy, StartRule
from tests.conftest import T0
from tests.recording import Recorder, recorded_app
from tests.test_config import IRC, load_settings, only_problem, write

NONE, VOICED, OPERATOR = Standing.NONE, Standing.VOICED, Standing.OPERATOR


@pytest.mark.parametrize(
    ("policy", "allowed"),
    [
        (StartPolicy.ANYONE, {NONE, VOICED, OPERATOR}),
        (StartPolicy.VOICED, {VOICED, OPERATOR}),
        (StartPolicy.OPS, {OPERATOR}),
        (StartPolicy.ACCOUNTS, set()),
    ],
)
def test_standing_against_each_policy(policy: StartPolicy, allowed: set[Standing]) -> None:
    rule = StartRule(policy)
    for standing in Standing:
        assert may_start(rule, standing, "someone") is (standing in allowed), standing


def test_listed_accounts_may_start_under_any_policy_and_nicks_count_for_nothing() -> None:
    for policy in (StartPolicy.VOICED, StartPolicy.OPS, StartPolicy.ACCOUNTS):
        rule = StartRule(policy, frozenset({"Alice"}))
        assert may_start(rule, NONE, "alice")  # accounts compare case-insensitively
        assert not may_start(rule, NONE, "bob")
        assert not may_start(rule, NONE, None)  # not logged in: "alice" by nick is no one
    assert may_start(None, NONE, None)


def test_the_refusal_names_who_may_start() -> None:
    assert who_may_start(StartRule(StartPolicy.VOICED)) == "voiced people and channel operators"
    assert who_may_start(StartRule(StartPolicy.OPS, frozenset({"bob", "Alice"}))) == (
        "channel operators and the accounts Alice, bob"
    )
    assert refusal("carol", StartRule(StartPolicy.ACCOUNTS, frozenset({"alice"}))) == (
        "carol: only the account alice may start a meeting here."
    )


def test_channel_start_settings_are_validated(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        IRC + '    channels: ["#a", {name: "#b", start: voiced, start_accounts: [alice]}]\n',
    )
    (network,) = load_settings(path).networks
    assert isinstance(network, IrcNetwork)
    assert [channel.start_rule for channel in network.channels] == [
        StartRule(),
        StartRule(StartPolicy.VOICED, frozenset({"alice"})),
    ]
    path = write(tmp_path, IRC + '    channels:\n      - {name: "#b", start: opers}\n')
    assert only_problem(path).startswith(f"{path}:7: networks[0].channels[0].start: ")
    assert "'anyone', 'voiced', 'ops' or 'accounts'" in only_problem(path)
    path = write(tmp_path, IRC + '    channels:\n      - {name: "#b", start: accounts}\n')
    assert only_problem(path).startswith(f"{path}:7: networks[0].channels[0]: start: accounts lets only")
    path = write(tmp_path, IRC + '    channels:\n      - {name: "#b", start_accounts: ["~bob"]}\n')
    assert only_problem(path).startswith(f"{path}:7: networks[0].channels[0].start_accounts: '~bob' is not")


# -- the service ---------------------------------------------------------------------------------

ROOM = RoomRef("libera", "#policy")
RULE = StartRule(StartPolicy.VOICED, frozenset({"alice"}))


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[tuple[App, Recorder]]:
    recorder = Recorder()
    async with recorded_app(tmp_path, recorder) as built:
        yield built, recorder


def start(nick: str, account: str | None, standing: Standing, n: int) -> MessageIn:
    return MessageIn(
        ROOM,
        Identity("libera", nick, account),
        "#startmeeting Policy",
        T0 + timedelta(seconds=n),
        standing=standing,
        start_rule=RULE,
    )


async def test_a_refused_startmeeting_gets_one_line_and_no_meeting(app: tuple[App, Recorder]) -> None:
    bot, recorder = app
    # Not logged in, but using the nick of a listed account: refused all the same.
    bot.dispatcher.submit(start("alice", None, NONE, 0))
    await bot.settled()
    assert await bot.database.meetings.meetings_in(ROOM) == []
    assert [m.text for m in recorder.sent if isinstance(m, Say)] == [
        "alice: only voiced people and channel operators and the account alice may start a meeting here."
    ]
    bot.dispatcher.submit(start("dave", "dave", VOICED, 1))
    await bot.settled()
    (header,) = await bot.database.meetings.meetings_in(ROOM)
    assert header.owner_key == "libera:dave"
