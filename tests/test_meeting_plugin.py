"""The MeetBot command set, as a chat user sees it: one test per rule, through the real engine."""

from __future__ import annotations

from datetime import timedelta

import pytest

from meetbot.domain.model import ItemKind, Line, Meeting
from meetbot.engine import Engine, MeetingHeader, Outcome
from meetbot.events import Identity, LineKind, RoomRef
from meetbot.plugin import ChangeTopic, PublishMinutes
from meetbot_plugins.meeting.plugin import MeetingConfig, MeetingPlugin
from tests.conftest import T0

ROOM = RoomRef("libera", "#centos-meeting")
ALICE = Identity("libera", "alice", account="alice")
BOB = Identity("libera", "bob", account="bobby")
CAROL = Identity("libera", "carol")  # not identified to services


class Script:
    """Feeds lines to one meeting the way the service does, and keeps what came back."""

    def __init__(self, engine: Engine, owner: Identity = ALICE) -> None:
        self.engine = engine
        self.meeting: Meeting = engine.new_meeting(MeetingHeader(1, ROOM, T0, owner.key, owner.nick))
        self.outcomes: list[Outcome] = []

    def say(
        self, who: Identity, text: str, kind: LineKind = LineKind.SAY, *, is_bot: bool = False
    ) -> Outcome:
        seq = len(self.meeting.lines) + 1
        line = Line(seq, T0 + timedelta(seconds=seq), kind, who.nick, who.key, text, is_bot=is_bot)
        outcome = self.engine.apply(self.meeting, line)
        self.outcomes.append(outcome)
        return outcome

    def items(self) -> list[tuple[ItemKind, str]]:
        return [(item.kind, item.text) for item in self.meeting.items]


@pytest.fixture
def script(engine: Engine) -> Script:
    s = Script(engine)
    s.say(ALICE, "#startmeeting Release Planning")
    return s


def test_startmeeting_names_and_titles_the_meeting(script: Script) -> None:
    (reply,) = script.outcomes[0].replies
    assert reply.startswith("Meeting started Sat Nov 21 16:00:01 2026 UTC. The chair is alice.")
    assert "The meeting name has been set to 'release_planning'" in reply
    assert script.meeting.name == "release_planning"
    assert script.meeting.title == "Release Planning"


def test_startmeeting_without_name_files_under_the_channel(engine: Engine) -> None:
    s = Script(engine)
    s.say(ALICE, "#startmeeting")
    assert s.meeting.name is None
    assert s.meeting.series_name == "centos-meeting"


def test_second_startmeeting_is_refused(script: Script) -> None:
    outcome = script.say(BOB, "#startmeeting Other")
    assert "already in progress" in outcome.replies[0]
    assert script.meeting.name == "release_planning"


CHAIR_COMMANDS = [
    "#topic t",
    "#meetingtopic t",
    "#meetingname n",
    "#agreed a",
    "#agree a",
    "#accepted a",
    "#accept a",
    "#rejected r",
    "#reject r",
    "#chair bob",
    "#unchair alice",
    "#undo",
    "#save",
    "#lurk",
    "#unlurk",
    "#restrictlogs",
    "#endmeeting",
]


@pytest.mark.parametrize("text", CHAIR_COMMANDS)
def test_non_chair_gets_one_reply_and_nothing_changes(script: Script, text: str) -> None:
    script.say(ALICE, "#info keep me")
    before = (
        script.items(),
        dict(script.meeting.chairs),
        script.meeting.name,
        script.meeting.title,
        script.meeting.lurking,
        script.meeting.restricted,
        script.meeting.ended_at,
    )
    outcome = script.say(BOB, text)
    assert len(outcome.replies) == 1
    assert "is for the meeting chairs (alice)" in outcome.replies[0]
    assert outcome.turned_away  # the service answers it without waiting for the database
    assert not [e for e in outcome.effects if isinstance(e, ChangeTopic | PublishMinutes)]
    after = (
        script.items(),
        dict(script.meeting.chairs),
        script.meeting.name,
        script.meeting.title,
        script.meeting.lurking,
        script.meeting.restricted,
        script.meeting.ended_at,
    )
    assert after == before


@pytest.mark.parametrize(
    "text",
    [
        "#topic",
        "#info",
        "#idea",
        "#action",
        "#agreed",
        "#help",
        "#halp",
        "#link",
        "#accepted",
        "#rejected",
        "#chair",
        "#unchair",
        "#nick",
        "#meetingname",
        "#meetingtopic",
        "#meetingname ...",
        "#info   ",
    ],
)
def test_missing_argument_gets_a_usage_line(script: Script, text: str) -> None:
    outcome = script.say(ALICE, text)
    assert len(outcome.replies) == 1
    assert outcome.replies[0].startswith("Usage: #")
    assert script.items() == []


def test_only_a_command_refused_or_missing_its_arguments_is_turned_away(script: Script) -> None:
    assert script.say(ALICE, "#agreed").turned_away
    assert script.say(BOB, "#chair bob").turned_away
    assert not script.say(ALICE, "#agreed yes").turned_away
    assert not script.say(ALICE, "#chair bob").turned_away
    assert not script.say(BOB, "just chatter").turned_away


def test_items_of_every_kind(script: Script) -> None:
    script.say(BOB, "o/")
    script.say(ALICE, "#chair bob")
    for text in [
        "#topic Review",
        "#info an info",
        "#idea an idea",
        "#action bob to test",
        "#agreed yes",
        "#agree also",
        "#accepted acc",
        "#accept acc2",
        "#rejected rej",
        "#reject rej2",
        "#help need hands",
        "#halp more hands",
        "#link https://example.org docs",
    ]:
        script.say(BOB, text)
    assert script.items() == [
        (ItemKind.TOPIC, "Review"),
        (ItemKind.INFO, "an info"),
        (ItemKind.IDEA, "an idea"),
        (ItemKind.ACTION, "bob to test"),
        (ItemKind.AGREED, "yes"),
        (ItemKind.AGREED, "also"),
        (ItemKind.ACCEPTED, "acc"),
        (ItemKind.ACCEPTED, "acc2"),
        (ItemKind.REJECTED, "rej"),
        (ItemKind.REJECTED, "rej2"),
        (ItemKind.HELP, "need hands"),
        (ItemKind.HELP, "more hands"),
        (ItemKind.LINK, "https://example.org docs"),
    ]


def test_commands_are_case_insensitive(script: Script) -> None:
    script.say(ALICE, "#TOPIC Loud")
    script.say(ALICE, "#Info Mixed")
    assert script.items() == [(ItemKind.TOPIC, "Loud"), (ItemKind.INFO, "Mixed")]


def test_topic_sets_the_channel_topic_with_the_meeting_title(script: Script) -> None:
    outcome = script.say(ALICE, "#topic Release date")
    assert outcome.effects == [ChangeTopic("Release date (Meeting topic: Release Planning)")]
    assert script.meeting.current_topic == "Release date"


def test_meetingtopic_none_clears_the_title(script: Script) -> None:
    script.say(ALICE, "#meetingtopic none")
    assert script.meeting.title is None
    outcome = script.say(ALICE, "#topic Plain")
    assert outcome.effects == [ChangeTopic("Plain")]


def test_meetingname_is_normalised_and_path_safe(script: Script) -> None:
    outcome = script.say(ALICE, "#meetingname ../../etc/Passwd NOW")
    assert script.meeting.name == "etc_passwd_now"
    assert outcome.replies == ["The meeting name has been set to 'etc_passwd_now'"]


def test_lines_starting_with_a_url_become_links(script: Script) -> None:
    script.say(BOB, "https://example.org/agenda is the agenda")
    script.say(BOB, "the page is http://example.org (not detected, as in MeetBot)")
    script.say(BOB, "mailto:someone@example.org")
    assert script.items() == [(ItemKind.LINK, "https://example.org/agenda is the agenda")]


def test_mentions_of_issues_and_channels_are_not_commands(script: Script) -> None:
    for text in ["#1234 is fixed", "#centos-devel has the details", "#topic-ideas go there"]:
        assert script.say(ALICE, text).effects == []
    assert script.items() == []


def test_actions_and_bot_lines_never_run_commands(script: Script) -> None:
    script.say(ALICE, "#info from an action", LineKind.ACTION)
    script.say(Identity("libera", "meetbot"), "#info from the bot", is_bot=True)
    assert script.items() == []
    assert script.meeting.people["libera:~meetbot"].is_bot


def test_undo_removes_the_last_item_and_restores_the_topic(script: Script) -> None:
    script.say(ALICE, "#topic First")
    script.say(ALICE, "#topic Second")
    outcome = script.say(ALICE, "#undo")
    assert outcome.replies == ["Removing item from minutes: TOPIC: Second"]
    assert script.meeting.current_topic == "First"
    script.say(ALICE, "#undo")
    assert script.meeting.current_topic is None
    assert script.say(ALICE, "#undo").replies == ["Nothing to undo."]


def test_chair_and_unchair(script: Script) -> None:
    script.say(BOB, "hello")  # bob is now known by his account
    assert script.say(ALICE, "#chair bob, carol").replies == ["Current chairs: alice bob carol"]
    assert script.meeting.is_chair(BOB.key)
    assert script.say(BOB, "#topic bob may").effects == [
        ChangeTopic("bob may (Meeting topic: Release Planning)")
    ]
    outcome = script.say(BOB, "#unchair alice carol")
    assert outcome.replies == ["alice started the meeting and stays a chair.", "Current chairs: alice bob"]


def test_a_chaired_nick_does_not_empower_an_account_holder_who_later_takes_it(script: Script) -> None:
    script.say(ALICE, "#chair mallory")  # never seen: a bare-nick chair
    impostor = Identity("libera", "mallory", account="someone-else")
    outcome = script.say(impostor, "#topic hijack")
    assert "is for the meeting chairs" in outcome.replies[0]


def test_nick_change_keeps_chair_rights(script: Script) -> None:
    script.say(CAROL, "hi")
    script.say(ALICE, "#chair carol")
    script.say(CAROL, "carol2", LineKind.NICK)
    renamed = Identity("libera", "carol2")
    assert script.say(renamed, "#topic renamed chair").effects
    script.say(ALICE, "alice_away", LineKind.NICK)  # account identity: same key, new nick
    assert script.meeting.chairs[ALICE.key] == "alice_away"
    people = {p.nick: p.lines for p in script.meeting.people_present()}
    assert people["carol2"] == 2


def test_nick_adds_attendees_who_can_own_actions(script: Script) -> None:
    script.say(ALICE, "#nick dave")
    assert "dave" in script.meeting.attendee_nicks()
    assert {p.nick: p.lines for p in script.meeting.people_present()}["dave"] == 0


def test_lurk_keeps_logging_but_stops_talking(script: Script) -> None:
    assert script.say(ALICE, "#lurk").effects == []
    assert script.say(ALICE, "#topic quiet").effects == []
    assert script.say(ALICE, "#undo").effects == []
    script.say(ALICE, "#info still recorded")
    assert script.items() == [(ItemKind.INFO, "still recorded")]
    script.say(ALICE, "#unlurk")
    assert script.say(ALICE, "#topic loud").effects


def test_restrictlogs_marks_the_meeting(script: Script) -> None:
    assert script.say(ALICE, "#restrictlogs").replies
    assert script.meeting.restricted


def test_save_and_endmeeting_publish(script: Script) -> None:
    assert script.say(ALICE, "#save").effects == [PublishMinutes(final=False)]
    outcome = script.say(ALICE, "#endmeeting")
    assert outcome.effects == [PublishMinutes(final=True)]
    assert outcome.ended
    assert script.meeting.ended_at == script.meeting.lines[-1].at


def test_commands_lists_every_command_and_alias(script: Script) -> None:
    (reply,) = script.say(BOB, "#commands").replies
    for name in [
        "#startmeeting",
        "#endmeeting",
        "#topic",
        "#meetingtopic",
        "#meetingname",
        "#info",
        "#idea",
        "#action",
        "#agreed",
        "#agree",
        "#accepted",
        "#accept",
        "#rejected",
        "#reject",
        "#help",
        "#halp",
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
    ]:
        assert f" {name}" in reply


def test_commands_works_outside_a_meeting(engine: Engine) -> None:
    outcome = engine.run_outside_meeting(ROOM, BOB, "#commands", T0)
    assert outcome.replies[0].startswith("Available commands:")
    assert engine.run_outside_meeting(ROOM, BOB, "#info no meeting", T0).effects == []


def test_required_name(engine: Engine) -> None:
    strict = Engine([MeetingPlugin(MeetingConfig(require_name=True))])
    s = Script(strict)
    assert "Please name it" in s.say(ALICE, "#startmeeting").replies[0]
    assert "has no name yet" in s.say(ALICE, "#endmeeting").replies[0]
    assert s.meeting.is_open
    s.say(ALICE, "#meetingname infra")
    assert s.say(ALICE, "#endmeeting").ended


def test_rebuild_from_lines_restores_everything(script: Script, engine: Engine) -> None:
    for who, text in [
        (BOB, "hi"),
        (ALICE, "#chair bob"),
        (BOB, "#topic T1"),
        (ALICE, "#meetingname infra"),
        (CAROL, "#action carol and bob to do it"),
        (ALICE, "#lurk"),
        (BOB, "#info x"),
        (ALICE, "#undo"),
        (ALICE, "#restrictlogs"),
        (ALICE, "#unchair bob"),
    ]:
        script.say(who, text)
    original = script.meeting
    header = MeetingHeader(1, ROOM, T0, ALICE.key, "alice")
    rebuilt = engine.rebuild(header, list(original.lines))
    for field in [
        "name",
        "title",
        "current_topic",
        "lurking",
        "restricted",
        "chairs",
        "items",
        "people",
        "ended_at",
    ]:
        assert getattr(rebuilt, field) == getattr(original, field), field


def test_here_aliases_own_actions_by_identity(script: Script) -> None:
    ken = Identity("libera", "k[n", account="kenp")
    script.say(ken, "#here Ken Pronovici")
    assert script.say(BOB, "#here Ken Pronovici").replies == [
        "bob: 'Ken Pronovici' already names someone else here."
    ]
    script.say(ALICE, "#action ken pronovici to write the report")
    assert "Ken Pronovici" in script.meeting.attendee_nicks()
    assert script.meeting.identity_of("KEN PRONOVICI") == "libera:kenp"
