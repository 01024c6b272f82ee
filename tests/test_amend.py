"""Edits, redactions, platform-ranked chairs, threads and unloggable rooms, through the real
service and a SQLite database: what the Matrix adapter hands the core."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from meetbot.app import App, build_app
from meetbot.config import Settings
from meetbot.events import Identity, LineKind, MessageIn, Outbound, RoomRef, Say
from tests.conftest import T0

ROOM = RoomRef("fedora", "!room:fedora.im")
ALICE = Identity("fedora", "Alice", account="@alice:fedora.im")
BOB = Identity("fedora", "Bob", account="@bob:fedora.im")


class Room:
    network, bot_nick = "fedora", "meetbot"

    def __init__(self) -> None:
        self.sent: list[Say] = []

    async def run(self, submit: object) -> None:
        return None

    def members(self, room: RoomRef) -> list[Identity]:
        return [ALICE, BOB]

    async def send(self, message: Outbound) -> None:
        if isinstance(message, Say):
            self.sent.append(message)


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[tuple[App, Room]]:
    room = Room()
    app = await build_app(
        Settings(), [room], database_url=f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}", publish_dir=tmp_path
    )
    yield app, room
    await app.close()


async def feed(app: App, *messages: MessageIn) -> None:
    for message in messages:
        app.dispatcher.submit(message)
    await app.settled()


def msg(n: int, who: Identity, text: str, **extra: object) -> MessageIn:
    return MessageIn(ROOM, who, text, T0 + timedelta(seconds=n), native_id=f"$e{n}", **extra)  # type: ignore[arg-type]


def minutes_json(tmp_path: Path) -> dict[str, object]:
    (path,) = tmp_path.rglob("*.json")
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


async def test_a_privileged_sender_chairs_and_keeps_it_on_rebuild(bot: tuple[App, Room]) -> None:
    app, room = bot
    await feed(
        app,
        msg(1, ALICE, "#startmeeting rank"),
        msg(2, BOB, "#topic by power level", privileged=True),
        msg(3, BOB, "#topic refused without it"),
    )
    meeting = await app.service.meeting_in(ROOM)
    assert meeting is not None
    assert meeting.current_topic == "by power level"
    assert "Bob: #topic is for the meeting chairs" in room.sent[-1].text
    (header,) = await app.database.meetings.meetings_in(ROOM)
    rebuilt = app.service.engine.rebuild(header, await app.database.meetings.lines(header.id))
    assert rebuilt.current_topic == "by power level"


async def test_edits_change_the_line_and_its_item_but_never_run_commands(
    bot: tuple[App, Room], tmp_path: Path
) -> None:
    app, _ = bot
    await feed(
        app,
        msg(1, ALICE, "#startmeeting edits"),
        msg(2, BOB, "#info the relase is friday"),
        msg(3, BOB, "#info the release is friday", kind=LineKind.EDIT, edit_of="$e2"),
        msg(4, BOB, "just chatting"),
        msg(5, BOB, "#endmeeting", kind=LineKind.EDIT, edit_of="$e4"),  # an edit never runs a command
        msg(6, ALICE, "#action bob to fix typos"),
        msg(7, ALICE, "fixed, no action after all", kind=LineKind.EDIT, edit_of="$e6"),
        msg(8, ALICE, "#endmeeting"),
    )
    minutes = minutes_json(tmp_path)
    assert [(i["kind"], i["text"]) for i in minutes["items"]] == [("INFO", "the release is friday")]  # type: ignore[index]
    log = next(tmp_path.rglob("*.log.txt")).read_text(encoding="utf-8")
    assert "<Bob> #info the release is friday (edited)" in log
    assert "relase" not in log
    # The original text stays in the database for admins; only redactions erase.
    (header,) = await app.database.meetings.meetings_in(ROOM)
    stored = {line.native_id: line.text for line in await app.database.meetings.lines(header.id)}
    assert stored["$e2"] == "#info the relase is friday"


async def test_a_redaction_after_the_meeting_blanks_and_republishes(
    bot: tuple[App, Room], tmp_path: Path
) -> None:
    app, _ = bot
    await feed(
        app,
        msg(1, ALICE, "#startmeeting privacy"),
        msg(2, BOB, "#info my phone number is 555-0100"),
        msg(3, BOB, "#info my phone number is 555-0199", kind=LineKind.EDIT, edit_of="$e2"),
        msg(4, ALICE, "#endmeeting"),
    )
    assert "555-0199" in next(tmp_path.rglob("*.log.txt")).read_text(encoding="utf-8")
    await feed(app, msg(9, BOB, "", kind=LineKind.REDACT, edit_of="$e2"))
    published = list(tmp_path.rglob("privacy.*"))
    assert len(published) == 6
    for path in published:
        assert "555-01" not in path.read_text(encoding="utf-8"), path.name
    assert minutes_json(tmp_path)["items"] == []
    assert "(message removed)" in next(tmp_path.rglob("*.log.txt")).read_text(encoding="utf-8")
    (header,) = await app.database.meetings.meetings_in(ROOM)
    assert not [line for line in await app.database.meetings.lines(header.id) if "555-01" in line.text]


async def test_replies_go_to_the_thread_and_encrypted_rooms_refuse_meetings(bot: tuple[App, Room]) -> None:
    app, room = bot
    await feed(app, msg(1, ALICE, "#startmeeting secret", loggable=False))
    assert room.sent[-1].text.startswith("Meetings can't run in an end-to-end encrypted room")
    assert await app.service.meeting_in(ROOM) is None
    await feed(app, msg(2, ALICE, "#startmeeting threads"), msg(3, BOB, "#topic in a thread", thread="$root"))
    await feed(app, msg(4, BOB, "#undo", thread="$root"))
    assert (room.sent[-1].text, room.sent[-1].thread) == (
        "Bob: #undo is for the meeting chairs (Alice); nothing changed.",
        "$root",
    )


async def test_a_room_turning_encrypted_ends_the_meeting_with_what_was_said(
    bot: tuple[App, Room], tmp_path: Path
) -> None:
    app, room = bot
    await feed(
        app,
        msg(1, ALICE, "#startmeeting turns"),
        msg(2, BOB, "#info said in the clear"),
        msg(3, BOB, "[encrypted message]", loggable=False),
    )
    assert await app.service.meeting_in(ROOM) is None
    assert room.sent[-2].text.startswith("This room is now end-to-end encrypted")
    assert room.sent[-1].text.startswith("Meeting ended at 16:00:03 UTC.")
    assert [i["text"] for i in minutes_json(tmp_path)["items"]] == ["said in the clear"]  # type: ignore[index]
    assert "[encrypted message]" not in next(tmp_path.rglob("*.log.txt")).read_text(encoding="utf-8")


def test_a_matrix_account_has_its_own_prefixes() -> None:
    from meetbot.engine import Engine
    from meetbot_plugins.meeting.plugin import MeetingPlugin

    engine = Engine([MeetingPlugin()], ["#"], network_prefixes={"fedora": ["#", "!"]})
    assert engine.starts_meeting("!startmeeting x", LineKind.SAY, "fedora")
    assert not engine.starts_meeting("!startmeeting x", LineKind.SAY, "libera")
    assert engine.starts_meeting("#startmeeting x", LineKind.SAY, "libera")
