"""Who owns an action: the match / no-match tables of MeetBot's test_actionNickMatching and
hcoop's TestAliasMatcher, with the forms both got wrong (`ken[`, `[m]`, `nick,`) fixed."""

from __future__ import annotations

import pytest

from meetbot.domain.attribution import mentions, owners_in

NICKS = ["ken", "k[n", "ken[", "[ken", "alice[m]", "[m]", "foo_", "re_st", "Üţáhraptõr", "a-b", "x|y", "jon"]

# {nick} is replaced by the nick, in several casings.
MATCHING_FORMS = [
    "{nick}",
    "{nick} will do it",
    "ask {nick}",
    "{nick}: please",
    "{nick}, please",
    "and {nick}.",
    "({nick})",
    "@{nick} to review",
    "{nick}'s patch",
    "bob/{nick} pair on it",
    '"{nick}" said',
]
NOT_MATCHING_FORMS = [
    "{nick}x",
    "x{nick}",
    "{nick}_",
    "_{nick}",
    "{nick}1",
    "9{nick}",
    "{nick}-",
    "-{nick}",
    "{nick}|",
    "[{nick}]x",
    "{nick}{nick}",
    "",
]


@pytest.mark.parametrize("nick", NICKS)
@pytest.mark.parametrize("form", MATCHING_FORMS)
@pytest.mark.parametrize("case", [str, str.upper, str.lower])
def test_named_nicks_match(nick: str, form: str, case: object) -> None:
    text = form.format(nick=case(nick))  # type: ignore[operator]
    assert mentions(text, nick), text


@pytest.mark.parametrize("nick", NICKS)
@pytest.mark.parametrize("form", NOT_MATCHING_FORMS)
def test_glued_nicks_do_not_match(nick: str, form: str) -> None:
    text = form.format(nick=nick)
    assert not mentions(text, nick), text


def test_meetbot_action_nick_matching() -> None:
    # MeetBot's test_actionNickMatching: somenick must not get somenickLONG's action.
    assert owners_in("somenickLONG to do it", ["somenick", "somenickLONG"]) == ["somenickLONG"]
    assert owners_in("jonathan to review", ["jon", "jonathan"]) == ["jonathan"]


def test_one_action_many_owners_in_given_order_once_each() -> None:
    assert owners_in("bob and dave to test; BOB leads", ["alice", "bob", "dave", "Bob"]) == ["bob", "dave"]


def test_no_owner() -> None:
    assert owners_in("someone to update the website", ["alice", "bob"]) == []
