"""IRC protocol details that need no socket: tags, server-time, CAP, SASL, CTCP, ISUPPORT,
case mapping, line budgets and the reconnect schedule."""

from __future__ import annotations

import base64
import functools
import random
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

# What the adapter asks for when the server offers it. echo-message lets the bot see its own
# lines as the server delivered them (the adapter sets TCP_QUICKACK so this costs no latency).
WANTED_CAPS = (
    "account-notify",
    "account-tag",
    "batch",
    # Lets the adapter ask for what was said while it was away (CHATHISTORY AFTER) on rejoin.
    "draft/chathistory",
    "echo-message",
    "extended-join",
    "message-tags",
    "multi-prefix",
    "server-time",
    "userhost-in-names",
)

LINE_LIMIT = 512  # bytes, including CR LF, excluding tags (IRCv3 tags have their own budget)
# A hostmask we have not seen yet is assumed as long as servers allow: never overflow the line.
MAX_USER = 10
MAX_HOST = 63


def tags_of(raw: Iterable[Mapping[str, str | None]] | None) -> dict[str, str]:
    """jaraco `irc` hands tags as [{'key': k, 'value': v}, ...]; a dict is easier to use."""
    return {tag["key"] or "": tag.get("value") or "" for tag in raw or ()}


def server_time(tags: Mapping[str, str]) -> datetime | None:
    """The `time` tag (`2026-11-21T16:00:00.123Z`) as an aware UTC datetime, if valid."""
    value = tags.get("time")
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)  # Python 3.11 reads the `Z` suffix itself
    except ValueError:
        return None
    if parsed.tzinfo is UTC:
        return parsed  # the usual case, on every line
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_server_time(at: datetime) -> str:
    """The IRCv3 form of a time (`2026-11-21T16:00:00.123Z`), as `time` tags and CHATHISTORY use."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def chathistory_after(channel: str, since: datetime, limit: int) -> str:
    """The draft/chathistory request for what `channel` heard after `since`."""
    return f"CHATHISTORY AFTER {channel} timestamp={format_server_time(since)} {limit}"


_RFC1459 = str.maketrans("[]\\~", "{}|^")


@functools.lru_cache(maxsize=4096)  # a few names, folded several times on every line
def irc_fold(name: str) -> str:
    """Compare nicks and channels the way the server does (rfc1459: `[` equals `{`)."""
    return name.lower().translate(_RFC1459)


def parse_cap_list(text: str) -> dict[str, str]:
    """`sasl=PLAIN,EXTERNAL server-time` -> {'sasl': 'PLAIN,EXTERNAL', 'server-time': ''}."""
    caps: dict[str, str] = {}
    for item in text.split():
        name, _, value = item.partition("=")
        caps[name.lstrip("-~=")] = value
    return caps


def caps_to_request(offered: Mapping[str, str], sasl_mechanism: str | None) -> list[str]:
    wanted = [cap for cap in WANTED_CAPS if cap in offered]
    if sasl_mechanism is not None and "sasl" in offered:
        mechanisms = offered["sasl"]
        # An empty value (CAP 301) does not list mechanisms: try, and let 904/908 tell.
        if not mechanisms or sasl_mechanism in mechanisms.split(","):
            wanted.append("sasl")
    return sorted(wanted)


def sasl_payload(mechanism: str, username: str | None, password: str | None) -> list[str]:
    """AUTHENTICATE arguments: base64 in 400-byte chunks, '+' to end an exact multiple (or empty)."""
    if mechanism == "EXTERNAL":
        return ["+"]
    if username is None or password is None:
        raise ValueError("SASL PLAIN needs a username and a password")
    encoded = base64.b64encode(f"{username}\0{username}\0{password}".encode()).decode()
    chunks = [encoded[i : i + 400] for i in range(0, len(encoded), 400)]
    if not chunks or len(chunks[-1]) == 400:
        chunks.append("+")
    return chunks


@dataclass(frozen=True, slots=True)
class Ctcp:
    command: str
    argument: str


def parse_ctcp(text: str) -> Ctcp | None:
    """`\\x01VERSION\\x01` -> Ctcp('VERSION', ''); plain text -> None. A missing closing
    \\x01 is tolerated, as clients do."""
    if not text.startswith("\x01"):
        return None
    body = text[1:].removesuffix("\x01")
    command, _, argument = body.partition(" ")
    return Ctcp(command.upper(), argument)


def ctcp_answer(ctcp: Ctcp, version: str) -> str | None:
    """The NOTICE text to answer a CTCP query with, or None for queries we leave alone."""
    if ctcp.command == "VERSION":
        return f"\x01VERSION {version}\x01"
    if ctcp.command == "PING":
        # Echo the argument, capped: a PING is for timing, not for making us repeat an essay.
        return f"\x01PING {ctcp.argument[:64]}\x01"
    return None


def action(text: str) -> str:
    return f"\x01ACTION {text}\x01"


@dataclass
class ServerFeatures:
    """The parts of ISUPPORT (005) the adapter uses."""

    prefixes: dict[str, str]  # mode letter -> symbol: {'o': '@', 'v': '+'}
    chantypes: str = "#&"
    whox: bool = False
    linelen: int = LINE_LIMIT
    # CHANMODES groups A,B,C,D: which channel modes take a parameter when set/unset.
    list_modes: str = "beI"
    always_param: str = "k"
    set_param: str = "l"
    # CHATHISTORY=<n>: the most messages one request may return (0: the server sets no limit).
    history_limit: int = 100

    @classmethod
    def default(cls) -> ServerFeatures:
        return cls(prefixes={"o": "@", "v": "+"})

    def load(self, tokens: Iterable[str]) -> None:
        for token in tokens:
            name, _, value = token.partition("=")
            name = name.upper()
            if name == "PREFIX" and value.startswith("(") and ")" in value:
                modes, symbols = value[1:].split(")", 1)
                self.prefixes = dict(zip(modes, symbols, strict=False))
            elif name == "CHANTYPES":
                self.chantypes = value
            elif name == "WHOX":
                self.whox = True
            elif name == "LINELEN" and value.isdigit():
                self.linelen = int(value)
            elif name == "CHATHISTORY" and value.isdigit():
                self.history_limit = int(value) or 1000
            elif name == "CHANMODES":
                groups = [*value.split(","), "", "", ""]
                self.list_modes, self.always_param, self.set_param = groups[0], groups[1], groups[2]

    def is_channel(self, target: str) -> bool:
        return bool(target) and target[0] in self.chantypes


def message_budget(nick: str, user: str | None, host: str | None, command: str, target: str) -> int:
    """Bytes left for the text of one PRIVMSG/NOTICE as the *receivers* get it: the server
    prepends `:nick!user@host ` to what we send, and the whole must fit in 512 with CR LF."""
    prefix = f":{nick}!{user or 'x' * MAX_USER}@{host or 'x' * MAX_HOST} {command} {target} :"
    return LINE_LIMIT - 2 - len(prefix.encode("utf-8"))


def backoff_delays(
    base: float = 1.0, cap: float = 300.0, rand: Callable[[], float] = random.random
) -> Iterator[float]:
    """Exponential backoff with "equal jitter": attempt n waits between half and all of
    min(cap, base * 2**n), so bots that lost the same server do not all return at once."""
    attempt = 0
    while True:
        ceiling = min(cap, base * 2**attempt)
        yield ceiling / 2 + rand() * ceiling / 2
        if ceiling < cap:
            attempt += 1


def alt_nick(configured: str, alternatives: list[str], tried: int) -> str:
    """The nick to try after `tried` refusals: the configured alternatives, then `nick_`, `nick__`."""
    if tried < len(alternatives):
        return alternatives[tried]
    return configured + "_" * (tried - len(alternatives) + 1)
