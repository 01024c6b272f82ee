"""Backfill: lines a server delivers late (IRC chathistory or +H playback after the bot
reconnected) are logged into the open meeting once, in arrival order, and never run, neither
live nor when the meeting is rebuilt from the database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from meetbot.adapters.irc.protocol import ServerFeatures, chathistory_after
from meetbot.app import App
from meetbot.domain.model import ItemKind
from meetbot.events import Identity, LineKind, MessageIn, RoomRef, Say
from tests.conftest import T0
from tests.recording import Recorder, recorded_app

ROOM = RoomRef("libera", "#backfill")
ALICE = Identity("libera", "alice", account="alice")
BOB = Identity("libera", "bob", account="bob")


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[tuple[App, Recorder]]:
    recorder = Recorder([BOB])
    async with recorded_app(tmp_path, recorder) as built:
        yield built, recorder


def live(who: Identity, seconds: float, text: str, msgid: str | None = None) -> MessageIn:
    return MessageIn(ROOM, who, text, T0 + timedelta(seconds=seconds), native_id=msgid)


def late(
    who: Identity,
    seconds: float,
    text: str,
    msgid: str | None = None,
    *,
    kind: LineKind = LineKind.SAY,
    from_self: bool = False,
) -> MessageIn:
    at = T0 + timedelta(seconds=seconds)
    return MessageIn(ROOM, who, text, at, kind=kind, native_id=msgid, from_self=from_self, backfilled=True)


async def feed(bot: App, *messages: MessageIn) -> None:
    for message in messages:
        bot.dispatcher.submit(message)
    await bot.settled()


async def test_backfilled_lines_are_logged_once_and_never_run(app: tuple[App, Recorder]) -> None:
    bot, recorder = app
    await feed(
        bot,
        late(ALICE, -30, "#startmeeting From history"),  # no meeting yet: history, ignored
        live(ALICE, 0, "#startmeeting Backfill", "m0"),
        live(BOB, 1.25, "seen live, with an id", "m1"),
        live(BOB, 2.5, "seen live, without an id"),
    )
    sent_before = len(recorder.sent)
    await feed(
        bot,
        # The bot reconnects; the server replays its history (times cut to whole seconds).
        late(ALICE, -5, "said before the meeting", "m-1"),
        late(BOB, 1, "seen live, with an id", "m1"),
        late(BOB, 2, "seen live, without an id"),
        late(BOB, 3, "said while the bot was away", "m3"),
        late(ALICE, 4, "#topic Replayed topic", "m4"),
        late(ALICE, 5, "#endmeeting", "m5"),
        late(Identity("libera", "meetbot"), 5, "Meeting ended", "m6", from_self=True),
        late(BOB, 3, "said while the bot was away", "m3"),  # a second replay of the same
        live(BOB, 7, "live again", "m7"),
    )
    assert recorder.sent[sent_before:] == []  # nothing ran, nothing was answered
    meeting = await bot.service.meeting_in(ROOM)
    assert meeting is not None, "a replayed #endmeeting ended the meeting"
    assert not [item for item in meeting.items if item.kind is ItemKind.TOPIC]

    # Rebuilt from the database (a restarted bot): still open, still no topic.
    bot.service.forget_rooms()
    rebuilt = await bot.service.meeting_in(ROOM)
    assert rebuilt is not None
    assert rebuilt.is_open
    assert not [item for item in rebuilt.items if item.kind is ItemKind.TOPIC]
    people = [line for line in rebuilt.lines if not line.is_bot]
    assert [(line.text, line.backfilled) for line in people] == [
        ("#startmeeting Backfill", False),
        ("seen live, with an id", False),
        ("seen live, without an id", False),
        ("said while the bot was away", True),
        ("#topic Replayed topic", True),
        ("#endmeeting", True),
        ("live again", False),
    ]

    await feed(bot, live(ALICE, 8, "#endmeeting", "m8"))
    ended = [m.text for m in recorder.sent if isinstance(m, Say)]
    assert ended[-1].startswith("Meeting ended at 16:00:08 UTC.")


async def test_a_late_line_without_an_account_counts_for_the_person_the_meeting_knows(
    app: tuple[App, Recorder], tmp_path: Path
) -> None:
    """Replays often lack account tags: bob's replayed line is his, not a second `bob`'s; the
    log marks it as replayed and does not show it as a command."""
    bot, _ = app
    unverified_bob = Identity("libera", "bob")
    await feed(
        bot,
        live(ALICE, 0, "#startmeeting Attribution", "a0"),
        live(BOB, 1, "hello", "a1"),
        late(unverified_bob, 2, "#info while away", "a2"),
        live(ALICE, 3, "#endmeeting", "a3"),
    )
    (header,) = await bot.database.meetings.meetings_in(ROOM)
    lines = await bot.database.meetings.lines(header.id)
    replayed = next(line for line in lines if line.backfilled)
    assert replayed.sender_key == BOB.key
    meeting = bot.service.engine.rebuild(header, lines)
    assert sorted((p.nick, p.lines) for p in meeting.people_present() if not p.is_bot) == [
        ("alice", 2),
        ("bob", 2),
    ]
    assert not meeting.items
    (log,) = tmp_path.rglob("*.log.txt")
    assert "<bob> #info while away (replayed by the server)" in log.read_text(encoding="utf-8")


async def test_a_backfilled_line_of_another_kind_or_id_is_not_a_duplicate(app: tuple[App, Recorder]) -> None:
    bot, _ = app
    await feed(
        bot,
        live(ALICE, 0, "#startmeeting Twice", "t0"),
        live(BOB, 1, "+1", "t1"),
        late(BOB, 1, "+1", "t2"),  # said twice in a second: two messages, two ids
        late(BOB, 1, "+1", kind=LineKind.ACTION),
    )
    meeting = await bot.service.meeting_in(ROOM)
    assert meeting is not None
    assert [(line.text, line.kind, line.backfilled) for line in meeting.lines if not line.is_bot][1:] == [
        ("+1", LineKind.SAY, False),
        ("+1", LineKind.SAY, True),
        ("+1", LineKind.ACTION, True),
    ]


def test_the_chathistory_request_asks_for_what_came_after_the_last_line_heard() -> None:
    """Where the server offers draft/chathistory, the adapter asks for this on rejoin."""
    features = ServerFeatures.default()
    assert features.history_limit == 100
    features.load(["CHATHISTORY=50"])
    since = T0 + timedelta(milliseconds=731)
    assert chathistory_after("#c", since, features.history_limit) == (
        "CHATHISTORY AFTER #c timestamp=2026-11-21T16:00:00.731Z 50"
    )
    features.load(["CHATHISTORY=0"])  # no limit set by the server: ask for plenty
    assert features.history_limit == 1000
