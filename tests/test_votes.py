"""Votes, through the real engine: each peer's known tally bug must come out right here."""

from __future__ import annotations

import pytest

from meetbot.domain.model import ItemKind
from meetbot.domain.votes import ABSTAIN, NO, YES, Ballot, Vote, VoteRules, parse_options, tally
from meetbot.engine import Engine, MeetingHeader
from meetbot.events import Identity, LineKind
from meetbot_plugins.meeting.plugin import MeetingPlugin
from meetbot_plugins.votes.plugin import VotesPlugin
from tests.conftest import T0
from tests.test_meeting_plugin import ALICE, BOB, CAROL, ROOM, Script

DAVE = Identity("libera", "dave", account="dave")


@pytest.fixture
def voting() -> Script:
    s = Script(Engine([MeetingPlugin(), VotesPlugin()]))
    s.say(ALICE, "#startmeeting votes")
    for who in (BOB, CAROL, DAVE):
        s.say(who, "o/")
    return s


def closed_text(s: Script) -> str:
    (item,) = [text for kind, text in s.items() if kind is ItemKind.VOTE]
    return item


def test_openstack_syntax(voting: Script) -> None:
    (reply,) = voting.say(ALICE, "#startvote Should we ship the 15th? yes, no").replies
    assert reply.startswith(
        "Begin voting on: Should we ship the 15th? Valid vote options are yes, no, Abstain."
    )
    voting.say(BOB, "#vote yes")
    voting.say(CAROL, "#vote YES")
    (shown,) = voting.say(DAVE, "#showvote").replies
    assert shown == "Should we ship the 15th? yes (2): bob, carol · no (0) · Abstain (0)"
    (result,) = voting.say(ALICE, "#endvote").replies
    assert result == "Vote: Should we ship the 15th? Result: carried. yes: 2 (bob, carol); no: 0; Abstain: 0"
    assert closed_text(voting) == result


def test_hcoop_changed_vote_counts_once_on_its_last_side(voting: Script) -> None:
    # hcoop: "2 in favor to 1 opposed / In favor: bob, carol / Opposed: carol".
    voting.say(ALICE, "#motion ship on the 15th")
    voting.say(BOB, "#vote +1")
    voting.say(CAROL, "#vote -1")
    voting.say(CAROL, "#vote +1")
    voting.say(ALICE, "#close")
    assert closed_text(voting).endswith("Result: carried. Yes: 2 (bob, carol); No: 0; Abstain: 0")


def test_hcoop_plus_zero_is_an_abstention_not_in_favour(voting: Script) -> None:
    voting.say(ALICE, "#motion x")
    voting.say(BOB, "#vote +0")
    voting.say(CAROL, "#vote -1")
    voting.say(ALICE, "#endvote")
    assert "Result: rejected. Yes: 0; No: 1 (carol); Abstain: 1 (bob)" in closed_text(voting)


def test_meetingology_tie_is_no_decision(voting: Script) -> None:
    voting.say(ALICE, "#startvote Tie?")
    voting.say(BOB, "+1")
    voting.say(CAROL, "-1 sorry")
    voting.say(ALICE, "#endvote")
    assert "Result: tied between Yes and No: no decision." in closed_text(voting)


def test_meetingology_voters_are_not_repeated(voting: Script) -> None:
    voting.say(ALICE, "#startvote Once?")
    voting.say(CAROL, "+1")
    voting.say(CAROL, "+1 changed my mind? no, same")
    voting.say(ALICE, "#endvote")
    assert closed_text(voting).endswith("Yes: 1 (carol); No: 0; Abstain: 0")


def test_openstack_unvoted_options_are_listed_at_zero(voting: Script) -> None:
    voting.say(ALICE, "#startvote Which? red, green, blue")
    voting.say(BOB, "#vote green")
    voting.say(ALICE, "#endvote")
    assert closed_text(voting).endswith("Result: green wins. red: 0; green: 1 (bob); blue: 0; Abstain: 0")


def test_zero_votes_is_no_decision_not_a_crash(voting: Script) -> None:
    voting.say(ALICE, "#startvote Anyone?")
    voting.say(ALICE, "#endvote")
    assert "Result: no votes were cast: no decision." in closed_text(voting)


def test_quorum(voting: Script) -> None:
    voting.say(ALICE, "#votesrequired 3")
    voting.say(ALICE, "#startvote Quorum?")
    voting.say(BOB, "#vote yes")
    voting.say(CAROL, "#vote abstain")
    voting.say(ALICE, "#endvote")
    assert "only 2 of the 3 required votes were cast: no decision" in closed_text(voting)


def test_voters_list_is_by_identity(voting: Script) -> None:
    voting.say(ALICE, "#voters bob dave")
    voting.say(ALICE, "#startvote Members only?")
    assert voting.say(CAROL, "#vote yes").replies == ["carol: only bob, dave may vote."]
    impostor = Identity("libera", "bob", account="not-bob")
    voting.say(impostor, "#vote no")
    voting.say(BOB, "#vote yes")
    voting.say(ALICE, "#endvote")
    assert closed_text(voting).endswith("Result: carried. Yes: 1 (bob); No: 0; Abstain: 0")


def test_bad_input_gets_one_line(voting: Script) -> None:
    assert voting.say(BOB, "#vote yes").replies[0].startswith("No vote is open")
    assert (
        voting.say(BOB, "#startvote x? a, b")
        .replies[0]
        .startswith("bob: #startvote is for the meeting chairs")
    )
    assert voting.say(ALICE, "#startvote ? a, b").replies[0].startswith("Usage: #startvote")
    assert voting.say(ALICE, "#startvote Only one? a").replies[0].startswith("Usage: #startvote")
    voting.say(ALICE, "#startvote Pick? a, b")
    assert voting.say(ALICE, "#startvote Again?").replies == ["Already voting on 'Pick?'; #endvote first."]
    assert voting.say(BOB, "#vote c").replies == [
        "bob: c is not a valid option. Valid options are a, b, Abstain."
    ]
    assert voting.say(ALICE, "#votesrequired many").replies == ["Usage: #votesrequired <number>"]


def test_secret_ballot_keeps_names_out(voting: Script) -> None:
    voting.say(ALICE, "#startvote --secret Secret? yes, no")
    voting.say(BOB, "#vote no")
    voting.say(ALICE, "#endvote")
    assert closed_text(voting) == "Vote (secret ballot): Secret? Result: rejected. yes: 0; no: 1; Abstain: 0"


def test_an_open_vote_survives_a_restart_and_endmeeting_records_it(voting: Script) -> None:
    voting.say(ALICE, "#startvote Survive?")
    voting.say(BOB, "#vote yes")
    rebuilt = voting.engine.rebuild(
        MeetingHeader(1, ROOM, T0, ALICE.key, "alice"), list(voting.meeting.lines)
    )
    assert rebuilt.open_vote == voting.meeting.open_vote
    voting.meeting = rebuilt  # carry on with the rebuilt meeting, as a restarted bot does
    voting.say(CAROL, "#vote yes")
    outcome = voting.say(ALICE, "#endmeeting")
    assert outcome.ended
    assert outcome.replies == ["Vote: Survive? Result: carried. Yes: 2 (bob, carol); No: 0; Abstain: 0"]
    assert [type(e).__name__ for e in outcome.effects] == ["Reply", "PublishMinutes"]


def test_actions_do_not_vote(voting: Script) -> None:
    voting.say(ALICE, "#startvote Act?")
    voting.say(BOB, "+1", LineKind.ACTION)
    voting.say(ALICE, "#endvote")
    assert "Result: no votes were cast" in closed_text(voting)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ship? yes, no, abstain", ("Ship?", ("yes", "no", "abstain"))),
        ("Ship?", ("Ship?", (YES, NO, ABSTAIN))),
        ("Is it a? or b? one, two", ("Is it a? or b?", ("one", "two", ABSTAIN))),
        (
            "Pick a colour? dark red, light blue / green",
            ("Pick a colour?", ("dark red", "light blue", "green", ABSTAIN)),
        ),
        ("No question mark", ("No question mark", (YES, NO, ABSTAIN))),
        ("Dupes? a, A, b", ("Dupes?", ("a", "b", ABSTAIN))),
        ("?", None),
        ("One? only", None),
    ],
)
def test_parse_options(text: str, expected: object) -> None:
    assert parse_options(text) == expected


def test_closed_vote_keeps_its_rules() -> None:
    vote = Vote("Q?", (YES, NO, ABSTAIN), 1, "alice", rules=VoteRules(required=1))
    vote.ballots["k"] = Ballot("bob", YES, 2)
    assert tally(vote).decided == YES


def test_votes_reach_every_minutes_format(voting: Script) -> None:
    import json

    from meetbot.minutes.render import render_all
    from meetbot.publish.paths import links_for, minutes_basename

    voting.say(ALICE, "#startvote Ship <b>it</b>? yes, no")
    voting.say(BOB, "#vote yes")
    voting.say(CAROL, "#vote no")
    voting.say(CAROL, "#vote yes")
    voting.say(ALICE, "#endmeeting")
    files = render_all(voting.meeting, links_for(minutes_basename(voting.meeting)), generator="t")
    (vote,) = json.loads(files[".json"])["votes"]
    assert vote["question"] == "Ship <b>it</b>?"
    assert vote["options"] == [
        {"option": "yes", "count": 2, "voters": ["bob", "carol"]},
        {"option": "no", "count": 0, "voters": []},
        {"option": "Abstain", "count": 0, "voters": []},
    ]
    assert (vote["decided"], vote["outcome"], vote["line"]) == ("yes", "carried", 5)
    assert "Ship &lt;b&gt;it&lt;/b&gt;? Result: carried." in files[".html"]
    assert "VOTE: Vote: Ship <b>it</b>? Result: carried." in " ".join(files[".txt"].split())
