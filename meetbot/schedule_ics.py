"""Meeting series as RFC 5545 calendars (the `icalendar` package), one VEVENT per schedule entry.

What differs from yaml2ical, on purpose:
- UID `<team>-<index>@meetbot`, unique per schedule entry (yaml2ical repeats project+date).
- ISO-parity rules are `FREQ=YEARLY;BYWEEKNO=...` with WKST=MO (RFC 5545 week numbers are ISO
  weeks then), so odd/even stays right across week 53; yaml2ical's `INTERVAL=2` drifts there.
- Times are `DTSTART;TZID=` with a VTIMEZONE (UTC series stay in UTC); RFC 5545 reads a
  nonexistent or ambiguous local time the way the engine does (see meetbot/schedule/localtime.py).
- Skips and cancellations are EXDATEs, moves RECURRENCE-ID overrides, extra dates RDATEs.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from icalendar import Calendar, Event

from meetbot.schedule import (
    Adhoc,
    EveryWeeks,
    MonthlyNth,
    Series,
    Slot,
    WeekParity,
    rule_dates,
    to_utc,
)
from meetbot.schedule.localtime import zone

_DAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
# Without a start_date, a parity rule's calendar begins at the export date; the rule itself is endless.
_SEARCH = timedelta(days=366 * 5)


def rrule(slot: Slot) -> dict[str, Any] | None:
    """The RRULE for a slot, as icalendar's vRecur mapping; None for adhoc."""
    rule, day = slot.recurrence, _DAY_CODES[slot.weekday]
    recur: dict[str, Any]
    if isinstance(rule, WeekParity) and rule.modulus == 1:
        recur = {"freq": "weekly", "byday": day}
    elif isinstance(rule, WeekParity):
        weeks = [week for week in range(1, 54) if week % rule.modulus == rule.remainder]
        recur = {"freq": "yearly", "byweekno": weeks, "byday": day, "wkst": "MO"}
    elif isinstance(rule, EveryWeeks):
        recur = {"freq": "weekly", "interval": rule.weeks, "byday": day, "wkst": "MO"}
    elif isinstance(rule, MonthlyNth):
        recur = {"freq": "monthly", "byday": f"{rule.nth}{day}"}
    else:
        assert isinstance(rule, Adhoc)
        return None
    if slot.end_date is not None:
        recur["until"] = to_utc(slot.end_date, slot.time, slot.zone)
    return recur


def _local(slot: Slot, day: date, clock: time | None = None) -> datetime:
    """A wall-clock time as icalendar should write it: TZID-local, or UTC for UTC slots."""
    tz = UTC if slot.zone == "UTC" else zone(slot.zone)
    return datetime.combine(day, clock or slot.time, tzinfo=tz)


def _location(slot: Slot) -> str:
    parts = []
    for place in slot.places:
        network = f" ({place.network})" if place.network else ""
        parts.append(f"{place.kind}: {place.room}{network}")
    return ", ".join(parts)


def _description(series: Series, slot: Slot) -> str:
    lines = [f"Project: {series.project}", f"Team: {series.team}"]
    chair = slot.chair or series.chair
    if chair:
        lines.append(f"Chair: {chair}")
    if series.description:
        lines.append(f"Description: {series.description}")
    if series.agenda_url:
        lines.append(f"Agenda URL: {series.agenda_url}")
    if series.project_url:
        lines.append(f"Project URL: {series.project_url}")
    return "\n".join(lines)


def _event(series: Series, slot: Slot, start: datetime, stamp: datetime) -> Event:
    event = Event()
    event.add("uid", f"{series.team}-{slot.index}@meetbot")
    event.add("dtstamp", stamp)
    event.add("summary", series.project)
    event.add("location", _location(slot))
    event.add("description", _description(series, slot))
    event.add("dtstart", start)
    event.add("duration", slot.duration)
    return event


def slot_events(series: Series, slot: Slot, since: date, stamp: datetime) -> list[Event]:
    """The VEVENT of one schedule entry, followed by one VEVENT per moved occurrence."""
    recur = rrule(slot)
    anchor = slot.start_date or since
    first = next(rule_dates(slot, anchor, anchor + _SEARCH), None)
    if recur is None or first is None:
        return []
    main = _event(series, slot, _local(slot, first), stamp)
    main.add("rrule", recur)
    overrides = [o for o in series.overrides if o.slot == slot.index]
    exdates = [_local(slot, skip.date) for skip in slot.skips]
    exdates += [_local(slot, o.date) for o in overrides if o.cancel]
    if exdates:
        main.add("exdate", sorted(exdates))
    extras = [_local(slot, e.date, e.time) for e in series.extras if e.slot == slot.index]
    if extras:
        main.add("rdate", sorted(extras))
    events = [main]
    for moved in (o for o in overrides if not o.cancel):
        event = _event(series, slot, _local(slot, moved.new_date or moved.date, moved.new_time), stamp)
        event.add("recurrence-id", _local(slot, moved.date))
        if moved.reason:
            event.add("comment", moved.reason)
        events.append(event)
    return events


def calendar(all_series: Iterable[Series], name: str, since: date, stamp: datetime) -> Calendar:
    cal = Calendar()
    cal.add("prodid", "-//meetbot//schedules//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", name)
    for series in all_series:
        for slot in series.slots:
            for event in slot_events(series, slot, since, stamp):
                cal.add_component(event)
    # icalendar's default VTIMEZONE range ends in 2038; feeds outlive that.
    cal.add_missing_timezones(last_date=date(since.year + 30, 1, 1))
    return cal


def write_calendars(all_series: Iterable[Series], out_dir: Path, since: date, stamp: datetime) -> list[Path]:
    """`<team>.ics` per series and `meetings.ics` with all of them; returns the paths written."""
    chosen = list(all_series)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for series in chosen:
        path = out_dir / f"{series.team}.ics"
        path.write_bytes(calendar([series], series.project, since, stamp).to_ical())
        written.append(path)
    everything = out_dir / "meetings.ics"
    everything.write_bytes(calendar(chosen, "Meetings", since, stamp).to_ical())
    written.append(everything)
    return written
