"""Whole meetings through a real Synapse: people on matrix-nio, the bot as `meetbot run` builds
it (build_app + MatrixAdapter, SQLite, a publish dir)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from tests.matrix.conftest import Person, account, new_user, start_bot


def nick(person: Person) -> str:
    return person.user_id[1:].partition(":")[0]  # registered users' display name is their localpart


def minutes(publish_dir: Path, name: str) -> tuple[dict[str, Any], str]:
    (json_file,) = (publish_dir / name).rglob("*.json")
    (log_file,) = (publish_dir / name).rglob("*.log.txt")
    return json.loads(json_file.read_text(encoding="utf-8")), log_file.read_text(encoding="utf-8")


def items(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(item["kind"], item["text"], item["nick"]) for item in data["items"]]


def topics_set_by(person: Person, bot_id: str, room: str) -> list[str]:
    return [
        e["content"]["topic"].partition(" (Meeting topic:")[0]
        for e in person.events
        if e["room_id"] == room and e.get("type") == "m.room.topic" and e.get("sender") == bot_id
    ]


async def test_a_full_meeting_produces_the_minutes(
    synapse: Any, people: dict[str, Person], tmp_path: Path
) -> None:
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    room = await alice.create_room(public=True)
    await bob.join(room)
    bot_id = new_user(synapse, "meetbot")
    await alice.set_power(room, bot_id, 50)  # so it may set the room topic
    bot = await start_bot(account(synapse, bot_id, tmp_path / "state", [room]), tmp_path)
    try:
        await alice.send(room, "#startmeeting Matrix Live")
        await alice.wait_notice(bot_id, room, "Meeting started")
        await carol.join(room)
        await alice.send(room, "#topic Releases")
        await bob.send(room, "#info the release is on Friday")
        await carol.send(room, "waves", "m.emote")
        await bob.send(room, "a notice from a person", "m.notice")
        await bob.send(room, "plan.pdf", "m.file", url="mxc://localhost/plan", filename="plan.pdf")
        await carol.send(room, "#topic not mine to set")
        await alice.send(room, f"#action {nick(bob)} to write the announcement")
        await alice.send(room, "!agreed ship it")  # "!" is not a prefix in this config: just talk
        await alice.send(room, "#agreed ship it")
        await alice.send(room, "#endmeeting")
        ended = await alice.wait_notice(bot_id, room, "Meeting ended", within=20)
    finally:
        await bot.stop()
    assert ended["content"]["msgtype"] == "m.notice"
    data, log = minutes(bot.publish_dir, "matrix_live")
    assert items(data) == [
        ("TOPIC", "Releases", nick(alice)),
        ("INFO", "the release is on Friday", nick(bob)),
        ("ACTION", f"{nick(bob)} to write the announcement", nick(alice)),
        ("AGREED", "ship it", nick(alice)),
    ]
    assert data["meeting"]["room"] == room
    for expected in (
        f"{nick(carol)} has joined",
        f"* {nick(carol)} waves",
        "a notice from a person",
        f"<{nick(bob)}> [file: plan.pdf]",
        f"<{nick(alice)}> #endmeeting",
    ):
        assert expected in log, (expected, log)
    assert topics_set_by(alice, bot_id, room) == ["Releases"]
    refusals = [b for b in alice.said_by(bot_id, room) if "is for the meeting chairs" in b]
    assert len(refusals) == 1
    assert refusals[0].startswith(nick(carol))


async def test_chairs_by_power_level_read_from_the_room(
    synapse: Any, people: dict[str, Person], tmp_path: Path
) -> None:
    """bob starts (so he chairs); carol at level 0 is refused once; alice (the room's creator)
    and carol once made a moderator (50) are chairs by rank alone."""
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    room = await alice.create_room(public=True)
    await bob.join(room)
    await carol.join(room)
    bot_id = new_user(synapse, "meetbot")
    bot = await start_bot(account(synapse, bot_id, tmp_path / "state", [room]), tmp_path)
    try:
        await bob.send(room, "#startmeeting Power Test")
        await bob.wait_notice(bot_id, room, "Meeting started")
        await carol.send(room, "#topic by carol at level 0")
        await bob.wait_notice(bot_id, room, "is for the meeting chairs")
        await alice.send(room, "#topic by alice the creator")
        await alice.set_power(room, carol.user_id, 50)
        await carol.send(room, "#topic by carol the moderator")
        await bob.send(room, "#endmeeting")
        await bob.wait_notice(bot_id, room, "Meeting ended", within=20)
    finally:
        await bot.stop()
    data, _ = minutes(bot.publish_dir, "power_test")
    assert items(data) == [
        ("TOPIC", "by alice the creator", nick(alice)),
        ("TOPIC", "by carol the moderator", nick(carol)),
    ]
    refusals = [b for b in bob.said_by(bot_id, room) if "is for the meeting chairs" in b]
    assert len(refusals) == 1
    assert refusals[0].startswith(nick(carol))


async def test_restart_mid_meeting_loses_nothing_and_repeats_nothing(
    synapse: Any, people: dict[str, Person], tmp_path: Path
) -> None:
    """The bot stops mid-meeting; people keep talking; a new bot on the same database and state
    dir carries on. Its stored sync position is also rolled back, as if it had crashed before
    saving it: lines it already handled come again and must change nothing."""
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    room = await alice.create_room(public=True)
    await bob.join(room)
    await carol.join(room)
    bot_id = new_user(synapse, "meetbot")
    await alice.set_power(room, bot_id, 50)
    matrix = account(synapse, bot_id, tmp_path / "state", [room])
    bot = await start_bot(matrix, tmp_path)
    await alice.send(room, "#startmeeting Restart Test")
    await alice.wait_notice(bot_id, room, "Meeting started")
    shutil.copy(tmp_path / "state" / "sync.json", tmp_path / "early-sync.json")
    await bob.send(room, "#info before the restart")
    await alice.send(room, "#topic First")
    await alice.wait_for(
        lambda e: e.get("type") == "m.room.topic" and e.get("sender") == bot_id, what="topic"
    )
    await bot.stop()

    await bob.send(room, "#info while the bot was away")
    await carol.send(room, "is still here", "m.emote")
    await alice.send(room, "#topic Second")
    shutil.copy(tmp_path / "early-sync.json", tmp_path / "state" / "sync.json")
    bot = await start_bot(matrix, tmp_path)
    try:
        await alice.send(room, "#endmeeting")
        await alice.wait_notice(bot_id, room, "Meeting ended", within=20)
    finally:
        await bot.stop()

    data, log = minutes(bot.publish_dir, "restart_test")
    assert items(data) == [
        ("INFO", "before the restart", nick(bob)),
        ("TOPIC", "First", nick(alice)),
        ("INFO", "while the bot was away", nick(bob)),
        ("TOPIC", "Second", nick(alice)),
    ]
    for line in (
        f"<{nick(alice)}> #startmeeting Restart Test",
        f"<{nick(bob)}> #info before the restart",
        f"<{nick(bob)}> #info while the bot was away",
        f"* {nick(carol)} is still here",
        f"<{nick(alice)}> #topic Second",
    ):
        assert log.count(line) == 1, (line, log)
    said = alice.said_by(bot_id, room)
    assert sum("Meeting started" in body for body in said) == 1
    assert sum("Meeting ended" in body for body in said) == 1
    assert topics_set_by(alice, bot_id, room) == ["First", "Second"]


async def test_edits_and_redactions_change_the_minutes(
    synapse: Any, people: dict[str, Person], tmp_path: Path
) -> None:
    alice, bob = people["alice"], people["bob"]
    room = await alice.create_room(public=True)
    await bob.join(room)
    bot_id = new_user(synapse, "meetbot")
    bot = await start_bot(account(synapse, bot_id, tmp_path / "state", [room]), tmp_path)
    try:
        await alice.send(room, "#startmeeting Edit Test")
        await alice.wait_notice(bot_id, room, "Meeting started")
        typo = await bob.send(room, "#info the relase is on Friday")
        await bob.edit(room, typo, "#info the release is on Friday")
        secret = await bob.send(room, "#info the password is hunter2")
        await bob.redact(room, secret)
        await alice.edit(room, await alice.send(room, "a line"), "#endmeeting")  # never a command
        await alice.send(room, "#save")
        await alice.wait_notice(bot_id, room, "Minutes so far", within=20)
        await alice.send(room, "#endmeeting")
        await alice.wait_notice(bot_id, room, "Meeting ended", within=20)
    finally:
        await bot.stop()
    data, log = minutes(bot.publish_dir, "edit_test")
    assert items(data) == [("INFO", "the release is on Friday", nick(bob))]
    assert "hunter2" not in log
    assert "relase" not in log
    assert sum("Meeting ended" in body for body in alice.said_by(bot_id, room)) == 1


async def test_a_command_in_a_thread_is_answered_in_the_thread(
    synapse: Any, people: dict[str, Person], tmp_path: Path
) -> None:
    alice, bob = people["alice"], people["bob"]
    room = await alice.create_room(public=True)
    await bob.join(room)
    bot_id = new_user(synapse, "meetbot")
    bot = await start_bot(account(synapse, bot_id, tmp_path / "state", [room]), tmp_path)
    try:
        await alice.send(room, "#startmeeting Thread Test")
        await alice.wait_notice(bot_id, room, "Meeting started")
        root = await alice.send(room, "discussion here")
        await bob.send(
            room, "#topic mine", extra={"m.relates_to": {"rel_type": "m.thread", "event_id": root}}
        )
        refusal = await alice.wait_notice(bot_id, room, "is for the meeting chairs")
    finally:
        await bot.stop()
    assert refusal["content"]["m.relates_to"]["event_id"] == root


async def test_a_gap_longer_than_one_sync_is_backfilled(
    synapse: Any, people: dict[str, Person], tmp_path: Path
) -> None:
    """More lines while the bot is away than one sync carries (its filter asks for 200): the
    restarted bot gets a "limited" timeline and pages back through the gap."""
    alice, bob = people["alice"], people["bob"]
    room = await alice.create_room(public=True)
    await bob.join(room)
    bot_id = new_user(synapse, "meetbot")
    matrix = account(synapse, bot_id, tmp_path / "state", [room])
    bot = await start_bot(matrix, tmp_path)
    await alice.send(room, "#startmeeting Gap Test")
    await alice.wait_notice(bot_id, room, "Meeting started")
    await bot.stop()
    for n in range(260):
        await bob.send(room, f"line {n} while away")
    bot = await start_bot(matrix, tmp_path)
    try:
        await alice.send(room, "#endmeeting")
        await alice.wait_notice(bot_id, room, "Meeting ended", within=30)
    finally:
        await bot.stop()
    _, log = minutes(bot.publish_dir, "gap_test")
    missing = [n for n in range(260) if log.count(f"<{nick(bob)}> line {n} while away\n") != 1]
    assert missing == []
    assert log.index("line 0 while away") < log.index("line 259 while away")


async def test_the_bot_follows_a_room_upgrade(
    synapse: Any, people: dict[str, Person], tmp_path: Path
) -> None:
    alice = people["alice"]
    room = await alice.create_room(public=True)
    bot_id = new_user(synapse, "meetbot")
    bot = await start_bot(account(synapse, bot_id, tmp_path / "state", [room]), tmp_path)
    try:
        upgraded = await alice.upgrade(room)
        await alice.join(upgraded)
        await alice.wait_for(
            lambda e: (
                e["room_id"] == upgraded
                and e.get("type") == "m.room.member"
                and e.get("state_key") == bot_id
                and e["content"].get("membership") == "join"
            ),
            what="the bot to join the upgraded room",
        )
        await alice.send(upgraded, "#commands")
        await alice.wait_notice(bot_id, upgraded, "#startmeeting")
    finally:
        await bot.stop()
