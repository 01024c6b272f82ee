"""Agenda and action items between meetings, through the real service and database (SQLite
and PostgreSQL): what a SIG does across two meetings and the days between them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from meetbot.app import App, build_app
from meetbot.config import Settings
from meetbot.domain.model import Line
from meetbot.domain.team import ActionEvent, ActionStatus, NewAction, Owner
from meetbot.events import Identity, LineKind, MessageIn, Outbound, RoomRef, Say, SetTopic
from meetbot.storage.database import Database
from meetbot.storage.teams import SnapshotQuery
from tests.conftest import T0, upgrade_schema

ROOM = RoomRef("libera", "#infra")
ALICE = Identity("libera", "alice", account="alice")
BOB = Identity("libera", "bob", account="bobby")
CAROL = Identity("libera", "carol", account="carol")
MALLORY = Identity("libera", "bob")  # bob's nick, without bob's account


class Channel:
    network, bot_nick = "libera", "meetbot"

    def __init__(self) -> None:
        self.said: list[str] = []
        self.topics: list[str] = []

    async def run(self, submit: object) -> None:
        return None

    def members(self, room: RoomRef) -> list[Identity]:
        return [ALICE, BOB, CAROL]

    async def send(self, message: Outbound) -> None:
        if isinstance(message, Say):
            self.said.append(message.text)
        elif isinstance(message, SetTopic):
            self.topics.append(message.topic)


@pytest.fixture
async def bot(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[App, Channel]]:
    channel = Channel()
    await upgrade_schema(database_url)
    app = await build_app(Settings(), [channel], database_url=database_url, publish_dir=tmp_path)
    yield app, channel
    await app.close()


async def talk(app: App, channel: Channel, lines: list[tuple[Identity, str]], day: int = 0) -> list[str]:
    before = len(channel.said)
    for n, (who, text) in enumerate(lines):
        app.dispatcher.submit(MessageIn(ROOM, who, text, T0 + timedelta(days=day, seconds=n)))
    await app.settled()
    return channel.said[before:]


async def test_action_items_carry_over_between_meetings(bot: tuple[App, Channel]) -> None:
    app, channel = bot
    await talk(
        app,
        channel,
        [
            (ALICE, "#startmeeting infra"),
            (ALICE, "#action bob to check the backups"),
            (ALICE, "#action carol and BOB to write the runbook"),
            (ALICE, "#action someone to fix CI"),
            (ALICE, "#endmeeting"),
        ],
    )
    repo = app.database.teams
    stored = await repo.open_actions("infra")
    assert [(a.id, a.text, a.owner_nicks()) for a in stored] == [
        (1, "bob to check the backups", "bob"),
        (2, "carol and BOB to write the runbook", "bob, carol"),
        (3, "someone to fix CI", "unassigned"),
    ]
    assert stored[0].owners[0].key == "libera:bobby"  # by account, from the PRESENT line

    # Between meetings, in the channel.
    replies = await talk(
        app,
        channel,
        [
            (CAROL, "#actions"),
            (CAROL, "#actions bob"),
            (CAROL, "#done 1"),
            (MALLORY, "#done 1"),
            (BOB, "#done #1"),
            (BOB, "#done 1"),
            (BOB, "#drop 99"),
            (BOB, "#done soon"),
            (ALICE, "#reassign 3 carol"),
        ],
        day=3,
    )
    assert replies == [
        "Open action items of infra: #1 bob to check the backups (bob) · "
        "#2 carol and BOB to write the runbook (bob, carol) · #3 someone to fix CI (unassigned)",
        "Open action items of bob: #1 bob to check the backups (bob) · "
        "#2 carol and BOB to write the runbook (bob, carol)",
        "carol: only bob or a meeting chair can change #1.",
        "bob: only bob or a meeting chair can change #1.",
        "#1 bob to check the backups (bob): done.",
        "#1 is already done.",
        "There is no action item #99; #actions lists the open ones.",
        "Usage: #done <action id>",
        "alice: only unassigned or a meeting chair can change #3.",
    ]

    # The next meeting lists what is still open; a chair may change anyone's item.
    replies = await talk(
        app,
        channel,
        [
            (ALICE, "#startmeeting infra"),
            (ALICE, "#reassign 3 carol"),
            (ALICE, "#done 2"),
            (ALICE, "#endmeeting"),
        ],
        day=7,
    )
    assert replies[1] == (
        "Open action items from earlier meetings: #2 carol and BOB to write the runbook (bob, carol) · "
        "#3 someone to fix CI (unassigned)"
    )
    assert replies[2:4] == [
        "#3 someone to fix CI is now carol's.",
        "#2 carol and BOB to write the runbook (bob, carol): done.",
    ]
    item = await repo.action(3)
    assert item is not None
    assert [e.change for e in item.history] == ["created", "reassigned"]
    assert item.status_at(T0) is ActionStatus.OPEN
    assert [a.id for a in await repo.open_actions("infra")] == [3]


async def test_the_agenda_walks_with_topic_next(bot: tuple[App, Channel]) -> None:
    app, channel = bot
    await talk(app, channel, [(ALICE, "#startmeeting infra"), (ALICE, "#endmeeting")])  # the room's team
    replies = await talk(
        app,
        channel,
        [
            (BOB, "#agenda add Review the backups"),
            (CAROL, "#agenda add Plan the release"),
            (CAROL, "#agenda add next"),
            (BOB, "#agenda move 2 1"),
            (CAROL, "#agenda move 2 3"),
            (BOB, "#agenda remove 9"),
            (BOB, "#agenda"),
            (BOB, "#agenda frobnicate"),
            (BOB, "#agenda clear"),
        ],
        day=1,
    )
    assert replies == [
        "Added to the agenda of infra as item 1.",
        "Added to the agenda of infra as item 2.",
        "Added to the agenda of infra as item 3.",
        "bob: only carol (who added it) or a meeting chair can change it.",
        "Agenda of infra: 1. Review the backups · 2. next · 3. Plan the release",
        "There is no agenda item 9 (the agenda has 3).",
        "Agenda of infra: 1. Review the backups · 2. next · 3. Plan the release",
        "Usage: #agenda add <text> | list | remove <n> | move <n> <m> | clear",
        "bob: only the chairs of a running meeting can clear the agenda.",
    ]
    replies = await talk(
        app,
        channel,
        [
            (ALICE, "#startmeeting infra"),
            (BOB, "#topic next"),  # not a chair
            (ALICE, "#topic next"),
            (ALICE, "#next"),  # the item called "next" becomes a topic, it does not recurse
            (ALICE, "#endmeeting"),
        ],
        day=2,
    )
    assert (
        replies[1]
        == "Agenda: 1. Review the backups · 2. next · 3. Plan the release (#topic next takes the next item)"
    )
    assert "bob: #next is for the meeting chairs (alice); nothing changed." in replies
    assert channel.topics == ["Review the backups (Meeting topic: infra)", "next (Meeting topic: infra)"]
    assert [item.text for item in await app.database.teams.agenda("infra")] == ["Plan the release"]

    (_, second) = await app.database.meetings.meetings_in(ROOM)
    lines = await app.database.meetings.lines(second.id)
    on_behalf = [(line.nick, line.text) for line in lines if line.kind is LineKind.ON_BEHALF]
    assert on_behalf == [("alice", "#topic Review the backups"), ("alice", "#topic next")]
    rebuilt = app.service.engine.rebuild(second, lines)
    assert [(i.kind.value, i.text) for i in rebuilt.items] == [
        ("TOPIC", "Review the backups"),
        ("TOPIC", "next"),
    ]


async def test_an_empty_agenda_says_so(bot: tuple[App, Channel]) -> None:
    app, channel = bot
    replies = await talk(app, channel, [(ALICE, "#startmeeting infra"), (ALICE, "#topic next")])
    assert replies[-1] == "The agenda of infra is empty; #topic <text> sets a topic."


async def test_minutes_show_the_agenda_and_previous_action_items(
    bot: tuple[App, Channel], tmp_path: Path
) -> None:
    app, channel = bot
    await talk(
        app,
        channel,
        [
            (ALICE, "#startmeeting infra"),
            (ALICE, "#action bob to rotate <the> keys"),
            (ALICE, "#action carol to update docs"),
            (ALICE, "#endmeeting"),
        ],
    )
    await talk(app, channel, [(BOB, "#agenda add Key rotation"), (BOB, "#agenda add Docs sprint")], day=1)
    await talk(
        app,
        channel,
        [
            (ALICE, "#startmeeting infra"),
            (ALICE, "#topic next"),
            (BOB, "#done 1"),
            (ALICE, "#action bob to announce it"),
            (ALICE, "#endmeeting"),
        ],
        day=7,
    )
    (json_file,) = tmp_path.glob("infra/2026/infra.2026-11-28-*.json")
    minutes = json.loads(json_file.read_text(encoding="utf-8"))
    assert minutes["agenda"] == [
        {"text": "Key rotation", "covered": True, "line": 7},
        {"text": "Docs sprint", "covered": False, "line": None},
    ]
    assert minutes["previous_actions"] == [
        {"id": 1, "text": "bob to rotate <the> keys", "owners": "bob", "status": "done"},
        {"id": 2, "text": "carol to update docs", "owners": "carol", "status": "open"},
    ]
    assert [(a["id"], a["text"]) for a in minutes["actions"]] == [(3, "bob to announce it")]
    html = json_file.with_suffix(".html").read_text(encoding="utf-8")
    assert '<a href="infra.2026-11-28-16.00.log.html#l-7">Key rotation</a>' in html
    assert '#1</span> bob to rotate &lt;the&gt; keys (bob): <span class="status-done">done' in html
    text = json_file.with_suffix(".txt").read_text(encoding="utf-8")
    assert "* Docs sprint  (not reached: carried over)" in text
    assert "* #2 carol to update docs (carol): open" in text


async def test_private_messages_name_their_team(bot: tuple[App, Channel]) -> None:
    app, channel = bot
    await talk(
        app,
        channel,
        [(ALICE, "#startmeeting infra"), (ALICE, "#action bob to patch"), (ALICE, "#endmeeting")],
    )
    conversation = RoomRef("libera", "bob")
    before = len(channel.said)
    for n, text in enumerate(
        ["#agenda infra add Patch review", "#agenda", "#actions", "#startmeeting sneaky", "#info x"]
    ):
        app.dispatcher.submit(
            MessageIn(conversation, BOB, text, T0 + timedelta(days=1, seconds=n), private=True)
        )
    await app.settled()
    assert channel.said[before:] == [
        "Added to the agenda of infra as item 1.",
        "By private message, name the team: #agenda <team> add <text> (or list)",
        "Open action items of bob: #1 bob to patch (bob)",
    ]
    assert await app.database.meetings.meetings_in(conversation) == []  # nothing private is logged


async def test_recording_a_meetings_actions_twice_keeps_one_of_each(bot: tuple[App, Channel]) -> None:
    """The end of a meeting handled again (a retry, another process) records nothing twice,
    whether all of its actions were recorded before or only some."""
    app, _ = bot
    store = app.database.teams
    header = await app.database.meetings.start_meeting(
        ROOM, Line(1, T0, LineKind.SAY, "alice", ALICE.key, "#startmeeting")
    )
    owners = (Owner(BOB.key, "bob"), Owner(CAROL.key, "carol"))
    actions = [NewAction(f"bob and carol to do {n}", n + 2, T0, owners) for n in range(5)]
    alice = Owner(ALICE.key, "alice")
    sent: list[str] = []

    def note(*args: Any) -> None:
        sent.append(args[2])

    engine = app.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", note)
    await store.record_actions("infra", header.id, actions[:2], alice)
    recorded = sent[:]
    first = await store.actions_of_meeting(header.id)
    await store.record_actions("infra", header.id, actions, alice)
    again = await store.actions_of_meeting(header.id)
    event.remove(engine, "before_cursor_execute", note)
    if app.database.engine.dialect.name == "postgresql":
        assert len(recorded) == 1  # one statement, atomic by itself: one round trip
        # The histories of 2 actions, then of 5, by the same text: one prepared statement.
        assert len({statement for statement in sent if "FROM action_events" in statement}) == 1
    assert [item.text for item in first] == ["bob and carol to do 0", "bob and carol to do 1"]
    assert [item.text for item in again] == [f"bob and carol to do {n}" for n in range(5)]
    assert [item.id for item in again[:2]] == [item.id for item in first]
    assert all({owner.key for owner in item.owners} == {BOB.key, CAROL.key} for item in again)
    # Every column as given (PostgreSQL records them in one statement of its own).
    assert [(a.team, a.meeting_id, a.line_seq, a.status, a.created_at, a.owners) for a in again] == [
        ("infra", header.id, n + 2, ActionStatus.OPEN, T0, owners) for n in range(5)
    ]
    assert all(a.history == (ActionEvent(T0, "alice", "created", "", header.id),) for a in again)
    await store.record_actions("infra", header.id, actions, alice)
    assert await store.actions_of_meeting(header.id) == again


async def test_an_action_without_owners_is_recorded_with_its_history(bot: tuple[App, Channel]) -> None:
    """An action nobody was named for (no owner rows) beside one with two owners: both kept,
    each with its "created" event (on PostgreSQL the owners' array is then shorter than the
    actions')."""
    app, _ = bot
    header = await app.database.meetings.start_meeting(
        ROOM, Line(1, T0, LineKind.SAY, "alice", ALICE.key, "#startmeeting")
    )
    owners = (Owner(BOB.key, "bob"), Owner(CAROL.key, "carol"))
    actions = [
        NewAction("someone to fix the build", 2, T0, ()),
        NewAction("bob and carol to ship", 3, T0, owners),
    ]
    await app.database.teams.record_actions("infra", header.id, actions, Owner(ALICE.key, "alice"))
    recorded = await app.database.teams.actions_of_meeting(header.id)
    assert [(a.text, a.owners, [e.change for e in a.history]) for a in recorded] == [
        ("someone to fix the build", (), ["created"]),
        ("bob and carol to ship", owners, ["created"]),
    ]


async def test_two_processes_recording_the_same_end_at_once_record_each_action_once(
    bot: tuple[App, Channel], database_url: str
) -> None:
    """Both ends go in at the same moment (a fail-over handling the end again): each action
    row once, with its owners once and one "created" event, whichever process won it."""
    app, _ = bot
    header = await app.database.meetings.start_meeting(
        ROOM, Line(1, T0, LineKind.SAY, "alice", ALICE.key, "#startmeeting")
    )
    owners = (Owner(BOB.key, "bob"), Owner(CAROL.key, "carol"))
    actions = [NewAction(f"bob and carol to do {n}", n + 2, T0, owners) for n in range(20)]
    alice = Owner(ALICE.key, "alice")
    other = await Database.open(database_url)
    try:
        await asyncio.gather(
            app.database.teams.record_actions("infra", header.id, actions, alice),
            other.teams.record_actions("infra", header.id, actions[5:], alice),
        )
    finally:
        await other.close()
    recorded = await app.database.teams.actions_of_meeting(header.id)
    assert [item.text for item in recorded] == [action.text for action in actions]
    pair = sorted([BOB.key, CAROL.key])
    assert all(sorted(owner.key for owner in item.owners) == pair for item in recorded)
    assert all([event.change for event in item.history] == ["created"] for item in recorded)


async def test_previous_actions_are_those_open_when_the_meeting_started(bot: tuple[App, Channel]) -> None:
    """Only actions that may have been open then are read (open now, or changed since), and
    the histories decide: each case below against status_at over every action of the team."""
    app, _ = bot
    store = app.database.teams
    header = await app.database.meetings.start_meeting(
        ROOM, Line(1, T0, LineKind.SAY, "alice", ALICE.key, "#startmeeting")
    )
    alice = Owner(ALICE.key, "alice")
    cases = ["open", "done before", "done after", "done before, reopened after", "dropped before"]
    await store.record_actions(
        "infra", header.id, [NewAction(case, n + 2, T0, (alice,)) for n, case in enumerate(cases)], alice
    )
    ids = {action.text: action.id for action in await store.actions_of_meeting(header.id)}
    started = T0 + timedelta(days=7)
    before, after = started - timedelta(hours=1), started + timedelta(minutes=5)
    await store.change_action(ids["done before"], ActionStatus.DONE, alice, before, None)
    await store.change_action(ids["done after"], ActionStatus.DONE, alice, after, None)
    await store.change_action(ids["done before, reopened after"], ActionStatus.DONE, alice, before, None)
    await store.change_action(ids["done before, reopened after"], ActionStatus.OPEN, alice, after, None)
    await store.change_action(ids["dropped before"], ActionStatus.DROPPED, alice, before, None)
    every = await store.actions_of_meeting(header.id)
    expected = [a.text for a in every if a.status_at(started) is ActionStatus.OPEN]
    assert expected == ["open", "done after"]
    assert [a.text for a in await store.previous_actions("infra", started)] == expected
    later = await app.database.meetings.start_meeting(
        RoomRef("libera", "#infra-next"), Line(1, started, LineKind.SAY, "alice", ALICE.key, "#startmeeting")
    )
    (snapshot,) = await store.snapshots([SnapshotQuery("infra", later.id, started, None)])
    assert [a.text for a in snapshot.previous_actions] == expected
    assert [a.status for a in snapshot.previous_actions] == [ActionStatus.OPEN, ActionStatus.DONE]
