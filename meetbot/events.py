"""Protocol-neutral events: what adapters hand to the core and what the core hands back.

Plain frozen dataclasses of plain values, so adapters, plugins and tests share them without
importing any network library.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class RoomRef:
    """A channel or room on one network (`#centos-meeting` on `libera`, `!abc:fedora.im` on `fedora`)."""

    network: str
    room: str


@dataclass(frozen=True, slots=True)
class Identity:
    """Who said something: the account is what permissions go by; the nick is only how they look now.

    `account` is an IRC services account or a Matrix user id. Without one (an unidentified IRC
    user, a replayed log, the console) the identity falls back to the nick, marked with `~`
    so it can never be mistaken for an account of the same name.
    """

    network: str
    nick: str
    account: str | None = None

    @property
    def key(self) -> str:
        if self.account:
            return f"{self.network}:{self.account}"
        return f"{self.network}:~{self.nick.casefold()}"


class LineKind(StrEnum):
    SAY = "say"
    ACTION = "action"  # /me, m.emote
    NOTICE = "notice"
    JOIN = "join"
    PART = "part"
    QUIT = "quit"
    KICK = "kick"
    NICK = "nick"
    TOPIC = "topic"
    # Who was already in the room when the meeting started: text is a JSON list of
    # [nick, account-or-null] pairs, logged by the bot so a rebuild resolves nicks as live did.
    PRESENT = "present"
    # A command the bot ran for someone (e.g. `#topic <next agenda item>` for `#topic next`):
    # nick and sender are that person's, so the rebuild replays it with their rights.
    ON_BEHALF = "on_behalf"
    # A message changed after the fact (Matrix m.replace): text is the new text, `edit_of` the
    # native id of the message it changes. Never runs a command.
    EDIT = "edit"
    # A message withdrawn (Matrix redaction): `edit_of` names it; its text is blanked everywhere.
    REDACT = "redact"

    @property
    def is_speech(self) -> bool:
        return self in (LineKind.SAY, LineKind.ACTION, LineKind.NOTICE)


class Standing(StrEnum):
    """The sender's rank in the room as the platform says (IRC: voice, or operator and above)."""

    NONE = "none"
    VOICED = "voiced"
    OPERATOR = "operator"


class StartPolicy(StrEnum):
    """Who may start meetings in a room (config `start:`)."""

    ANYONE = "anyone"
    VOICED = "voiced"  # voiced people and operators
    OPS = "ops"  # operators
    ACCOUNTS = "accounts"  # only the listed accounts


@dataclass(frozen=True, slots=True)
class StartRule:
    """A room's configured start policy, passed along with its lines by the adapter (which knows
    the room's configuration); the core decides (meetbot.domain.starting). `accounts` may
    always start, whatever the policy."""

    policy: StartPolicy = StartPolicy.ANYONE
    accounts: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class MessageIn:
    """A line seen in a room: speech, or a membership/topic event carried as text."""

    room: RoomRef
    sender: Identity
    text: str
    at: datetime
    kind: LineKind = LineKind.SAY
    native_id: str | None = None
    from_self: bool = False
    # A private message to the bot: `room` is then the conversation, RoomRef(network, sender nick).
    # Never logged and never part of a meeting; only commands that work outside meetings run.
    private: bool = False
    # The native id of the message an EDIT or REDACT line changes.
    edit_of: str | None = None
    # The thread (root message's native id) the message was written in; replies go there too.
    thread: str | None = None
    # The sender's rank on the platform makes them a chair (Matrix power level at or above the
    # configured threshold; IRC channel operator when the network allows it). Stored with the
    # line, so a rebuilt meeting grants the same rights.
    privileged: bool = False
    # False where minutes must not be published from (an end-to-end encrypted room):
    # no meeting may start there.
    loggable: bool = True
    # Said while the bot was away and delivered later by the server (IRC chathistory or +H
    # playback on join), with its original time and id: logged into an open meeting unless
    # already there, and never run as a command (it is the past, and its sender's rights then
    # are unknown).
    backfilled: bool = False
    # The sender's rank in the room when they said it; never a bare nick's claim.
    standing: Standing = Standing.NONE
    # Who may start a meeting in this room; None: anyone.
    start_rule: StartRule | None = None


@dataclass(frozen=True, slots=True)
class Say:
    room: RoomRef
    text: str
    thread: str | None = None  # answer inside this thread (the native id of its root)


@dataclass(frozen=True, slots=True)
class SetTopic:
    room: RoomRef
    topic: str


Outbound = Say | SetTopic
