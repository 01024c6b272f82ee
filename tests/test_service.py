"""The service with a real SQLite database: lines are stored before commands act, a failing
handler loses nothing, rooms don't wait on each other, and bot replies are logged."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from meetbot.app import App
from meetbot.events import Identity, LineKind, MessageIn, RoomRef, Say
from meetbot.plugin import Context, Plugin, command
from tests.conftest import T0
from tests.recording import Recorder, recorded_app

ALICE = Identity("libera", "alice", account="alice")


class Exploding(Plugin):
    """A third-party plugin with a bug."""

    name = "exploding"

    @command("explode")
    def explode(self, ctx: Context) -> None:
        raise RuntimeError("plugin bug")


@pytest.fixture
async def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[App, Recorder]]:
    import meetbot.app

    real_load = meetbot.app.load_plugins
    monkeypatch.setattr(meetbot.app, "load_plugins", lambda settings: [*real_load(settings), Exploding()])
    recorder = Recorder([Identity("libera", "bob", account="bobby")])
    async with recorded_app(tmp_path, recorder) as built:
        yield built, recorder


def said(room: RoomRef, n: int, text: str) -> MessageIn:
    return MessageIn(room, ALICE, text, T0 + timedelta(seconds=n))


async def test_a_crashing_handler_loses_no_line_and_the_room_goes_on(app: tuple[App, Recorder]) -> None:
    bot, recorder = app
    room = RoomRef("libera", "#a")
    for n, text in enumerate(["#startmeeting x", "#explode now", "#info after the crash", "#endmeeting"]):
        bot.dispatcher.submit(said(room, n, text))
    await bot.settled()
    (header,) = await bot.database.meetings.meetings_in(room)
    texts = [line.text for line in await bot.database.meetings.lines(header.id) if not line.is_bot]
    assert texts == ["#startmeeting x", "#explode now", "#info after the crash", "#endmeeting"]
    said_texts = [m.text for m in recorder.sent if isinstance(m, Say)]
    assert "#explode failed (a bug, now logged for the admins)" in said_texts[1]
    assert said_texts[-1].startswith("Meeting ended at 16:00:03 UTC. Minutes: ")


async def test_rooms_are_independent_and_bot_replies_are_logged(app: tuple[App, Recorder]) -> None:
    bot, _ = app
    rooms = [RoomRef("libera", f"#room{i}") for i in range(3)]
    for n in range(5):
        for room in rooms:
            bot.dispatcher.submit(said(room, n, "#startmeeting" if n == 0 else f"line {n} in {room.room}"))
    await bot.settled()
    for room in rooms:
        (header,) = await bot.database.meetings.meetings_in(room)
        lines = await bot.database.meetings.lines(header.id)
        assert [line.text for line in lines if not line.is_bot][1:] == [
            f"line {n} in {room.room}" for n in range(1, 5)
        ]
        present, reply = [line for line in lines if line.is_bot]
        assert (present.seq, present.kind) == (2, LineKind.PRESENT)
        assert reply.seq == 3
        assert reply.text.startswith("Meeting started")
        assert reply.sender_key == "libera:@bot"


async def test_outside_a_meeting_nothing_is_logged(app: tuple[App, Recorder]) -> None:
    bot, recorder = app
    room = RoomRef("libera", "#quiet")
    bot.dispatcher.submit(said(room, 0, "#info no meeting here"))
    bot.dispatcher.submit(said(room, 1, "#commands"))
    await bot.settled()
    assert await bot.database.meetings.meetings_in(room) == []
    assert next(m.text for m in recorder.sent if isinstance(m, Say)).startswith("Available commands:")


async def test_restrictlogs_publishes_owner_only_files(app: tuple[App, Recorder], tmp_path: Path) -> None:
    bot, _ = app
    room = RoomRef("libera", "#private")
    for n, text in enumerate(["#startmeeting secret", "#restrictlogs", "#info hush", "#endmeeting"]):
        bot.dispatcher.submit(said(room, n, text))
    await bot.settled()
    written = sorted(tmp_path.glob("secret/2026/*"))
    assert len(written) == 6
    assert {path.stat().st_mode & 0o777 for path in written} == {0o600}


async def test_a_meeting_across_midnight_stays_one_meeting(app: tuple[App, Recorder], tmp_path: Path) -> None:
    bot, _ = app
    room = RoomRef("libera", "#late")
    start = T0.replace(hour=23, minute=58)
    for n, text in enumerate(
        ["#startmeeting night", "#info before midnight", "#info after midnight", "#endmeeting"]
    ):
        bot.dispatcher.submit(MessageIn(room, ALICE, text, start + timedelta(minutes=n)))
    await bot.settled()
    (header,) = await bot.database.meetings.meetings_in(room)
    assert header.started_at == start
    (minutes,) = tmp_path.glob("night/2026/*.58.txt")
    assert minutes.name == "night.2026-11-21-23.58.txt"
    text = minutes.read_text(encoding="utf-8")
    assert "before midnight" in text
    assert "after midnight" in text


async def test_chairing_someone_present_but_silent_reaches_their_account(app: tuple[App, Recorder]) -> None:
    """bob (account bobby) was in the channel before the meeting and has not spoken."""
    bot, _ = app
    room = RoomRef("libera", "#present")
    bob = Identity("libera", "bob", account="bobby")
    for n, text in enumerate(["#startmeeting", "#chair bob"]):
        bot.dispatcher.submit(said(room, n, text))
    bot.dispatcher.submit(MessageIn(room, bob, "#topic bob chairs", T0 + timedelta(seconds=5)))
    await bot.settled()
    meeting = await bot.service.meeting_in(room)
    assert meeting is not None
    assert meeting.current_topic == "bob chairs"
    assert meeting.is_chair("libera:bobby")
    # The same holds for the meeting rebuilt from the database, as after a restart.
    (header,) = await bot.database.meetings.meetings_in(room)
    rebuilt = bot.service.engine.rebuild(header, await bot.database.meetings.lines(header.id))
    assert rebuilt.is_chair("libera:bobby")
    assert rebuilt.current_topic == "bob chairs"


async def test_a_command_turned_away_is_answered_at_once_and_a_change_only_once_stored(
    app: tuple[App, Recorder], tmp_path: Path
) -> None:
    """A usage line changes nothing, so it need not wait for its command's line to be stored;
    a reply that reports a change (the chairs) waits until the line that made it is."""
    bot, recorder = app
    room = RoomRef("libera", "#a")
    bot.dispatcher.submit(said(room, 0, "#startmeeting x"))
    await bot.settled()
    blocker = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # holds the write lock: no line can be stored meanwhile
    try:
        bot.dispatcher.submit(said(room, 1, "#agreed"))
        await wait_for_reply(recorder, "Usage: #agreed")
        bot.dispatcher.submit(said(room, 2, "#chair bob"))
        await asyncio.sleep(0.3)
        assert not [text for text in recorder.said if text.startswith("Current chairs")]
    finally:
        blocker.rollback()
        blocker.close()
    await bot.settled()
    assert "Current chairs: alice bob" in recorder.said
    (header,) = await bot.database.meetings.meetings_in(room)
    texts = [line.text for line in await bot.database.meetings.lines(header.id)]
    assert texts.index("#agreed") < texts.index("#chair bob")
    assert [text for text in texts if text.startswith("Usage")], "the bot's own reply is logged too"


async def wait_for_reply(recorder: Recorder, start: str) -> None:
    async with asyncio.timeout(5):
        while not [text for text in recorder.said if text.startswith(start)]:  # noqa: ASYNC110 - polls the bot
            await asyncio.sleep(0.01)
