"""The pure rules: which line each Matrix event makes (no homeserver needed)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from meetbot.adapters.matrix.outgoing import TransactionIds, html_body, notice_content
from meetbot.adapters.matrix.state import Credentials, StateDir
from meetbot.adapters.matrix.translate import (
    NamesAtTheTime,
    RoomView,
    inviter_allowed,
    live_events,
    power_level,
    privileged_creators,
    strip_reply_fallback,
    translate,
)
from meetbot.events import LineKind, RoomRef

BOT = "@meetbot:example.org"
ALICE = "@alice:example.org"
BOB = "@bob:example.org"
LEVELS = {"users": {ALICE: 100, BOB: "50"}, "users_default": 0}
VIEW = RoomView(
    "mx",
    "!room:example.org",
    BOT,
    names={ALICE: "Alice", BOB: "Bob"},
    power_levels=LEVELS,
    chair_power_level=50,
)


def message(
    body: str,
    sender: str = ALICE,
    msgtype: str = "m.text",
    *,
    extra: dict[str, Any] | None = None,
    **content: str,
) -> dict[str, Any]:
    return {
        "type": "m.room.message",
        "event_id": "$e1",
        "sender": sender,
        "origin_server_ts": 1_790_000_000_000,
        "content": {"msgtype": msgtype, "body": body, **content, **(extra or {})},
    }


def member(
    user: str, now: str, before: str | None, sender: str | None = None, **content: Any
) -> dict[str, Any]:
    return {
        "type": "m.room.member",
        "event_id": "$m",
        "sender": sender or user,
        "state_key": user,
        "origin_server_ts": 1_790_000_000_000,
        "content": {"membership": now, **content},
        "unsigned": {"prev_content": {"membership": before, "displayname": "Old"}} if before else {},
    }


def test_plain_text_carries_identity_time_and_rank() -> None:
    line = translate(message("#topic x"), VIEW)
    assert line is not None
    assert line.room == RoomRef("mx", "!room:example.org")
    assert (line.sender.nick, line.sender.account, line.sender.key) == ("Alice", ALICE, f"mx:{ALICE}")
    assert line.at == datetime.fromtimestamp(1_790_000_000, UTC)
    assert (line.kind, line.text, line.native_id) == (LineKind.SAY, "#topic x", "$e1")
    assert line.privileged
    assert line.loggable
    assert not line.from_self


@pytest.mark.parametrize(
    ("msgtype", "kind"),
    [("m.text", LineKind.SAY), ("m.notice", LineKind.NOTICE), ("m.emote", LineKind.ACTION)],
)
def test_speech_kinds(msgtype: str, kind: LineKind) -> None:
    line = translate(message("hi", msgtype=msgtype), VIEW)
    assert line is not None
    assert line.kind is kind


def test_media_is_a_placeholder_with_its_name_never_a_command() -> None:
    line = translate(message("#endmeeting.png", msgtype="m.image", url="mxc://x/y"), VIEW)
    assert line is not None
    assert (line.kind, line.text) == (LineKind.SAY, "[image: #endmeeting.png]")
    named = translate(message("a caption", msgtype="m.file", filename="plan.pdf"), VIEW)
    assert named is not None
    assert named.text == "[file: plan.pdf]"


def test_power_levels() -> None:
    assert power_level(LEVELS, ALICE) == 100
    assert power_level(LEVELS, BOB) == 50  # a string level, as old rooms have
    assert power_level(LEVELS, "@carol:example.org") == 0
    assert power_level({"users_default": 50}, "@carol:example.org") == 50
    low = translate(message("#topic x", sender="@carol:example.org"), VIEW)
    assert low is not None
    assert not low.privileged
    assert translate(message("x"), RoomView("mx", "!r", BOT)).privileged is False  # type: ignore[union-attr]


def test_room_v12_creators_outrank_everyone_older_rooms_do_not() -> None:
    assert privileged_creators({"room_version": "12", "additional_creators": [BOB]}, ALICE) == {ALICE, BOB}
    assert privileged_creators({"room_version": "10", "creator": ALICE}, ALICE) == frozenset()
    view = RoomView("mx", "!r", BOT, power_levels={"users": {}}, creators=frozenset({ALICE}))
    assert translate(message("#topic x"), view).privileged  # type: ignore[union-attr]


def test_own_messages_are_marked() -> None:
    line = translate(message("Meeting started", sender=BOT, msgtype="m.notice"), VIEW)
    assert line is not None
    assert line.from_self


def test_an_edit_is_an_edit_of_the_original_with_the_new_text() -> None:
    edit = message(
        "* #info fixed",
        extra={
            "m.new_content": {"msgtype": "m.text", "body": "#info fixed"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": "$orig"},
        },
    )
    line = translate(edit, VIEW)
    assert line is not None
    assert (line.kind, line.text, line.edit_of) == (LineKind.EDIT, "#info fixed", "$orig")
    bare = message("* new", extra={"m.relates_to": {"rel_type": "m.replace", "event_id": "$orig"}})
    assert translate(bare, VIEW).text == "new"  # type: ignore[union-attr]


@pytest.mark.parametrize("where", ["top", "content"])
def test_redactions_in_every_room_version(where: str) -> None:
    event: dict[str, Any] = {"type": "m.room.redaction", "event_id": "$r", "sender": BOB, "content": {}}
    if where == "top":
        event["redacts"] = "$gone"  # room versions 1-10
    else:
        event["content"]["redacts"] = "$gone"  # room version 11+
    line = translate(event, VIEW)
    assert line is not None
    assert (line.kind, line.edit_of, line.text) == (LineKind.REDACT, "$gone", "")


def test_an_already_redacted_message_makes_no_line() -> None:
    assert translate({**message("x"), "content": {}}, VIEW) is None


def test_thread_messages_name_their_root() -> None:
    line = translate(
        message("#info a", extra={"m.relates_to": {"rel_type": "m.thread", "event_id": "$root"}}), VIEW
    )
    assert line is not None
    assert line.thread == "$root"


def test_reply_fallback_is_stripped_only_where_it_is_one() -> None:
    reply = {"m.relates_to": {"m.in_reply_to": {"event_id": "$q"}}}
    legacy = translate(message("> <@bob:example.org> hello\n> there\n\n#agreed yes", extra=reply), VIEW)
    assert legacy is not None
    assert legacy.text == "#agreed yes"
    html_marked = translate(
        message("> quoted\n\n#info x", formatted_body="<mx-reply>q</mx-reply>#info x", extra=reply), VIEW
    )
    assert html_marked.text == "#info x"  # type: ignore[union-attr]
    # A modern reply (no fallback) that quotes by hand keeps the quote.
    assert strip_reply_fallback("> my own quote\n\nanswer", None) == "> my own quote\n\nanswer"
    not_a_reply = translate(message("> <@bob:example.org> hello\n\ntext"), VIEW)
    assert not_a_reply.text.startswith("> <@bob")  # type: ignore[union-attr]


def test_membership() -> None:
    join = translate(member(BOB, "join", None, displayname="Bob"), VIEW)
    assert join is not None
    assert (join.kind, join.sender.account, join.sender.nick) == (LineKind.JOIN, BOB, "Bob")
    rename = translate(member(BOB, "join", "join", displayname="Robert"), VIEW)
    assert rename is not None
    assert (rename.kind, rename.sender.nick, rename.text) == (LineKind.NICK, "Old", "Robert")
    assert translate(member(BOB, "join", "join", displayname="Old"), VIEW) is None  # an avatar change
    part = translate(member(BOB, "leave", "join", reason="lunch"), VIEW)
    assert (part.kind, part.text) == (LineKind.PART, "lunch")  # type: ignore[union-attr]
    kick = translate(member(BOB, "leave", "join", sender=ALICE, reason="spam"), VIEW)
    assert (kick.kind, kick.sender.account, kick.text) == (LineKind.KICK, BOB, "removed by Alice: spam")  # type: ignore[union-attr]
    ban = translate(member(BOB, "ban", "join", sender=ALICE), VIEW)
    assert ban.text == "banned by Alice"  # type: ignore[union-attr]
    assert translate(member(BOB, "invite", None, sender=ALICE), VIEW) is None
    assert translate(member(BOB, "leave", "invite"), VIEW) is None  # a declined invite


def test_encrypted_rooms_are_not_loggable() -> None:
    view = RoomView("mx", "!r", BOT, encrypted=True)
    line = translate({"type": "m.room.encrypted", "event_id": "$x", "sender": ALICE, "content": {}}, view)
    assert line is not None
    assert (line.text, line.loggable) == ("[encrypted message]", False)


def test_history_before_the_bots_own_join_is_not_live() -> None:
    events = [message("#startmeeting old"), member(BOT, "join", None), message("new")]
    assert live_events(events, BOT) == events[2:]
    assert live_events(events[2:], BOT) == events[2:]
    rename = [message("a"), member(BOT, "join", "join", displayname="x"), message("b")]
    assert live_events(rename, BOT) == rename  # a display name change is not a new join


def test_inviters() -> None:
    assert inviter_allowed(ALICE, [ALICE])
    assert inviter_allowed(ALICE, [":example.org"])
    assert not inviter_allowed("@alice:example.org.evil", [":example.org"])
    assert not inviter_allowed(BOB, [ALICE])
    assert not inviter_allowed(ALICE, [])


def test_notices_with_links_threads_and_transaction_ids() -> None:
    assert notice_content("plain") == {"msgtype": "m.notice", "body": "plain"}
    linked = notice_content("Minutes: https://x.org/a.html · <b>", thread="$root", reply_to="$last")
    assert linked["body"] == "Minutes: https://x.org/a.html · <b>"
    assert (
        linked["formatted_body"]
        == 'Minutes: <a href="https://x.org/a.html">https://x.org/a.html</a> · &lt;b&gt;'
    )
    assert linked["m.relates_to"] == {
        "rel_type": "m.thread",
        "event_id": "$root",
        "is_falling_back": True,
        "m.in_reply_to": {"event_id": "$last"},
    }
    assert html_body("see https://x.org/a.") == 'see <a href="https://x.org/a">https://x.org/a</a>.'
    ids, again = TransactionIds("s1"), TransactionIds("s2")
    first = [ids.next(), ids.next()]
    assert first[0] != first[1]
    assert again.next() not in first  # a restarted bot never reuses a txn id of its previous run


def test_state_dir_keeps_the_login_for_the_same_account_only(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "mx")
    assert state.load_credentials("https://hs", ALICE) is None
    assert state.load_next_batch() is None
    state.save_credentials(Credentials("https://hs", ALICE, "DEV", "token"))
    state.save_next_batch("s42")
    assert state.load_credentials("https://hs", ALICE) == Credentials("https://hs", ALICE, "DEV", "token")
    assert state.load_credentials("https://other", ALICE) is None  # another server: log in afresh
    assert state.load_credentials("https://hs", BOB) is None
    assert (tmp_path / "mx" / "credentials.json").stat().st_mode & 0o077 == 0  # a secret
    assert StateDir(tmp_path / "mx").load_next_batch() == "s42"
    (tmp_path / "mx" / "sync.json").write_text("{not json")
    assert state.load_next_batch() is None  # a damaged file: start over, observing
    state.forget_credentials()
    assert state.load_credentials("https://hs", ALICE) is None


def test_names_are_those_at_the_time_within_one_batch() -> None:
    events = [message("before"), member(ALICE, "join", "join", displayname="Alice B."), message("after")]
    names = NamesAtTheTime(events, {ALICE: "Alice B.", BOB: "Bob"})  # nio's state: the batch's end
    seen = []
    for event in events:
        line = translate(event, RoomView("mx", "!r", BOT, names=names))
        assert line is not None
        seen.append((line.kind, line.sender.nick))
        names.advance(event)
    # member() puts "Old" as the name before the change
    assert seen == [(LineKind.SAY, "Old"), (LineKind.NICK, "Old"), (LineKind.SAY, "Alice B.")]
    assert names[BOB] == "Bob"
