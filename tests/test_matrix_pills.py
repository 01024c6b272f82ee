"""Matrix mentions ("pills"): the plain text the core sees names people by user id, and the core
takes a user id for that account (`#chair`, `#action` owners), never for a display name."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meetbot.adapters.matrix.pills import is_user_id, read_pills, user_of_link, with_user_ids
from meetbot.adapters.matrix.translate import RoomView, translate
from meetbot.app import App
from meetbot.domain.attribution import is_matrix_user_id, matrix_user_ids, owners_in
from meetbot.domain.model import Line
from meetbot.engine import Engine, MeetingHeader
from meetbot.events import Identity, LineKind, MessageIn, RoomRef
from meetbot_plugins.meeting.plugin import MeetingPlugin
from tests.conftest import T0, upgrade_schema
from tests.recording import Recorder, recorded_app

BOB = "@bob:example.org"
CAROL = "@carol:example.org"
HTML = "org.matrix.custom.html"


def pill(user_id: str, text: str) -> str:
    return f'<a href="https://matrix.to/#/{user_id}">{text}</a>'


# -- links ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("href", "user_id"),
    [
        ("https://matrix.to/#/@bob:example.org", BOB),
        ("https://matrix.to/#/%40bob%3Aexample.org", BOB),
        ("https://matrix.to/#/@bob:example.org?via=example.org", BOB),
        ("  https://matrix.to/#/@bob:example.org  ", BOB),
        ("HTTPS://MATRIX.TO/#/@bob:example.org", BOB),
        ("https://matrix.to/#/@bob:example.org:8448", "@bob:example.org:8448"),
        ("https://matrix.to/#/@bob:[::1]:8448", "@bob:[::1]:8448"),
        ("https://matrix.to/#/@Old.User_1=x/y+z:example.org", "@Old.User_1=x/y+z:example.org"),
        ("matrix:u/bob:example.org", BOB),
        ("matrix:u/bob:example.org?action=chat", BOB),
        ("matrix:u/bob%3Aexample.org", BOB),
        ("MATRIX:u/bob:example.org", BOB),
    ],
)
def test_user_links_name_their_user(href: str, user_id: str) -> None:
    assert user_of_link(href) == user_id


@pytest.mark.parametrize(
    "href",
    [
        "https://matrix.to/#/#room:example.org",  # a room alias
        "https://matrix.to/#/!abc:example.org",  # a room id
        "https://matrix.to/#/!abc:example.org/$event?via=example.org",  # an event
        "https://matrix.to/#/@bob:example.org/$event",  # not a user id any more
        "https://matrix.to/@bob:example.org",  # no fragment
        "https://evil.example/#/@bob:example.org",  # not matrix.to
        "https://matrix.to.evil.example/#/@bob:example.org",
        "matrix:r/room:example.org",
        "matrix:roomid/abc:example.org",
        "matrix://u/bob:example.org",
        "mailto:bob@example.org",
        "https://matrix.to/#/@bob",  # no server
        "https://matrix.to/#/@bob smith:example.org",
        "https://[::1/#/@bob:example.org",  # malformed: ignored, not raised
        "",
    ],
)
def test_other_links_name_nobody(href: str) -> None:
    assert user_of_link(href) is None


@pytest.mark.parametrize(
    "user_id",
    [BOB, "@bob:example.org:8448", "@bob:[::1]", "@Bob_1.x=y/z+w-v:a-b.example.org", "@b:localhost"],
)
def test_ids_the_adapter_writes_are_accounts_to_the_core(user_id: str) -> None:
    # Two copies of one grammar (adapters can't import the domain): they must agree.
    assert is_user_id(user_id)
    assert is_matrix_user_id(user_id)
    assert matrix_user_ids(f"#chair {user_id}, thanks.") == [user_id]


@pytest.mark.parametrize("text", ["bob", "@bob", "@bob:", "bob:example.org", "@bob smith:x", "#room:x"])
def test_neither_copy_takes_a_nick_for_an_id(text: str) -> None:
    assert not is_user_id(text)
    assert not is_matrix_user_id(text)


# -- the body ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "html", "expected"),
    [
        # Element: the display name in the body, the link in the HTML.
        ("#chair Bob Smith", f"#chair {pill(BOB, 'Bob Smith')}", f"#chair {BOB}"),
        ("#chair Bob Smith: ", f"#chair {pill(BOB, 'Bob Smith')}: ", f"#chair {BOB}: "),
        ("Bob Smith: can you?", f"{pill(BOB, 'Bob Smith')}: can you?", f"{BOB}: can you?"),
        # Percent-encoded and matrix: URIs.
        ("#chair Bob", '#chair <a href="https://matrix.to/#/%40bob%3Aexample.org">Bob</a>', f"#chair {BOB}"),
        ("#chair Bob", '#chair <a href="matrix:u/bob:example.org">Bob</a>', f"#chair {BOB}"),
        # Two people, in order.
        (
            "#chair Bob Smith Carol",
            f"#chair {pill(BOB, 'Bob Smith')} {pill(CAROL, 'Carol')}",
            f"#chair {BOB} {CAROL}",
        ),
        # One person twice: every occurrence is a pill, so each is certain.
        (
            "#action Bob and Bob",
            f"#action {pill(BOB, 'Bob')} and {pill(BOB, 'Bob')}",
            f"#action {BOB} and {BOB}",
        ),
        # Two people showing the same name: the n-th pill is the n-th occurrence.
        (
            "#chair Sam Sam",
            f"#chair {pill(BOB, 'Sam')} {pill(CAROL, 'Sam')}",
            f"#chair {BOB} {CAROL}",
        ),
        # The name also in plain text, the same number of times on both sides: still certain.
        (
            "Bob said #action Bob to fix it",
            f"Bob said #action {pill(BOB, 'Bob')} to fix it",
            f"Bob said #action {BOB} to fix it",
        ),
        # Nested tags in and around the link (Element wraps pills in spans; bold, code...).
        (
            "#chair Bob Smith please",
            f'<p>#chair <a href="https://matrix.to/#/{BOB}"><span data-mx-pill="1"><b>Bob</b> '
            "<i>Smith</i></span></a> <em>please</em></p>",
            f"#chair {BOB} please",
        ),
        # Entities in the display name, and whitespace inside the link.
        (
            "#chair Bob & Co",
            f'#chair <a href="https://matrix.to/#/{BOB}"> Bob &amp; Co </a>',
            f"#chair {BOB}",
        ),
        # Markdown in the body (some clients): the whole link becomes the id.
        (
            f"#chair [Bob](https://matrix.to/#/{BOB}) now",
            f"#chair {pill(BOB, 'Bob')} now",
            f"#chair {BOB} now",
        ),
        # Link text that is the id already.
        (f"#chair {BOB}", f"#chair {pill(BOB, BOB)}", f"#chair {BOB}"),
        # The link text names someone else: the link decides, never the text shown.
        ("#chair Carol", f"#chair {pill(BOB, 'Carol')}", f"#chair {BOB}"),
    ],
)
def test_pills_become_user_ids(body: str, html: str, expected: str) -> None:
    assert with_user_ids(body, html) == expected


@pytest.mark.parametrize(
    ("body", "html"),
    [
        # The name occurs more often in the body than in the HTML: which one is the pill?
        ("#action Bob to ask Bob", f"#action {pill(BOB, 'Bob')} to ask"),
        # Inside a longer word only in the body.
        ("#chair Bob Bobby", f"#chair {pill(BOB, 'Bob')} Robby"),
        # The pill's text is not in the body at all (a client that wrote something else).
        ("#chair bob", f"#chair {pill(BOB, 'Bob Smith')}"),
        # Links that are not users.
        ("see Meeting room", '<a href="https://matrix.to/#/#meeting:example.org">Meeting room</a>'),
        ("see this", '<a href="https://matrix.to/#/!r:example.org/$e?via=example.org">this</a>'),
        ("see docs", '<a href="https://docs.example.org/">docs</a>'),
        # An empty link, a link without href, nested links, broken HTML.
        ("#chair ", f'#chair <a href="https://matrix.to/#/{BOB}"> </a>'),
        ("#chair Bob", "#chair <a>Bob</a>"),
        ("#chair Bob", f'#chair <a href="x">{pill(BOB, "Bob")}</a>'),
        ("#chair Bob", "#chair <a href='https://matrix.to/#/@bob:example.org'>Bob"),
        # A pasted link, shown as its address: not a name.
        (f"see https://matrix.to/#/{BOB}", f"see {pill(BOB, f'https://matrix.to/#/{BOB}')}"),
        ("plain", None),
        ("plain", ""),
    ],
)
def test_uncertain_pills_leave_the_body_as_it_is(body: str, html: str | None) -> None:
    assert with_user_ids(body, html) == body


@given(body=st.text(max_size=40), html=st.text(alphabet="<>/!-[]&#;ab @:=\"'", max_size=60))
def test_any_html_leaves_a_line(body: str, html: str) -> None:
    # Malformed HTML from any client must never cost the line (html.parser asserts on some).
    assert isinstance(with_user_ids(body, html), str)
    assert with_user_ids(body, html + f"<a href='https://matrix.to/#/{BOB}'>b<![ x") == body


def test_only_the_uncertain_pill_is_left() -> None:
    body = "#action Bob Carol to ask Bob"
    html = f"#action {pill(BOB, 'Bob')} {pill(CAROL, 'Carol')} to ask"
    assert with_user_ids(body, html) == f"#action Bob {CAROL} to ask Bob"


def test_a_quoted_reply_is_not_read() -> None:
    quote = f"<mx-reply><blockquote>In reply to {pill(CAROL, 'Bob')}<br>hi</blockquote></mx-reply>"
    text, pills = read_pills(f"{quote}#chair {pill(BOB, 'Bob')}")
    assert text == "#chair Bob"
    assert [p.user_id for p in pills] == [BOB]
    assert with_user_ids("#chair Bob", f"{quote}#chair {pill(BOB, 'Bob')}") == f"#chair {BOB}"


# -- events ---------------------------------------------------------------------------------------

VIEW = RoomView("mx", "!room:example.org", "@meetbot:example.org", names={BOB: "Bob Smith"})


def event(content: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "m.room.message",
        "event_id": "$e2",
        "sender": "@alice:example.org",
        "origin_server_ts": 1_790_000_000_000,
        "content": content,
    }


def test_an_element_mention_reaches_the_core_as_the_user_id() -> None:
    line = translate(
        event(
            {
                "msgtype": "m.text",
                "body": "#chair Bob Smith",
                "format": HTML,
                "formatted_body": f"#chair {pill(BOB, 'Bob Smith')}",
                "m.mentions": {"user_ids": [BOB]},
            }
        ),
        VIEW,
    )
    assert line is not None
    assert line.text == f"#chair {BOB}"


def test_html_of_another_format_is_not_read() -> None:
    content = {"msgtype": "m.text", "body": "#chair Bob", "format": "x", "formatted_body": pill(BOB, "Bob")}
    line = translate(event(content), VIEW)
    assert line is not None
    assert line.text == "#chair Bob"


def test_m_mentions_alone_places_nobody() -> None:
    content = {"msgtype": "m.text", "body": "#chair Bob Smith", "m.mentions": {"user_ids": [BOB]}}
    line = translate(event(content), VIEW)
    assert line is not None
    assert line.text == "#chair Bob Smith"


@pytest.mark.parametrize("msgtype", ["m.emote", "m.notice"])
def test_emotes_and_notices_too(msgtype: str) -> None:
    content = {
        "msgtype": msgtype,
        "body": "thanks Bob",
        "format": HTML,
        "formatted_body": f"thanks {pill(BOB, 'Bob')}",
    }
    line = translate(event(content), VIEW)
    assert line is not None
    assert line.text == f"thanks {BOB}"


def test_an_edit_gets_the_same_treatment() -> None:
    content = {
        "msgtype": "m.text",
        "body": "* #chair Bob Smith",
        "format": HTML,
        "formatted_body": f"* #chair {pill(BOB, 'Bob Smith')}",
        "m.new_content": {
            "msgtype": "m.text",
            "body": "#chair Bob Smith",
            "format": HTML,
            "formatted_body": f"#chair {pill(BOB, 'Bob Smith')}",
        },
        "m.relates_to": {"rel_type": "m.replace", "event_id": "$e1"},
    }
    line = translate(event(content), VIEW)
    assert line is not None
    assert (line.kind, line.text, line.edit_of) == (LineKind.EDIT, f"#chair {BOB}", "$e1")
    del content["m.new_content"]  # the fallback body is all there is
    line = translate(event(content), VIEW)
    assert line is not None
    assert line.text == f"#chair {BOB}"


def test_a_reply_drops_its_quote_and_keeps_its_pills() -> None:
    content = {
        "msgtype": "m.text",
        "body": f"> <{CAROL}> hello Bob\n\n#chair Bob",
        "format": HTML,
        "formatted_body": (
            f"<mx-reply><blockquote>{pill(CAROL, CAROL)}<br>hello Bob</blockquote></mx-reply>"
            f"#chair {pill(BOB, 'Bob')}"
        ),
        "m.relates_to": {"m.in_reply_to": {"event_id": "$e0"}},
    }
    line = translate(event(content), VIEW)
    assert line is not None
    assert line.text == f"#chair {BOB}"


# -- the core: a user id is that account ----------------------------------------------------------

ROOM = RoomRef("mx", "!room:example.org")
ALICE_ID = Identity("mx", "Alice", account="@alice:example.org")
BOB_ID = Identity("mx", "Bob Smith", account=BOB)
# Someone who took bob's display name, and someone whose display name is bob's user id.
NAMESAKE = Identity("mx", "Bob Smith", account="@imposter:example.org")
SPOOF = Identity("mx", BOB, account="@spoof:example.org")


class Script:
    def __init__(self) -> None:
        self.engine = Engine([MeetingPlugin()])
        header = MeetingHeader(1, ROOM, T0, ALICE_ID.key, ALICE_ID.nick)
        self.meeting = self.engine.new_meeting(header)

    def say(self, who: Identity, text: str) -> list[str]:
        seq = len(self.meeting.lines) + 1
        line = Line(seq, T0 + timedelta(seconds=seq), LineKind.SAY, who.nick, who.key, text)
        return self.engine.apply(self.meeting, line).replies


def test_chair_by_user_id_is_that_account_not_a_display_name() -> None:
    script = Script()
    script.say(ALICE_ID, "#startmeeting pills")
    script.say(SPOOF, "hello")  # the roster now maps the nick "@bob:example.org" to the spoofer
    script.say(NAMESAKE, "hi")
    assert script.say(ALICE_ID, f"#chair {BOB}") == [f"Current chairs: {BOB} Alice"]
    assert BOB_ID.key in script.meeting.chairs
    assert "is for the meeting chairs" in script.say(SPOOF, "#topic mine")[0]
    assert "is for the meeting chairs" in script.say(NAMESAKE, "#topic mine")[0]
    assert script.say(BOB_ID, "#topic bob's") == []
    assert script.meeting.current_topic == "bob's"
    script.say(ALICE_ID, f"#unchair {BOB}")
    assert BOB_ID.key not in script.meeting.chairs


def test_action_owners_by_user_id() -> None:
    script = Script()
    script.say(ALICE_ID, "#startmeeting pills")
    script.say(BOB_ID, "here")
    script.say(SPOOF, "here too")
    attendees = script.meeting.attendee_nicks()
    assert BOB in attendees
    assert owners_in(f"{BOB} to fix it.", attendees) == [BOB]
    assert script.meeting.identity_of(BOB) == BOB_ID.key
    # No nick matches inside an id: not "Bob Smith", nor a display name like "example".
    assert owners_in("@someone:example.org to fix it", ["example", "someone", BOB]) == []
    assert owners_in("example and someone", ["example", "someone"]) == ["example", "someone"]


@pytest.fixture
async def bot(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[App, Recorder]]:
    room = Recorder([ALICE_ID, BOB_ID], network="mx", bot_nick="@meetbot:example.org")
    await upgrade_schema(database_url)
    async with recorded_app(tmp_path, room, database_url=database_url) as app:
        yield app, room


async def test_a_pilled_action_is_owned_once_by_the_account(bot: tuple[App, Recorder]) -> None:
    app, channel = bot
    lines = [
        (ALICE_ID, "#startmeeting pills"),
        (ALICE_ID, f"#action {BOB} to write it up"),
        (ALICE_ID, f"#action {BOB} to ask Bob Smith"),  # named twice: one owner, not a lost item
        (ALICE_ID, "#endmeeting"),
        (ALICE_ID, f"#actions {BOB}"),
    ]
    for n, (who, text) in enumerate(lines):
        app.dispatcher.submit(MessageIn(ROOM, who, text, T0 + timedelta(seconds=n)))
    await app.settled()
    actions = await app.database.teams.open_actions("pills")
    assert [[owner.key for owner in action.owners] for action in actions] == [[BOB_ID.key], [BOB_ID.key]]
    assert channel.said[-1] == (
        f"Open action items of {BOB}: #1 {BOB} to write it up ({BOB}) · #2 {BOB} to ask Bob Smith (Bob Smith)"
    )
