"""The meeting engine: applies one logged line to a meeting through the plugins' handlers.

Pure: no I/O. The service stores each line first, then calls `apply`; after a restart it
calls `rebuild` with the stored lines, which runs the very same handlers with replies
discarded, so a meeting's whole state (chairs, topic, items, name, lurk) comes back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from meetbot.commands import DEFAULT_PREFIXES, CommandCall, CommandParser
from meetbot.domain.model import ItemKind, Line, Meeting, Person
from meetbot.domain.presence import present_members
from meetbot.events import Identity, LineKind, RoomRef
from meetbot.plugin import (
    ChangeTopic,
    CommandSpec,
    Context,
    Effect,
    Plugin,
    PublishMinutes,
    Reply,
    Role,
    RunTeamCommand,
    Scope,
)

log = logging.getLogger(__name__)


class DuplicateCommandError(ValueError):
    pass


@dataclass
class Outcome:
    effects: list[Effect] = field(default_factory=list)
    items_changed: bool = False
    state_changed: bool = False  # anything storage keeps besides lines (name, title, items, end)
    ended: bool = False
    # The command was turned away before it ran (a refusal, a usage line): nothing changed,
    # so its replies tell the room nothing a crash before its line is stored could contradict.
    turned_away: bool = False

    @property
    def replies(self) -> list[str]:
        return [effect.text for effect in self.effects if isinstance(effect, Reply)]


@dataclass(frozen=True, slots=True)
class MeetingHeader:
    """What storage keeps about a meeting besides its lines."""

    id: int
    room: RoomRef
    started_at: datetime
    owner_key: str
    owner_nick: str


class Engine:
    def __init__(
        self,
        plugins: Iterable[Plugin],
        prefixes: Sequence[str] = DEFAULT_PREFIXES,
        *,
        network_prefixes: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.parser = CommandParser(prefixes)
        # Networks with prefixes of their own (a Matrix account's "#" and "!").
        self._parsers = {network: CommandParser(p) for network, p in (network_prefixes or {}).items()}
        self.plugins = list(plugins)
        self.commands: dict[str, CommandSpec] = {}
        self.claims: dict[str, CommandSpec] = {}
        self.listeners: list[Callable[[Context], None]] = []
        self.end_hooks: list[Callable[[Context], None]] = []
        owners: dict[str, str] = {}
        for plugin in self.plugins:
            self.end_hooks.append(plugin.on_meeting_end)
            for spec in plugin.command_specs():
                for name in spec.names:
                    if name in self.commands:
                        raise DuplicateCommandError(
                            f"#{name} is defined by both {owners[name]} and {plugin.name}"
                        )
                    self.commands[name] = spec
                    owners[name] = plugin.name
                for form in spec.claims:
                    self.claims[form.casefold()] = spec
            self.listeners.extend(plugin.listeners())

    # -- classification (used by the service to decide what to store) --------------------

    def command_for(
        self, text: str, *, typed: bool = True, network: str | None = None
    ) -> tuple[CommandCall, CommandSpec] | None:
        """The command a line runs. Claimed forms (`#topic next` -> #next) apply only to what
        people typed, never to a line the bot ran for them (an agenda item called "next")."""
        call = self._parsers.get(network or "", self.parser).parse(text)
        if call is None:
            return None
        claimed = self.claims.get(f"{call.name} {call.args}".casefold()) if typed else None
        spec = claimed or self.commands.get(call.name)
        return (call, spec) if spec else None

    def starts_meeting(self, text: str, kind: LineKind, network: str | None = None) -> bool:
        found = self.command_for(text, network=network) if kind is LineKind.SAY else None
        return found is not None and found[1].scope is Scope.STARTS

    def command_names(self) -> list[str]:
        return sorted(f"#{name}" for name in self.commands)

    # -- meetings ---------------------------------------------------------------------------

    def new_meeting(self, header: MeetingHeader) -> Meeting:
        return Meeting(
            id=header.id,
            room=header.room,
            started_at=header.started_at,
            owner_key=header.owner_key,
            owner_nick=header.owner_nick,
            chairs={header.owner_key: header.owner_nick},
        )

    def rebuild(self, header: MeetingHeader, lines: Iterable[Line]) -> Meeting:
        meeting = self.new_meeting(header)
        for line in lines:
            self.apply(meeting, line, replaying=True)
        return meeting

    def apply(self, meeting: Meeting, line: Line, *, replaying: bool = False) -> Outcome:
        meeting.lines.append(line)
        self._account(meeting, line)
        outcome = Outcome()
        if line.kind in (LineKind.EDIT, LineKind.REDACT):
            outcome.items_changed = outcome.state_changed = self._amend(meeting, line)
            return outcome
        # Only people's plain speech runs commands (and what the bot ran on their behalf):
        # never the bot's own lines, never /me, never an edit, never a line the server replayed
        # late (a backfilled `#endmeeting` said while the bot was away is history, not an order).
        if line.is_bot or line.backfilled or line.kind not in (LineKind.SAY, LineKind.ON_BEHALF):
            return outcome
        ctx = Context(
            room=meeting.room,
            sender_key=line.sender_key,
            nick=line.nick,
            at=line.at,
            meeting=meeting,
            line=line,
            replaying=replaying,
            commands_help=self.command_names,
            privileged=line.privileged,
        )
        revision, before = meeting.items_revision, _fingerprint(meeting)
        found = self.command_for(line.text, typed=line.kind is LineKind.SAY, network=meeting.room.network)
        if found is not None:
            ctx.command, spec = found
            outcome.turned_away = not self._run(spec, ctx, meeting)
        else:
            for handler in self.listeners:
                _guarded(handler, ctx, None)
        if meeting.ended_at is not None:
            for hook in self.end_hooks:
                _guarded(hook, ctx, None)
            # Whatever the end hooks said comes before the minutes are published and linked.
            ctx.effects.sort(key=lambda effect: isinstance(effect, PublishMinutes))
        outcome.items_changed = meeting.items_revision != revision
        outcome.state_changed = outcome.items_changed or _fingerprint(meeting) != before
        outcome.ended = meeting.ended_at is not None
        outcome.effects = [] if replaying else self._visible(meeting, ctx.effects)
        return outcome

    def run_outside_meeting(
        self, room: RoomRef, sender: Identity, text: str, at: datetime, *, private: bool = False
    ) -> Outcome:
        """Commands that also work with no meeting open (`#commands`, later `#agenda`)."""
        found = self.command_for(text, network=room.network)
        if found is None or found[1].scope is not Scope.ANYTIME:
            return Outcome()
        call, spec = found
        ctx = Context(
            room=room,
            sender_key=sender.key,
            nick=sender.nick,
            at=at,
            meeting=None,
            line=None,
            command=call,
            commands_help=self.command_names,
            private=private,
        )
        if spec.needs_args and not call.args:
            ctx.reply(f"Usage: {spec.usage}")
        elif spec.role is Role.CHAIR:
            ctx.reply(f"{sender.nick}: #{spec.name} is for the chairs of a running meeting.")
        else:
            self._call(spec, ctx)
        return Outcome(effects=list(ctx.effects))  # a copy: async handlers append to ctx.effects later

    # -- internals ----------------------------------------------------------------------------

    def _run(self, spec: CommandSpec, ctx: Context, meeting: Meeting) -> bool:
        """Whether the command ran (False: refused or without its arguments)."""
        if spec.role is Role.CHAIR and not ctx.is_chair():
            chairs = ", ".join(sorted(meeting.chairs.values(), key=str.casefold))
            ctx.reply(f"{ctx.nick}: #{spec.name} is for the meeting chairs ({chairs}); nothing changed.")
            return False
        if spec.needs_args and not ctx.args:
            ctx.reply(f"Usage: {spec.usage}")
            return False
        self._call(spec, ctx)
        return True

    @staticmethod
    def _call(spec: CommandSpec, ctx: Context) -> None:
        if spec.is_async:
            ctx.effects.append(RunTeamCommand(spec.handler, ctx))  # type: ignore[arg-type]
        else:
            _guarded(spec.handler, ctx, f"#{spec.name}")  # type: ignore[arg-type]

    def _amend(self, meeting: Meeting, line: Line) -> bool:
        """Apply an edit or redaction to the line it names and to the item that line created.
        Returns whether items changed."""
        target = next((old for old in reversed(meeting.lines) if old.native_id == line.edit_of), None)
        if target is None or target is line:
            return False
        if line.kind is LineKind.REDACT:
            target.text, target.redacted = "", True
            kept = [item for item in meeting.items if item.line_seq != target.seq]
        else:
            old_command = self.command_for(target.text, network=meeting.room.network)
            target.text, target.edited = line.text, True
            kept = []
            for item in meeting.items:
                if item.line_seq == target.seq:
                    new_command = self.command_for(line.text, network=meeting.room.network)
                    if old_command is None:  # an item a listener made from the whole line
                        item.text = line.text.strip()
                    elif new_command is not None and new_command[1] is old_command[1] and new_command[0].args:
                        item.text = new_command[0].args
                    else:
                        continue  # the edit took the command away: so goes its item
                kept.append(item)
        changed = kept != meeting.items or line.kind is LineKind.EDIT
        if changed:
            meeting.items = kept
            meeting.items_revision += 1
            topics = [item.text for item in kept if item.kind is ItemKind.TOPIC]
            meeting.current_topic = topics[-1] if topics else None
        return changed

    @staticmethod
    def _visible(meeting: Meeting, effects: list[Effect]) -> list[Effect]:
        # `#lurk`: keep logging, stop talking and stop touching the channel topic.
        # Always a new list: async handlers append their replies to the context's list later.
        if meeting.lurking:
            return [e for e in effects if not isinstance(e, Reply | ChangeTopic)]
        return list(effects)

    @staticmethod
    def _account(meeting: Meeting, line: Line) -> None:
        """Track who is here: line counts per identity, and the nick each identity uses."""
        if line.kind is LineKind.NICK:
            _follow_nick_change(meeting, line)
            return
        if line.kind is LineKind.PRESENT:
            for nick, account in present_members(line.text):
                meeting.roster[nick.casefold()] = Identity(meeting.room.network, nick, account).key
                meeting.present[nick.casefold()] = nick
            return
        meeting.roster[line.nick.casefold()] = line.sender_key
        if line.kind is LineKind.JOIN:
            meeting.present[line.nick.casefold()] = line.nick
        if line.kind.is_speech:
            person = meeting.people.get(line.sender_key)
            if person is None:
                person = meeting.people[line.sender_key] = Person(line.sender_key, line.nick)
            person.nick = line.nick
            person.lines += 1
            person.is_bot = person.is_bot or line.is_bot


def _guarded(handler: Callable[[Context], None], ctx: Context, name: str | None) -> None:
    """A plugin bug must not stop a room, nor stop a meeting being rebuilt from its lines (the
    same line fails the same way then): log it, say so once, carry on."""
    try:
        handler(ctx)
    except Exception:
        if not ctx.replaying:
            log.exception(
                "plugin handler %s failed on line %s",
                getattr(handler, "__qualname__", handler),
                ctx.line.seq if ctx.line else None,
            )
            if name is not None:
                ctx.reply(
                    f"{ctx.nick}: {name} failed (a bug, now logged for the admins); the line is recorded."
                )


def _fingerprint(meeting: Meeting) -> tuple[object, ...]:
    return (meeting.name, meeting.title, meeting.ended_at, meeting.restricted, meeting.owner_key)


def _follow_nick_change(meeting: Meeting, line: Line) -> None:
    """A NICK line: `nick` is the old nick, `text` the new one.

    An account-backed identity keeps its key, only the display nick changes. A nick-only
    identity gets the new nick's key, and its lines and chair carry over, since the adapter
    saw the same connection rename itself.
    """
    new_nick = line.text.strip()
    if not new_nick:
        return
    old_key = line.sender_key
    new_key = old_key
    if ":~" in old_key:
        new_key = Identity(meeting.room.network, new_nick).key
    meeting.roster.pop(line.nick.casefold(), None)
    meeting.roster[new_nick.casefold()] = new_key
    person = meeting.people.pop(old_key, None)
    if person is not None:
        person.key, person.nick = new_key, new_nick
        meeting.people[new_key] = person
    if old_key in meeting.chairs:
        del meeting.chairs[old_key]
        meeting.chairs[new_key] = new_nick
    if old_key == meeting.owner_key:
        meeting.owner_key, meeting.owner_nick = new_key, new_nick
