"""The plugin API: commands with a role, usage text and aliases; line listeners; per-plugin config.

Plugins see meetings, lines and identities, never IRC or Matrix. Handlers are plain functions
of a context and the meeting state they change, so the same handlers rebuild a meeting from
its stored lines after a restart (with `replaying` set and replies discarded).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

from meetbot.commands import CommandCall
from meetbot.config.schedule_files import Schedules
from meetbot.domain.model import Line, Meeting
from meetbot.domain.team import TeamRepository
from meetbot.events import RoomRef


class Role(StrEnum):
    ANYONE = "anyone"
    CHAIR = "chair"


class Scope(StrEnum):
    MEETING = "meeting"  # only inside an open meeting (logged first, then run)
    STARTS = "starts"  # opens a meeting; its line is the meeting's first line
    ANYTIME = "anytime"  # also outside meetings (not logged there)


# Effects a handler asks for; the service carries them out after the line is stored.
@dataclass(frozen=True, slots=True)
class Reply:
    text: str


@dataclass(frozen=True, slots=True)
class ChangeTopic:
    topic: str


@dataclass(frozen=True, slots=True)
class PublishMinutes:
    final: bool


@dataclass(frozen=True, slots=True)
class RunTeamCommand:
    """An async handler that reads or changes team state (agenda, action items). The service
    runs it for live lines only: on a rebuild its changes are in the database already."""

    handler: Callable[[Context, TeamServices], Awaitable[None]]
    ctx: Context


Effect = Reply | ChangeTopic | PublishMinutes | RunTeamCommand


@dataclass
class TeamServices:
    """What async handlers and hooks may use: the team's stored state, and a way to act in the
    meeting on someone's behalf (a logged line, so a rebuild replays the same step)."""

    repo: TeamRepository
    team: str
    meeting_id: int | None
    run_as: Callable[[str], Awaitable[int | None]]  # a command line for the sender; returns its seq
    schedules: Schedules | None = None  # the configured meeting series, when there are any


@dataclass
class Context:
    """What a command or listener handler receives."""

    room: RoomRef
    sender_key: str  # identity key: what permissions go by
    nick: str  # how the sender appears right now
    at: datetime
    meeting: Meeting | None
    line: Line | None
    replaying: bool = False
    effects: list[Effect] = field(default_factory=list)
    command: CommandCall | None = None
    commands_help: Callable[[], list[str]] = list
    private: bool = False  # said to the bot alone, not in a room
    privileged: bool = False  # the platform ranks the sender a chair (power level, channel op)

    def is_chair(self) -> bool:
        """A chair of the running meeting, by identity or by platform rank."""
        return self.meeting is not None and (self.privileged or self.meeting.is_chair(self.sender_key))

    @property
    def args(self) -> str:
        return self.command.args if self.command else ""

    def reply(self, text: str) -> None:
        self.effects.append(Reply(text))

    def set_topic(self, topic: str) -> None:
        self.effects.append(ChangeTopic(topic))

    def publish(self, *, final: bool) -> None:
        self.effects.append(PublishMinutes(final=final))

    def require_meeting(self) -> Meeting:
        if self.meeting is None:
            raise RuntimeError("handler needs a meeting but was run outside one")
        return self.meeting


AsyncHandler = Callable[[Context, TeamServices], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class CommandSpec:
    name: str
    handler: Callable[[Context], None] | AsyncHandler
    role: Role
    usage: str
    aliases: tuple[str, ...]
    scope: Scope
    needs_args: bool
    summary: str
    # Other command forms this one answers, e.g. "topic next" for #next.
    claims: tuple[str, ...] = ()

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.handler)

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


_COMMAND_ATTR = "_meetbot_command"
_LISTENER_ATTR = "_meetbot_listener"

F = TypeVar("F", bound=Callable[..., Any])


def command(
    name: str,
    *,
    usage: str = "",
    role: Role = Role.ANYONE,
    aliases: tuple[str, ...] = (),
    scope: Scope = Scope.MEETING,
    needs_args: bool = False,
    summary: str = "",
    claims: tuple[str, ...] = (),
) -> Callable[[F], F]:
    """Mark a plugin method as the handler of `#name` (and its aliases). An `async` method gets
    the team's stored state too (see `TeamServices`) and runs for live lines only."""

    def mark(method: F) -> F:
        setattr(method, _COMMAND_ATTR, (name, usage, role, aliases, scope, needs_args, summary, claims))
        return method

    return mark


def listener(method: F) -> F:
    """Mark a plugin method to see every non-command speech line of an open meeting."""
    setattr(method, _LISTENER_ATTR, True)
    return method


class EmptyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Plugin:
    """Base class. Subclasses set `name` and optionally `Config`, and decorate methods."""

    name: ClassVar[str]
    Config: ClassVar[type[BaseModel]] = EmptyConfig

    def __init__(self, config: BaseModel | None = None) -> None:
        self.config = config if config is not None else self.Config()

    def command_specs(self) -> list[CommandSpec]:
        specs = []
        for attr in dir(type(self)):
            marker = getattr(getattr(type(self), attr), _COMMAND_ATTR, None)
            if marker is None:
                continue
            name, usage, role, aliases, scope, needs_args, summary, claims = marker
            specs.append(
                CommandSpec(
                    name=name,
                    handler=getattr(self, attr),
                    role=role,
                    usage=usage or f"#{name}",
                    aliases=tuple(aliases),
                    scope=scope,
                    needs_args=needs_args,
                    summary=summary,
                    claims=tuple(claims),
                )
            )
        return specs

    def on_meeting_end(self, ctx: Context) -> None:
        """Called when a meeting is about to end (e.g. to close an open vote); default: nothing."""

    async def on_meeting_started(self, meeting: Meeting, team: TeamServices) -> list[str]:
        """Live, after #startmeeting: lines to post (the agenda, open action items)."""
        return []

    async def on_meeting_ended(self, meeting: Meeting, team: TeamServices) -> None:
        """Live, after #endmeeting and before the minutes are published (record action items)."""

    def listeners(self) -> list[Callable[[Context], None]]:
        return [
            getattr(self, attr)
            for attr in dir(type(self))
            if getattr(getattr(type(self), attr), _LISTENER_ATTR, False)
        ]
