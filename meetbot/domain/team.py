"""What a team (a meeting series, keyed by its name) keeps between meetings: its agenda and its
action items. Plain values; the storage layer persists them, plugins reach them through
`TeamRepository` and never see SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Protocol


class ActionStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    DROPPED = "dropped"


class AgendaStatus(StrEnum):
    OPEN = "open"
    COVERED = "covered"
    REMOVED = "removed"


@dataclass(frozen=True, slots=True)
class Owner:
    key: str  # identity key: what permissions go by
    nick: str  # how they were named when the item was made or reassigned


@dataclass(frozen=True, slots=True)
class ActionEvent:
    at: datetime
    actor_nick: str
    change: str  # created, done, dropped, reopened, reassigned
    detail: str
    meeting_id: int | None


@dataclass(frozen=True, slots=True)
class ActionItem:
    id: int
    team: str
    text: str
    status: ActionStatus
    owners: tuple[Owner, ...]
    meeting_id: int
    line_seq: int
    created_at: datetime
    history: tuple[ActionEvent, ...] = ()

    def status_at(self, moment: datetime) -> ActionStatus:
        """The status as it was at `moment`, from the history (minutes stay true when regenerated)."""
        status = ActionStatus.OPEN
        for event in self.history:
            if event.at > moment:
                break
            if event.change in (ActionStatus.DONE, ActionStatus.DROPPED):
                status = ActionStatus(event.change)
            elif event.change == "reopened":
                status = ActionStatus.OPEN
        return status

    def owned_by(self, key: str) -> bool:
        return any(owner.key == key for owner in self.owners)

    def owner_nicks(self) -> str:
        return ", ".join(owner.nick for owner in self.owners) or "unassigned"


@dataclass(frozen=True, slots=True)
class AgendaItem:
    id: int
    team: str
    position: int  # 1-based among the team's open items
    text: str
    status: AgendaStatus
    added_by_key: str
    added_by_nick: str
    added_at: datetime
    covered_meeting_id: int | None = None
    covered_line: int | None = None


@dataclass(frozen=True, slots=True)
class NewAction:
    """An action item as a meeting ends: its text, where it was said, whom it names."""

    text: str
    line_seq: int
    at: datetime
    owners: tuple[Owner, ...]


class TeamRepository(Protocol):
    """The team state plugins may read and change (implemented by the storage layer)."""

    async def agenda(self, team: str) -> Sequence[AgendaItem]: ...
    async def add_agenda_item(
        self, team: str, text: str, key: str, nick: str, at: datetime
    ) -> AgendaItem: ...
    async def remove_agenda_item(self, item_id: int, at: datetime) -> None: ...
    async def move_agenda_item(self, team: str, item_id: int, position: int) -> None: ...
    async def clear_agenda(self, team: str, at: datetime) -> int: ...
    async def cover_agenda_item(self, item_id: int, meeting_id: int, line: int, at: datetime) -> None: ...
    async def open_actions(self, team: str | None = None) -> Sequence[ActionItem]: ...
    async def action(self, action_id: int) -> ActionItem | None: ...
    async def change_action(
        self, action_id: int, status: ActionStatus, actor: Owner, at: datetime, meeting_id: int | None
    ) -> ActionItem: ...
    async def reassign_action(
        self, action_id: int, owners: tuple[Owner, ...], actor: Owner, at: datetime, meeting_id: int | None
    ) -> ActionItem: ...
    async def record_actions(
        self, team: str, meeting_id: int, actions: Sequence[NewAction], actor: Owner
    ) -> None: ...
    async def team_of_room(self, network: str, room: str) -> str | None: ...
    async def skips(self, team: str | None = None) -> dict[str, set[date]]: ...
    async def add_skip(self, team: str, day: date, key: str, nick: str, at: datetime) -> bool: ...


@dataclass(frozen=True, slots=True)
class TeamSnapshot:
    """What the minutes of one meeting show of its team's state."""

    agenda: Sequence[AgendaItem] = ()  # covered here first, then what carries over
    previous_actions: Sequence[ActionItem] = ()  # from earlier meetings, open when this one started
    meeting_actions: Sequence[ActionItem] = ()  # this meeting's, with their ids
