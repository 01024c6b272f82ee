"""Which reminders are due when, and what they say: pure planning for the scheduler to act on.

Offsets are subtracted from UTC instants (absolute time): a 24 h reminder before a Monday 09:00
Berlin meeting right after the spring change fires at 09:00 CEST on Sunday, but 48 h before fires
at 08:00 CET on Saturday. Each reminder has a key that stays the same across restarts and
replanning (team, slot, the occurrence's UTC start, the offset), so "sent" can be recorded once.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from meetbot.schedule.localtime import zone
from meetbot.schedule.model import Occurrence, ReminderRule, Series
from meetbot.schedule.recurrence import occurrences

DEFAULT_REMINDERS = (
    ReminderRule(timedelta(hours=24)),
    ReminderRule(timedelta(minutes=15)),
    ReminderRule(timedelta(0)),
)
# The placeholders a reminder's `text:` may use.
TEMPLATE_FIELDS = (
    "team",
    "project",
    "when",
    "time_utc",
    "times",
    "place",
    "chair",
    "chair_nicks",
    "agenda_url",
)
_CHAIR_NICK = re.compile(r"\(([^()\s]+)\)")


def offset_text(before: timedelta) -> str:
    """'24h', '15m', '90m' or 'start': the offset part of a reminder key."""
    minutes = int(before.total_seconds() // 60)
    if minutes == 0:
        return "start"
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"


@dataclass(frozen=True, slots=True, order=True)
class Reminder:
    due: datetime  # aware, UTC
    key: str
    occurrence: Occurrence = field(compare=False)
    rule: ReminderRule = field(compare=False)

    @property
    def grace(self) -> timedelta:
        """How late it may still go out: a reminder sent after its meeting moved on is noise.

        Half the offset, at most 5 minutes; 2 minutes for the at-start one.
        """
        if not self.rule.before:
            return timedelta(minutes=2)
        return min(timedelta(minutes=5), self.rule.before / 2)

    def stale(self, now: datetime) -> bool:
        return now > self.due + self.grace


def reminder_key(occurrence: Occurrence, before: timedelta) -> str:
    return f"{occurrence.team}:{occurrence.slot}:{occurrence.start:%Y%m%dT%H%MZ}:{offset_text(before)}"


def plan_reminders(
    all_series: Iterable[Series],
    start: datetime,
    end: datetime,
    defaults: Sequence[ReminderRule] = DEFAULT_REMINDERS,
) -> list[Reminder]:
    """Every reminder due in [start, end), sorted by due time; series without `reminders` get `defaults`."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    found: list[Reminder] = []
    for series in all_series:
        rules = defaults if series.reminders is None else series.reminders
        if not rules:
            continue
        furthest = max(rule.before for rule in rules)
        for occurrence in occurrences([series], start, end + furthest):
            for rule in rules:
                due = occurrence.start - rule.before
                if start <= due < end:
                    found.append(Reminder(due, reminder_key(occurrence, rule.before), occurrence, rule))
    return sorted(found)


# --------------------------------------------------------------------------- text


def _in(before: timedelta) -> str:
    minutes = int(before.total_seconds() // 60)
    if minutes == 0:
        return "now"
    if minutes < 60:
        return f"in {minutes} minute{'s' * (minutes != 1)}"
    if minutes % 60:
        return f"in {minutes // 60}h{minutes % 60:02d}"
    hours = minutes // 60
    return f"in {hours} hour{'s' * (hours != 1)}"


def _zone_label(name: str) -> str:
    return name.rsplit("/", 1)[-1].replace("_", " ")


def display_times(start: datetime, zones: Sequence[str]) -> str:
    """'11:00 New York EST, Thu 03:00 Sydney AEDT': the weekday only where it differs from UTC's."""
    utc_day = start.astimezone(UTC).date()
    parts = []
    for name in zones:
        if name == "UTC":
            continue
        local = start.astimezone(zone(name))
        day = f"{local:%a} " if local.date() != utc_day else ""
        parts.append(f"{day}{local:%H:%M} {_zone_label(name)} {local:%Z}")
    return ", ".join(parts)


def chair_nicks(chair: str | None) -> list[str]:
    """Nicks from irc-meetings' 'Name (nick), Other Name (nick2)' chair text."""
    return _CHAIR_NICK.findall(chair or "")


class _Leave(dict[str, str]):
    """Unknown placeholders stay as written instead of failing a reminder at send time."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def template_fields(text: str) -> list[str]:
    """The placeholders a template uses that reminders do not provide (for config validation)."""
    names = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    return [name for name in names if name not in TEMPLATE_FIELDS]


AGENDA_SHOWN = 5  # a reminder is one chat line; the full agenda is one #agenda away


def agenda_line(items: Sequence[str]) -> str:
    shown = " · ".join(f"{n}. {text}" for n, text in enumerate(items[:AGENDA_SHOWN], 1))
    return shown + (f" · and {len(items) - AGENDA_SHOWN} more" if len(items) > AGENDA_SHOWN else "")


def reminder_text(
    reminder: Reminder, series: Series, display_zones: Sequence[str] = (), agenda: Sequence[str] = ()
) -> str:
    """The message for one reminder: team, time in UTC and display zones, place, chair, agenda, pings.

    `agenda` is the team's stored agenda; when it has items they replace `agenda_url`."""
    occurrence, rule = reminder.occurrence, reminder.rule
    slot = series.slot(occurrence.slot)
    chair = slot.chair or series.chair
    zones = list(dict.fromkeys([slot.zone, *display_zones]))
    times = display_times(occurrence.start, zones)
    time_utc = f"{occurrence.start:%a %Y-%m-%d %H:%M} UTC"
    place = ", ".join(str(p) for p in occurrence.places)
    values: Mapping[str, str] = {
        "team": series.team,
        "project": series.project,
        "when": _in(rule.before),
        "time_utc": time_utc,
        "times": times,
        "place": place,
        "chair": chair or "",
        "chair_nicks": " ".join(chair_nicks(chair)),
        "agenda_url": series.agenda_url or "",
        "agenda": agenda_line(agenda) if agenda else (series.agenda_url or ""),
    }
    if rule.text is not None:
        text = rule.text.format_map(_Leave(values))
    else:
        starts = "starts now" if not rule.before else f"starts {values['when']}, {time_utc}"
        if rule.before and times:
            starts += f" ({times})"
        text = f"{series.project} ({series.team}) {starts} in {place}."
        if chair:
            text += f" Chair: {chair}."
        if values["agenda"]:
            text += f" Agenda: {values['agenda']}"
    if rule.ping:
        text += " " + " ".join(rule.ping)
    return text
