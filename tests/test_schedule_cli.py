"""`meetbot schedule list|check|ics|import`, run through the real command-line entry point."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from dateutil.rrule import rruleset, rrulestr
from icalendar import Calendar

from meetbot.cli import main
from meetbot.config import load_schedules, load_settings
from meetbot.schedule import occurrences
from tests.test_schedule_helpers import utc

MEETINGS = Path(__file__).resolve().parent / "data" / "meetings"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], list[str]]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out.splitlines(), err.splitlines()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "meetbot.yaml"
    path.write_text(f"schedules:\n  dir: {MEETINGS}\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------- list


def test_list_prints_one_occurrence_per_line(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    code, out, err = run(
        capsys,
        "schedule",
        "list",
        "-c",
        str(config),
        "--from",
        "2026-12-01",
        "--to",
        "2027-01-10",
        "--team",
        "hyperscale",
    )
    assert code == 0
    assert out == [
        "2026-12-02T16:00Z hyperscale #centos-meeting 60min CentOS Hyperscale SIG",
        "2026-12-16T16:00Z hyperscale #centos-meeting 60min CentOS Hyperscale SIG",
        "2027-01-06T16:00Z hyperscale #centos-meeting 60min CentOS Hyperscale SIG",
    ]
    # Week 53 is in the window: the warning goes to stderr, with the file and line.
    assert any(
        "centos-hyperscale-sig.yaml:6: schedule[0].frequency: warning: biweekly-odd: 2026" in e for e in err
    )


def test_list_to_is_inclusive(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    _, out, _ = run(
        capsys, "schedule", "list", "-c", str(config), "--from", "2026-12-02", "--to", "2026-12-02"
    )
    assert out == ["2026-12-02T16:00Z hyperscale #centos-meeting 60min CentOS Hyperscale SIG"]


def test_list_json(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    code, out, _ = run(
        capsys,
        "schedule",
        "list",
        "-c",
        str(config),
        "--from",
        "2026-12-03",
        "--to",
        "2026-12-03",
        "--format",
        "json",
    )
    assert code == 0
    found = json.loads("\n".join(out))
    assert [(o["start"], o["team"], o["place"]) for o in found] == [
        ("2026-12-03T14:00:00Z", "tc", "#openstack-tc"),
        ("2026-12-03T21:00:00Z", "nova", "#openstack-meeting"),
    ]
    assert found[1]["places"] == [{"kind": "irc", "room": "#openstack-meeting", "network": None}]
    assert found[1]["end"] == "2026-12-03T22:00:00Z"


def test_list_shows_local_time_and_changes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "meetbot.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            schedules:
              series:
                - project: Berlin Team
                  timezone: Europe/Berlin
                  schedule:
                    - {time: '1700', day: Monday, irc: berlin, frequency: weekly}
                  overrides:
                    - {date: 20261207, time: '1800', reason: board meeting}
                  extra_dates:
                    - {date: 20261208, reason: bug triage}
            """
        ),
        encoding="utf-8",
    )
    _, out, _ = run(capsys, "schedule", "list", "-c", str(path), "--from", "2026-11-30", "--to", "2026-12-08")
    assert out == [
        "2026-11-30T16:00Z berlin_team #berlin 60min Berlin Team (17:00 CET)",
        "2026-12-07T17:00Z berlin_team #berlin 60min Berlin Team (18:00 CET) [moved from 2026-12-07T16:00Z: "
        "board meeting]",
        "2026-12-08T16:00Z berlin_team #berlin 60min Berlin Team (17:00 CET) [extra: bug triage]",
    ]


def test_list_unknown_team(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    code, out, err = run(capsys, "schedule", "list", "-c", str(config), "--team", "nope")
    assert (code, out) == (2, [])
    assert err[-1].startswith("meetbot schedule: no series 'nope' (known: designate_dnsaas_meeting, docteam")


def test_list_reports_config_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "x.yaml").write_text("project: X\nschedule:\n  - {time: '1600', day: Funday, irc: x}\n")
    (tmp_path / "meetbot.yaml").write_text(f"schedules: {{dir: {tmp_path / 'm'}}}\n")
    code, out, err = run(capsys, "schedule", "list", "-c", str(tmp_path / "meetbot.yaml"))
    assert (code, out) == (2, [])
    assert err == [
        f"{tmp_path / 'm' / 'x.yaml'}:3: schedule[0].day: 'Funday' is not a day of the week; use one of "
        "Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday"
    ]


# --------------------------------------------------------------------------- check


def test_check_passes_on_the_upstream_examples(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    code, out, _ = run(
        capsys, "schedule", "check", "-c", str(config), "--from", "2026-11-01", "--to", "2028-05-01"
    )
    assert (code, out) == (0, ["6 series, no conflicts from 2026-11-01 to 2028-05-01"])


def test_check_fails_on_a_conflict(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    meetings = tmp_path / "meetings"
    meetings.mkdir()
    (meetings / "cadence.yaml").write_text(
        "project: Cadence\nschedule:\n  - {time: '1600', day: Wednesday, irc: centos-meeting,"
        " every: {weeks: 2},"
        " start_date: 20261202}\n"
    )
    (meetings / "even.yaml").write_text(
        "project: Even\nschedule:\n  - {time: '1630', day: Wednesday, irc: '#CentOS-Meeting',"
        " frequency: biweekly-even,"
        " start_date: 20270106, duration: 30}\n"
    )
    (tmp_path / "meetbot.yaml").write_text(f"schedules: {{dir: {meetings}}}\n")
    code, out, err = run(
        capsys,
        "schedule",
        "check",
        "-c",
        str(tmp_path / "meetbot.yaml"),
        "--from",
        "2026-11-01",
        "--to",
        "2027-01-20",
    )
    assert code == 1
    assert out == [
        "conflict: 2027-01-13T16:30Z #centos-meeting: cadence schedule[0] overlaps even schedule[0]"
    ]
    assert err[-1] == "1 conflict(s) among 2 series from 2026-11-01 to 2027-01-20"


# --------------------------------------------------------------------------- ics

ROUND_TRIP = """\
schedules:
  series:
    - project: Parity Berlin
      timezone: Europe/Berlin
      schedule:
        - time: '1600'
          day: Wednesday
          irc: parity
          frequency: biweekly-odd
          skip_dates: [{skip_date: 20261230, reason: holidays}]
        - {time: '0900', day: Thursday, irc: parity, frequency: quadweekly-week-1, matrix: '#p:example.org'}
      overrides:
        - {date: 20270120, time: '1800', reason: clash}
        - {date: 20270203, cancel: true}
        - {date: 20270303, new_date: 20270304, schedule: 0}
      extra_dates:
        - {date: 20270122, time: '1000'}
    - project: Cadence
      schedule:
        - {time: '2330', day: Sunday, irc: cadence, every: {weeks: 3}, start_date: 20261206,
           end_date: 20271231}
    - project: Monthly Sydney
      timezone: Australia/Sydney
      schedule:
        - {time: '0230', day: Sunday, irc: syd, frequency: first-sunday}
        - {time: '1200', day: Friday, irc: syd, frequency: last-friday}
        - {time: '1200', day: Wednesday, irc: syd, frequency: fifth-wednesday}
    - project: New York Even
      timezone: America/New_York
      schedule:
        - {time: '2000', day: Monday, irc: ny, frequency: biweekly-even, start_date: 20261207}
        - {time: '1000', day: Tuesday, irc: ny, frequency: weekly, start_date: 20261201}
        - {time: '1000', day: Tuesday, irc: ny2, frequency: adhoc}
"""


def _values(event: Any, name: str) -> list[datetime]:
    found = event.get(name)
    if found is None:
        return []
    return [when.dt for group in (found if isinstance(found, list) else [found]) for when in group.dts]


def expand(calendar: Calendar, start: datetime, end: datetime) -> list[tuple[str, datetime]]:
    """Every instance an RFC 5545 reader sees, as (uid, UTC start), using dateutil's rrule."""
    moved: dict[tuple[str, datetime], datetime] = {}
    found: list[tuple[str, datetime]] = []
    events = list(calendar.walk("VEVENT"))
    for event in events:
        if "recurrence-id" in event:
            moved[str(event["uid"]), event.decoded("recurrence-id")] = event.decoded("dtstart")
    for event in events:
        if "recurrence-id" in event:
            continue
        uid, dtstart = str(event["uid"]), event.decoded("dtstart")
        rules = rruleset()
        rules.rrule(rrulestr(event["rrule"].to_ical().decode(), dtstart=dtstart))
        for when in _values(event, "exdate"):
            rules.exdate(when)
        for when in _values(event, "rdate"):
            rules.rdate(when)
        for when in rules.between(start - (end - start), end, inc=True):
            found.append((uid, moved.get((uid, when), when)))
    return sorted((uid, when.astimezone(UTC)) for uid, when in found if start <= when < end)


@pytest.mark.parametrize(("first", "last"), [("2026-11-01", "2028-11-01"), ("2031-06-01", "2033-06-01")])
def test_ics_round_trip_matches_the_engine_over_two_years(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, first: str, last: str
) -> None:
    # Both windows cross a 53-week year (2026, 2032); the export always starts in 2026.
    path = tmp_path / "meetbot.yaml"
    path.write_text(ROUND_TRIP, encoding="utf-8")
    code, out, _ = run(
        capsys, "schedule", "ics", "-c", str(path), "-o", str(tmp_path / "ics"), "--from", "2026-11-01"
    )
    assert code == 0
    assert [Path(p).name for p in out] == [
        "parity_berlin.ics",
        "cadence.ics",
        "monthly_sydney.ics",
        "new_york_even.ics",
        "meetings.ics",
    ]
    calendar = Calendar.from_ical((tmp_path / "ics" / "meetings.ics").read_bytes())
    start, end = utc(first), utc(last)
    engine = occurrences(load_schedules(load_settings(path)).series, start, end)
    expected = sorted((f"{o.team}-{o.slot}@meetbot", o.start) for o in engine)
    assert len(expected) > 200
    assert expand(calendar, start, end) == expected


def test_ics_structure(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "meetbot.yaml"
    path.write_text(ROUND_TRIP, encoding="utf-8")
    run(capsys, "schedule", "ics", "-c", str(path), "-o", str(tmp_path / "ics"), "--from", "2026-11-01")
    calendar = Calendar.from_ical((tmp_path / "ics" / "meetings.ics").read_bytes())
    events = list(calendar.walk("VEVENT"))
    mains = [e for e in events if "recurrence-id" not in e]
    uids = [str(e["uid"]) for e in mains]
    assert len(uids) == len(set(uids)) == 8  # adhoc has no event
    assert {str(tz["tzid"]) for tz in calendar.walk("VTIMEZONE")} == {
        "Europe/Berlin",
        "Australia/Sydney",
        "America/New_York",
    }
    parity = next(e for e in mains if str(e["uid"]) == "parity_berlin-0@meetbot")
    assert parity["rrule"]["FREQ"] == ["YEARLY"]
    assert parity["rrule"]["BYWEEKNO"] == list(range(1, 54, 2))
    assert str(parity["dtstart"].params["TZID"]) == "Europe/Berlin"
    cadence = next(e for e in mains if str(e["uid"]) == "cadence-0@meetbot")
    assert cadence.decoded("dtstart") == utc("2026-12-06 23:30")
    assert cadence["rrule"]["INTERVAL"] == [3]
    moved = [e for e in events if "recurrence-id" in e]
    assert [str(e["comment"]) for e in moved if "comment" in e] == ["clash"]
    monthly = [str(e["rrule"]["BYDAY"][0]) for e in mains if str(e["uid"]).startswith("monthly")]
    assert monthly == ["1SU", "-1FR", "5WE"]


def test_ics_without_start_dates_for_week_53_stays_on_iso_weeks(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path
) -> None:
    run(capsys, "schedule", "ics", "-c", str(config), "-o", str(tmp_path / "ics"), "--from", "2026-11-21")
    calendar = Calendar.from_ical((tmp_path / "ics" / "hyperscale.ics").read_bytes())
    found = [when for _, when in expand(calendar, utc("2026-12-20"), utc("2027-01-25"))]
    # 12-30 is skipped (New Year break); 01-06 is W01 (odd), not yaml2ical's 01-13.
    assert found == [utc("2027-01-06 16:00"), utc("2027-01-20 16:00")]


# --------------------------------------------------------------------------- import


def test_import_lists_what_it_found(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(
        capsys, "schedule", "import", str(MEETINGS), "--from", "2026-11-21", "--network", "libera"
    )
    assert code == 0
    assert out[0] == (
        f"hyperscale: CentOS Hyperscale SIG ({MEETINGS / 'centos-hyperscale-sig.yaml'}): every two weeks on "
        "Wednesday (odd ISO weeks) at 16:00 UTC in #centos-meeting@libera"
    )
    assert len(out) == 6
    assert any("2026 has an ISO week 53" in line for line in err)
    assert err[-1] == f"6 series imported from {MEETINGS}"


def test_import_accepts_the_repository_root(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "meetings").symlink_to(MEETINGS)
    code, out, _ = run(capsys, "schedule", "import", str(tmp_path / "repo"))
    assert (code, len(out)) == (0, 6)


def test_import_writes_normalized_files_that_load_the_same(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out_dir = tmp_path / "normalized"
    code, _, _ = run(capsys, "schedule", "import", str(MEETINGS), "--write", str(out_dir))
    assert code == 0
    assert sorted(p.name for p in out_dir.iterdir())[:2] == ["designate_dnsaas_meeting.yaml", "docteam.yaml"]
    original = tmp_path / "a.yaml"
    original.write_text(f"schedules: {{dir: {MEETINGS}}}\n")
    rewritten = tmp_path / "b.yaml"
    rewritten.write_text(f"schedules: {{dir: {out_dir}}}\n")
    start, end = utc("2026-01-01"), utc("2028-01-01")

    def listing(config: Path) -> list[tuple[str, datetime]]:
        return sorted(
            (o.team, o.start) for o in occurrences(load_schedules(load_settings(config)).series, start, end)
        )

    assert listing(rewritten) == listing(original)
    assert "irc: '#openstack-meeting'" in (out_dir / "nova.yaml").read_text()


def test_import_reports_every_broken_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("project: A\nschedule:\n  - {time: '1600', day: Wednesday, irc: a}\n")
    (tmp_path / "b.yaml").write_text(
        "project: B\nschedule:\n  - time: 16:00\n    day: Monday\n    irc: b\n    frequency: weekly\n"
    )
    code, out, err = run(capsys, "schedule", "import", str(tmp_path))
    assert (code, out) == (1, [])
    assert err == [
        f"{tmp_path / 'a.yaml'}:3: schedule[0].frequency: required setting is missing; "
        "add 'frequency: weekly' (or every:)",
        f"{tmp_path / 'b.yaml'}:3: schedule[0].time: unquoted 16:00 is read by YAML 1.1 as the number 960; "
        'quote it: "16:00"',
        "meetbot schedule import: 2 problem(s); nothing imported",
    ]


def test_default_window_is_four_weeks_from_today(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    import argparse

    from meetbot.clock import FakeClock
    from meetbot.schedule_cli import register
    from meetbot.schedule_cli import run as run_schedule

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["schedule", "list", "-c", str(config), "--team", "hyperscale"])
    assert run_schedule(args, FakeClock(utc("2026-11-30 10:00"))) == 0
    out = capsys.readouterr().out.splitlines()
    # 28 days from 2026-11-30 end on 12-27: 12-02 and 12-16 (12-30 is outside, and skipped anyway).
    assert [line[:17] for line in out] == ["2026-12-02T16:00Z", "2026-12-16T16:00Z"]


def test_to_before_from_is_refused(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    code, out, err = run(
        capsys, "schedule", "list", "-c", str(config), "--from", "2026-12-02", "--to", "2026-12-01"
    )
    assert (code, out, err[-1]) == (2, [], "meetbot schedule: --to is before --from")


def test_import_as_cadence_keeps_the_next_meetings_and_follows_the_cadence_after_week_53(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out_dir = tmp_path / "cadence"
    args = [
        "schedule",
        "import",
        str(MEETINGS),
        "--write",
        str(out_dir),
        "--as-cadence",
        "--from",
        "2026-11-21",
    ]
    assert run(capsys, *args)[0] == 0
    text = (out_dir / "hyperscale.yaml").read_text()
    assert "every:\n    weeks: 2\n" in text
    assert "start_date: '2026-12-02'" in text
    config = tmp_path / "c.yaml"
    config.write_text(f"schedules: {{dir: {out_dir}}}\n")
    series = load_schedules(load_settings(config)).team("hyperscale")
    assert series is not None
    found = [o.start for o in occurrences([series], utc("2026-11-21"), utc("2027-01-20"))]
    # The skip stays; after week 53 the cadence gives 01-13 where the ISO rule said 01-06.
    assert found == [utc("2026-12-02 16:00"), utc("2026-12-16 16:00"), utc("2027-01-13 16:00")]
    assert "frequency: first-thursday" in (out_dir / "tc.yaml").read_text()
