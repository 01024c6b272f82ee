"""Conflict detection: yaml2ical's matrix (reference D.9), with its false positives and misses fixed."""

from __future__ import annotations

from typing import Any

import pytest

from meetbot.schedule import Conflict, Series, find_conflicts
from tests.test_schedule_helpers import entry, series, utc


def conflicts(*all_series: Series, start: str = "2026-11-01", end: str = "2028-05-01") -> list[Conflict]:
    return find_conflicts(all_series, utc(start), utc(end))


def pair(a: dict[str, Any], b: dict[str, Any]) -> list[Conflict]:
    return conflicts(series(a, team="a"), series(b, team="b"))


def test_biweekly_vs_weekly_half_an_hour_later() -> None:
    (found,) = pair(entry(frequency="biweekly-odd"), entry(time="1630", duration=30))
    assert (found.a, found.b) == (("a", 0), ("b", 0))
    assert found.first == utc("2026-11-04 16:30")


def test_sunday_late_vs_monday_midnight() -> None:
    assert pair(entry(day="Sunday", time="2330"), entry(day="Monday", time="0000", frequency="biweekly-even"))


def test_sunday_running_to_midnight_vs_overlapping_sunday() -> None:
    # yaml2ical's synthetic-week shift misses this one.
    assert pair(entry(day="Sunday", time="2300"), entry(day="Sunday", time="2200", duration=90))


def test_back_to_back_is_no_conflict() -> None:
    assert pair(entry(time="1200", duration=30), entry(time="1230")) == []


def test_odd_and_even_weeks_share_a_slot() -> None:
    assert pair(entry(frequency="biweekly-odd"), entry(frequency="biweekly-even")) == []


def test_first_and_third_tuesday_never_meet() -> None:
    first = entry(day="Tuesday", time="1400", frequency="first-tuesday")
    third = entry(day="Tuesday", time="1400", frequency="third-tuesday")
    assert pair(first, third) == []


def test_monthly_collides_with_weekly_and_both_parities() -> None:
    monthly = entry(time="2200", frequency="first-wednesday")
    for other in ("weekly", "biweekly-odd", "biweekly-even", "quadweekly", "quadweekly-week-2"):
        assert pair(monthly, entry(time="2200", frequency=other)), other


def test_adhoc_neither_crashes_nor_conflicts() -> None:
    assert pair(entry(frequency="adhoc"), entry()) == []


def test_identical_schedules_in_one_file() -> None:
    (found,) = conflicts(series(entry(), entry()))
    assert (found.a, found.b) == (("demo", 0), ("demo", 1))


def test_channel_spelling_and_case_are_one_place() -> None:
    assert pair(entry(irc="#centos-meeting"), entry(irc="CentOS-Meeting"))


def test_other_channel_or_network_is_another_place() -> None:
    assert pair(entry(irc="centos-meeting"), entry(irc="centos-devel")) == []
    a = series(entry(irc_network="libera"), team="a").slots[0].places[0]
    b = series(entry(irc_network="oftc"), team="b").slots[0].places[0]
    assert a.key != b.key


def test_matrix_room_conflicts_too() -> None:
    room = "#meeting:fedora.im"
    assert pair(entry(irc=None, matrix=room), entry(irc=None, matrix=room, frequency="biweekly-odd"))


def test_cadence_vs_even_weeks_collide_after_week_53() -> None:
    cadence = series(entry(frequency=None, every={"weeks": 2}, start_date=20261202), team="a")
    even = series(entry(frequency="biweekly-even", start_date=20270106), team="b")
    found = conflicts(cadence, even, end="2027-06-01")
    assert len(found) == 1
    assert found[0].first == utc("2027-01-13 16:00")
    assert str(found[0]).startswith("2027-01-13T16:00Z #centos-meeting: a schedule[0] overlaps b schedule[0]")


def test_a_skip_removes_only_that_collision() -> None:
    weekly = series(entry(), team="a")
    skipping = series(entry(skip_dates=[{"skip_date": 20261209, "reason": "holiday"}]), team="b")
    (all_weeks,) = conflicts(weekly, series(entry(), team="b"), start="2026-12-01", end="2027-01-01")
    (with_skip,) = conflicts(weekly, skipping, start="2026-12-01", end="2027-01-01")
    assert (all_weeks.count, with_skip.count) == (5, 4)
    assert "and 3 more until 2026-12-30T16:00Z" in str(with_skip)


def test_skipping_the_only_collision_removes_the_conflict() -> None:
    cadence = series(
        entry(frequency=None, every={"weeks": 2}, start_date=20261202, skip_dates=[{"skip_date": 20270113}]),
        team="a",
    )
    even = series(entry(frequency="biweekly-even", start_date=20270106), team="b")
    # From 2027-01-13 on, the cadence has drifted onto even weeks for good; look at that one only.
    assert conflicts(cadence, even, end="2027-01-20") == []
    assert conflicts(cadence, even, end="2027-01-28")[0].first == utc("2027-01-27 16:00")


def test_a_moved_meeting_conflicts_where_it_lands() -> None:
    a = series(entry(), team="a", overrides=[{"date": 20261202, "new_date": 20261203}])
    b = series(entry(day="Thursday"), team="b")
    (found,) = conflicts(a, b, start="2026-12-01", end="2026-12-31")
    assert found.first == utc("2026-12-03 16:00")
    assert found.count == 1


QUAD = {0: "quadweekly", 1: "quadweekly-week-1", 2: "quadweekly-week-2", 3: "quadweekly-week-3"}


@pytest.mark.parametrize(
    ("parity", "week", "clash"),
    [
        (p, w, w % 2 == (1 if p == "biweekly-odd" else 0))
        for p in ("biweekly-odd", "biweekly-even")
        for w in QUAD
    ],
)
def test_biweekly_vs_quadweekly_matrix(parity: str, week: int, clash: bool) -> None:
    # Outside 53-week years: across 2027 W53 odd weeks meet twice in a row and can hit any quadweekly.
    found = conflicts(
        series(entry(frequency=parity), team="a"),
        series(entry(frequency=QUAD[week]), team="b"),
        start="2027-02-01",
        end="2031-12-01",
    )
    assert bool(found) == clash


@pytest.mark.parametrize(("x", "y"), [(x, y) for x in QUAD for y in QUAD])
def test_quadweekly_vs_quadweekly_only_same_week(x: int, y: int) -> None:
    found = conflicts(
        series(entry(frequency=QUAD[x]), team="a"),
        series(entry(frequency=QUAD[y]), team="b"),
        start="2027-02-01",
        end="2031-12-01",
    )
    assert bool(found) == (x == y)


def test_week_53_makes_odd_weeks_meet_an_otherwise_disjoint_quadweekly() -> None:
    # W53 (odd) is quadweekly-week-1 territory and so is W01: real dates, not a synthetic week.
    found = conflicts(
        series(entry(frequency="quadweekly-week-1"), team="a"),
        series(entry(frequency="quadweekly-week-3"), team="b"),
        start="2026-11-01",
        end="2027-03-01",
    )
    assert found == []
    (found_odd,) = conflicts(
        series(entry(frequency="biweekly-odd"), team="a"),
        series(entry(frequency="quadweekly-week-1"), team="b"),
        start="2026-12-20",
        end="2027-01-10",
    )
    assert found_odd.count == 2
