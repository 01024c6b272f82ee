"""Property-based tests: whatever people type, the engine never crashes, every format renders,
the HTML stays inert, and the replayable log reads back to the very same lines."""

from __future__ import annotations

import io
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meetbot.domain.model import Line, Meeting
from meetbot.engine import Engine, MeetingHeader
from meetbot.events import Identity, LineKind, RoomRef
from meetbot.logparse import parse_log
from meetbot.minutes.render import render_all
from meetbot.publish.paths import links_for, minutes_basename
from meetbot_plugins.meeting.plugin import MeetingPlugin
from tests.conftest import T0
from tests.test_e2e import audit_html

ROOM = RoomRef("libera", "#prop")
COMMANDS = [
    "#startmeeting",
    "#endmeeting",
    "#topic",
    "#meetingtopic",
    "#meetingname",
    "#info",
    "#idea",
    "#action",
    "#agreed",
    "#accepted",
    "#rejected",
    "#help",
    "#link",
    "#chair",
    "#unchair",
    "#nick",
    "#undo",
    "#save",
    "#lurk",
    "#unlurk",
    "#restrictlogs",
    "#commands",
    "#unknown",
    "http://x.org/",
    "#1234",
]
HOSTILE = [
    "<script>alert(1)</script>",
    "<b>",
    "</li>",
    '"',
    "'",
    "&amp;",
    "&",
    "<",
    ">",
    "javascript:",
    "{{x}}",
    "\n",
    "\r\n#endmeeting",
    "\x00",
    "\x1b[31m",
    "\u202e",  # right-to-left override
    "🧪",
    "ÿ",
]
text = st.lists(st.one_of(st.text(max_size=12), st.sampled_from(HOSTILE)), max_size=6).map("".join)
# Nicks the irssi log format can carry (no '>' or spaces: IRC allows neither) ...
IRC_NICKS = ["alice", "bob", "ken[", "[m]", "Üţáhraptõr", "<b", "a&b", "x|y"]
# ... and display names as Matrix allows them, which must still render inert.
ANY_NICKS = [*IRC_NICKS, "<b>x</b>", "Mallory <script>", '"quoted name"']


def scripts(nick_names: list[str]) -> st.SearchStrategy[list[tuple[str, str, LineKind]]]:
    said = st.one_of(text, st.tuples(st.sampled_from(COMMANDS), text).map(" ".join))
    kinds = st.sampled_from([LineKind.SAY, LineKind.SAY, LineKind.SAY, LineKind.ACTION])
    return st.lists(st.tuples(st.sampled_from(nick_names), said, kinds), max_size=25)


def run(script: list[tuple[str, str, LineKind]]) -> tuple[Engine, Meeting]:
    engine = Engine([MeetingPlugin()])
    meeting = engine.new_meeting(MeetingHeader(1, ROOM, T0, Identity("libera", "alice").key, "alice"))
    engine.apply(
        meeting, Line(1, T0, LineKind.SAY, "alice", Identity("libera", "alice").key, "#startmeeting p")
    )
    for seq, (nick, said, kind) in enumerate(script, 2):
        if meeting.ended_at is not None:
            break
        line = Line(seq, T0 + timedelta(seconds=seq), kind, nick, Identity("libera", nick).key, said)
        engine.apply(meeting, line)
    return engine, meeting


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scripts(ANY_NICKS))
def test_random_lines_never_crash_and_html_stays_inert(script: list[tuple[str, str, LineKind]]) -> None:
    engine, meeting = run(script)
    rebuilt = engine.rebuild(MeetingHeader(1, ROOM, T0, meeting.owner_key, "alice"), list(meeting.lines))
    assert rebuilt.items == meeting.items
    basename = minutes_basename(meeting)
    files = render_all(meeting, links_for(basename), generator="meetbot test")
    for ext in (".html", ".log.html"):
        audit = audit_html(files[ext])
        assert audit.dangers == [], (ext, audit.dangers)


@settings(max_examples=100, deadline=None)
@given(scripts(IRC_NICKS))
def test_the_log_reads_back_line_for_line(script: list[tuple[str, str, LineKind]]) -> None:
    _, meeting = run(script)
    files = render_all(meeting, links_for(minutes_basename(meeting)), generator="t")
    parsed = parse_log(io.StringIO(files[".log.txt"], newline=None), T0.date())  # as replay reads a file
    expected = [
        (line.nick, line.text.replace("\r\n", "\n").replace("\r", "\n"), line.kind) for line in meeting.lines
    ]
    assert [(p.nick, p.text, p.kind) for p in parsed.lines] == expected
