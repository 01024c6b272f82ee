"""The `schedules:` section: meeting series in the irc-meetings format, plus our additions.

A series file from OpenStack's irc-meetings repository validates unchanged against SeriesConfig;
`timezone`, `every`, `end_date`, `overrides`, `extra_dates`, `irc_network` and `reminders` are
ours. Validators raise messages that say how to fix the value; cross-field checks name the field
they are about through `at`, like schema.py's. Reading the series files in `dir` is in
schedule_files.py; this module only describes what a valid series is and converts it into the
pure meetbot.schedule model.
"""

from __future__ import annotations

import difflib
import re
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from meetbot.domain.model import normalize_name
from meetbot.schedule import (
    TEMPLATE_FIELDS,
    WEEKDAYS,
    EveryWeeks,
    Extra,
    MonthlyNth,
    Override,
    Place,
    ReminderRule,
    Series,
    Skip,
    Slot,
    is_rule_date,
    parse_frequency,
    parse_time,
    parse_weekday,
    template_fields,
)

_COMPACT_DATE = re.compile(r"\d{8}")
_ROOM = re.compile(r"[!#][^:\s]+:\S+")
_DURATION = re.compile(r"(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m(?:in)?)?")

# --------------------------------------------------------------------------- field checks


def _date(value: Any) -> Any:
    """irc-meetings writes YYYYMMDD (often unquoted, so an int); YAML reads 2026-12-02 as a date."""
    if isinstance(value, date):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            if _COMPACT_DATE.fullmatch(text):
                return date(int(text[:4]), int(text[4:6]), int(text[6:]))
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise ValueError(f"{value!r} is not a date; write YYYYMMDD like 20261202, or 2026-12-02")


def _time(value: str) -> str:
    parse_time(value)
    return value


def _day(value: str) -> str:
    return WEEKDAYS[parse_weekday(value)]


def _frequency(value: str) -> str:
    parse_frequency(value)
    return value.strip().lower()


def _zone(value: str) -> str:
    if value.upper().startswith(("UTC+", "UTC-", "GMT")):
        raise ValueError(
            f"{value!r} is a fixed offset that ignores daylight saving time; use a place's IANA zone such "
            "as 'Europe/Berlin', or 'UTC'"
        )
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        close = difflib.get_close_matches(value, sorted(_zones()), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"unknown time zone; use an IANA name such as 'UTC' or 'Europe/Prague'{hint}"
        ) from None
    return value


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _channel(value: str) -> str:
    # irc-meetings writes the channel without '#'; accept both and keep one spelling.
    name = value.strip()
    bare = name.lstrip("#")
    if not bare or any(c.isspace() or c in ",\a" for c in bare):
        raise ValueError("an IRC channel name like centos-meeting (no spaces or commas)")
    return "#" + bare


def _room(value: str) -> str:
    if not _ROOM.fullmatch(value):
        raise ValueError(
            "must be a room alias like '#meeting:example.org' or an id like '!abc:example.org' (quoted)"
        )
    return value


def _duration(value: Any) -> Any:
    """Reminder offsets: minutes as a number, or text like '24h', '15m', '1d2h'."""
    if isinstance(value, int) and not isinstance(value, bool):
        return timedelta(minutes=value)
    if isinstance(value, str):
        match = _DURATION.fullmatch(value.strip().replace(" ", ""))
        if match and any(match.groups()):
            return timedelta(
                days=int(match["d"] or 0), hours=int(match["h"] or 0), minutes=int(match["m"] or 0)
            )
    raise ValueError(f"{value!r} is not a duration; write minutes (15) or text like '15m', '24h', '1d'")


DateField = Annotated[date, BeforeValidator(_date)]
TimeField = Annotated[str, AfterValidator(_time)]
Zone = Annotated[str, AfterValidator(_zone)]


def _fail(at: tuple[str | int, ...], message: str) -> PydanticCustomError:
    # The message is a template to pydantic: braces in it would be read as placeholders.
    return PydanticCustomError("schedule", message.replace("{", "(").replace("}", ")"), {"at": at})


# --------------------------------------------------------------------------- models


class SkipDate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    skip_date: DateField
    reason: str | None = None


class Every(BaseModel):
    model_config = ConfigDict(extra="forbid")

    weeks: int = Field(ge=1, le=52)


class ReminderConfig(BaseModel):
    """One reminder: `before: 24h`, or `at_start: true`, with optional text and people to ping."""

    model_config = ConfigDict(extra="forbid")

    before: Annotated[timedelta, BeforeValidator(_duration)] | None = None
    at_start: bool = False
    text: str | None = None
    ping: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _when(self) -> Self:
        if self.at_start == (self.before is not None):
            raise _fail(("before",), "give either before: (like 15m or 24h) or at_start: true")
        if self.before is not None and self.before <= timedelta(0):
            raise _fail(("before",), "must be positive; use at_start: true for a reminder at the start")
        unknown = template_fields(self.text or "")
        if unknown:
            raise _fail(
                ("text",),
                f"unknown placeholder '{unknown[0]}'; use only "
                + ", ".join(TEMPLATE_FIELDS)
                + " (write a literal brace twice)",
            )
        return self

    def rule(self) -> ReminderRule:
        return ReminderRule(self.before or timedelta(0), self.text, tuple(self.ping))


class ScheduleEntry(BaseModel):
    """One item of `schedule:`: a recurrence rule with its time and place(s)."""

    model_config = ConfigDict(extra="forbid")

    time: TimeField
    day: Annotated[str, AfterValidator(_day)]
    duration: int = Field(60, ge=1, le=24 * 60)
    irc: Annotated[str, AfterValidator(_channel)] | None = None
    irc_network: str | None = None
    matrix: Annotated[str, AfterValidator(_room)] | None = None
    frequency: Annotated[str, AfterValidator(_frequency)] | None = None
    every: Every | None = None
    start_date: DateField | None = None
    end_date: DateField | None = None
    skip_dates: list[SkipDate] = Field(default_factory=list)
    chair: str | None = None
    timezone: Zone | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.irc is None and self.matrix is None:
            raise _fail(
                ("irc",), "say where the meeting is: add irc: <channel> and/or matrix: '#room:server'"
            )
        if self.irc_network is not None and self.irc is None:
            raise _fail(("irc_network",), "irc_network only makes sense with irc:; add irc: or remove it")
        if self.every is not None and self.frequency is not None:
            raise _fail(("every",), "give either frequency: or every:, not both")
        if self.every is None and self.frequency is None:
            raise _fail(("frequency",), "required setting is missing; add 'frequency: weekly' (or every:)")
        weekday = WEEKDAYS.index(self.day)
        rule = parse_frequency(self.frequency) if self.frequency else None
        if isinstance(rule, MonthlyNth) and rule.weekday != weekday:
            raise _fail(
                ("day",),
                f"day {self.day} contradicts frequency {self.frequency} (a {WEEKDAYS[rule.weekday]}); "
                "make them name the same weekday",
            )
        if self.every is not None and self.start_date is None:
            raise _fail(("start_date",), "every: counts from start_date; add start_date: (the first meeting)")
        if self.start_date is not None and self.start_date.weekday() != weekday:
            first = self.start_date + timedelta(days=(weekday - self.start_date.weekday()) % 7)
            raise _fail(
                ("start_date",),
                f"{self.start_date} is a {WEEKDAYS[self.start_date.weekday()]}, but the meeting is on "
                f"{self.day}; did you mean {first:%Y%m%d}?",
            )
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise _fail(("end_date",), f"is before start_date {self.start_date}")
        for index, skip in enumerate(self.skip_dates):
            if skip.skip_date.weekday() != weekday:
                raise _fail(
                    ("skip_dates", index, "skip_date"),
                    f"{skip.skip_date} is a {skip.skip_date:%A}; this meeting is on {self.day}",
                )
        return self

    def slot(
        self, index: int, zone: str, default_network: str | None = None, line: int | None = None
    ) -> Slot:
        places: list[Place] = []
        if self.irc is not None:
            places.append(Place("irc", self.irc, self.irc_network or default_network))
        if self.matrix is not None:
            places.append(Place("matrix", self.matrix))
        return Slot(
            index=index,
            recurrence=EveryWeeks(self.every.weeks) if self.every else parse_frequency(self.frequency or ""),
            weekday=WEEKDAYS.index(self.day),
            time=parse_time(self.time),
            zone=self.timezone or zone,
            duration=timedelta(minutes=self.duration),
            places=tuple(places),
            start_date=self.start_date,
            end_date=self.end_date,
            skips=tuple(Skip(s.skip_date, s.reason) for s in self.skip_dates),
            chair=self.chair,
            frequency=f"every {self.every.weeks} weeks" if self.every else self.frequency or "",
            line=line,
        )


class OverrideConfig(BaseModel):
    """Cancel or move the occurrence of `schedule` (an index, default 0) on `date` (local)."""

    model_config = ConfigDict(extra="forbid")

    date: DateField
    schedule: int = Field(0, ge=0)
    cancel: bool = False
    time: TimeField | None = None
    new_date: DateField | None = None
    reason: str | None = None

    @model_validator(mode="after")
    def _what(self) -> Self:
        moves = self.time is not None or self.new_date is not None
        if self.cancel and moves:
            raise _fail(("cancel",), "a cancelled meeting has no new time; remove time:/new_date: or cancel:")
        if not self.cancel and not moves:
            raise _fail(("cancel",), "say what changes: cancel: true, or a new time: and/or new_date:")
        return self


class ExtraDateConfig(BaseModel):
    """A one-off meeting at the place of `schedule` (an index, default 0), at its time unless given."""

    model_config = ConfigDict(extra="forbid")

    date: DateField
    schedule: int = Field(0, ge=0)
    time: TimeField | None = None
    reason: str | None = None


class SeriesConfig(BaseModel):
    """One meeting series, as an irc-meetings file writes it."""

    model_config = ConfigDict(extra="forbid")

    project: str
    meeting_id: str | None = None
    agenda_url: str | None = None
    project_url: str | None = None
    chair: str | None = None
    description: str | None = None
    timezone: Zone = "UTC"
    schedule: list[ScheduleEntry] = Field(min_length=1)
    overrides: list[OverrideConfig] = Field(default_factory=list)
    extra_dates: list[ExtraDateConfig] = Field(default_factory=list)
    reminders: list[ReminderConfig] | None = None
    # Standing agenda items (an addition to irc-meetings): put on the team's agenda at every
    # #startmeeting unless already there, so `#topic next` walks them and reminders list them.
    agenda: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)

    @property
    def team(self) -> str:
        # The name #startmeeting files minutes under, so listings and minutes agree.
        return normalize_name(self.meeting_id or self.project) or "meeting"

    @model_validator(mode="after")
    def _references(self) -> Self:
        slots = [entry.slot(index, self.timezone) for index, entry in enumerate(self.schedule)]
        references = [("overrides", i, o.schedule) for i, o in enumerate(self.overrides)]
        references += [("extra_dates", i, e.schedule) for i, e in enumerate(self.extra_dates)]
        for field_name, index, schedule in references:
            if schedule >= len(slots):
                raise _fail(
                    (field_name, index, "schedule"),
                    f"there is no schedule[{schedule}]; this series has {len(slots)} (numbered from 0)",
                )
        for index, override in enumerate(self.overrides):
            slot = slots[override.schedule]
            skipped = {skip.date for skip in slot.skips}
            if override.date in skipped or not is_rule_date(slot, override.date):
                raise _fail(
                    ("overrides", index, "date"),
                    f"schedule[{override.schedule}] does not meet on {override.date}"
                    + (" (it is in skip_dates)" if override.date in skipped else "")
                    + "; give the date of the meeting to change, as it would have been",
                )
        return self

    def to_series(
        self, source: str, default_network: str | None = None, lines: dict[int, int] | None = None
    ) -> Series:
        lines = lines or {}
        return Series(
            team=self.team,
            project=self.project,
            slots=tuple(
                entry.slot(index, self.timezone, default_network, lines.get(index))
                for index, entry in enumerate(self.schedule)
            ),
            overrides=tuple(
                Override(
                    o.schedule, o.date, o.cancel, o.new_date, parse_time(o.time) if o.time else None, o.reason
                )
                for o in self.overrides
            ),
            extras=tuple(
                Extra(e.schedule, e.date, parse_time(e.time) if e.time else None, e.reason)
                for e in self.extra_dates
            ),
            chair=self.chair,
            description=self.description.strip() if self.description else None,
            agenda_url=self.agenda_url,
            project_url=self.project_url,
            agenda=tuple(self.agenda),
            source=source,
            reminders=None if self.reminders is None else tuple(r.rule() for r in self.reminders),
        )


class SchedulesSettings(BaseModel):
    """`schedules:`: a directory of irc-meetings-style files (one series each) and/or inline series."""

    model_config = ConfigDict(extra="forbid")

    dir: Path | None = None
    series: list[SeriesConfig] = Field(default_factory=list)
    reminders: list[ReminderConfig] | None = None  # the default for series that set none
    display_timezones: list[Zone] = Field(default_factory=list)
