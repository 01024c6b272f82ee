"""The IRC adapter's pure parts: text, flood control, protocol helpers, member tracking."""

from __future__ import annotations

import base64
import itertools
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meetbot.adapters.irc.flood import Queued, SendQueue, TokenBucket
from meetbot.adapters.irc.protocol import (
    Ctcp,
    ServerFeatures,
    alt_nick,
    backoff_delays,
    caps_to_request,
    ctcp_answer,
    irc_fold,
    message_budget,
    parse_cap_list,
    parse_ctcp,
    sasl_payload,
    server_time,
    tags_of,
)
from meetbot.adapters.irc.state import Tracker
from meetbot.adapters.irc.text import split_message, strip_formatting

# -- text -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "plain"),
    [
        ("\x02bold\x02 and \x1ditalic\x1d", "bold and italic"),
        ("\x0304red\x03 \x0312,04blue on red\x0f", "red blue on red"),
        ("\x0304,0512 apples", "12 apples"),  # colours take at most two digits each
        ("\x03,5 comma stays", ",5 comma stays"),  # no foreground: not a colour pair
        ("\x04ff0000hex\x04", "hex"),
        ("\x1funder\x1e strike \x11mono\x16rev", "under strike monorev"),
        ("no codes at all: #topic 100%", "no codes at all: #topic 100%"),
    ],
)
def test_strip_formatting(raw: str, plain: str) -> None:
    assert strip_formatting(raw) == plain


def test_split_breaks_at_spaces_and_never_inside_a_character() -> None:
    assert split_message("aaa bbb ccc", 7) == ["aaa bbb", "ccc"]
    assert split_message("line one\nline two\r\n\r\nthree", 100) == ["line one", "line two", "three"]
    assert split_message("éééé", 5) == ["éé", "éé"]  # 2 bytes each: never half a character
    assert split_message("😀😀", 4) == ["😀", "😀"]
    assert split_message("x" * 10, 4) == ["xxxx", "xxxx", "xx"]


@given(st.text(max_size=400), st.integers(min_value=4, max_value=120))
def test_split_pieces_fit_and_keep_every_word(text: str, budget: int) -> None:
    pieces = split_message(text, budget)
    assert all(0 < len(piece.encode("utf-8")) <= budget for piece in pieces)
    assert "".join("".join(pieces).split()) == "".join(text.split())


@given(
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=2000),
    st.sampled_from(["meetbot", "a-much-longer-bot-nick-name"]),
)
def test_a_split_reply_fits_the_512_byte_line_the_receivers_get(text: str, nick: str) -> None:
    target = "#a-rather-long-channel-name"
    budget = message_budget(nick, None, None, "PRIVMSG", target)
    for piece in split_message(text, budget):
        # What the server relays: our longest possible hostmask, then our line, then CR LF.
        relayed = f":{nick}!{'u' * 10}@{'h' * 63} PRIVMSG {target} :{piece}\r\n"
        assert len(relayed.encode("utf-8")) <= 512


def test_a_known_hostmask_leaves_more_room() -> None:
    assert message_budget("bot", "bot", "127.0.0.1", "PRIVMSG", "#c") > message_budget(
        "bot", None, None, "PRIVMSG", "#c"
    )


# -- flood control ----------------------------------------------------------------------------


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(burst=3, per_second=2.0, now=0.0)
    for _ in range(3):
        assert bucket.delay(0.0) == 0
        bucket.take(0.0)
    assert bucket.delay(0.0) == pytest.approx(0.5)
    with pytest.raises(RuntimeError):
        bucket.take(0.0)
    assert bucket.delay(0.5) == 0
    bucket.take(0.5)
    # A long idle period refills to the burst, never beyond it.
    assert bucket.tokens(1000.0) == 3


@given(st.lists(st.floats(min_value=0, max_value=5), min_size=1, max_size=60))
def test_token_bucket_never_exceeds_burst_plus_rate(gaps: list[float]) -> None:
    burst, rate = 4, 1.0
    bucket = TokenBucket(burst, rate, now=0.0)
    now, sent = 0.0, []
    for gap in gaps:
        now += gap
        now += bucket.delay(now)
        bucket.take(now)
        sent.append(now)
    for i, j in itertools.combinations(range(len(sent)), 2):
        assert j - i + 1 <= burst + (sent[j] - sent[i]) * rate + 1e-6


def _queue(*items: tuple[str, str]) -> SendQueue:
    queue = SendQueue()
    for target, text in items:
        queue.push(Queued("PRIVMSG", target, text))
    return queue


def test_queue_sends_as_written_when_not_backed_up() -> None:
    queue = _queue(("#a", "one"), ("#a", "two"))
    assert queue.pop(400, merge=False).text == "one"
    assert len(queue) == 1


def test_queue_merges_a_backlog_per_target_in_order_and_counts_repeats() -> None:
    queue = _queue(("#a", "one"), ("#a", "two"), ("#a", "one"), ("#b", "other"), ("#a", "three"))
    assert queue.pop(400, merge=True).text == "one (×2) | two"
    assert queue.pop(400, merge=True).text == "other"
    assert queue.pop(400, merge=True).text == "three"


def test_queue_merge_respects_the_budget_and_never_reorders_distinct_texts() -> None:
    queue = _queue(("#a", "x" * 10), ("#a", "y" * 10), ("#a", "z" * 10), ("#a", "x" * 10))
    first = queue.pop(25, merge=True)
    assert first.text == "x" * 10 + " | " + "y" * 10  # z does not fit
    assert len(first.text.encode()) <= 25
    # The repeat of x joined the first line (it was behind z, but equal texts cannot be
    # misordered); z keeps its place.
    queue2 = _queue(("#a", "x" * 10), ("#a", "y" * 10), ("#a", "z" * 10), ("#a", "x" * 10))
    assert queue2.pop(35, merge=True).text == "x" * 10 + " (×2) | " + "y" * 10
    assert [queue2.pop(35, merge=False).text] == ["z" * 10]


def test_queue_keeps_raw_lines_apart() -> None:
    queue = SendQueue()
    queue.push(Queued("PRIVMSG", "#a", "hi"))
    queue.push_front(Queued("JOIN", raw="JOIN #a"))
    assert queue.pop(400, merge=True).line() == "JOIN #a"
    assert queue.pop(400, merge=True).line() == "PRIVMSG #a :hi"


# -- protocol helpers -------------------------------------------------------------------------


def test_server_time() -> None:
    tags = tags_of([{"key": "time", "value": "2026-11-21T16:00:01.250Z"}, {"key": "msgid", "value": "x"}])
    assert server_time(tags) == datetime(2026, 11, 21, 16, 0, 1, 250000, tzinfo=UTC)
    assert server_time({"time": "yesterday"}) is None
    assert server_time({}) is None
    assert tags_of(None) == {}


def test_irc_case_folding_is_rfc1459() -> None:
    assert irc_fold("Ken[") == irc_fold("ken{") == "ken{"
    assert irc_fold("A\\B~") == "a|b^"


def test_caps() -> None:
    offered = parse_cap_list("account-tag sasl=PLAIN,EXTERNAL server-time unknown-cap")
    assert caps_to_request(offered, None) == ["account-tag", "server-time"]
    assert caps_to_request(offered, "EXTERNAL") == ["account-tag", "sasl", "server-time"]
    assert "sasl" not in caps_to_request(parse_cap_list("sasl=EXTERNAL"), "PLAIN")
    assert caps_to_request(parse_cap_list("sasl"), "PLAIN") == ["sasl"]  # 301: mechanisms unknown


def test_sasl_payloads() -> None:
    (plain,) = sasl_payload("PLAIN", "bot", "pw")
    assert base64.b64decode(plain) == b"bot\0bot\0pw"
    assert sasl_payload("EXTERNAL", None, None) == ["+"]
    long = sasl_payload("PLAIN", "u", "p" * 600)
    assert [len(chunk) for chunk in long[:-1]] == [400, 400]
    assert len(long[-1]) < 400
    exact = sasl_payload("PLAIN", "a", "b" * 296)  # 300 bytes -> exactly 400 base64 chars
    assert exact[-1] == "+"
    assert len(exact[0]) == 400
    with pytest.raises(ValueError, match="PLAIN"):
        sasl_payload("PLAIN", None, "pw")


def test_ctcp() -> None:
    assert parse_ctcp("\x01VERSION\x01") == Ctcp("VERSION", "")
    assert parse_ctcp("\x01ping 123") == Ctcp("PING", "123")
    assert parse_ctcp("plain text") is None
    assert ctcp_answer(Ctcp("VERSION", ""), "meetbot 1.0") == "\x01VERSION meetbot 1.0\x01"
    assert ctcp_answer(Ctcp("PING", "9" * 500), "v") == "\x01PING " + "9" * 64 + "\x01"
    assert ctcp_answer(Ctcp("DCC", "SEND x"), "v") is None


def test_backoff_grows_to_the_cap_with_jitter() -> None:
    low = list(itertools.islice(backoff_delays(1, 30, lambda: 0.0), 7))
    high = list(itertools.islice(backoff_delays(1, 30, lambda: 1.0), 7))
    assert low == [0.5, 1, 2, 4, 8, 15, 15]
    assert high == [1, 2, 4, 8, 16, 30, 30]


def test_alternative_nicks() -> None:
    assert [alt_nick("bot", ["bot2"], n) for n in range(3)] == ["bot2", "bot_", "bot__"]


def test_isupport() -> None:
    features = ServerFeatures.default()
    features.load(["PREFIX=(qaohv)~&@%+", "CHANTYPES=#", "WHOX", "LINELEN=4096", "CHANMODES=beI,k,l,imnpst"])
    assert features.prefixes["h"] == "%"
    assert features.whox
    assert features.linelen == 4096
    assert features.is_channel("#x")
    assert not features.is_channel("&x")


# -- member tracking --------------------------------------------------------------------------


def test_tracker_follows_people_and_accounts() -> None:
    features = ServerFeatures.default()
    tracker = Tracker()
    tracker.joined("#m", "bot", "botacct")
    tracker.names("#m", ["@bot!b@h", "+alice!a@h", "carol"], features)
    tracker.set_account("alice", "alice-acct")  # WHOX or account-notify
    tracker.joined("#m", "dave", None)  # extended-join: not logged in
    tracker.joined("#other", "alice")  # plain join says nothing about the account
    assert {(m.nick, m.account) for m in tracker.members("#M")} == {
        ("bot", "botacct"),
        ("alice", "alice-acct"),
        ("carol", None),
        ("dave", None),
    }
    assert tracker.renamed("alice", "alice_") == ["#m", "#other"]
    assert tracker.account("ALICE_") == "alice-acct"
    assert sorted(tracker.quit("alice_")) == ["#m", "#other"]
    assert tracker.account("alice_") is None
    assert not tracker.knows_account("alice_")
    tracker.left("#m", "dave")
    assert {m.nick for m in tracker.members("#m")} == {"bot", "carol"}
    tracker.left("#m", "bot", me=True)
    assert tracker.members("#m") == []


def test_an_account_learnt_anywhere_holds_in_every_channel() -> None:
    """The tracker skips its walk over the channels when a line's account tag says what it
    knows already; that is only right while every channel agrees with what it knows."""
    features = ServerFeatures.default()
    tracker = Tracker()
    tracker.names("#a", ["alice!a@h"], features)
    tracker.names("#b", ["alice!a@h"], features)
    tracker.set_account("alice", "old")
    tracker.joined("#c", "alice", "new")  # extended-join after a re-login
    tracker.set_account("alice", "new")  # the next tagged line: known already
    for channel in ("#a", "#b", "#c"):
        assert [(m.nick, m.account) for m in tracker.members(channel)] == [("alice", "new")], channel


def test_tracker_knows_when_the_bot_may_set_the_topic() -> None:
    features = ServerFeatures.default()
    tracker = Tracker()
    tracker.joined("#m", "bot")
    assert not tracker.may_set_topic("#m", "bot")  # modes unknown: assume +t
    tracker.channel_modes("#m", "+ntk", ["secret"], features)
    assert not tracker.may_set_topic("#m", "bot")
    tracker.mode("#m", "-t+l", ["10"], features)
    assert tracker.may_set_topic("#m", "bot")
    tracker.mode("#m", "+t+o", ["bot"], features)
    assert tracker.may_set_topic("#m", "bot")  # op beats +t
    tracker.mode("#m", "-o", ["bot"], features)
    assert not tracker.may_set_topic("#m", "bot")
    assert not tracker.may_set_topic("#elsewhere", "bot")


# -- the adapter's send path, without a server (white-box: reads the queue it fills) ----------


async def test_outgoing_text_is_split_and_cannot_smuggle_commands_or_ctcp() -> None:
    from meetbot.adapters.irc import IrcAdapter
    from meetbot.clock import SystemClock
    from meetbot.config.schema import IrcNetwork
    from meetbot.events import RoomRef, Say

    network = IrcNetwork.model_validate({"name": "n", "type": "irc", "host": "h", "nick": "bot"})
    adapter = IrcAdapter(network, SystemClock())
    room = RoomRef("n", "#c")
    await adapter.send(Say(room, "first line\r\nQUIT :gotcha\n\x01ACTION dances\x01\n\n" + "é" * 400))
    lines = []
    while adapter.queued:
        lines.append(adapter._queue.pop(400, merge=False).line())
    assert lines[:3] == ["PRIVMSG #c :first line", "PRIVMSG #c :QUIT :gotcha", "PRIVMSG #c :ACTION dances"]
    assert "".join(line.removeprefix("PRIVMSG #c :") for line in lines[3:]) == "é" * 400
    for line in lines:
        assert "\r" not in line
        assert "\n" not in line
        assert "\x01" not in line
        assert len(f":bot!{'u' * 10}@{'h' * 63} {line}\r\n".encode()) <= 512


def test_operators_are_privileged_only_where_the_network_allows_it() -> None:
    """ops_are_chairs: the adapter marks an op's lines privileged (the core then lets them chair);
    status comes from the server's own member list, which follows the connection, not the nick."""
    from meetbot.adapters.irc import IrcAdapter
    from meetbot.adapters.irc.protocol import ServerFeatures
    from meetbot.clock import SystemClock
    from meetbot.config.schema import IrcNetwork
    from meetbot.events import Identity, LineKind, MessageIn

    seen: list[MessageIn] = []
    for allowed in (True, False):
        network = IrcNetwork(
            name="libera", type="irc", host="127.0.0.1", nick="meetbot", ops_are_chairs=allowed
        )
        adapter = IrcAdapter(network, SystemClock(), version="test")
        adapter._submit = seen.append
        adapter._tracker.names(
            "#chan", ["@alice", "+bob", "carol"], ServerFeatures(prefixes={"o": "@", "v": "+"})
        )
        for nick in ("alice", "bob", "carol"):
            adapter._emit("#chan", Identity("libera", nick), "#topic x", LineKind.SAY, {})
    assert [(m.sender.nick, m.privileged) for m in seen] == [
        ("alice", True),
        ("bob", False),
        ("carol", False),
        ("alice", False),
        ("bob", False),
        ("carol", False),
    ]
