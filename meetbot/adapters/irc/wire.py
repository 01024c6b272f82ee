"""The receive path's fast lane: channel chat parsed by one regular expression.

jaraco's `ServerConnection._process_line` spends ~10 us on every line (an `all_raw_messages`
event, the RFC 1459 regex, NickMask, Arguments, Tag and CTCP parsing, a second event, two
dispatches through the reactor). Nearly every line a logging bot receives is the same shape:
`@tags :nick!user@host PRIVMSG #channel :text`. `FastConnection` recognises exactly that shape
(PRIVMSG or NOTICE, to a channel, no CTCP or low-level quoting in the text) and hands it straight
to the adapter; every other line, and any line whose shape it is not sure of, takes jaraco's path.
tests/irc/test_fast_path.py holds the two paths to the same result; bench/irc_receive.py times them.

Given the same lines, the adapter sees what jaraco's path would give it, with one exception: a tag
value ending in a lone backslash loses it (IRCv3 says so; jaraco keeps it). jaraco's debug log
(logger `irc.client`) has no per-event line for the lines taken here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import irc.client_aio  # type: ignore[import-untyped]
from jaraco.stream.buffer import LenientDecodingLineBuffer  # type: ignore[import-untyped]

from meetbot.events import LineKind

log = logging.getLogger(__name__)
_jaraco_log = logging.getLogger(irc.client_aio.__name__)  # logs every line it reads at DEBUG

# The lines the fast path takes, and only those; whatever this does not match goes to jaraco.
# Each part is chosen so that jaraco would read the line the same way:
# - `@tags ` (not empty: jaraco reads `@ ` as no tags) or none, then exactly one space;
# - `:nick!user@host`: jaraco's nick is the prefix up to its first `!`;
# - exactly one space, PRIVMSG or NOTICE, one space;
# - a target that jaraco's is_channel() accepts (`#&+!`, whatever CHANTYPES says, as for its
#   `pubmsg`) and that is one word: jaraco splits its middle arguments at any whitespace (\S is
#   the same notion of whitespace as str.split()), and its target ends at the first ` :`;
# - the text: no \x01 (CTCP, which jaraco splits into several events wherever it appears) and
#   no \x10 (CTCP low-level quoting, which jaraco unquotes).
_CHAT = re.compile(r"(?:@([^ ]+) )?:([^ !]+)![^ @]*@[^ ]* (PRIVMSG|NOTICE) ([#&+!]\S*) :([^\x01\x10]*)\Z")
_KINDS = {"PRIVMSG": LineKind.SAY, "NOTICE": LineKind.NOTICE}

# IRCv3 message-tags: `\:` `\s` `\\` `\r` `\n`; any other escaped character stands for itself, and
# a lone backslash at the end is dropped.
_TAG_ESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n", "": ""}
_TAG_ESCAPE = re.compile(r"\\(.?)", re.DOTALL)


def _unescape(match: re.Match[str]) -> str:
    char = match.group(1)
    return _TAG_ESCAPES.get(char, char)


def parse_tags(raw: str) -> dict[str, str]:
    """`time=...;account=alice;draft/x` -> {'time': ..., 'account': 'alice', 'draft/x': ''}: what
    `tags_of` makes of jaraco's tags, except that jaraco keeps a lone trailing backslash."""
    tags: dict[str, str] = {}
    if "\\" in raw:
        for item in raw.split(";"):
            key, _, value = item.partition("=")
            tags[key] = _TAG_ESCAPE.sub(_unescape, value)
    else:  # nearly always: nothing to unescape
        for item in raw.split(";"):
            key, _, value = item.partition("=")
            tags[key] = value
    return tags


# channel, nick, text, kind, tags
ChatHandler = Callable[[str, str, str, LineKind, dict[str, str]], None]


class FastConnection(irc.client_aio.AioConnection):  # type: ignore[misc]
    """An AioConnection that gives channel PRIVMSG/NOTICE lines to `on_chat` without building
    jaraco's events. `on_raw` stands for the `all_raw_messages` event of those lines (the
    adapter's receive time for its watchdog); other lines still produce that event as before."""

    fast_path = True  # off: every line through jaraco (the benchmark and the tests compare both)
    # jaraco's default decodes strictly: one line in Latin-1 or CP1252 (common on IRC) raised out
    # of data_received and asyncio dropped the link. A line that is not UTF-8 is read as Latin-1.
    buffer_class = LenientDecodingLineBuffer
    on_chat: ChatHandler | None = None  # None until attach(): every line through jaraco
    on_raw: Callable[[], None]

    def attach(self, on_raw: Callable[[], None], on_chat: ChatHandler) -> None:
        self.on_raw = on_raw
        self.on_chat = on_chat

    def process_data(self, new_data: bytes) -> None:
        """jaraco's, minus its per-line costs: one decode for all complete lines of a read
        instead of one per line (UTF-8 never puts CR or LF inside a character, so splitting
        after decoding finds the same lines). A read that does not decode, a buffer that is
        not the lenient one, or debug logging (jaraco logs every line) take its way."""
        buffer = self.buffer
        if (
            not self.fast_path
            or type(buffer) is not LenientDecodingLineBuffer
            or _jaraco_log.isEnabledFor(logging.DEBUG)
        ):
            super().process_data(new_data)
            return
        data = buffer.buffer + new_data
        end = data.rfind(b"\n") + 1
        buffer.buffer = data[end:]  # the unfinished line, as jaraco's buffer keeps it
        if not end:
            return
        try:
            text = data[:end].decode("utf-8")
        except UnicodeDecodeError:
            # Some line is not UTF-8: jaraco's way decodes line by line (that one as Latin-1).
            buffer.buffer = data
            super().process_data(b"")
            return
        # jaraco's buffer splits at \r?\n: drop one CR before each LF, then split at LF.
        lines = text.replace("\r\n", "\n").split("\n")
        on_chat = self.on_chat
        if on_chat is None or not self.real_server_name:
            for line in lines:
                if line:
                    self._process_line(line)
            return
        # One receive time for the whole read stands for the all_raw_messages of the lines taken
        # below (the others still have theirs): they all arrived at this moment.
        self.on_raw()
        take = self._take
        for line in lines:
            if line and not take(line, on_chat):
                super()._process_line(line)

    def _process_line(self, line: str) -> None:
        """Where jaraco's own process_data hands each line (and ours, until registration)."""
        on_chat = self.on_chat
        # real_server_name: jaraco takes it from the first line with a prefix; until then, its way.
        if on_chat is not None and self.fast_path and self.real_server_name and self._take(line, on_chat):
            self.on_raw()
        else:
            super()._process_line(line)

    def _take(self, line: str, on_chat: ChatHandler) -> bool:
        """Hands `line` to `on_chat` if it is channel chat of the shape _CHAT describes."""
        match = _CHAT.match(line)
        if match is None:
            return False
        raw_tags, nick, command, target, text = match.groups()
        try:
            on_chat(target, nick, text, _KINDS[command], parse_tags(raw_tags) if raw_tags else {})
        except Exception:
            # As the adapter's jaraco handler does: one bad line must not make asyncio drop the link.
            log.exception("%s: handling %s to %s failed", self.server, command, target)
        return True
