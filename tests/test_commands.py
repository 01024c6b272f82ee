from __future__ import annotations

import pytest

from meetbot.commands import CommandCall, CommandParser, split_nicks


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("#startmeeting", CommandCall("startmeeting", "", "#")),
        ("#startmeeting Release Planning ", CommandCall("startmeeting", "Release Planning", "#")),
        ("  #TOPIC  Mixed Case", CommandCall("topic", "Mixed Case", "#")),
        ("\t#info tabbed", CommandCall("info", "tabbed", "#")),
        ("#info    üáç€", CommandCall("info", "üáç€", "#")),
        ("#action\tbob: do it", CommandCall("action", "bob: do it", "#")),
    ],
)
def test_commands_are_recognised(text: str, expected: CommandCall) -> None:
    assert CommandParser().parse(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "#1234 is fixed",  # an issue reference
        "#centos-meeting is where we meet",  # a channel mention
        "#fedora.im",
        "# startmeeting",  # a comment
        "see #topic later",  # not at the start of the line
        "#abc123",
        "",
        "plain text",
        "!startmeeting",  # not a configured prefix here
    ],
)
def test_non_commands_are_ignored(text: str) -> None:
    assert CommandParser().parse(text) is None


def test_configured_prefixes() -> None:
    parser = CommandParser(["#", "!"])
    assert parser.parse("!startmeeting x") == CommandCall("startmeeting", "x", "!")
    assert parser.parse("#endmeeting") == CommandCall("endmeeting", "", "#")


@pytest.mark.parametrize("prefixes", [[], ["ab"], ["a"], [" "]])
def test_bad_prefixes_are_refused(prefixes: list[str]) -> None:
    with pytest.raises(ValueError, match="single punctuation"):
        CommandParser(prefixes)


def test_split_nicks() -> None:
    assert split_nicks("a b,c ,, d A") == ["a", "b", "c", "d"]
