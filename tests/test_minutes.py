"""Minutes rendering: golden files for every format, MeetBot's rules, and escaping.

`UPDATE_GOLDEN=1 pytest tests/test_minutes.py` rewrites tests/golden/ from the current output;
review the diff by eye before committing it.
"""

from __future__ import annotations

import json
import os
import re
import textwrap
import unicodedata
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import meetbot.minutes.view as view_module
from meetbot.domain.model import Item, ItemKind, Line, Meeting, Person
from meetbot.events import LineKind, RoomRef
from meetbot.minutes.render import (
    LINES_TEMPLATE,
    environments,
    fill,
    log_html,
    log_text,
    md_escape,
    md_url,
    render_all,
)
from meetbot.minutes.view import EXTENSIONS, MeetingLinks, build_view, event_phrase, find_link, split_urls

GOLDEN = Path(__file__).parent / "golden"
GENERATOR = "meetbot 0.1.0"
LINKS = MeetingLinks("nova.2019-01-03-14.00", "https://meetings.example.org/nova/2019/nova.2019-01-03-14.00")
T0 = datetime(2019, 1, 3, 14, 0, 1, tzinfo=UTC)
BOT = "libera:meetbot"


class Builder:
    """Builds a Meeting the way the engine would leave it: lines, items and people agree."""

    def __init__(self, room: str = "#openstack", owner: str = "alice") -> None:
        self.meeting = Meeting(
            room=RoomRef("libera", room),
            started_at=T0,
            owner_key=f"libera:{owner}",
            owner_nick=owner,
            id=42,
        )

    def line(
        self,
        seconds: int,
        nick: str,
        text: str,
        kind: LineKind = LineKind.SAY,
        *,
        bot: bool = False,
        item: ItemKind | None = None,
        item_text: str | None = None,
    ) -> Line:
        key = BOT if bot else f"libera:{nick}"
        at = T0 + timedelta(seconds=seconds)
        line = Line(len(self.meeting.lines) + 1, at, kind, nick, key, text, is_bot=bot)
        self.meeting.lines.append(line)
        if kind.is_speech:
            person = self.meeting.people.setdefault(key, Person(key, nick, is_bot=bot))
            person.lines += 1
        if item is not None:
            assert item_text is not None
            self.meeting.items.append(Item(item, item_text, nick, key, at, line.seq))
        return line

    def say(self, seconds: int, nick: str, text: str, **kw: object) -> Line:
        """`#cmd args` lines make the matching item, as the engine does."""
        match = re.match(r"#(\w+)\s*(.*)", text)
        kinds = {k.value.lower(): k for k in ItemKind}
        if match and match.group(1) in kinds:
            return self.line(seconds, nick, text, item=kinds[match.group(1)], item_text=match.group(2))
        return self.line(seconds, nick, text, **kw)  # type: ignore[arg-type]

    def chair(self, nick: str) -> None:
        self.meeting.chairs[f"libera:{nick}"] = nick

    def add_nick(self, nick: str) -> None:
        self.meeting.people.setdefault(f"libera:{nick}", Person(f"libera:{nick}", nick))


def golden_meeting() -> Meeting:
    b = Builder()
    m = b.meeting
    m.name = "nova"
    b.chair("alice")
    b.say(0, "alice", "#startmeeting nova")
    b.line(1, "meetbot", "Meeting started Thu Jan  3 14:00:01 2019 UTC.  The chair is alice.", bot=True)
    b.line(3, "Üţáhraptõr", "Üţáhraptõr [~u@example.net] has joined #openstack", LineKind.JOIN)
    b.say(5, "bob", "hi all")
    b.line(7, "carol", "waves", LineKind.ACTION)
    b.say(9, "alice", "#meetingtopic Release Planning")
    m.title = "Release Planning"
    b.say(10, "alice", "#info the agenda is at https://wiki.example.org/Meetings/Nova")
    b.say(12, "alice", "#chair bob")
    b.chair("bob")
    b.say(14, "alice", "#topic Review last week's actions")
    b.say(20, "bob", "#info The 2.0 branch was cut on Monday")
    b.line(30, "carol", "https://example.org/agenda is the agenda", item=ItemKind.LINK,
           item_text="https://example.org/agenda is the agenda")  # fmt: skip
    b.say(35, "alice", "#link release notes draft at https://example.org/notes so please review")
    b.say(60, "alice", "#topic Release date")
    b.say(70, "carol", "#idea ship on the 15th")
    b.say(80, "alice", "#action carol to draft the announcement")
    b.say(85, "alice", "#action bob and ken[ to test the installer")
    b.say(87, "alice", "#action someone to update the website")
    b.say(88, "alice", "#action Üţáhraptõr to fix the <b>html</b> escaping")
    b.say(90, "alice", "#nick dave")
    b.add_nick("dave")
    b.say(95, "ken[", "bob: can you pair with me on the installer?")
    b.say(100, "bob", "#agreed release on the 15th")
    b.say(102, "alice", "#accepted the new installer layout")
    b.say(104, "alice", "#rejected shipping on a Friday")
    b.say(106, "ken[", "#help need a reviewer for https://review.example.org/c/123.")
    b.say(108, "Üţáhraptõr", "#link the torture test (http://google.com/) suffix")
    b.line(109, "meetbot", "Üţáhraptõr: ok", LineKind.NOTICE, bot=True)
    b.say(110, "Üţáhraptõr", "looks good to me")
    b.say(130, "alice", "#endmeeting")
    m.ended_at = T0 + timedelta(seconds=130)
    return m


def render(meeting: Meeting, links: MeetingLinks = LINKS) -> dict[str, str]:
    return render_all(meeting, links, generator=GENERATOR)


# --- golden files -------------------------------------------------------------------------


@pytest.mark.parametrize("extension", EXTENSIONS)
def test_golden(extension: str) -> None:
    out = render(golden_meeting())
    assert set(out) == set(EXTENSIONS)
    path = GOLDEN / f"minutes{extension}"
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(out[extension], encoding="utf-8", newline="")
    assert out[extension] == path.read_text(encoding="utf-8")


def test_golden_text_has_meetbot_sections_in_order() -> None:
    txt = (GOLDEN / "minutes.txt").read_text(encoding="utf-8")
    headings = [
        "Meeting started by alice at 14:00:01 UTC.",
        "Meeting summary\n---------------",
        "Meeting ended at 14:02:11 UTC.",
        "Action items\n------------",
        "Action items, by person\n-----------------------",
        "People present (lines said)\n---------------------------",
        "Generated by meetbot 0.1.0",
    ]
    positions = [txt.index(h) for h in headings]
    assert positions == sorted(positions)
    assert all(len(line) <= 72 or " " not in line.strip() for line in txt.splitlines())


# --- the view: MeetBot's rules and its bugs fixed ------------------------------------------


def test_title_and_times() -> None:
    view = build_view(golden_meeting(), LINKS, generator=GENERATOR)
    assert view.title == "#openstack: Release Planning"
    assert (view.start_time, view.started_at) == ("14:00:01", "2019-01-03T14:00:01Z")
    assert (view.end_time, view.ended_at) == ("14:02:11", "2019-01-03T14:02:11Z")
    assert view.started_by == "alice"
    assert view.chairs == ("alice", "bob")
    untitled = Builder("#fedora-meeting").meeting
    assert build_view(untitled, LINKS, generator=GENERATOR).title == "#fedora-meeting Meeting"


def test_items_before_the_first_topic_form_an_unnamed_group() -> None:
    view = build_view(golden_meeting(), LINKS, generator=GENERATOR)
    assert [t.title for t in view.topics] == [None, "Review last week's actions", "Release date"]
    assert [i.kind for i in view.topics[0].items] == ["INFO"]
    assert view.topics[0].items[0].label == ""  # INFO has no label, like MeetBot
    assert view.topics[2].items[0].label == "IDEA"
    assert view.topics[1].heading is not None
    assert view.topics[1].heading.anchor == "l-9"


def test_no_unnamed_group_when_the_meeting_starts_with_a_topic() -> None:
    b = Builder()
    b.say(0, "alice", "#topic first")
    b.say(1, "alice", "#info x")
    view = build_view(b.meeting, LINKS, generator=GENERATOR)
    assert [t.title for t in view.topics] == ["first"]
    assert [i.text for i in view.topics[0].items] == ["x"]


def test_every_action_listed_and_attributed() -> None:
    view = build_view(golden_meeting(), LINKS, generator=GENERATOR)
    assert len(view.actions) == 4
    by_person = {p.nick: [a.text for a in p.actions] for p in view.actions_by_person}
    assert by_person == {
        "bob": ["bob and ken[ to test the installer"],
        "carol": ["carol to draft the announcement"],
        "ken[": ["bob and ken[ to test the installer"],
        "Üţáhraptõr": ["Üţáhraptõr to fix the <b>html</b> escaping"],
    }
    # MeetBot dropped a single unassigned action; it must stay.
    assert [a.text for a in view.unassigned_actions] == ["someone to update the website"]


def test_bot_never_owns_an_action_and_absent_nick_does() -> None:
    b = Builder()
    b.line(0, "meetbot", "hello", bot=True)
    b.say(1, "alice", "#action meetbot and dave to check")
    b.add_nick("dave")
    view = build_view(b.meeting, LINKS, generator=GENERATOR)
    assert view.actions[0].owners == ("dave",)
    assert view.unassigned_actions == ()


def test_no_actions() -> None:
    b = Builder()
    b.say(0, "alice", "#info nothing to do")
    out = render(b.meeting)
    assert "Action items\n------------\n\n* (none)" in out[".txt"]
    assert "Action items, by person" not in out[".txt"]
    assert "<li>(none)</li>" in out[".html"]
    assert "by person" not in out[".html"]
    assert "by person" not in out[".md"]
    assert json.loads(out[".json"])["actions"] == []


def test_only_unassigned_actions_still_get_the_by_person_section() -> None:
    b = Builder()
    b.say(0, "alice", "#action someone to do it")
    txt = render(b.meeting)[".txt"]
    assert "Action items, by person" in txt
    assert "* **UNASSIGNED**\n  * someone to do it" in txt


def test_people_present_sorted_with_zero_line_and_bot_entries() -> None:
    view = build_view(golden_meeting(), LINKS, generator=GENERATOR)
    assert [(p.nick, p.lines) for p in view.attendees][-3:] == [
        ("meetbot", 2),
        ("Üţáhraptõr", 2),
        ("dave", 0),
    ]
    assert [p.is_bot for p in view.attendees if p.nick == "meetbot"] == [True]


def test_open_meeting_renders() -> None:
    m = golden_meeting()
    m.ended_at = None
    out = render(m)
    assert "Meeting still in progress." in out[".txt"]
    assert json.loads(out[".json"])["meeting"]["ended_at"] is None


def test_naive_times_are_taken_as_utc() -> None:
    b = Builder()
    b.meeting.started_at = datetime(2019, 1, 3, 14, 0, 1)
    assert build_view(b.meeting, LINKS, generator=GENERATOR).started_at == "2019-01-03T14:00:01Z"


# --- link detection ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("prefix (http://google.com/) suffix", ("prefix (", "http://google.com/", ") suffix")),
        ("see http://example.org/a.", ("see ", "http://example.org/a", ".")),
        ("http://example.org/a.b).", ("", "http://example.org/a.b", ").")),
        ("two http://a.org/ http://b.org/", ("two ", "http://a.org/", " http://b.org/")),
        ("mail mailto://x@example.org", ("mail ", "mailto://x@example.org", "")),
        ("irc://irc.libera.chat/#meetbot", ("", "irc://irc.libera.chat/#meetbot", "")),
        ('q http://x.org/"a"&b=<c>', ("q ", 'http://x.org/"a"&b=<c>', "")),
        ("HTTPS://EXAMPLE.ORG", ("", "HTTPS://EXAMPLE.ORG", "")),
    ],
)
def test_find_link(text: str, expected: tuple[str, str, str]) -> None:
    link = find_link(text)
    assert link is not None
    assert (link.prefix, link.url, link.suffix) == expected
    assert link.prefix + link.url + link.suffix == text


@pytest.mark.parametrize(
    "text",
    [
        "javascript:alert(1)",
        "javascript://%0aalert(1)",
        "data:text/html,<script>",
        "no url here",
        "http://",
        "www.x.org",
    ],
)
def test_find_link_ignores_other_schemes(text: str) -> None:
    assert find_link(text) is None


def test_hrefs_are_percent_encoded() -> None:
    link = find_link("http://x.org/\"><script>'`\\ a")
    assert link is not None
    assert link.href == "http://x.org/%22%3E%3Cscript%3E%27%60%5C"
    assert link.url == "http://x.org/\"><script>'`\\"


def test_split_urls_round_trips() -> None:
    text = "a http://x.org/1. b (https://y.org/) javascript:z"
    parts = split_urls(text)
    assert "".join(p.text for p in parts) == text
    assert [p.href for p in parts if p.href] == ["http://x.org/1", "https://y.org/"]


# --- format details ------------------------------------------------------------------------


def test_log_txt_is_replayable_shape() -> None:
    b = Builder()
    b.say(0, "alice", "hello")
    b.line(1, "bob", "waves", LineKind.ACTION)
    b.line(2, "bot", "note", LineKind.NOTICE, bot=True)
    for i, kind in enumerate((LineKind.JOIN, LineKind.PART, LineKind.QUIT, LineKind.KICK, LineKind.NICK)):
        b.line(3 + i, "carol", f"carol {kind.value}", kind)
    b.line(9, "alice", "topic is now x", LineKind.TOPIC)
    b.say(10, "alice", "first\nsecond\r\nthird")
    assert render(b.meeting)[".log.txt"].splitlines() == [
        "14:00:01 <alice> hello",
        "14:00:02 * bob waves",
        "14:00:03 <bot> note",
        "14:00:04 *** carol has joined",
        "14:00:05 *** carol has left (carol part)",
        "14:00:06 *** carol has quit (carol quit)",
        "14:00:07 *** carol was kicked (carol kick)",
        "14:00:08 *** carol is now known as carol nick",
        "14:00:10 *** alice changed the topic to: topic is now x",
        "14:00:11 <alice> first",
        "                 | second",
        "                 | third",
    ]


def test_log_html_anchors_and_highlighting() -> None:
    html_log = render(golden_meeting())[".log.html"]
    for seq in range(1, 29):
        assert f'id="l-{seq}"' in html_log
    assert '<span class="topic">#topic </span><span class="topicline">Release date</span>' in html_log
    assert '<span class="cmd">#action </span>' in html_log
    assert '<span class="hi">bob:</span>' in html_log


def test_command_prefixes_are_configurable() -> None:
    b = Builder()
    b.say(0, "alice", "!info bang")
    b.say(1, "alice", "#1234 is a ticket")
    view = build_view(b.meeting, LINKS, generator=GENERATOR, command_prefixes=("#", "!"))
    assert [(line.lead, line.lead_class) for line in view.log] == [("!info ", "cmd"), ("", "")]


def test_minutes_link_to_log_lines_and_urls() -> None:
    out = render(golden_meeting())
    assert 'href="nova.2019-01-03-14.00.log.html#l-15"' in out[".html"]
    assert "(nova.2019-01-03-14.00.log.html#l-15)" in out[".md"]
    urls = json.loads(out[".json"])["urls"]
    assert urls[".log.html"] == "https://meetings.example.org/nova/2019/nova.2019-01-03-14.00.log.html"
    assert set(urls) == set(EXTENSIONS)
    assert "urls" not in json.loads(render(golden_meeting(), MeetingLinks("x"))[".json"])


def test_relative_links_cannot_become_a_scheme() -> None:
    links = MeetingLinks("javascript:alert(1)")
    assert links.href(".log.html") == "javascript%3Aalert%281%29.log.html"


def test_json_shape() -> None:
    data = json.loads(render(golden_meeting())[".json"])
    assert data["format"] == "meetbot-minutes/1"
    assert data["meeting"] == {
        "id": 42,
        "name": "nova",
        "title": "Release Planning",
        "network": "libera",
        "room": "#openstack",
        "started_at": "2019-01-03T14:00:01Z",
        "ended_at": "2019-01-03T14:02:11Z",
        "started_by": "alice",
        "chairs": ["alice", "bob"],
    }
    assert [t["title"] for t in data["topics"]] == ["Review last week's actions", "Release date"]
    action = next(i for i in data["items"] if i["line"] == 16)
    assert action == {
        "kind": "ACTION",
        "text": "bob and ken[ to test the installer",
        "nick": "alice",
        "at": "2019-01-03T14:01:26Z",
        "line": 16,
        "topic": "Release date",
        "owners": ["bob", "ken["],
    }
    assert all("owners" not in i for i in data["items"] if i["kind"] != "ACTION")
    assert data["items"][0]["topic"] is None


def test_admin_templates_override_by_name(tmp_path: Path) -> None:
    (tmp_path / "minutes.txt").write_text("custom {{ view.title }}\n", encoding="utf-8")
    (tmp_path / "style.css").write_text("body { color: red }\n", encoding="utf-8")
    out = render_all(golden_meeting(), LINKS, templates_dir=tmp_path, generator=GENERATOR)
    assert out[".txt"] == "custom #openstack: Release Planning\n"
    assert "body { color: red }" in out[".html"]
    assert "body { color: red }" in out[".log.html"]
    assert out[".md"] == render(golden_meeting())[".md"]


def test_undefined_names_fail_loudly(tmp_path: Path) -> None:
    from jinja2 import UndefinedError

    (tmp_path / "minutes.md").write_text("{{ view.no_such_field }}", encoding="utf-8")
    with pytest.raises(UndefinedError):
        render_all(golden_meeting(), LINKS, templates_dir=tmp_path, generator=GENERATOR)


def test_markdown_override_is_escaped_even_without_the_filter(tmp_path: Path) -> None:
    (tmp_path / "minutes.md").write_text("{{ view.title }} {{ view.title | md }}\n", encoding="utf-8")
    m = golden_meeting()
    m.title = "<script>"
    out = render_all(m, LINKS, templates_dir=tmp_path, generator=GENERATOR)[".md"]
    assert out == "\\#openstack: \\<script\\> \\#openstack: \\<script\\>\n"


def test_view_module_does_not_import_jinja2() -> None:
    import subprocess
    import sys

    code = "import sys, meetbot.minutes.view, meetbot.publish.paths; assert 'jinja2' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent.parent)


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        (
            "a_b *c* [d](e) `f` <g> & #h |i| !j ~k $l ^m",
            r"a\_b \*c\* \[d\](e) \`f\` \<g\> \& \#h \|i\| \!j \~k \$l \^m",
        ),
        ("- not a list", r"\- not a list"),
        ("  + nor this", r"  \+ nor this"),
        ("1. nor this", r"1\. nor this"),
        ("2) nor this", r"2\) nor this"),
        ("line\nbreak\r\n# heading", r"line break \# heading"),
        ("back\\slash", r"back\\slash"),
        ("plain 1.5 text-with-dashes", "plain 1.5 text-with-dashes"),
    ],
)
def test_md_escape(text: str, escaped: str) -> None:
    assert md_escape(text) == escaped


def test_md_url() -> None:
    assert (
        md_url("http://x.org/a (b)<c> \"d\" 'e'\\")
        == "http://x.org/a%20%28b%29%3Cc%3E%20%22d%22%20%27e%27%5C"
    )


# --- hostile input -------------------------------------------------------------------------

HOSTILE = [
    "<script>alert(1)</script>",
    '" onmouseover="alert(1)',
    "' onmouseover='alert(1)",
    "javascript:alert(1)",
    'http://x.org/"><script>alert(1)</script>',
    "see http://x.org/?a=1&b=<2>'3' (http://y.org/a_(b)).",
    "</title></textarea><img src=x onerror=alert(1)>",
    "[click](javascript:alert(1)) ![i](http://x/i.png) <http://x> *b* _i_ `c` | t |",
    "&lt;script&gt; &amp; &#x3C;",
    "<!-- c --> <![CDATA[x]]> {{ 7*7 }} {% raw %} \\<b>",
    "- # 1. > quote",
]
HOSTILE_NICK = '<b>n"ck</b>'
ALLOWED_TAGS = {
    *("html", "head", "meta", "title", "style", "body", "main", "footer", "section", "div"),
    *("h1", "h2", "p", "ol", "li", "a", "b", "i", "span", "time"),
}
ALLOWED_ATTRS = {
    "lang",
    "charset",
    "name",
    "content",
    "http-equiv",
    "class",
    "id",
    "href",
    "datetime",
    "type",
}
SAFE_SCHEMES = ("http://", "https://", "irc://", "ftp://", "mailto://", "ssh://")


class Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.data: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.data.append(data)

    @property
    def text(self) -> str:
        return "".join(self.data)


def parse(page: str) -> Collector:
    collector = Collector()
    collector.feed(page)
    collector.close()
    return collector


def assert_safe_html(page: str) -> Collector:
    parsed = parse(page)
    for tag, attrs in parsed.tags:
        assert tag in ALLOWED_TAGS, tag
        for name, value in attrs:
            assert name in ALLOWED_ATTRS, (tag, name, value)
            if name == "href":
                assert value is not None
                assert value.startswith(SAFE_SCHEMES) or ":" not in value.split("#")[0], value
    assert 'href="javascript:' not in page.lower()
    return parsed


def hostile_meeting() -> Meeting:
    b = Builder(room="#<script>x</script>", owner=HOSTILE_NICK)
    m = b.meeting
    m.name = "../<script>"
    m.title = HOSTILE[0] + HOSTILE[1]
    b.chair(HOSTILE_NICK)
    kinds = [ItemKind.TOPIC, ItemKind.INFO, ItemKind.LINK, ItemKind.ACTION, ItemKind.IDEA, ItemKind.AGREED]
    for i, text in enumerate(HOSTILE):
        nick = HOSTILE_NICK if i % 2 else "javascript:alert(1)"
        kind = kinds[i % len(kinds)]
        b.line(i, nick, f"#{kind.value.lower()} {text}", item=kind, item_text=text)
        b.line(i, nick, text, LineKind.ACTION if i % 3 == 0 else LineKind.SAY)
    for i, text in enumerate(t for t in HOSTILE if "http" in t):
        b.line(40 + i, "carol", f"#link {text}", item=ItemKind.LINK, item_text=text)
    b.line(50, "x", HOSTILE[0], LineKind.TOPIC)
    b.say(51, "ken[", "#action " + HOSTILE_NICK + " " + HOSTILE[4])
    return m


@pytest.fixture(scope="module")
def hostile() -> dict[str, str]:
    return render(hostile_meeting(), MeetingLinks('a"b<c>', 'https://x.org/"<>'))


@pytest.mark.parametrize("extension", [".html", ".log.html"])
def test_hostile_html_is_inert(hostile: dict[str, str], extension: str) -> None:
    page = hostile[extension]
    parsed = assert_safe_html(page)
    assert "<script" not in page.lower()
    for text in [*HOSTILE, HOSTILE_NICK]:
        assert text in parsed.text, text
    # The title reaches <title> and <h1> as text, never as markup.
    assert parsed.text.count(HOSTILE[0] + HOSTILE[1]) >= (2 if extension == ".html" else 1)


def test_hostile_html_links_only_allowed_schemes(hostile: dict[str, str]) -> None:
    hrefs = [v for _, attrs in parse(hostile[".html"]).tags for k, v in attrs if k == "href"]
    external = [h for h in hrefs if h and ":" in h.split("#")[0]]
    assert external
    assert all(h.startswith(SAFE_SCHEMES) for h in external)
    assert 'href="http://x.org/%22%3E%3Cscript%3Ealert(1)%3C/script%3E"' in hostile[".html"]


def _raw(md: str, char: str) -> list[int]:
    """Positions of `char` not backslash-escaped (an even run of backslashes before it)."""
    found = []
    for match in re.finditer(re.escape(char), md):
        run = len(md[: match.start()]) - len(md[: match.start()].rstrip("\\"))
        if run % 2 == 0:
            found.append(match.start())
    return found


def test_hostile_markdown_is_inert(hostile: dict[str, str]) -> None:
    md = hostile[".md"]
    for char in "<>`":
        assert _raw(md, char) == [], char
    # "&" stays raw only inside link destinations (query strings), never starting an entity.
    assert not re.search(r"(?<!\\)&#?[A-Za-z0-9]+;", md)
    for text in [*HOSTILE, HOSTILE_NICK]:
        assert md_escape(text) in md
    # Every link the template makes points at an allowed scheme or a sibling file.
    for dest in re.findall(r"(?<!\\)\]\(([^)\s]*)\)", md):
        assert dest.startswith(SAFE_SCHEMES) or ":" not in dest.split("#")[0], dest
    assert "javascript:alert" not in "".join(re.findall(r"(?<!\\)\]\(([^)]*)\)", md))


def test_hostile_json_round_trips(hostile: dict[str, str]) -> None:
    data = json.loads(hostile[".json"])
    meeting = hostile_meeting()
    assert [i["text"] for i in data["items"]] == [i.text for i in meeting.items]
    assert [i["nick"] for i in data["items"]] == [i.nick for i in meeting.items]
    assert data["meeting"]["title"] == meeting.title
    assert data["meeting"]["room"] == meeting.room.room
    assert data["meeting"]["started_by"] == HOSTILE_NICK
    assert data["urls"][".html"] == 'https://x.org/"<>.html'


def test_hostile_text_formats_are_verbatim(hostile: dict[str, str]) -> None:
    meeting = hostile_meeting()
    log = hostile[".log.txt"].splitlines()
    for line in meeting.lines:
        if line.kind is LineKind.ACTION:
            assert f"{line.at:%H:%M:%S} * {line.nick} {line.text}" in log
        elif line.kind.is_speech:
            assert f"{line.at:%H:%M:%S} <{line.nick}> {line.text}" in log
        else:
            assert f"{line.at:%H:%M:%S} *** {event_phrase(line)}" in log
    flat = " ".join(hostile[".txt"].split())
    for text in HOSTILE:
        assert " ".join(text.split()) in flat
    assert meeting.title is not None
    assert meeting.title in hostile[".txt"]


# --- property: nothing a user types becomes markup ----------------------------------------

user_text = st.text(max_size=40)
user_nick = st.text(min_size=1, max_size=16)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=user_text, nick=user_nick, title=user_text)
def test_random_text_never_becomes_markup(text: str, nick: str, title: str) -> None:
    b = Builder(owner=nick)
    b.meeting.title = title or None
    b.line(0, nick, text, item=ItemKind.TOPIC, item_text=text)
    b.line(1, nick, text, item=ItemKind.ACTION, item_text=text)
    b.line(2, nick, text, item=ItemKind.LINK, item_text=text)
    b.line(3, nick, text, LineKind.ACTION)
    b.line(4, nick, text, LineKind.JOIN)
    out = render(b.meeting)
    for extension in (".html", ".log.html"):
        parsed = assert_safe_html(out[extension])
        for value in (text, nick, title):
            assert value in parsed.text
    assert _raw(out[".md"], "<") == []
    data = json.loads(out[".json"])
    assert [i["text"] for i in data["items"]] == [text] * 3


fragments = st.sampled_from(
    ["http://", "https://", "javascript:", "mailto://", "x.org", "/", ".", ")", "(", '"', "'", "<", ">", "&",
     "amp;", " ", "\n", "#", "[", "]", "`", "*", "_", "onerror=", "script", "-", "1", "\\"]
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(text=st.lists(fragments, max_size=12).map("".join))
def test_url_like_text_stays_inert(text: str) -> None:
    b = Builder()
    b.line(0, "alice", text, item=ItemKind.LINK, item_text=text)
    b.line(1, "alice", text, item=ItemKind.INFO, item_text=text)
    out = render(b.meeting)
    for extension in (".html", ".log.html"):
        assert text in assert_safe_html(out[extension]).text
    assert _raw(out[".md"], "<") == []
    assert _raw(out[".md"], "`") == []
    link = find_link(text)
    if link is not None:
        assert link.prefix + link.url + link.suffix == text
        assert not link.url.endswith((".", ")"))


# --- the fast paths write exactly what the templates and textwrap would --------------------

# What a user can put in a log line, with the characters each fast path special-cases.
log_strings = st.lists(
    st.sampled_from(
        ["a", "bob:", "#topic ", "#info ", "!x ", "#1", "http://x.org/a?b=<c>&d='e'", "https://y.org/.",
         "ftp://", "javascript://x", " ", "\n", "\r\n", "\r", "\t", "\x00", "<", ">", "&", '"', "'", "ü", "ţ",
         "\u2028"]
    )
    | st.text(max_size=4),
    max_size=10,
).map("".join)  # fmt: skip


def reference_log(lines: list[tuple[LineKind, str, str, bool]]) -> str:
    """The lines as log_lines.html (the reference for log_html) lays them out."""
    b = Builder()
    for seconds, (kind, nick, text, bot) in enumerate(lines):
        b.line(seconds, nick or "n", text, kind, bot=bot)
    view = build_view(b.meeting, LINKS, generator=GENERATOR, command_prefixes=("#", "!"))
    markup, _ = environments(None)
    return markup.get_template(LINES_TEMPLATE).render(lines=view.log)


line_values = st.tuples(st.sampled_from(list(LineKind)), log_strings, log_strings, st.booleans())


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(line_values, max_size=6))
def test_log_html_is_what_the_line_template_writes(lines: list[tuple[LineKind, str, str, bool]]) -> None:
    b = Builder()
    for seconds, (kind, nick, text, bot) in enumerate(lines):
        b.line(seconds, nick or "n", text, kind, bot=bot)
    view = build_view(b.meeting, LINKS, generator=GENERATOR, command_prefixes=("#", "!"))
    assert log_html(view.log) == reference_log(lines)
    # One line at a time (the escaping of many lines at once has a path of its own).
    assert "".join(log_html([line]) for line in view.log) == reference_log(lines)


def test_log_html_escapes_a_text_with_a_nul_like_the_rest() -> None:
    lines = [
        (LineKind.SAY, "a\x00<b>", "x\x00<y> http://z.org/\x00", False),
        (LineKind.SAY, "c", "<d>", True),
    ]
    html = reference_log(lines)
    assert "&lt;b&gt;" in html
    b = Builder()
    for seconds, (kind, nick, text, bot) in enumerate(lines):
        b.line(seconds, nick, text, kind, bot=bot)
    assert log_html(build_view(b.meeting, LINKS, generator=GENERATOR).log) == html


def test_the_log_page_shows_the_lines_as_the_line_template_lays_them_out() -> None:
    view = build_view(golden_meeting(), LINKS, generator=GENERATOR)
    markup, _ = environments(None)
    lines = markup.get_template(LINES_TEMPLATE).render(lines=view.log)
    assert lines.count('<div class="line ') == 28
    assert f'<div class="log">\n{lines}</div>' in render(golden_meeting())[".log.html"]


@settings(max_examples=300, deadline=None)
@given(text=log_strings, nick=log_strings, kind=st.sampled_from(list(LineKind)))
def test_log_text_is_what_the_old_template_wrote(text: str, nick: str, kind: LineKind) -> None:
    b = Builder()
    b.line(0, nick, text, kind)
    b.line(1, nick, text, LineKind.SAY)
    # The template log.txt had before log_text, line for line (trim_blocks eats the first "\n").
    template = (
        "{% autoescape false %}"
        '{% if line.kind == "action" %}{% set lead = line.time ~ " * " ~ line.nick ~ " " %}'
        '{% elif line.is_speech %}{% set lead = line.time ~ " <" ~ line.nick ~ "> " %}'
        '{% else %}{% set lead = line.time ~ " *** " %}{% endif %}'
        "{% for text in line.text | split_lines %}{% if loop.first %}{{ lead }}{{ text }}"
        '{% else %}{{ " " * (lead | length) }}| {{ text }}{% endif %}\n\n{% endfor %}'
        "{% endautoescape %}"
    )
    markup, _ = environments(None)
    # An EDIT or REDACT line is not shown: the second line alone is left.
    for line in build_view(b.meeting, LINKS, generator=GENERATOR).log:
        assert log_text([line]) == markup.from_string(template).render(line=line)


def test_an_admin_macros_html_still_shapes_the_log_lines(tmp_path: Path) -> None:
    macros = (Path(__file__).parent.parent / "meetbot/minutes/templates/macros.html").read_text(
        encoding="utf-8"
    )
    (tmp_path / "macros.html").write_text(
        macros.replace('<a href="{{ part.href }}">', '<a rel="nofollow" href="{{ part.href }}">'),
        encoding="utf-8",
    )
    page = render_all(golden_meeting(), LINKS, templates_dir=tmp_path, generator=GENERATOR)[".log.html"]
    assert '<a rel="nofollow" href="https://example.org/notes">' in page
    # Otherwise the same page.
    assert page.replace(' rel="nofollow"', "") == render(golden_meeting())[".log.html"]


def test_an_admin_log_html_laying_out_lines_itself_still_works(tmp_path: Path) -> None:
    (tmp_path / "log.html").write_text(
        '{% import "macros.html" as m %}{% for line in view.log %}'
        "{{ line.anchor }} {{ line.nick }} {{ m.message(line) }} {{ line.parts | length }}"
        "{{ line.is_speech }}\n{% endfor %}",
        encoding="utf-8",
    )
    page = render_all(golden_meeting(), LINKS, templates_dir=tmp_path, generator=GENERATOR)[".log.html"]
    assert (
        page.splitlines()[19]
        == 'l-20 ken[ <span class="hi">bob:</span> can you pair with me on the installer? 1True'
    )
    assert (
        'l-12 alice <span class="cmd">#link </span><span class="cmdline">release notes draft at <a href='
        in page
    )


@settings(max_examples=500, deadline=None)
@given(
    text=st.lists(st.sampled_from(["a", "bb", " ", "  ", "\t", "\n", "\xa0", "\u2028", "-", "é" * 20])).map(
        "".join
    )
    | st.text(max_size=90),
    indent=st.integers(0, 4),
    hanging=st.integers(0, 2),
)
def test_fill_is_textwrap(text: str, indent: int, hanging: int) -> None:
    wrapper = textwrap.TextWrapper(
        width=72,
        initial_indent=" " * indent,
        subsequent_indent=" " * (indent + hanging),
        break_long_words=False,
        break_on_hyphens=False,
    )
    assert fill(text, indent, hanging) == wrapper.fill(text)


def reference_md_escape(text: str) -> str:
    text = re.sub(r"[\r\n\x0b\x0c\x85\u2028\u2029]+", " ", text)
    escaped = "".join(f"\\{ch}" if ch in "\\`*_{}[]<>#|!~&$^" else ch for ch in text)
    return re.sub(
        r"^(\s*)(?:([-+=])|(\d+)([.)]))",
        lambda m: f"{m[1]}\\{m[2]}" if m[2] else f"{m[1]}{m[3]}\\{m[4]}",
        escaped,
        count=1,
    )


def reference_md_url(text: str) -> str:
    text = re.sub(r"&(?=#?[A-Za-z0-9]+;)", "%26", text)
    return "".join(
        quote(ch, safe="")
        if ch in "()<>\"'\\` " or ch.isspace() or unicodedata.category(ch).startswith("C")
        else ch
        for ch in text
    )


@settings(max_examples=500, deadline=None)
@given(text=st.text(max_size=30) | st.lists(fragments, max_size=8).map("".join))
def test_markdown_escapes_are_the_reference_ones(text: str) -> None:
    assert md_escape(text) == reference_md_escape(text)
    assert md_url(text) == reference_md_url(text)
    assert md_url("page.log.html#l-12") == "page.log.html#l-12"


@pytest.mark.parametrize(
    "at",
    [
        datetime(2026, 11, 21, 9, 5, 7, 999_999, tzinfo=UTC),
        datetime(987, 1, 2, 23, 59, 59, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 30, tzinfo=ZoneInfo("Europe/Berlin")),
        datetime(2026, 3, 29, 1, 30),  # naive: taken as UTC
    ],
)
def test_a_log_lines_two_stamps_are_hms_and_iso(at: datetime) -> None:
    assert view_module._stamps(at) == (view_module.hms(at), view_module.iso(at))
