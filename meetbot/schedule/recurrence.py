"""The recurrence engine: which local dates a slot meets on, and a series' occurrences as UTC instants."""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta

from meetbot.schedule.localtime import resolve
from meetbot.schedule.model import (
    Adhoc,
    EveryWeeks,
    MonthlyNth,
    Occurrence,
    OccurrenceKind,
    Series,
    Slot,
    WeekParity,
)

# Local dates are searched this far beyond a UTC window: zone offsets are within ±14 h.
_MARGIN = timedelta(days=2)


def nth_weekday(year: int, month: int, weekday: int, nth: int) -> date | None:
    """The nth weekday of a month (nth -1 = last), or None when the month has no such day."""
    days = [
        week[weekday]
        for week in calendar.Calendar().monthdatescalendar(year, month)
        if week[weekday].month == month
    ]
    if nth == -1:
        return days[-1]
    return days[nth - 1] if nth <= len(days) else None


def _first_weekday_on_or_after(day: date, weekday: int) -> date:
    return day + timedelta(days=(weekday - day.weekday()) % 7)


def _months(lo: date, hi: date) -> Iterator[tuple[int, int]]:
    year, month = lo.year, lo.month
    while (year, month) <= (hi.year, hi.month):
        yield year, month
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def rule_dates(slot: Slot, lo: date, hi: date) -> Iterator[date]:
    """The local dates in [lo, hi] the slot's rule names, before skips and overrides, ascending."""
    if slot.start_date is not None:
        lo = max(lo, slot.start_date)
    if slot.end_date is not None:
        hi = min(hi, slot.end_date)
    if lo > hi:
        return
    rule = slot.recurrence
    if isinstance(rule, WeekParity):
        day = _first_weekday_on_or_after(lo, slot.weekday)
        while day <= hi:
            if day.isocalendar().week % rule.modulus == rule.remainder:
                yield day
            day += timedelta(weeks=1)
    elif isinstance(rule, EveryWeeks):
        if slot.start_date is None:
            raise ValueError("every: {weeks: N} needs a start_date to count from")
        step = timedelta(weeks=rule.weeks)
        behind = (lo - slot.start_date).days
        day = slot.start_date + step * -(-behind // step.days)
        while day <= hi:
            yield day
            day += step
    elif isinstance(rule, MonthlyNth):
        for year, month in _months(lo, hi):
            found = nth_weekday(year, month, rule.weekday, rule.nth)
            if found is not None and lo <= found <= hi:
                yield found
    else:
        assert isinstance(rule, Adhoc)


def is_rule_date(slot: Slot, day: date) -> bool:
    return next(rule_dates(slot, day, day), None) == day


def _occurrence(
    series: Series,
    slot: Slot,
    day: date,
    clock: time,
    *,
    kind: OccurrenceKind = "scheduled",
    original: datetime | None = None,
    note: str | None = None,
) -> Occurrence:
    when = resolve(day, clock, slot.zone)
    return Occurrence(
        start=when.utc,
        team=series.team,
        slot=slot.index,
        end=when.utc + slot.duration,
        local_start=when.local,
        places=slot.places,
        project=series.project,
        kind=kind,
        original_start=original,
        note=note,
    )


def series_occurrences(series: Series, start: datetime, end: datetime) -> list[Occurrence]:
    """Every occurrence of the series that starts in [start, end), sorted.

    Skips and cancellations remove occurrences, overrides move them (a move counts where it lands),
    extra dates add them.
    """
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    lo, hi = (start - _MARGIN).date(), (end + _MARGIN).date()
    found: list[Occurrence] = []
    for slot in series.slots:
        skipped = {skip.date for skip in slot.skips}
        changed = {o.date for o in series.overrides if o.slot == slot.index}
        found.extend(
            _occurrence(series, slot, day, slot.time)
            for day in rule_dates(slot, lo, hi)
            if day not in skipped and day not in changed
        )
    for override in series.overrides:
        if override.cancel:
            continue
        slot = series.slot(override.slot)
        original = resolve(override.date, slot.time, slot.zone).utc
        day, clock = override.new_date or override.date, override.new_time or slot.time
        found.append(
            _occurrence(series, slot, day, clock, kind="moved", original=original, note=override.reason)
        )
    for extra in series.extras:
        slot = series.slot(extra.slot)
        found.append(
            _occurrence(series, slot, extra.date, extra.time or slot.time, kind="extra", note=extra.reason)
        )
    return sorted(o for o in found if start <= o.start < end)


def occurrences(
    all_series: Iterable[Series], start: datetime, end: datetime, team: str | None = None
) -> list[Occurrence]:
    """Occurrences of every series (or only `team`'s) starting in [start, end), sorted by start."""
    found = [
        occurrence
        for series in all_series
        if team is None or series.team == team
        for occurrence in series_occurrences(series, start, end)
    ]
    return sorted(found)


def next_occurrences(
    all_series: Iterable[Series], after: datetime, count: int = 1, team: str | None = None
) -> list[Occurrence]:
    """The next `count` occurrences starting strictly after `after`, looking up to two years ahead."""
    chosen = list(all_series)
    window = timedelta(weeks=5)
    start = after + timedelta(microseconds=1)
    found: list[Occurrence] = []
    while len(found) < count and start - after < timedelta(days=731):
        found += occurrences(chosen, start, start + window, team)
        start += window
    return found[:count]
