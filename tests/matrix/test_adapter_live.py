"""The adapter alone against a real Synapse: which MessageIn each kind of Matrix event becomes,
what it sends, how it logs in again, and what it does with invites and history."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from meetbot.adapters.matrix import MatrixAdapter
from meetbot.adapters.matrix.adapter import ENCRYPTED_ROOM_NOTICE
from meetbot.events import LineKind, MessageIn, RoomRef, Say
from tests.matrix.conftest import Person, account, admin_api, already_handled, collect, new_user, ok


async def test_events_become_the_neutral_lines(
    synapse: Any, people: dict[str, Person], tmp_path: Path
) -> None:
    alice, bob = people["alice"], people["bob"]
    room = await alice.create_room(public=True)
    await bob.join(room)
    await alice.set_power(room, bob.user_id, 50)
    await alice.set_power(room, people["carol"].user_id, 49)
    await people["carol"].join(room)
    bot_id = new_user(synapse, "meetbot")
    got = await collect(account(synapse, bot_id, tmp_path / "state", [room]))
    try:
        said = await alice.send(room, "#info first")
        await got.wait_for(lambda m: m.native_id == said)
        emote = await bob.send(room, "waves", "m.emote")
        notice = await bob.send(room, "a notice", "m.notice")
        image = await bob.send(room, "cat.png", "m.image", url="mxc://localhost/abc", filename="cat.png")
        low = await people["carol"].send(room, "#topic mine")
        edit = await alice.edit(room, said, "#info first, fixed")
        redaction = await alice.redact(room, said)
        root = await alice.send(room, "a thread starts")
        in_thread = await bob.send(
            room, "#info in a thread", extra={"m.relates_to": {"rel_type": "m.thread", "event_id": root}}
        )
        reply = await bob.send(
            room,
            f"> <{alice.user_id}> a thread starts\n\n#info replying",
            format="org.matrix.custom.html",
            formatted_body="<mx-reply><blockquote>a thread starts</blockquote></mx-reply>#info replying",
            extra={"m.relates_to": {"m.in_reply_to": {"event_id": root}}},
        )
        quoted = await bob.send(room, "> just a quote\n\nmine")
        last = await got.wait_for(lambda m: m.native_id == quoted)
        by_id = {m.native_id: m for m in got.lines}

        first = by_id[said]
        assert (first.kind, first.text, first.privileged, first.from_self) == (
            LineKind.SAY,
            "#info first",
            True,
            False,
        )
        assert first.sender.account == alice.user_id  # the full MXID, never a localpart
        assert first.room == RoomRef("mx", room)
        assert first.loggable
        assert (by_id[emote].kind, by_id[emote].text, by_id[emote].privileged) == (
            LineKind.ACTION,
            "waves",
            True,
        )
        assert (by_id[notice].kind, by_id[notice].text) == (LineKind.NOTICE, "a notice")
        assert (by_id[image].kind, by_id[image].text) == (LineKind.SAY, "[image: cat.png]")
        assert by_id[low].privileged is False  # level 49 < 50
        assert (by_id[edit].kind, by_id[edit].text, by_id[edit].edit_of) == (
            LineKind.EDIT,
            "#info first, fixed",
            said,
        )
        assert (by_id[redaction].kind, by_id[redaction].edit_of) == (LineKind.REDACT, said)
        assert by_id[in_thread].thread == root
        assert by_id[root].thread is None
        assert by_id[reply].text == "#info replying"  # the legacy fallback is gone
        assert last.text == "> just a quote\n\nmine"  # a hand-typed quote is kept
        members = {m.account: m.nick for m in got.adapter.members(RoomRef("mx", room))}
        assert set(members) == {alice.user_id, bob.user_id, people["carol"].user_id}
        # Joins seen live carry the member's MXID
        joins = [m for m in got.lines if m.kind is LineKind.JOIN]
        assert all(m.sender.account and m.sender.account.startswith("@") for m in joins)
    finally:
        await got.stop()


async def test_first_start_observes_history_and_a_restart_reuses_the_device(
    synapse: Any, people: dict[str, Person], tmp_path: Path
) -> None:
    alice = people["alice"]
    room = await alice.create_room(public=True)
    old = await alice.send(room, "#startmeeting long ago")
    bot_id = new_user(synapse, "meetbot")
    matrix = account(synapse, bot_id, tmp_path / "state", [room])
    got = await collect(matrix)
    new = await alice.send(room, "hello")
    await got.wait_for(lambda m: m.native_id == new)
    devices_before = {d.id for d in ok(await got.adapter.client.devices()).devices}
    await got.stop()
    assert old not in {m.native_id for m in got.lines}  # history, not a command to run now
    device = json.loads((tmp_path / "state" / "credentials.json").read_text())["device_id"]

    while_down = await alice.send(room, "said while the bot was away")
    again = await collect(matrix)
    try:
        await again.wait_for(lambda m: m.native_id == while_down)
        assert again.adapter.client.device_id == device
        assert new not in {m.native_id for m in again.lines}  # the stored sync position held
        # (registration made a device of its own: hence a set, compared with before the restart)
        assert {d.id for d in ok(await again.adapter.client.devices()).devices} == devices_before
    finally:
        await again.stop()


async def test_invites_only_from_allowed_inviters(
    synapse: Any, people: dict[str, Person], tmp_path: Path
) -> None:
    alice, bob = people["alice"], people["bob"]
    bot_id = new_user(synapse, "meetbot")
    got = await collect(account(synapse, bot_id, tmp_path / "state", [], allowed_inviters=[alice.user_id]))
    try:
        refused = await bob.create_room(invite=(bot_id,))
        accepted = await alice.create_room(invite=(bot_id,))
        await alice.wait_for(
            lambda e: (
                e.get("type") == "m.room.member"
                and e.get("state_key") == bot_id
                and e["room_id"] == accepted
                and e["content"].get("membership") == "join"
            ),
            what="the bot to join alice's room",
        )
        await bob.wait_for(
            lambda e: (
                e.get("type") == "m.room.member"
                and e.get("state_key") == bot_id
                and e["room_id"] == refused
                and e["content"].get("membership") == "leave"
            ),
            what="the bot to decline bob's invite",
        )
    finally:
        await got.stop()


async def test_encrypted_rooms_are_marked_unloggable_and_told_why(
    synapse: Any, people: dict[str, Person], tmp_path: Path
) -> None:
    alice = people["alice"]
    bot_id = new_user(synapse, "meetbot")
    got = await collect(account(synapse, bot_id, tmp_path / "state", [], allowed_inviters=[":localhost"]))
    try:
        encryption = {
            "type": "m.room.encryption",
            "state_key": "",
            "content": {"algorithm": "m.megolm.v1.aes-sha2"},
        }
        room = await alice.create_room(invite=(bot_id,), initial_state=[encryption])
        await alice.wait_notice(bot_id, room, "end-to-end encrypted")
        # A member event is not encrypted, so the adapter does see it: and marks it unloggable.
        await alice.client.room_leave(room)
        line = await got.wait_for(lambda m: m.kind is LineKind.PART and m.room.room == room)
        assert line.loggable is False
        assert ENCRYPTED_ROOM_NOTICE.startswith("This room is end-to-end encrypted")
    finally:
        await got.stop()


async def test_sends_are_notices_in_order_in_threads_and_retried_after_429(
    synapse: Any, people: dict[str, Person], tmp_path: Path
) -> None:
    alice = people["alice"]
    room = await alice.create_room(public=True)
    root = await alice.send(room, "thread root")
    bot_id = new_user(synapse, "meetbot")
    # A real 429 from Synapse: the admin API gives the bot a limit of one message a second.
    admin_api(
        synapse,
        "POST",
        f"/_synapse/admin/v1/users/{bot_id}/override_ratelimit",
        {"messages_per_second": 1, "burst_count": 1},
    )
    got = await collect(account(synapse, bot_id, tmp_path / "state", [room]))
    try:
        sends = [
            got.adapter.send(Say(RoomRef("mx", room), f"notice {n} https://example.org/{n}"))
            for n in range(4)
        ]
        started = asyncio.get_running_loop().time()
        for send in sends:  # as a room worker does: one after the other
            await send
        assert asyncio.get_running_loop().time() - started > 1.5  # the limit did bite
        await got.adapter.send(Say(RoomRef("mx", room), "in the thread", thread=root))
        await alice.wait_notice(bot_id, room, "in the thread")
        bodies = [b for b in alice.said_by(bot_id, room)]
        assert bodies == [f"notice {n} https://example.org/{n}" for n in range(4)] + ["in the thread"]
        mine = [e for e in alice.events if e.get("sender") == bot_id and e.get("type") == "m.room.message"]
        assert {e["content"]["msgtype"] for e in mine} == {"m.notice"}
        assert '<a href="https://example.org/0">' in mine[0]["content"]["formatted_body"]
        assert mine[-1]["content"]["m.relates_to"]["rel_type"] == "m.thread"
        assert mine[-1]["content"]["m.relates_to"]["event_id"] == root
    finally:
        await got.stop()


async def test_a_revoked_token_logs_in_again_with_the_password(
    synapse: Any, people: dict[str, Person], tmp_path: Path
) -> None:
    room = await people["alice"].create_room(public=True)
    bot_id = new_user(synapse, "meetbot")
    matrix = account(synapse, bot_id, tmp_path / "state", [room])
    first = await collect(matrix)
    ok(await first.adapter.client.logout())
    await first.stop()
    again = MatrixAdapter(matrix)
    task = asyncio.create_task(again.run(lambda line: None))
    try:
        await asyncio.wait_for(again.wait_ready(), 20)
        assert again.client.logged_in
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_failing_handler_never_stops_the_sync_loop(
    synapse: Any, people: dict[str, Person], tmp_path: Path
) -> None:
    alice = people["alice"]
    room = await alice.create_room(public=True)
    seen: list[MessageIn] = []
    arrived = asyncio.Event()

    def submit(line: MessageIn) -> asyncio.Future[None]:
        if line.text == "boom":
            raise RuntimeError("a handler bug")
        seen.append(line)
        arrived.set()
        return already_handled()

    adapter = MatrixAdapter(account(synapse, new_user(synapse, "meetbot"), tmp_path / "state", [room]))
    task = asyncio.create_task(adapter.run(submit))
    try:
        await asyncio.wait_for(adapter.wait_ready(), 20)
        await alice.send(room, "boom")
        after = await alice.send(room, "still listening")
        async with asyncio.timeout(10):
            while after not in {line.native_id for line in seen}:
                arrived.clear()
                await arrived.wait()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_rename_while_away_keeps_each_line_under_the_name_of_its_time(
    synapse: Any, people: dict[str, Person], tmp_path: Path
) -> None:
    alice, carol = people["alice"], people["carol"]
    room = await alice.create_room(public=True)
    await carol.join(room)
    matrix = account(synapse, new_user(synapse, "meetbot"), tmp_path / "state", [room])
    got = await collect(matrix)
    await got.stop()
    before = await carol.send(room, "before")  # these three reach the bot in one batch
    ok(await carol.client.set_displayname("Carol New"))
    # Synapse rewrites the room membership in the background: the rename lands a moment later.
    await carol.wait_for(
        lambda e: e.get("type") == "m.room.member" and e.get("content", {}).get("displayname") == "Carol New",
        what="the rename in the room",
    )
    after = await carol.send(room, "after")
    again = await collect(matrix)
    try:
        await again.wait_for(lambda m: m.native_id == after)
        by_id = {m.native_id: m for m in again.lines}
        old = carol.user_id[1:].partition(":")[0]
        assert by_id[before].sender.nick == old
        assert by_id[after].sender.nick == "Carol New"
        (rename,) = [m for m in again.lines if m.kind is LineKind.NICK]
        assert (rename.sender.nick, rename.text, rename.sender.account) == (old, "Carol New", carol.user_id)
    finally:
        await again.stop()
