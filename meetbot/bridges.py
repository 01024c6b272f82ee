"""Bridged meeting places: an IRC channel and a Matrix room joined by a bridge are one place.

Pure (no I/O): given a line an adapter saw, decide whether the core gets it, and under which
room. The rules, in order:

- Lines outside a bridged pair, and private messages, pass unchanged.
- A bridge's copy of a line (an IRC puppet like `alice[m]`, a relay line `<alice> text` from the
  relay nick, a Matrix puppet like `@irc_libera_bob:example.org`, the bridge's own account) is
  dropped: the bot hears the original on the side it was written on, with its real sender
  (Matrix user id, IRC account), event id, edits and threads. Where the bot is not on the other
  side at all, the copy is the only one there is: it passes, under the author the bridge names.
- A line the bot itself said on this place coming back through any path is dropped (never
  logged twice, never run as a command), even if the bridge's puppet escapes the patterns.
- A late duplicate is dropped: the same event id again, or the same text from the same person
  (by nick likeness) already taken from the *other* side within `duplicate_window` (a bridge
  re-sending after a reconnect under a nick the patterns miss, e.g. `alice[m]_`).
- Everything else passes, mapped to the place's canonical room, the IRC side's RoomRef: meeting
  state, logs and minutes are keyed by it whichever side people type on. The sender is kept.

What the core says to the canonical room goes to the `reply_on` side only; the bridge carries it.
"""

from __future__ import annotations

import re
import unicodedata
from collections import OrderedDict, deque
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from meetbot.config.schema import RELAY_PATTERN, BridgeSettings
from meetbot.events import Identity, LineKind, MessageIn, Outbound, RoomRef, Say

Side = Literal["irc", "matrix"]

# How much each place remembers; a bounded window keeps memory flat in a busy room.
_RECENT_LINES = 500
_NATIVE_IDS = 2000
_SHORTEST_COPY = 8
# IRC formatting (bold, colour with its digits, reset, reverse, italics, strike, underline,
# monospace) and the zero-width characters bridges put in names to avoid pinging people.
_IRC_FORMATTING = re.compile(r"\x03(?:\d{1,2}(?:,\d{1,2})?)?|[\x02\x0f\x16\x1d\x1e\x1f\x11]")
_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")
_NOT_NAME = re.compile(r"[\W_]+")


def normalize_text(text: str) -> str:
    """What two copies of one line still share after a bridge carried one of them."""
    text = _ZERO_WIDTH.sub("", _IRC_FORMATTING.sub("", unicodedata.normalize("NFC", text)))
    return " ".join(text.split()).casefold()


def _name_key(name: str) -> str:
    # `alice[m]`, `Alice`, `@alice:example.org`'s localpart and `a\u200blice` all become `alicem`
    # or `alice`: compared by prefix below.
    return _NOT_NAME.sub("", _ZERO_WIDTH.sub("", name).casefold())


def _alike(names: Iterable[str], others: Iterable[str]) -> bool:
    keys = [key for key in map(_name_key, names) if len(key) >= 2]
    other_keys = [key for key in map(_name_key, others) if len(key) >= 2]
    return any(a.startswith(b) or b.startswith(a) for a in keys for b in other_keys)


@dataclass(frozen=True, slots=True)
class Place:
    """One bridged pair, compiled from its settings."""

    irc: RoomRef
    matrix: RoomRef  # the configured room: an id, or an alias until resolved
    reply_on: Side = "irc"
    irc_puppets: re.Pattern[str] | None = None
    matrix_puppets: re.Pattern[str] | None = None
    relay_nicks: frozenset[str] = frozenset()  # casefolded
    relay_pattern: re.Pattern[str] = field(default_factory=lambda: re.compile(RELAY_PATTERN))
    duplicate_window: timedelta = timedelta(seconds=120)

    @property
    def canonical(self) -> RoomRef:
        # The IRC side: a channel name is stable (a Matrix alias may move to another room id)
        # and, without a meeting name, names the minutes as an IRC meeting would.
        return self.irc

    @classmethod
    def from_settings(cls, settings: BridgeSettings) -> Place:
        irc_puppets, matrix_puppets = settings.puppets("irc"), settings.puppets("matrix")
        relay = settings.relay
        return cls(
            irc=RoomRef(settings.irc.network, settings.irc.channel),
            matrix=RoomRef(settings.matrix.network, settings.matrix.room),
            reply_on=settings.reply_on,
            irc_puppets=re.compile(irc_puppets) if irc_puppets else None,
            matrix_puppets=re.compile(matrix_puppets) if matrix_puppets else None,
            relay_nicks=frozenset(nick.casefold() for nick in relay.nicks) if relay else frozenset(),
            relay_pattern=re.compile(relay.pattern if relay else RELAY_PATTERN),
            duplicate_window=timedelta(seconds=settings.duplicate_window),
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """What becomes of one line: `message` is what the core gets (None: dropped), `reason` why."""

    message: MessageIn | None
    reason: str


@dataclass(frozen=True, slots=True)
class _Copy:
    """A line a bridge posted for someone on the other side."""

    author: str | None  # their nick/name as the bridge gives it; None: the bridge's own line
    text: str


@dataclass(frozen=True, slots=True)
class _Seen:
    at: datetime
    side: Side
    names: tuple[str, ...]
    text: str


@dataclass
class _PlaceState:
    place: Place
    matrix_room: RoomRef
    bot_lines: deque[tuple[datetime, str]] = field(default_factory=lambda: deque(maxlen=_RECENT_LINES))
    lines: deque[_Seen] = field(default_factory=lambda: deque(maxlen=_RECENT_LINES))
    native_ids: OrderedDict[str, None] = field(default_factory=OrderedDict)

    @property
    def reply_room(self) -> RoomRef:
        return self.place.irc if self.place.reply_on == "irc" else self.matrix_room


class Bridges:
    """Every bridged place of one bot process, and what it remembers of their recent lines.

    A bridge's copies are dropped only while the bot hears the original side directly: `hears`
    answers that per room, live (the bot may be on both networks and still lose one for a while;
    then the copies are all there is of that side, and are taken). `present` is the static
    form: the networks the bot is configured on, always taken as heard."""

    def __init__(
        self,
        places: Iterable[Place] = (),
        present: Collection[str] = (),
        hears: Callable[[RoomRef], bool] | None = None,
    ) -> None:
        networks = frozenset(present)
        self._hears = hears or (lambda room: room.network in networks)
        self._places = [_PlaceState(place, place.matrix) for place in places]
        self._by_room: dict[RoomRef, tuple[_PlaceState, Side]] = {}
        for state in self._places:
            self._by_room[state.place.irc] = (state, "irc")
            self._by_room[state.place.matrix] = (state, "matrix")

    @classmethod
    def from_settings(
        cls,
        bridges: Iterable[BridgeSettings],
        present: Collection[str] = (),
        hears: Callable[[RoomRef], bool] | None = None,
    ) -> Bridges:
        return cls((Place.from_settings(bridge) for bridge in bridges), present, hears)

    def __bool__(self) -> bool:
        return bool(self._places)

    # -- rooms ----------------------------------------------------------------------------------

    def unresolved(self) -> list[RoomRef]:
        """Matrix sides configured by alias and not resolved yet (adapters report room ids)."""
        return [s.matrix_room for s in self._places if s.matrix_room.room.startswith("#")]

    def resolved(self, alias: RoomRef, room_id: str) -> None:
        """The alias `alias` names room `room_id`: lines from that room belong to the place."""
        for state in self._places:
            if state.matrix_room == alias:
                state.matrix_room = RoomRef(alias.network, room_id)
                self._by_room[state.matrix_room] = (state, "matrix")

    def canonical(self, room: RoomRef) -> RoomRef:
        found = self._by_room.get(room)
        return found[0].place.canonical if found else room

    # -- incoming -------------------------------------------------------------------------------

    def decide(self, message: MessageIn) -> Decision:
        found = None if message.private else self._by_room.get(message.room)
        if found is None:
            return Decision(message, "not bridged")
        state, side = found
        place = state.place
        mapped = replace(message, room=place.canonical)
        if message.from_self:
            return Decision(mapped, "the bot's own line")
        copy = self._copy_of(place, side, message)
        if copy is not None:
            other = state.matrix_room if side == "irc" else place.irc
            if self._hears(other):
                return Decision(None, "bridged copy")
            if copy.author is None or self._said_by_bot(state, message.at, copy.text):
                return Decision(None, "the bridge's own line")
            # The bot does not hear the other side (not on it, or cut off for now): this copy is
            # all there is of the line. Once that side is back, its late copies are dropped below.
            sender = Identity(other.network, copy.author)
            mapped = replace(mapped, sender=sender, text=copy.text, privileged=False)
        elif message.kind.is_speech and self._said_by_bot(state, message.at, message.text):
            return Decision(None, "echo of the bot")
        if message.native_id is not None:
            if message.native_id in state.native_ids:
                return Decision(None, "late duplicate")
            state.native_ids[message.native_id] = None
            while len(state.native_ids) > _NATIVE_IDS:
                state.native_ids.popitem(last=False)
        if mapped.kind.is_speech:
            seen = _Seen(mapped.at, side, _names(mapped.sender), normalize_text(mapped.text))
            # Short lines (`+1`, `yes`) are said by many people at once: never taken for copies.
            if len(seen.text) >= _SHORTEST_COPY and self._seen_on_other_side(state, seen):
                return Decision(None, "late duplicate")
            state.lines.append(seen)
        return Decision(mapped, "bridged place")

    def _copy_of(self, place: Place, side: Side, message: MessageIn) -> _Copy | None:
        if side == "irc":
            nick = message.sender.nick
            if nick.casefold() in place.relay_nicks:
                match = place.relay_pattern.match(message.text)
                if match is None or not message.kind.is_speech:
                    return _Copy(None, message.text)
                return _Copy(match["nick"], match["text"])
            match = place.irc_puppets.match(nick) if place.irc_puppets else None
            if match is not None:
                return _Copy(_group(match, "nick") or nick, message.text)
            return None
        user = message.sender.account or message.sender.nick
        match = place.matrix_puppets.match(user) if place.matrix_puppets else None
        if match is None:
            return None
        # A puppet pattern without a `nick` match is the bridge's own account.
        return _Copy(_group(match, "nick"), message.text)

    def _said_by_bot(self, state: _PlaceState, at: datetime, text: str) -> bool:
        line = normalize_text(text)
        if not line:
            return False
        window = state.place.duplicate_window
        # IRC cuts long lines and the bridge may re-wrap them: a long piece of a bot line counts.
        return any(
            abs(at - said) <= window and (line == own or (len(line) >= 20 and line in own))
            for said, own in state.bot_lines
        )

    def _seen_on_other_side(self, state: _PlaceState, seen: _Seen) -> bool:
        window = state.place.duplicate_window
        return bool(seen.text) and any(
            earlier.side != seen.side
            and earlier.text == seen.text
            and abs(seen.at - earlier.at) <= window
            and _alike(seen.names, earlier.names)
            for earlier in state.lines
        )

    # -- outgoing -------------------------------------------------------------------------------

    def outbound(self, message: Outbound, now: datetime) -> Outbound:
        """What the core says to a place goes to its reply side; whatever the bot says in a
        place is remembered, so its copy coming back through the bridge is recognised."""
        found = self._by_room.get(message.room)
        if found is None:
            return message
        state, _ = found
        if isinstance(message, Say):
            lines = (normalize_text(line) for line in message.text.split("\n"))
            state.bot_lines.extend((now, line) for line in lines if line)
        if message.room == state.place.canonical:
            reply_room = state.reply_room
            other = state.matrix_room if reply_room == state.place.irc else state.place.irc
            if not self._hears(reply_room) and self._hears(other):
                reply_room = other  # the reply side is cut off: the bridge carries it the other way
            return replace(message, room=reply_room)
        return message

    def members(self, room: RoomRef, lookup: Callable[[RoomRef], Sequence[Identity]]) -> Sequence[Identity]:
        """Who is in a place: the people on both sides, each once, by their own identity."""
        found = self._by_room.get(room)
        if found is None or room != found[0].place.canonical:
            return lookup(room)
        state = found[0]
        people: list[Identity] = []
        sides: tuple[tuple[Side, RoomRef], ...] = (("irc", state.place.irc), ("matrix", state.matrix_room))
        for side, side_room in sides:
            for member in lookup(side_room):
                person = self._member(state.place, side, member)
                if person is not None and person not in people:
                    people.append(person)
        return people

    def _member(self, place: Place, side: Side, member: Identity) -> Identity | None:
        probe = MessageIn(RoomRef(member.network, ""), member, "", datetime.min, LineKind.JOIN)
        copy = self._copy_of(place, side, probe)
        if copy is None:
            return member
        other = place.matrix if side == "irc" else place.irc
        if self._hears(other) or copy.author is None:
            return None  # a puppet of someone the other side lists, or the bridge itself
        return Identity(other.network, copy.author)


def _group(match: re.Match[str], name: str) -> str | None:
    return match.groupdict().get(name) or None


def _names(sender: Identity) -> tuple[str, ...]:
    names = [sender.nick]
    if sender.account and sender.account.startswith("@"):
        names.append(sender.account[1:].partition(":")[0])  # a Matrix user id's localpart
    return tuple(names)
