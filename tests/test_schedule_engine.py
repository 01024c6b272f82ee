"""The recurrence engine against the computed cases of reference/scheduling.md section D."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from meetbot.schedule import (
    Place,
    Series,
    Slot,
    WeekParity,
    advisories,
    next_occurrences,
    nth_weekday,
    parse_frequency,
    resolve,
    series_occurrences,
    week53_years,
)
from tests.test_schedule_helpers import entry, series, starts, utc

# --------------------------------------------------------------------------- D.1 ISO week 53


def test_53_week_years() -> None:
    years = [y for y in range(2015, 2046) if date(y, 12, 28).isocalendar().week == 53]
    assert years == [2015, 2020, 2026, 2032, 2037, 2043]
    assert week53_years(date(2026, 11, 21), date(2027, 11, 21)) == [2026]
    assert week53_years(date(2027, 1, 5), date(2031, 12, 31)) == []
    assert tuple(date(2027, 1, 1).isocalendar()) == (2026, 53, 5)
    assert date.fromisocalendar(2027, 1, 1) == date(2027, 1, 4)


# --------------------------------------------------------------------------- D.2 parity rules

D2 = {
    "2026-11-21 04:15": {
        "biweekly-odd": ["2026-12-02", "2026-12-16", "2026-12-30"],
        "biweekly-even": ["2026-11-25", "2026-12-09", "2026-12-23"],
        "quadweekly": ["2026-11-25", "2026-12-23", "2027-01-27"],
        "quadweekly-week-1": ["2026-12-02", "2026-12-30", "2027-01-06"],
    },
    "2026-12-24 12:00": {
        "biweekly-odd": ["2026-12-30", "2027-01-06", "2027-01-20"],
        "biweekly-even": ["2027-01-13", "2027-01-27", "2027-02-10"],
        "quadweekly": ["2027-01-27", "2027-02-24", "2027-03-24"],
        "quadweekly-week-1": ["2026-12-30", "2027-01-06", "2027-02-03"],
    },
    "2026-12-30 15:59": {
        "biweekly-odd": ["2026-12-30"],
        "biweekly-even": ["2027-01-13"],
        "quadweekly": ["2027-01-27"],
        "quadweekly-week-1": ["2026-12-30"],
    },
    "2026-12-30 16:01": {
        "biweekly-odd": ["2027-01-06", "2027-01-20", "2027-02-03"],
        "biweekly-even": ["2027-01-13"],
        "quadweekly": ["2027-01-27"],
        "quadweekly-week-1": ["2027-01-06", "2027-02-03", "2027-03-03"],
    },
}


@pytest.mark.parametrize(
    ("now", "frequency", "expected"),
    [(now, freq, dates) for now, row in D2.items() for freq, dates in row.items()],
)
def test_parity_rules_next_three(now: str, frequency: str, expected: list[str]) -> None:
    found = next_occurrences([series(entry(frequency=frequency))], utc(now), len(expected))
    assert [f"{o.start:%Y-%m-%d %H:%M}" for o in found] == [f"{d} 16:00" for d in expected]


def test_biweekly_even_after_week_53_is_not_yaml2icals_odd_week() -> None:
    (found,) = next_occurrences([series(entry(frequency="biweekly-even"))], utc("2026-12-24"))
    assert found.start == utc("2027-01-13 16:00")
    assert found.start.isocalendar().week == 2


def test_week_53_warning_names_both_readings() -> None:
    odd = series(entry(frequency="biweekly-odd"), team="odd")
    even = series(entry(frequency="biweekly-even"), team="even")
    weekly = series(entry(), team="weekly")
    notices = advisories([odd, even, weekly], utc("2026-11-21"), utc("2027-11-21"))
    assert [n.source for n in notices] == ["odd.yaml", "even.yaml"]
    assert "meets on 2026-12-30 (2026-W53) and then 2027-01-06 (2027-W01), 1 week apart" in notices[0].message
    assert "would show 2027-01-13" in notices[0].message
    assert (
        "meets on 2026-12-23 (2026-W52) and then 2027-01-13 (2027-W02), 3 weeks apart" in notices[1].message
    )
    assert "would show 2027-01-06" in notices[1].message
    assert str(notices[0]).startswith("odd.yaml: schedule[0].frequency: warning: biweekly-odd: 2026 has")


def test_no_week_53_warning_outside_the_window() -> None:
    odd = series(entry(frequency="biweekly-odd"))
    assert advisories([odd], utc("2027-02-01"), utc("2028-02-01")) == []


# --------------------------------------------------------------------------- D.3 anchored cadence


def test_every_two_weeks_follows_the_start_date_across_week_53() -> None:
    cadence = series(entry(frequency=None, every={"weeks": 2}, start_date=20261202))
    assert starts(cadence, start="2026-11-01", end="2027-02-01") == [
        "2026-12-02 16:00",
        "2026-12-16 16:00",
        "2026-12-30 16:00",
        "2027-01-13 16:00",
        "2027-01-27 16:00",
    ]


def test_every_two_weeks_with_a_skip() -> None:
    cadence = series(
        entry(frequency=None, every={"weeks": 2}, start_date=20261202, skip_dates=[{"skip_date": 20261230}])
    )
    assert starts(cadence, start="2026-11-01", end="2027-01-20") == [
        "2026-12-02 16:00",
        "2026-12-16 16:00",
        "2027-01-13 16:00",
    ]


def test_cadence_window_starting_mid_series() -> None:
    cadence = series(entry(frequency=None, every={"weeks": 3}, start_date="2026-01-07"))
    assert starts(cadence, start="2026-02-01", end="2026-03-01") == ["2026-02-18 16:00"]


# --------------------------------------------------------------------------- D.4 DST


@pytest.mark.parametrize(
    ("zone", "before", "after"),
    [
        ("Europe/Berlin", "2026-03-25 15:00", "2026-04-01 14:00"),
        ("Europe/Berlin", "2026-10-21 14:00", "2026-10-28 15:00"),
        ("Europe/London", "2026-03-25 16:00", "2026-04-01 15:00"),
        ("Europe/London", "2026-10-21 15:00", "2026-10-28 16:00"),
        ("America/New_York", "2026-03-04 21:00", "2026-03-11 20:00"),
        ("America/New_York", "2026-10-28 20:00", "2026-11-04 21:00"),
        # 16:00 in Los Angeles is 00:00Z the next day in winter: the local date decides the rule.
        ("America/Los_Angeles", "2026-03-05 00:00", "2026-03-11 23:00"),
        ("America/Los_Angeles", "2026-10-28 23:00", "2026-11-05 00:00"),
        ("Australia/Sydney", "2026-04-01 05:00", "2026-04-08 06:00"),
        ("Australia/Sydney", "2026-09-30 06:00", "2026-10-07 05:00"),
    ],
)
def test_weekly_local_time_across_dst(zone: str, before: str, after: str) -> None:
    weekly = series(entry(), timezone=zone)
    found = starts(weekly, start=before, end=(utc(after) + timedelta(minutes=1)).isoformat()[:16])
    assert found == [before, after]


def test_2027_transitions() -> None:
    berlin = series(entry(day="Sunday", time="1200"), timezone="Europe/Berlin")
    assert starts(berlin, start="2027-03-21", end="2027-04-01") == ["2027-03-21 11:00", "2027-03-28 10:00"]
    sydney = series(entry(day="Sunday", time="1200"), timezone="Australia/Sydney")
    assert starts(sydney, start="2027-09-25", end="2027-10-05") == ["2027-09-26 02:00", "2027-10-03 01:00"]


def test_per_schedule_zone_overrides_the_series_zone() -> None:
    mixed = series(entry(), entry(time="0900", timezone="America/New_York"), timezone="Europe/Berlin")
    assert starts(mixed, start="2026-07-01", end="2026-07-02") == ["2026-07-01 13:00", "2026-07-01 14:00"]


def test_parity_uses_the_local_date() -> None:
    # Wednesday 20:00 in Los Angeles is Thursday 03:00Z; the ISO week is the Wednesday's.
    odd = series(entry(time="2000", frequency="biweekly-odd"), timezone="America/Los_Angeles")
    found = starts(odd, start="2026-12-01", end="2027-01-15")
    assert found == ["2026-12-03 04:00", "2026-12-17 04:00", "2026-12-31 04:00", "2027-01-07 04:00"]


# --------------------------------------------------------------------------- D.6 gaps and repeats


@pytest.mark.parametrize(
    ("zone", "day", "clock", "expected", "quirk", "shown"),
    [
        ("Europe/Berlin", date(2026, 3, 29), time(2, 30), "2026-03-29 01:30", "nonexistent", "03:30 CEST"),
        ("Europe/Berlin", date(2026, 10, 25), time(2, 30), "2026-10-25 00:30", "ambiguous", "02:30 CEST"),
        ("America/New_York", date(2026, 3, 8), time(2, 30), "2026-03-08 07:30", "nonexistent", "03:30 EDT"),
        ("America/New_York", date(2026, 11, 1), time(1, 30), "2026-11-01 05:30", "ambiguous", "01:30 EDT"),
        ("Europe/Berlin", date(2026, 7, 1), time(2, 30), "2026-07-01 00:30", None, "02:30 CEST"),
    ],
)
def test_nonexistent_moves_forward_and_ambiguous_takes_the_first(
    *, zone: str, day: date, clock: time, expected: str, quirk: str | None, shown: str
) -> None:
    when = resolve(day, clock, zone)
    assert when.utc == utc(expected)
    assert when.quirk == quirk
    assert f"{when.local:%H:%M %Z}" == shown


def test_autumn_repeat_gives_exactly_one_occurrence_and_both_warn() -> None:
    night = series(entry(day="Sunday", time="0230"), timezone="Europe/Berlin")
    assert starts(night, start="2026-10-24", end="2026-10-27") == ["2026-10-25 00:30"]
    assert starts(night, start="2026-03-28", end="2026-03-30") == ["2026-03-29 01:30"]
    notices = advisories([night], utc("2026-01-01"), utc("2027-01-01"))
    assert [n.message for n in notices] == [
        "2026-03-29 02:30 does not exist in Europe/Berlin (clocks go forward); the meeting is at 03:30 CEST "
        "(01:30Z)",
        "2026-10-25 02:30 happens twice in Europe/Berlin (clocks go back); the meeting is at the first, "
        "02:30 CEST (00:30Z)",
    ]
    assert {n.field for n in notices} == {"schedule[0].time"}


# --------------------------------------------------------------------------- D.7 monthly, leap day


def test_first_tuesday_counts_the_current_month() -> None:
    tc = series(entry(day="Tuesday", time="1400", frequency="first-tuesday"))
    found = next_occurrences([tc], utc("2026-12-01"), 4)
    assert [f"{o.start:%Y-%m-%d %H:%M}" for o in found] == [
        "2026-12-01 14:00",
        "2027-01-05 14:00",
        "2027-02-02 14:00",
        "2027-03-02 14:00",
    ]


def test_third_wednesday() -> None:
    third = series(entry(frequency="third-wednesday"))
    assert [f"{o.start:%m-%d}" for o in next_occurrences([third], utc("2026-12-01"), 3)] == [
        "12-16",
        "01-20",
        "02-17",
    ]


def test_fifth_wednesday_skips_months_without_one() -> None:
    fifth = series(entry(frequency="fifth-wednesday"))
    assert [s[:10] for s in starts(fifth, start="2026-01-01", end="2028-01-01")] == [
        "2026-04-29",
        "2026-07-29",
        "2026-09-30",
        "2026-12-30",
        "2027-03-31",
        "2027-06-30",
        "2027-09-29",
        "2027-12-29",
    ]


def test_last_friday() -> None:
    last = series(entry(day="Friday", frequency="last-friday"))
    assert [f"{o.start:%Y-%m-%d}" for o in next_occurrences([last], utc("2026-11-21"), 4)] == [
        "2026-11-27",
        "2026-12-25",
        "2027-01-29",
        "2027-02-26",
    ]


def test_leap_day_2028() -> None:
    assert date(2028, 2, 29).isocalendar()[:2] == (2028, 9)
    last_tuesday = series(entry(day="Tuesday", frequency="last-tuesday"))
    assert starts(last_tuesday, start="2028-02-01", end="2028-04-01") == [
        "2028-02-29 16:00",
        "2028-03-28 16:00",
    ]
    odd_tuesday = series(entry(day="Tuesday", frequency="biweekly-odd"))
    assert "2028-02-29 16:00" in starts(odd_tuesday, start="2028-02-20", end="2028-03-05")
    assert nth_weekday(2100, 2, 6, -1) == date(2100, 2, 28)  # 2100 is no leap year


def test_weekend_monthly_rules() -> None:
    sunday = series(entry(day="Sunday", frequency="second-sunday"))
    assert starts(sunday, start="2026-11-01", end="2026-12-31") == ["2026-11-08 16:00", "2026-12-13 16:00"]


# --------------------------------------------------------------------------- range, skips, overrides


def test_start_and_end_dates_bound_the_rule() -> None:
    bounded = series(entry(start_date=20261202, end_date=20261216))
    assert starts(bounded, start="2026-11-01", end="2027-01-01") == [
        "2026-12-02 16:00",
        "2026-12-09 16:00",
        "2026-12-16 16:00",
    ]


def test_adhoc_never_occurs() -> None:
    assert starts(series(entry(frequency="adhoc")), start="2026-01-01", end="2028-01-01") == []


def test_overrides_move_and_cancel_and_extras_add() -> None:
    moved = series(
        entry(),
        overrides=[
            {"date": 20261209, "time": "1700", "reason": "release meeting"},
            {"date": 20261216, "cancel": True},
            {"date": 20261223, "new_date": 20261222},
        ],
        extra_dates=[{"date": 20261211, "time": "0900", "reason": "planning"}],
    )
    found = series_occurrences(moved, utc("2026-12-01"), utc("2027-01-01"))
    assert [(f"{o.start:%m-%d %H:%M}", o.kind, o.note) for o in found] == [
        ("12-02 16:00", "scheduled", None),
        ("12-09 17:00", "moved", "release meeting"),
        ("12-11 09:00", "extra", "planning"),
        ("12-22 16:00", "moved", None),
        ("12-30 16:00", "scheduled", None),
    ]
    assert found[1].original_start == utc("2026-12-09 16:00")


def test_a_move_counts_where_it_lands() -> None:
    moved = series(entry(), overrides=[{"date": 20261230, "new_date": 20270106, "time": "1000"}])
    assert "2026-12-30 16:00" not in starts(moved, start="2026-12-20", end="2027-01-10")
    assert "2027-01-06 10:00" in starts(moved, start="2027-01-06", end="2027-01-07")
    assert starts(moved, start="2026-12-30", end="2026-12-31") == []


def test_next_occurrences_across_series_and_team_filter() -> None:
    a = series(entry(), team="a")
    b = series(entry(day="Thursday", irc="other"), team="b")
    found = next_occurrences([a, b], utc("2026-12-01"), 3)
    assert [(o.team, f"{o.start:%m-%d}") for o in found] == [("a", "12-02"), ("b", "12-03"), ("a", "12-09")]
    assert [o.team for o in next_occurrences([a, b], utc("2026-12-01"), 2, team="b")] == ["b", "b"]
    assert next_occurrences([series(entry(frequency="adhoc"))], utc("2026-12-01")) == []


def test_occurrences_are_instants_in_utc_with_local_start() -> None:
    (found,) = series_occurrences(
        series(entry(), timezone="Europe/Berlin"), utc("2026-12-02"), utc("2026-12-03")
    )
    assert found.start.tzinfo is UTC
    assert found.end - found.start == timedelta(hours=1)
    assert found.local_start.isoformat() == "2026-12-02T16:00:00+01:00"
    assert found.places == (Place("irc", "#centos-meeting"),)


def test_slot_built_directly() -> None:
    slot = Slot(
        index=0,
        recurrence=parse_frequency("biweekly-even"),
        weekday=2,
        time=time(16),
        zone="UTC",
        duration=timedelta(hours=1),
        places=(Place("matrix", "#meeting:example.org"),),
    )
    assert slot.recurrence == WeekParity(2, 0)
    direct = Series("direct", "Direct", (slot,))
    found = series_occurrences(direct, datetime(2027, 1, 1, tzinfo=UTC), datetime(2027, 1, 31, tzinfo=UTC))
    assert [o.start.day for o in found] == [13, 27]


def test_the_engine_imports_only_the_standard_library() -> None:
    import ast
    import sys
    from pathlib import Path

    package = Path(__file__).resolve().parent.parent / "meetbot" / "schedule"
    outside: set[str] = set()
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            outside |= {n for n in names if n.split(".")[0] not in sys.stdlib_module_names}
    assert {n for n in outside if not n.startswith("meetbot.schedule")} == set()
