"""Properties of the recurrence engine over generated rules, zones and windows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from meetbot.schedule import (
    WEEKDAYS,
    EveryWeeks,
    MonthlyNth,
    WeekParity,
    nth_weekday,
    parse_frequency,
    series_occurrences,
)
from tests.test_schedule_helpers import entry, series

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "Australia/Sydney",
    "Asia/Kolkata",
]
PARITY = ["weekly", "biweekly-odd", "biweekly-even", "quadweekly", "quadweekly-week-1", "quadweekly-week-3"]
MONTHLY = [f"{o}-{{day}}" for o in ("first", "second", "third", "fourth", "fifth", "last")]

days = st.dates(min_value=date(2024, 1, 1), max_value=date(2034, 12, 31))
clock = st.builds(lambda h, m: f"{h:02d}{m:02d}", st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
weekday = st.integers(0, 6)


def window(first: date, length: int) -> tuple[datetime, datetime]:
    start = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    return start, start + timedelta(days=length)


@settings(max_examples=150, deadline=None)
@given(
    frequency=st.sampled_from(PARITY),
    day=weekday,
    time=clock,
    zone=st.sampled_from(ZONES),
    first=days,
    length=st.integers(1, 400),
    skip_weeks=st.lists(st.integers(0, 60), max_size=4),
)
def test_parity_rules_hold_on_every_occurrence(
    *, frequency: str, day: int, time: str, zone: str, first: date, length: int, skip_weeks: list[int]
) -> None:
    rule = parse_frequency(frequency)
    assert isinstance(rule, WeekParity)
    # Skip dates must name the weekday; a few of them are real meeting days, others skip nothing.
    monday = first - timedelta(days=first.weekday())
    skips = sorted({monday + timedelta(weeks=w, days=day) for w in skip_weeks})
    one = series(
        entry(
            day=WEEKDAYS[day], time=time, frequency=frequency, skip_dates=[{"skip_date": s} for s in skips]
        ),
        timezone=zone,
    )
    start, end = window(first, length)
    found = series_occurrences(one, start, end)
    assert found == sorted(found)
    assert len({o.start for o in found}) == len(found)
    for occurrence in found:
        local = occurrence.local_start.date()
        assert start <= occurrence.start < end
        assert local.weekday() == day
        assert local.isocalendar().week % rule.modulus == rule.remainder
        assert local not in skips


@settings(max_examples=100, deadline=None)
@given(
    weeks=st.integers(1, 8), day=weekday, first=days, zone=st.sampled_from(ZONES), length=st.integers(1, 500)
)
def test_cadence_steps_exactly_n_weeks_from_its_start(
    weeks: int, day: int, first: date, zone: str, length: int
) -> None:
    anchor = first + timedelta(days=(day - first.weekday()) % 7)
    one = series(
        entry(day=WEEKDAYS[day], frequency=None, every={"weeks": weeks}, start_date=anchor.isoformat()),
        timezone=zone,
    )
    assert isinstance(one.slots[0].recurrence, EveryWeeks)
    start, end = window(first - timedelta(days=30), length)
    local = [o.local_start.date() for o in series_occurrences(one, start, end)]
    assert all(d >= anchor and (d - anchor).days % (7 * weeks) == 0 for d in local)
    assert all((b - a).days == 7 * weeks for a, b in pairwise(local))


@settings(max_examples=100, deadline=None)
@given(ordinal=st.sampled_from(MONTHLY), day=weekday, first=days, length=st.integers(1, 800))
def test_monthly_rules_name_the_nth_weekday(ordinal: str, day: int, first: date, length: int) -> None:
    frequency = ordinal.format(day=WEEKDAYS[day].lower())
    rule = parse_frequency(frequency)
    assert isinstance(rule, MonthlyNth)
    start, end = window(first, length)
    found = [
        o.local_start.date()
        for o in series_occurrences(series(entry(day=WEEKDAYS[day], frequency=frequency)), start, end)
    ]
    assert len({(d.year, d.month) for d in found}) == len(found)
    for local in found:
        assert local == nth_weekday(local.year, local.month, day, rule.nth)
        if rule.nth == -1:
            assert (local + timedelta(weeks=1)).month != local.month
        else:
            assert (local.day - 1) // 7 + 1 == rule.nth
