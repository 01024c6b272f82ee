"""Mentions through a real Synapse: a pill names a person by user id, whatever their display name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.matrix.conftest import Person, account, new_user, ok, start_bot
from tests.matrix.test_meeting_live import items, minutes


def element_mention(command: str, person: Person, shown: str) -> tuple[str, dict[str, Any]]:
    """What Element sends for `command` followed by a mention pill: the display name in the plain
    body, the link in the HTML, and the person in m.mentions."""
    link = f'<a href="https://matrix.to/#/{person.user_id}">{shown}</a>'
    return f"{command} {shown}", {
        "format": "org.matrix.custom.html",
        "formatted_body": f"{command} {link}",
        "m.mentions": {"user_ids": [person.user_id]},
    }


async def test_chair_by_mention_is_the_person_the_pill_links(
    synapse: Any, people: dict[str, Person], tmp_path: Path
) -> None:
    """bob and carol both call themselves "Bob Smith" (both at level 0); alice chairs bob by a
    pill. bob may then run a chair-only command; carol, who only shares the name, may not."""
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    room = await alice.create_room(public=True)
    for person in (bob, carol):
        await person.join(room)
        ok(await person.client.set_displayname("Bob Smith"))
    bot_id = new_user(synapse, "meetbot")
    bot = await start_bot(account(synapse, bot_id, tmp_path / "state", [room]), tmp_path)
    try:
        await alice.send(room, "#startmeeting Mention Test")
        await alice.wait_notice(bot_id, room, "Meeting started")
        body, html = element_mention("#chair", bob, "Bob Smith")
        await alice.send(room, body, extra=html)
        chairs = await alice.wait_notice(bot_id, room, "Current chairs")
        assert bob.user_id in chairs["content"]["body"]
        assert carol.user_id not in chairs["content"]["body"]
        await carol.send(room, "#topic by the namesake")
        await alice.wait_notice(bot_id, room, "is for the meeting chairs")
        await bob.send(room, "#topic by bob, chaired by mention")
        await alice.send(room, "#endmeeting")
        await alice.wait_notice(bot_id, room, "Meeting ended", within=20)
    finally:
        await bot.stop()
    data, log = minutes(bot.publish_dir, "mention_test")
    assert [(kind, text) for kind, text, _ in items(data)] == [("TOPIC", "by bob, chaired by mention")]
    # The log keeps what the chair meant: the id the pill links, not the name both share.
    assert f"#chair {bob.user_id}" in log
    assert "#chair Bob Smith" not in log
    refusals = [b for b in alice.said_by(bot_id, room) if "is for the meeting chairs" in b]
    assert len(refusals) == 1
