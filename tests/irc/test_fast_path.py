"""The receive fast path (wire.FastConnection) against jaraco's path: the same raw bytes through
the protocol's data_received, once with the fast path on and once off, must give the adapter the
same MessageIn events and leave it (and the connection) in the same state. No server needed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from meetbot.adapters.irc import IrcAdapter
from meetbot.adapters.irc.wire import FastConnection, parse_tags
from meetbot.clock import FakeClock
from meetbot.config.schema import IrcNetwork
from meetbot.events import LineKind, MessageIn
from tests.irc.offline import RecordingTransport, offline_connection

ALL_CAPS = (
    "account-notify account-tag batch echo-message extended-join message-tags multi-prefix server-time "
    "userhost-in-names"
)
T = "@time=2026-11-21T16:00:00.123Z"  # after our JOIN (15:59)


def _registration(caps: str) -> list[str]:
    return [
        f":irc.test CAP meetbot ACK :{caps}",
        ":irc.test 001 meetbot :Welcome to the test network",
        ":irc.test 005 meetbot CHANTYPES=# PREFIX=(ov)@+ WHOX :are supported by this server",
        ":irc.test 376 meetbot :End of message of the day.",
        "@time=2026-11-21T15:59:00.000Z :meetbot!meetbot@bot.host JOIN #chan * :meetbot",
        "@time=2026-11-21T15:59:00.000Z :meetbot!meetbot@bot.host JOIN #Side * :meetbot",
        ":irc.test 353 meetbot = #chan :@meetbot @op!op@host +voice!v@host alice!alice@host bob!b@h",
        ":irc.test 366 meetbot #chan :End of /NAMES list.",
        ":irc.test 354 meetbot 71 #chan host alice alice",
        ":alice!alice@host ACCOUNT alice",
    ]


# (raw line, whether the fast path takes it). Bytes that are not UTF-8: their own test below.
LINES: list[tuple[bytes, bool]] = [
    # the common line, and its variations the fast path takes
    (f"{T};account=alice;msgid=abc :alice!alice@host PRIVMSG #chan :hello world".encode(), True),
    (b":alice!alice@host PRIVMSG #chan :no tags at all", True),
    (f"{T};msgid=m2 :bob!b@h PRIVMSG #chan :no account tag".encode(), True),
    (f"{T};account=alice :alice!alice@host NOTICE #chan :a channel notice".encode(), True),
    (f"{T};account=alice :alice!alice@host PRIVMSG #CHAN :the server's spelling".encode(), True),
    (f"{T};account=alice :alice!alice@host PRIVMSG #side :configured as #Side".encode(), True),
    (
        b"@time=2026-11-21T16:00:01.000Z;account=al\\:i\\sce\\\\x\\r\\n\\b;msgid=a\\sb :alice!alice@host "
        b"PRIVMSG #chan :escaped tags",
        True,
    ),
    (f"{T};account=alice;+draft/reply=;flag;=v :alice!alice@host PRIVMSG #chan :odd tags".encode(), True),
    (f"{T};account=alice :alice!alice@host PRIVMSG #chan :trailing spaces   ".encode(), True),
    (f"{T};account=alice :alice!alice@host PRIVMSG #chan :".encode(), True),  # empty text
    (f"{T};account=alice :alice!alice@host PRIVMSG #chan ::colons: inside :text".encode(), True),
    (f"{T};account=alice :alice!alice@host PRIVMSG #chan :\x02bold\x02 \x0304red\x03 plain".encode(), True),
    (f"{T};account=alice :alice!alice@host PRIVMSG #chan :a\rcarriage return".encode(), True),
    ("@time=2026-11-21T16:00:02.000Z :alice!alice@host PRIVMSG #chan :héllo wörld 😀".encode(), True),
    (f"{T};account=alice :alice!alice@host PRIVMSG #other :a channel we are not in".encode(), True),
    (f"{T};account=alice :alice!alice@host PRIVMSG &local :another channel type".encode(), True),
    (f"{T};account=op :op!op@host PRIVMSG #chan :an operator speaks".encode(), True),
    (f"{T} :voice!v@host PRIVMSG #chan :a voiced person".encode(), True),
    (f"{T};msgid=echo :meetbot!meetbot@bot.host PRIVMSG #chan :our own echo".encode(), True),
    (b"@time=garbage;account=alice :alice!alice@host PRIVMSG #chan :a bad time", True),
    (b"@time=2026-11-21T17:00:05.000+01:00 :alice!alice@host PRIVMSG #chan :an offset time", True),
    (b"@time=2026-11-21T15:30:00.000Z;account=bob :bob!b@h PRIVMSG #chan :said before our join", True),
    (b"@time=2026-11-21T15:58:59.500Z :bob!b@h PRIVMSG #chan :within the slack of our join", True),
    (f"{T};account=bob :a@b!u@h PRIVMSG #chan :an @ in the nick".encode(), True),
    (f"{T} :x!@ PRIVMSG #chan :empty user and host".encode(), True),
    (f"{T};account=alice :alice!alice@host PRIVMSG #chan\x00x :nul in the target".encode(), True),
    # a history batch: replayed lines, a line outside it, the end
    (b":irc.test BATCH +h1 chathistory #chan", False),
    (b"@batch=h1;time=2026-11-21T15:00:00.000Z;msgid=old :carol!c@h PRIVMSG #chan :from the past", True),
    (b"@batch=h1;time=2026-11-21T15:00:01.000Z;account=carol :carol!c@h NOTICE #chan :past notice", True),
    (b"@batch=zz;time=2026-11-21T16:00:09.000Z :carol!c@h PRIVMSG #chan :unknown batch", True),
    (b":irc.test BATCH -h1", False),
    # what jaraco's path must keep handling
    (f"{T};account=alice :alice!alice@host PRIVMSG #chan :\x01ACTION waves\x01".encode(), False),
    (f"{T};account=alice :alice!alice@host PRIVMSG #chan :\x01ACTION no closing".encode(), False),
    (f"{T};account=alice :alice!alice@host PRIVMSG #chan :hi \x01ACTION mid\x01 text".encode(), False),
    (f"{T};account=alice :alice!alice@host PRIVMSG #chan :low\x10nlevel \x100quote".encode(), False),
    (f"{T};account=alice :alice!alice@host PRIVMSG meetbot :a private message".encode(), False),
    (f"{T};account=alice :alice!alice@host NOTICE meetbot :a private notice".encode(), False),
    (f"{T};account=alice :alice!alice@host PRIVMSG meetbot :\x01VERSION\x01".encode(), False),
    (f"{T};account=alice :alice!alice@host PRIVMSG @#chan :statusmsg".encode(), False),
    (b":alice PRIVMSG #chan :a nick alone", False),
    (b":irc.test PRIVMSG #chan :a server", False),
    (b":alice!alice PRIVMSG #chan :no host", False),
    (b":!u@h PRIVMSG #chan :an empty nick", False),
    (b":alice!alice@host  PRIVMSG #chan :two spaces after the prefix", False),
    (b":alice!alice@host PRIVMSG  #chan :two spaces before the target", False),
    (b":alice!alice@host PRIVMSG #chan  :two spaces before the text", False),
    (b":alice!alice@host PRIVMSG #chan word", False),
    (b":alice!alice@host PRIVMSG #chan two words", False),
    (b":alice!alice@host PRIVMSG #chan\tx :a tab in the target", False),
    ("@time=2026-11-21T16:00:03.000Z :alice!alice@host PRIVMSG #chan\xa0x :nbsp".encode(), False),
    (b":alice!alice@host privmsg #chan :lower case command", False),
    (b"@ :alice!alice@host PRIVMSG #chan :empty tags", False),
    (b"@time=2026-11-21T16:00:04.000Z  :alice!alice@host PRIVMSG #chan :two spaces after tags", False),
    (b"PRIVMSG #chan :no prefix", False),
    (b":alice!alice@host TOPIC #chan :\x02a topic", False),
    (b":alice!alice@host NICK alicia", False),
    (f"{T};account=alice :alicia!alice@host PRIVMSG #chan :renamed".encode(), True),
    (b":bob!b@h PART #chan :bye", False),
    (f"{T} :bob!b@h PRIVMSG #chan :parted but still talking".encode(), True),
    (b":meetbot!meetbot@bot.host NICK meetbot2", False),
    (f"{T};msgid=echo2 :meetbot2!meetbot@bot.host PRIVMSG #chan :our echo under a new nick".encode(), True),
    (b"PING :irc.test", False),
]


@dataclass
class _Bot:
    adapter: IrcAdapter
    conn: FastConnection
    protocol: Any
    seen: list[MessageIn]
    events: list[str]  # jaraco events that reached the adapter
    transport: RecordingTransport

    def feed(self, data: bytes) -> None:
        self.protocol.data_received(data)

    def state(self) -> dict[str, Any]:
        """What the lines may change besides the events, to compare between the paths."""
        adapter, conn = self.adapter, self.conn
        return {
            "accounts": dict(adapter._tracker.accounts),
            "members": {
                name: {key: (m.nick, m.account, sorted(m.modes)) for key, m in channel.members.items()}
                for name, channel in adapter._tracker.channels.items()
            },
            "heard_until": dict(adapter._heard_until),
            "backfilled": adapter._backfilled,
            "batches": dict(adapter._batches),
            "bot_nick": adapter.bot_nick,
            "real_server_name": conn.real_server_name,
            "real_nickname": conn.real_nickname,
            "pinged": adapter._pinged,
            "buffer": conn.buffer.buffer,
            "written": b"".join(self.transport.written),
        }


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def _bot(loop: asyncio.AbstractEventLoop, *, fast: bool, caps: str = ALL_CAPS, register: bool = True) -> _Bot:
    network = IrcNetwork.model_validate(
        {
            "name": "test",
            "type": "irc",
            "host": "127.0.0.1",
            "nick": "meetbot",
            "channels": ["#chan", {"name": "#Side", "start": "ops"}],
            "ops_are_chairs": True,
        }
    )
    adapter = IrcAdapter(network, FakeClock(datetime(2026, 11, 21, 16, 30, tzinfo=UTC)), version="test")
    seen: list[MessageIn] = []
    events: list[str] = []
    adapter._submit = seen.append
    handle = adapter._on_event

    def spy(conn: Any, event: Any) -> None:
        events.append(event.type)
        handle(conn, event)

    adapter._on_event = spy  # type: ignore[method-assign]
    conn, transport = offline_connection(adapter, loop, fast=fast)
    bot = _Bot(adapter, conn, conn.protocol_class(conn, loop), seen, events, transport)
    if register:
        bot.feed("".join(line + "\r\n" for line in _registration(caps)).encode())
    return bot


def _assert_same(fast: _Bot, slow: _Bot) -> None:
    assert fast.seen == slow.seen
    assert fast.state() == slow.state()


@pytest.mark.parametrize("caps", [ALL_CAPS, ALL_CAPS.replace("account-tag ", "")])
def test_every_line_gives_what_jaracos_path_gives(loop: asyncio.AbstractEventLoop, caps: str) -> None:
    fast, slow = _bot(loop, fast=True, caps=caps), _bot(loop, fast=False, caps=caps)
    _assert_same(fast, slow)
    for raw, takes_it in LINES:
        fast.events.clear()
        before = len(fast.seen)
        fast.adapter._pinged = slow.adapter._pinged = True  # the line must count as traffic
        fast.feed(raw + b"\r\n")
        slow.feed(raw + b"\r\n")
        assert fast.seen[before:] == slow.seen[before:], raw
        assert fast.state() == slow.state(), raw
        assert not fast.adapter._pinged, raw
        # jaraco's all_raw_messages comes for every line it parses, and for no other.
        assert ("all_raw_messages" not in fast.events) is takes_it, (raw, fast.events)
    assert len(fast.seen) > 30  # the lines did reach the core


def test_the_same_bytes_in_any_chunking(loop: asyncio.AbstractEventLoop) -> None:
    """Lines split across reads, several per read, LF or CRLF endings, a lone CR before the LF."""
    stream = b"".join(raw + (b"\n" if i % 3 else b"\r\n") for i, (raw, _) in enumerate(LINES))
    stream += f"{T} :alice!alice@host PRIVMSG #chan :cr cr\r\r\n".encode()
    slow = _bot(loop, fast=False)
    slow.feed(stream)
    for size in (1, 7, 100, 4096, len(stream)):
        fast = _bot(loop, fast=True)
        for start in range(0, len(stream), size):
            fast.feed(stream[start : start + size])
        _assert_same(fast, slow)
    assert slow.seen[-1].text == "cr cr\r"


def test_a_line_that_is_not_utf8_is_read_as_latin1_and_the_link_stays(
    loop: asyncio.AbstractEventLoop,
) -> None:
    """jaraco's strict decoding raised at such a line, out of data_received, and asyncio dropped
    the link; the lines of that read after it were lost. Now it is Latin-1, on either path."""
    good = f"{T};account=alice :alice!alice@host PRIVMSG #chan :before".encode()
    bad = f"{T};account=alice :alice!alice@host PRIVMSG #chan :caf\xe9".encode("latin-1")
    after = f"{T};account=alice :alice!alice@host PRIVMSG #chan :after".encode()
    bots = _bot(loop, fast=True), _bot(loop, fast=False)
    for bot in bots:
        bot.feed(good + b"\r\n" + bad + b"\r\n" + after + b"\r\n" + b":bob!b@h PRIVMSG #chan :partial")
        bot.feed(b" line\r\n")
    _assert_same(*bots)
    assert [m.text for m in bots[0].seen] == ["before", "caf\xe9", "after", "partial line"]


def test_lines_before_registration_take_jaracos_path(loop: asyncio.AbstractEventLoop) -> None:
    """jaraco takes real_server_name from the first line with a prefix: until one has come, even
    a chat line goes its way, so that it still does."""
    fast, slow = _bot(loop, fast=True, register=False), _bot(loop, fast=False, register=False)
    line = b":alice!alice@host PRIVMSG #chan :first\r\n"
    fast.feed(line)
    slow.feed(line)
    assert fast.conn.real_server_name == slow.conn.real_server_name == "alice!alice@host"
    assert "all_raw_messages" in fast.events
    _assert_same(fast, slow)


def test_a_failing_handler_is_logged_and_the_link_kept(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    bot = _bot(loop, fast=True)

    def broken(*args: Any) -> None:
        raise RuntimeError("boom")

    bot.conn.on_chat = broken
    bot.feed(f"{T} :alice!alice@host PRIVMSG #chan :one\r\n".encode())  # does not raise
    assert "boom" in caplog.text


def test_tag_unescaping_follows_ircv3() -> None:
    assert parse_tags(r"a=x\:y\sz\\w\rq\nv;b=\b;c;d=;e=end\\") == {
        "a": "x;y z\\w\rq\nv",
        "b": "b",
        "c": "",
        "d": "",
        "e": "end\\",
    }
    # A lone backslash at the end is dropped (jaraco keeps it: the one place the paths differ).
    assert parse_tags("account=alice\\;msgid=x\\") == {"account": "alice", "msgid": "x"}


def test_fast_path_lines_become_the_expected_messages(loop: asyncio.AbstractEventLoop) -> None:
    """Beyond equal to jaraco's: what the common lines become."""
    bot = _bot(loop, fast=True)
    bot.events.clear()
    for raw, _ in LINES[:3]:
        bot.feed(raw + b"\r\n")
    first, untagged, unknown = bot.seen
    assert first.room.room == "#chan"
    assert (first.sender.nick, first.sender.account, first.text) == ("alice", "alice", "hello world")
    assert first.at == datetime(2026, 11, 21, 16, 0, 0, 123000, tzinfo=UTC)
    assert (first.native_id, first.kind, first.backfilled) == ("abc", LineKind.SAY, False)
    # With account-tag, a line without the tag says its sender is not logged in.
    assert untagged.sender.account is None
    assert untagged.at == datetime(2026, 11, 21, 16, 30, tzinfo=UTC)  # no server time: the clock
    assert unknown.sender.account is None
    assert "all_raw_messages" not in bot.events
