"""Bridged meeting places (meetbot/bridges.py): which lines a bridge's copies are, what the core
gets and under which room, where the bot's answers go; and the `bridges:` configuration."""

from __future__ import annotations

import ast
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from meetbot.bridges import Bridges, Place
from meetbot.config import Settings, check_config
from meetbot.config.schema import BridgeIrcSide, BridgeMatrixSide, BridgeSettings, RelaySettings
from meetbot.events import Identity, LineKind, MessageIn, RoomRef, Say, SetTopic

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 21, 16, 0, tzinfo=UTC)
IRC = RoomRef("libera", "#fedora-meeting")
MX = RoomRef("fedora", "!room:fedora.im")
BOB = Identity("libera", "bob", account="bob")  # an IRC person with a services account
ALICE = Identity("fedora", "Alice", account="@alice:fedora.im")  # a Matrix person


def bridges(present: tuple[str, ...] = ("libera", "fedora"), **overrides: object) -> Bridges:
    fields: dict[str, object] = {
        "irc": {"network": "libera", "channel": IRC.room},
        "matrix": {"network": "fedora", "room": MX.room},
        "relay": {"nick": "hbridge"},
        **overrides,
    }
    return Bridges.from_settings([BridgeSettings.model_validate(fields)], present)


def line(room: RoomRef, sender: Identity, text: str, seconds: float = 0, **more: object) -> MessageIn:
    return MessageIn(room, sender, text, T0 + timedelta(seconds=seconds), **more)  # type: ignore[arg-type]


def passed(b: Bridges, message: MessageIn) -> MessageIn:
    decision = b.decide(message)
    assert decision.message is not None, decision.reason
    return decision.message


def dropped(b: Bridges, message: MessageIn) -> str:
    decision = b.decide(message)
    assert decision.message is None, f"passed: {decision.message}"
    return decision.reason


# --------------------------------------------------------------------------- incoming lines


def test_lines_from_both_sides_go_to_one_room_with_their_own_senders() -> None:
    b = bridges()
    from_irc = passed(b, line(IRC, BOB, "#action bob to write the docs", native_id="irc-1"))
    from_matrix = passed(b, line(MX, ALICE, "#info hello", 1, native_id="$e1", privileged=True, thread="$t"))
    assert from_irc.room == from_matrix.room == IRC  # the IRC side is the canonical room
    assert from_irc.sender == BOB
    # Matrix lines keep the user id (chairs go by it), event id, thread and power level.
    assert from_matrix.sender == ALICE
    assert (from_matrix.native_id, from_matrix.thread, from_matrix.privileged) == ("$e1", "$t", True)


def test_outside_bridged_places_and_private_messages_pass_unchanged() -> None:
    b = bridges()
    other = line(RoomRef("libera", "#other"), BOB, "#startmeeting")
    private = line(MX, ALICE, "#actions", private=True)
    assert b.decide(other).message is other
    assert b.decide(private).message is private


def test_heisenbridge_puppets_and_the_bridge_account_are_dropped_on_matrix() -> None:
    b = bridges()
    puppet = Identity("fedora", "bob", account="@irc_libera_bob:fedora.im")
    assert dropped(b, line(MX, puppet, "#action bob to write the docs")) == "bridged copy"
    assert dropped(b, line(MX, puppet, "", kind=LineKind.JOIN)) == "bridged copy"
    bridge = Identity("fedora", "heisenbridge", account="@heisenbridge:fedora.im")
    assert dropped(b, line(MX, bridge, "Connecting to irc.libera.chat...")) == "bridged copy"


def test_relay_lines_and_the_relay_itself_are_dropped_on_irc() -> None:
    b = bridges()
    relay = Identity("libera", "hbridge")
    assert dropped(b, line(IRC, relay, "<Alice> #info hello")) == "bridged copy"
    assert dropped(b, line(IRC, Identity("libera", "HBridge"), "Alice waves", kind=LineKind.ACTION))
    assert dropped(b, line(IRC, relay, "", kind=LineKind.JOIN)) == "bridged copy"


def test_matrix_appservice_irc_preset_puppets() -> None:
    b = bridges(preset="matrix-appservice-irc", relay=None)
    assert dropped(b, line(IRC, Identity("libera", "Alice[m]"), "#info hello")) == "bridged copy"
    puppet = Identity("fedora", "bob", account="@irc_bob:fedora.im")
    assert dropped(b, line(MX, puppet, "#info hi")) == "bridged copy"
    # A nick that merely contains [m] elsewhere is a person.
    assert passed(b, line(IRC, Identity("libera", "m[m]x"), "hi")).sender.nick == "m[m]x"


def test_own_patterns_override_the_preset_and_empty_turns_one_off() -> None:
    b = bridges(matrix_puppets=r"^@libera_(?P<nick>[^:]+):", irc_puppets="")
    assert dropped(b, line(MX, Identity("fedora", "bob", "@libera_bob:fedora.im"), "hi"))
    # heisenbridge's default no longer applies: this is a person now.
    assert passed(b, line(MX, Identity("fedora", "x", "@irc_libera_x:fedora.im"), "hi"))


def test_the_bot_never_hears_its_own_answers_back() -> None:
    b = bridges()
    sent = b.outbound(Say(IRC, "Meeting started. The chair is bob.\n#startmeeting needs a name"), T0)
    assert sent.room == IRC
    # Its echo from a puppet the patterns do not know (a renamed bridge) is still dropped ...
    stranger = Identity("fedora", "meetbot", account="@bridged_meetbot:fedora.im")
    assert dropped(b, line(MX, stranger, "Meeting started. The chair is bob.", 2)) == "echo of the bot"
    assert dropped(b, line(MX, stranger, "#startmeeting needs a name", 2)) == "echo of the bot"
    # ... and so is a piece of a long answer that IRC cut in two.
    b.outbound(Say(IRC, "Minutes: https://meetings.example.org/fedora/2026/fedora.2026-11-21-16.00.html"), T0)
    piece = line(MX, stranger, "https://meetings.example.org/fedora/2026/fedora.2026-11-21-16.00", 3)
    assert dropped(b, piece) == "echo of the bot"
    # Long after, the same words are someone's own.
    assert passed(b, line(MX, stranger, "Meeting started. The chair is bob.", 600))


def test_the_bots_own_lines_pass_for_the_core_to_ignore() -> None:
    b = bridges()
    own = passed(b, line(IRC, Identity("libera", "meetbot"), "Meeting started", from_self=True))
    assert own.from_self
    assert own.room == IRC


def test_late_duplicates_are_dropped() -> None:
    b = bridges()
    passed(b, line(MX, ALICE, "#action alice to ship the release", 0, native_id="$e1"))
    # The same event again (a sync replayed after a reconnect).
    assert (
        dropped(b, line(MX, ALICE, "#action alice to ship the release", 5, native_id="$e1"))
        == "late duplicate"
    )
    # The bridge re-sends it after its reconnect under a nick the patterns miss.
    mangled = Identity("libera", "Alice[m]_")
    assert dropped(b, line(IRC, mangled, "#action alice to ship the release", 40)) == "late duplicate"
    # Past the window, or from someone else, or short like a vote: a line of its own.
    assert passed(b, line(IRC, mangled, "#action alice to ship the release", 400))
    assert passed(b, line(IRC, BOB, "#action alice to ship the release", 41))
    passed(b, line(MX, ALICE, "+1", 50))
    assert passed(b, line(IRC, Identity("libera", "alice"), "+1", 51))
    # The same person repeating themselves on their own side is not a duplicate.
    assert passed(b, line(MX, ALICE, "#action alice to ship the release", 60, native_id="$e2"))


def test_late_duplicate_window_is_configurable() -> None:
    b = bridges(duplicate_window=0)
    passed(b, line(MX, ALICE, "#info the release is on friday", 0))
    assert passed(b, line(IRC, Identity("libera", "Alice[m]_"), "#info the release is on friday", 1))


def test_without_the_bot_on_the_other_side_copies_are_the_lines() -> None:
    # The bot is only on Matrix: IRC people reach it only through their puppets.
    b = bridges(present=("fedora",))
    got = passed(b, line(MX, Identity("fedora", "bob", "@irc_libera_bob:fedora.im"), "#info from irc"))
    assert got.sender == Identity("libera", "bob")
    assert (got.room, got.text) == (IRC, "#info from irc")
    bridge = Identity("fedora", "heisenbridge", account="@heisenbridge:fedora.im")
    assert dropped(b, line(MX, bridge, "Connected")) == "the bridge's own line"
    # The bot is only on IRC: relay lines are read for their author and text.
    b = bridges(present=("libera",))
    got = passed(b, line(IRC, Identity("libera", "hbridge"), "<Alice> #info from matrix"))
    assert (got.sender, got.text) == (Identity("fedora", "Alice"), "#info from matrix")


def test_while_one_side_is_down_its_bridged_copies_are_taken_and_late_originals_dropped() -> None:
    # The bot is on both networks, but its IRC link is down for a while (a netsplit, a restart).
    heard = {IRC: True, MX: True}
    b = Bridges.from_settings(
        [
            BridgeSettings.model_validate(
                {
                    "irc": {"network": "libera", "channel": IRC.room},
                    "matrix": {"network": "fedora", "room": MX.room},
                }
            )
        ],
        present=("libera", "fedora"),
        hears=lambda room: heard.get(room, False),
    )
    puppet = Identity("fedora", "bob", "@irc_libera_bob:fedora.im")
    assert dropped(b, line(MX, puppet, "#info said while all is well", 0)) == "bridged copy"
    heard[IRC] = False
    got = passed(b, line(MX, puppet, "#info said while irc is down", 10))
    assert (got.room, got.sender, got.text) == (
        IRC,
        Identity("libera", "bob"),
        "#info said while irc is down",
    )
    # Replies go through the side that is up; the bridge carries them to IRC.
    assert b.outbound(Say(IRC, "noted"), T0) == Say(MX, "noted")
    # IRC is back and the server replays what was said meanwhile: taken already, dropped now.
    heard[IRC] = True
    assert dropped(b, line(IRC, BOB, "#info said while irc is down", 12)) == "late duplicate"
    assert passed(b, line(IRC, BOB, "#info after the return", 20)).sender == BOB
    assert b.outbound(Say(IRC, "noted"), T0) == Say(IRC, "noted")


def test_matrix_room_by_alias_is_recognised_once_resolved() -> None:
    b = bridges(matrix={"network": "fedora", "room": "#meeting:fedora.im"})
    alias = RoomRef("fedora", "#meeting:fedora.im")
    assert b.unresolved() == [alias]
    b.resolved(alias, MX.room)
    assert b.unresolved() == []
    assert passed(b, line(MX, ALICE, "hi")).room == IRC


# --------------------------------------------------------------------------- outgoing, members


def test_answers_go_to_the_reply_side_only() -> None:
    to_matrix = bridges(reply_on="matrix")
    assert to_matrix.outbound(Say(IRC, "hi", thread="$t"), T0) == Say(MX, "hi", thread="$t")
    assert to_matrix.outbound(SetTopic(IRC, "Release"), T0) == SetTopic(MX, "Release")
    assert bridges().outbound(Say(IRC, "hi"), T0) == Say(IRC, "hi")
    elsewhere = Say(RoomRef("libera", "#other"), "hi")
    assert to_matrix.outbound(elsewhere, T0) is elsewhere


def test_members_are_both_sides_without_puppets_or_the_relay() -> None:
    b = bridges()
    rooms = {
        IRC: [BOB, Identity("libera", "hbridge"), Identity("libera", "carol")],
        MX: [
            ALICE,
            Identity("fedora", "bob", "@irc_libera_bob:fedora.im"),
            Identity("fedora", "h", "@heisenbridge:x"),
        ],
    }
    assert b.members(IRC, lambda room: rooms.get(room, [])) == [BOB, Identity("libera", "carol"), ALICE]
    other = RoomRef("libera", "#other")
    assert b.members(other, lambda room: [BOB] if room == other else []) == [BOB]


def test_place_from_settings_defaults() -> None:
    settings = BridgeSettings(
        irc=BridgeIrcSide(network="libera", channel="#x"),
        matrix=BridgeMatrixSide(network="fedora", room="!r:x"),
        relay=RelaySettings(nicks=["hb"]),
    )
    place = Place.from_settings(settings)
    assert place.reply_on == "irc"
    assert place.relay_nicks == frozenset({"hb"})
    assert place.matrix_puppets is not None
    assert place.irc_puppets is None
    assert place.duplicate_window == timedelta(seconds=120)


def test_bridges_module_is_pure() -> None:
    tree = ast.parse((ROOT / "meetbot" / "bridges.py").read_text(encoding="utf-8"))
    modules = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    modules |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not {m for m in modules if m.split(".")[0] in {"nio", "irc", "aiohttp", "sqlalchemy"}}


# --------------------------------------------------------------------------- configuration

NETWORKS = """\
networks:
  - {name: libera, type: irc, host: irc.libera.chat, nick: meetbot}
  - {name: fedora, type: matrix, homeserver: "https://fedora.im", user_id: "@m:fedora.im", access_token: t}
"""


def problems(tmp_path: Path, bridges_yaml: str) -> list[str]:
    path = tmp_path / "meetbot.yaml"
    path.write_text(NETWORKS + textwrap.dedent(bridges_yaml), encoding="utf-8")
    return [str(issue).replace(str(path), "FILE") for issue in check_config(path)]


@pytest.mark.parametrize(
    ("bridges_yaml", "expected"),
    [
        (
            """\
            bridges:
              - irc: {network: fedora, channel: "#x"}
                matrix: {network: fedora, room: "!r:fedora.im"}
            """,
            "FILE:5: bridges[0].irc.network: 'fedora' is not a irc network; use one of: libera",
        ),
        (
            """\
            bridges:
              - irc: {network: libera, channel: "#x"}
                matrix: {network: fedora, room: "!r:fedora.im"}
                matrix_puppets: "^@irc_(?P<nick>[^:]+"
            """,
            "FILE:7: bridges[0].matrix_puppets: not a valid regular expression: "
            "missing ), unterminated subpattern at position 6",
        ),
        (
            """\
            bridges:
              - irc: {network: libera, channel: "#x"}
                matrix: {network: fedora, room: "!r:fedora.im"}
                relay: {nick: hb, pattern: "^<(?P<who>[^>]+)> (?P<text>.*)$"}
            """,
            "FILE:7: bridges[0].relay.pattern: needs the named group(s) (?P<nick>...)",
        ),
        (
            """\
            bridges:
              - irc: {network: libera, channel: "#x"}
                matrix: {network: fedora, room: "!r:fedora.im"}
              - irc: {network: libera, channel: "#X"}
                matrix: {network: fedora, room: "!s:fedora.im"}
            """,
            "FILE:7: bridges[1].irc.channel: already bridged by bridges[0]; "
            "a channel or room can be in one bridge only",
        ),
        (
            """\
            bridges:
              - irc: {network: libera, channel: "#x"}
                matrix: {network: fedora, room: "!r:fedora.im"}
                reply_on: both
            """,
            "FILE:7: bridges[0].reply_on: ",
        ),
    ],
)
def test_config_errors_name_file_line_and_field(tmp_path: Path, bridges_yaml: str, expected: str) -> None:
    (problem,) = problems(tmp_path, bridges_yaml)
    assert problem.startswith(expected), problem


def test_config_one_side_may_be_missing_but_not_both(tmp_path: Path) -> None:
    ok = """\
        bridges:
          - irc: {network: oftc, channel: "#x"}
            matrix: {network: fedora, room: "!r:fedora.im"}
        """
    assert problems(tmp_path, ok) == []
    (problem,) = problems(tmp_path, ok.replace("fedora, room", "elsewhere, room"))
    assert "neither side is in networks" in problem


def test_example_file_documents_every_bridge_option() -> None:
    text = (ROOT / "config.example.yaml").read_text(encoding="utf-8")
    names = {"bridges"}
    for model in (BridgeSettings, BridgeIrcSide, BridgeMatrixSide, RelaySettings):
        names |= set(model.model_fields)
    assert [name for name in sorted(names) if f"{name}:" not in text] == []
    assert "nick:" in text  # relay's one-nick form
    assert "bridges" in Settings.model_fields
