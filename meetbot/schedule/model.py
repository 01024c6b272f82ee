"""What a meeting series is once loaded: plain frozen values, no parsing and no I/O.

Times are wall-clock in the slot's zone; only occurrences (recurrence.py) are UTC instants.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Literal

# Aliases for fields named `date` and `time`, which shadow the types inside their classes.
LocalDate = date
WallTime = time

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True, slots=True)
class WeekParity:
    """Meets in ISO weeks where week % modulus == remainder: weekly (1, 0), biweekly-odd (2, 1)...

    The test applies to every occurrence, so after a 53-week year odd weeks meet twice in a row
    (W53, W01); that is the rule as written, and loading warns about it.
    """

    modulus: int
    remainder: int


@dataclass(frozen=True, slots=True)
class EveryWeeks:
    """Every N weeks counted from the slot's start_date, whatever the ISO week numbers say."""

    weeks: int


@dataclass(frozen=True, slots=True)
class MonthlyNth:
    """The nth given weekday of each month; nth is 1..5 (months without a 5th are skipped) or -1 (last)."""

    nth: int
    weekday: int


@dataclass(frozen=True, slots=True)
class Adhoc:
    """Listed for reference, never scheduled."""


Recurrence = WeekParity | EveryWeeks | MonthlyNth | Adhoc


@dataclass(frozen=True, slots=True)
class Place:
    """Where a meeting is held: an IRC channel on a network, or a Matrix room alias or id."""

    kind: Literal["irc", "matrix"]
    room: str
    network: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        # Channel and alias names compare case-insensitively, so #Chan and #chan are one place.
        return (self.kind, self.network or "", self.room.casefold())

    def __str__(self) -> str:
        return self.room


@dataclass(frozen=True, slots=True)
class Skip:
    date: LocalDate
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Override:
    """One occurrence (by its local date) of one slot cancelled, or moved to another date/time."""

    slot: int
    date: LocalDate
    cancel: bool = False
    new_date: LocalDate | None = None
    new_time: WallTime | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Extra:
    """A one-off occurrence attached to a slot (its place, zone and duration), e.g. an extra session."""

    slot: int
    date: LocalDate
    time: WallTime | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Slot:
    """One entry of a series' `schedule:` list: a recurrence rule with its time and places."""

    index: int
    recurrence: Recurrence
    weekday: int  # 0 = Monday
    time: time
    zone: str  # IANA name
    duration: timedelta
    places: tuple[Place, ...]
    start_date: date | None = None
    end_date: date | None = None  # inclusive
    skips: tuple[Skip, ...] = ()
    chair: str | None = None
    frequency: str = "weekly"  # the name written in the file, for messages and listings
    line: int | None = None  # where the entry starts in its file, for warnings


@dataclass(frozen=True, slots=True)
class Series:
    """A meeting series: one irc-meetings file, or one item of `schedules.series`."""

    team: str  # meeting_id: what #startmeeting is given
    project: str
    slots: tuple[Slot, ...]
    overrides: tuple[Override, ...] = ()
    extras: tuple[Extra, ...] = ()
    chair: str | None = None
    description: str | None = None
    agenda_url: str | None = None
    project_url: str | None = None
    source: str = "<inline>"  # file the series came from
    reminders: tuple[ReminderRule, ...] | None = None  # None: the defaults
    agenda: tuple[str, ...] = ()  # standing items, on the agenda of every meeting

    def slot(self, index: int) -> Slot:
        return self.slots[index]


@dataclass(frozen=True, slots=True)
class ReminderRule:
    """When to remind before an occurrence (before == 0: at the start) and what to add to the text."""

    before: timedelta
    text: str | None = None
    ping: tuple[str, ...] = ()


OccurrenceKind = Literal["scheduled", "moved", "extra"]


@dataclass(frozen=True, slots=True, order=True)
class Occurrence:
    """One meeting, as UTC instants. Orders by start, then team and slot."""

    start: datetime  # aware, UTC
    team: str
    slot: int
    end: datetime = field(compare=False)
    local_start: datetime = field(compare=False)  # aware, in the slot's zone
    places: tuple[Place, ...] = field(compare=False)
    project: str = field(compare=False)
    kind: OccurrenceKind = field(default="scheduled", compare=False)
    original_start: datetime | None = field(default=None, compare=False)  # for moved ones
    note: str | None = field(default=None, compare=False)
