"""The meeting aggregate: what a meeting is, as rebuilt from its stored lines."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from meetbot.domain.attribution import is_matrix_user_id
from meetbot.domain.votes import Vote, VoteRules
from meetbot.events import Identity, LineKind, RoomRef


class ItemKind(StrEnum):
    """Minutes item types, spelled as MeetBot labels them."""

    TOPIC = "TOPIC"
    INFO = "INFO"
    IDEA = "IDEA"
    ACTION = "ACTION"
    AGREED = "AGREED"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    HELP = "HELP"
    LINK = "LINK"
    VOTE = "VOTE"


@dataclass(slots=True)
class Line:
    """One logged line of a meeting. `seq` numbers lines from 1 and is the log anchor."""

    seq: int
    at: datetime
    kind: LineKind
    nick: str
    sender_key: str
    text: str
    is_bot: bool = False
    native_id: str | None = None
    privileged: bool = False  # the platform made the sender a chair (see MessageIn.privileged)
    edit_of: str | None = None  # for EDIT and REDACT lines: the native id they change
    thread: str | None = None
    # Delivered late by the server (see MessageIn.backfilled): logged, never run, also on rebuild.
    backfilled: bool = False
    # Derived by the engine from later EDIT/REDACT lines, never stored:
    edited: bool = False
    redacted: bool = False


@dataclass(slots=True)
class Item:
    """A minutes entry, created by the command on line `line_seq`."""

    kind: ItemKind
    text: str
    nick: str
    sender_key: str
    at: datetime
    line_seq: int


@dataclass(slots=True)
class Person:
    key: str
    nick: str
    lines: int = 0
    is_bot: bool = False


@dataclass
class Meeting:
    room: RoomRef
    started_at: datetime
    owner_key: str
    owner_nick: str
    id: int | None = None
    ended_at: datetime | None = None
    name: str | None = None  # the series ("team") name; normalised, safe in paths
    title: str | None = None  # MeetBot's "meeting topic", shown in titles
    current_topic: str | None = None
    lurking: bool = False
    restricted: bool = False
    chairs: dict[str, str] = field(default_factory=dict)  # identity key -> nick
    people: dict[str, Person] = field(default_factory=dict)  # identity key -> person
    items: list[Item] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    # nick (casefolded) -> identity key of whoever last used it here; resolves `#chair bob`.
    roster: dict[str, str] = field(default_factory=dict)
    # Who was in the room (present at the start, or joined since): casefolded -> display nick.
    present: dict[str, str] = field(default_factory=dict)
    # Bumped whenever items change, so storage rewrites its projection only then.
    items_revision: int = 0
    open_vote: Vote | None = None
    votes: list[Vote] = field(default_factory=list)  # closed ones, in order
    vote_rules: VoteRules = field(default_factory=VoteRules)

    @property
    def is_open(self) -> bool:
        return self.ended_at is None

    @property
    def series_name(self) -> str:
        """The team name used in file names and schedules: the meeting name, else the channel."""
        return self.name or normalize_name(self.room.room) or "meeting"

    def is_chair(self, key: str) -> bool:
        return key in self.chairs

    def identity_of(self, nick: str) -> str:
        """The identity behind a nick: whoever last used it here (or was present at the start),
        else the bare nick. A bare-nick identity (`network:~nick`) only ever matches someone
        speaking without an account under that nick, so naming an absent nick can't hand
        rights to an account holder who later takes it.

        A Matrix user id (`@bob:example.org`, also what a mention becomes) is that account,
        never looked up as a nick: a display name can be set to anything, someone else's id too."""
        if is_matrix_user_id(nick):
            return self._account_key(nick)
        return self.roster.get(nick.casefold()) or Identity(self.room.network, nick).key

    def _account_key(self, user_id: str) -> str:
        # Seen here, the account's key says its network (a bridged place's canonical room is
        # the IRC side's, its Matrix people are on another network); else this room's network.
        for key in (*self.chairs, *self.people, *self.roster.values()):
            if key.partition(":")[2] == user_id:
                return key
        return Identity(self.room.network, user_id, account=user_id).key

    def _matrix_accounts(self) -> list[str]:
        bots = {key for key, person in self.people.items() if person.is_bot}
        keys = (key for key in (*self.people, *self.chairs, *self.roster.values()) if key not in bots)
        accounts = (key.partition(":")[2] for key in keys)
        return list(dict.fromkeys(account for account in accounts if is_matrix_user_id(account)))

    def attendee_nicks(self) -> list[str]:
        """Everyone who can own an action: speakers, `#nick` additions, chairs, and (unlike
        MeetBot, which could not know) whoever was in the room, silent or not; not the bot.
        Matrix people also by their user id."""
        seen: dict[str, str] = {}
        for person in self.people.values():
            if not person.is_bot:
                seen.setdefault(person.nick.casefold(), person.nick)
        for nick in [*self.chairs.values(), *self.present.values()]:
            seen.setdefault(nick.casefold(), nick)
        # Matrix people by id too, so `#action @bob:example.org ...` finds its owner; kept apart
        # from the nicks, as a display name may spell someone else's id.
        names = list(seen.values())
        return names + [user_id for user_id in self._matrix_accounts() if user_id not in names]

    def people_present(self) -> list[Person]:
        """MeetBot's "People present (lines said)": most lines first; a `#nick` entry that later
        spoke under an account is listed once."""
        speaking = {p.nick.casefold() for p in self.people.values() if p.lines}
        present = [p for p in self.people.values() if p.lines or p.nick.casefold() not in speaking]
        return sorted(present, key=lambda p: (-p.lines, p.nick.casefold()))

    def actions(self) -> list[Item]:
        return [item for item in self.items if item.kind is ItemKind.ACTION]


_UNSAFE_NAME_CHARS = re.compile(r"[^a-z0-9_.-]+")


def normalize_name(text: str) -> str:
    """Turn a meeting or channel name into a path-safe series name.

    Lowercase; `#` prefixes dropped; runs of anything outside `[a-z0-9_.-]` become one `_`;
    leading/trailing dots, dashes and underscores are stripped, so the result can never be
    `.`, `..`, hidden, or contain a separator. May return "" for names with nothing usable.
    """
    lowered = text.strip().lstrip("#!&+").casefold()
    cleaned = _UNSAFE_NAME_CHARS.sub("_", lowered)
    cleaned = re.sub(r"\.{2,}", ".", cleaned)
    return cleaned.strip("._-")[:100]
