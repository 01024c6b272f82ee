"""Warnings about schedules that are valid but may not mean what their authors think.

- ISO week 53: a parity rule (biweekly-*, quadweekly*) and a cadence counted from the start date
  disagree after a 53-week year; OpenStack's calendar followed the cadence, its index the parity.
- Local times that do not exist (spring forward) or happen twice (fall back) in the slot's zone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from meetbot.schedule.localtime import resolve
from meetbot.schedule.model import Series, Slot, WeekParity
from meetbot.schedule.recurrence import rule_dates


@dataclass(frozen=True, slots=True)
class Notice:
    """A warning about one slot of a series, located in the file it came from."""

    source: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        return f"{where}: {self.field}: warning: {self.message}"


def week53_years(start: date, end: date) -> list[int]:
    """ISO years with a week 53 whose turn to week 1 (the Monday of the next W01) is in [start, end]."""
    return [
        year
        for year in range(start.year - 1, end.year + 1)
        if date(year, 12, 28).isocalendar().week == 53
        and start <= date.fromisocalendar(year + 1, 1, 1) <= end
    ]


def _week(day: date) -> str:
    iso = day.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def _week53_notice(series: Series, slot: Slot, year: int) -> Notice | None:
    rule = slot.recurrence
    if not isinstance(rule, WeekParity) or rule.modulus == 1:
        return None
    turn = date.fromisocalendar(year + 1, 1, 1)
    around = list(rule_dates(slot, turn - timedelta(weeks=8), turn + timedelta(weeks=8)))
    before = [d for d in around if d < turn]
    after = [d for d in around if d >= turn]
    if not before or not after:
        return None
    last, first = before[-1], after[0]
    gap = (first - last).days // 7
    if gap == rule.modulus:
        return None
    cadence = last + timedelta(weeks=rule.modulus)
    return Notice(
        series.source,
        slot.line,
        f"schedule[{slot.index}].frequency",
        f"{slot.frequency}: {year} has an ISO week 53, so this meets on {last} ({_week(last)}) and then "
        f"{first} ({_week(first)}), {gap} week{'s' if gap != 1 else ''} apart instead of {rule.modulus}; "
        f"a calendar counting every {rule.modulus} weeks from start_date (as yaml2ical's ICS did) would "
        f"show {cadence}. Keep the ISO rule, or write `every: {{weeks: {rule.modulus}}}` with a "
        "start_date to keep the cadence",
    )


def _dst_notices(series: Series, slot: Slot, start: datetime, end: datetime) -> list[Notice]:
    if slot.zone == "UTC":
        return []
    found: list[Notice] = []
    for day in rule_dates(slot, start.date() - timedelta(days=1), end.date()):
        when = resolve(day, slot.time, slot.zone)
        if when.quirk is None or not start <= when.utc < end:
            continue
        wall = f"{day} {slot.time:%H:%M}"
        if when.quirk == "nonexistent":
            message = (
                f"{wall} does not exist in {slot.zone} (clocks go forward); the meeting is at "
                f"{when.local:%H:%M %Z} ({when.utc:%H:%MZ})"
            )
        else:
            message = (
                f"{wall} happens twice in {slot.zone} (clocks go back); the meeting is at the first, "
                f"{when.local:%H:%M %Z} ({when.utc:%H:%MZ})"
            )
        found.append(Notice(series.source, slot.line, f"schedule[{slot.index}].time", message))
    return found


def advisories(all_series: Iterable[Series], start: datetime, end: datetime) -> list[Notice]:
    """Week-53 and DST warnings for occurrences between the UTC instants start and end."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    years = week53_years(start.date(), end.date())
    found: list[Notice] = []
    for series in all_series:
        for slot in series.slots:
            found += [n for year in years if (n := _week53_notice(series, slot, year)) is not None]
            found += _dst_notices(series, slot, start, end)
    return found
