"""The `schedules:` config: irc-meetings files import unchanged; every mistake names file, line and field."""

from __future__ import annotations

import textwrap
from datetime import date, time, timedelta
from pathlib import Path

import pytest

from meetbot.config import ConfigError, Schedules, check_config, load_schedules, load_settings
from meetbot.schedule import MonthlyNth, Place, WeekParity, occurrences
from tests.test_schedule_helpers import utc

MEETINGS = Path(__file__).resolve().parent / "data" / "meetings"

IRC = """\
networks:
  - {name: libera, type: irc, host: irc.libera.chat, nick: meetbot}
  - {name: oftc, type: irc, host: irc.oftc.net, nick: meetbot}
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(tmp_path: Path, config: str) -> Schedules:
    return load_schedules(load_settings(write(tmp_path / "meetbot.yaml", config)))


def dir_problems(tmp_path: Path, series_file: str, config: str = "") -> list[str]:
    """Problems reported for one series file in schedules.dir, with paths relative to tmp_path."""
    write(tmp_path / "meetings" / "board.yaml", series_file)
    main = write(tmp_path / "meetbot.yaml", config + f"schedules:\n  dir: {tmp_path / 'meetings'}\n")
    with pytest.raises(ConfigError) as caught:
        load_schedules(load_settings(main))
    return [str(issue).replace(f"{tmp_path}/", "") for issue in caught.value.issues]


BOARD = """\
project: CentOS Board
schedule:
  - time: '1600'
    day: Wednesday
    irc: centos-meeting
    frequency: biweekly-odd
"""

# --------------------------------------------------------------------------- loading


def test_no_schedules_by_default(tmp_path: Path) -> None:
    assert load(tmp_path, "log_level: INFO\n") == Schedules()


def test_upstream_files_import_unchanged(tmp_path: Path) -> None:
    loaded = load(tmp_path, f"schedules:\n  dir: {MEETINGS}\n")
    assert [s.team for s in loaded.series] == [
        "hyperscale",
        "openstack-chef",
        "designate_dnsaas_meeting",
        "docteam",
        "nova",
        "tc",
    ]
    nova = loaded.team("nova")
    assert nova is not None
    assert nova.project == "Nova Team Meeting"
    assert nova.chair == "Eric Fried (efried)"
    assert nova.agenda_url == "https://wiki.openstack.org/wiki/Meetings/Nova"
    even, odd = nova.slots
    assert (even.recurrence, even.weekday, even.time, even.start_date) == (
        WeekParity(2, 0),
        3,
        time(14),
        date(2016, 1, 14),
    )
    assert (odd.recurrence, odd.time, odd.line) == (WeekParity(2, 1), time(21), 10)
    assert even.places == (Place("irc", "#openstack-meeting"),)
    assert nova.source == str(MEETINGS / "nova-team-meeting.yaml")
    doc = loaded.team("docteam")
    assert doc is not None
    assert doc.slots[0].duration == timedelta(minutes=30)
    tc = loaded.team("tc")
    assert tc is not None
    assert tc.slots[0].recurrence == MonthlyNth(1, 3)


def test_upstream_files_list_what_their_rules_say(tmp_path: Path) -> None:
    loaded = load(tmp_path, f"schedules:\n  dir: {MEETINGS}\n")
    found = occurrences(loaded.series, utc("2026-12-01"), utc("2027-01-16"))
    assert [f"{o.start:%m-%d %H:%M} {o.team}" for o in found] == [
        "12-02 16:00 hyperscale",  # W49 odd
        "12-03 14:00 tc",  # first Thursday
        "12-03 21:00 nova",  # W49 odd: the 2100 slot
        "12-09 17:00 designate_dnsaas_meeting",  # W50: 50 % 4 == 2, the alternate slot
        "12-10 14:00 nova",
        "12-10 16:00 docteam",
        "12-16 16:00 hyperscale",
        "12-17 21:00 nova",
        "12-23 11:00 designate_dnsaas_meeting",  # W52 % 4 == 0
        "12-24 14:00 nova",  # docteam skips 12-24 (Holidays)
        "12-31 21:00 nova",  # W53 odd; hyperscale skips 12-30 (New Year break)
        "01-06 16:00 hyperscale",  # W01 odd again
        "01-07 14:00 tc",
        "01-07 21:00 nova",
        "01-13 17:00 designate_dnsaas_meeting",
        "01-14 14:00 nova",
        "01-14 16:00 docteam",
    ]


def test_load_warns_about_an_upstream_start_date_in_the_wrong_week(tmp_path: Path) -> None:
    loaded = load(tmp_path, f"schedules:\n  dir: {MEETINGS}\n")
    (warning,) = loaded.warnings
    assert str(warning) == (
        f"{MEETINGS / 'doc-team-meeting.yaml'}:10: schedule[0].start_date: warning: 2016-11-10 is in ISO "
        "week 45, which biweekly-even skips; the first meeting is 2016-11-17"
    )


def test_inline_series_with_our_additions(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        IRC
        + textwrap.dedent(
            """\
        schedules:
          display_timezones: [America/New_York]
          series:
            - project: Release Team
              timezone: Europe/Prague
              reminders:
                - before: 24h
                - {before: 15m, ping: [jdoe]}
                - at_start: true
              schedule:
                - time: '09:30'
                  day: Monday
                  irc: '#release'
                  irc_network: oftc
                  matrix: '#release:example.org'
                  every: {weeks: 3}
                  start_date: 2026-12-07
                  end_date: 2027-06-30
              overrides:
                - {date: 20261228, cancel: true, reason: holidays}
              extra_dates:
                - {date: 20261230, time: '1400'}
        """
        ),
    )
    (release,) = loaded.series
    assert release.team == "release_team"
    assert loaded.display_timezones == ("America/New_York",)
    (slot,) = release.slots
    assert slot.zone == "Europe/Prague"
    assert slot.places == (Place("irc", "#release", "oftc"), Place("matrix", "#release:example.org"))
    assert (slot.start_date, slot.end_date) == (date(2026, 12, 7), date(2027, 6, 30))
    assert release.reminders is not None
    assert [r.before for r in release.reminders] == [timedelta(hours=24), timedelta(minutes=15), timedelta(0)]
    assert release.reminders[1].ping == ("jdoe",)
    found = occurrences([release], utc("2026-12-01"), utc("2027-01-31"))
    assert [f"{o.start:%m-%d %H:%M} {o.kind}" for o in found] == [
        "12-07 08:30 scheduled",
        "12-30 13:00 extra",
        "01-18 08:30 scheduled",
    ]


def test_irc_without_network_gets_the_first_irc_network(tmp_path: Path) -> None:
    loaded = load(tmp_path, IRC + f"schedules:\n  dir: {MEETINGS}\n")
    assert {place.network for s in loaded.series for slot in s.slots for place in slot.places} == {"libera"}


def test_example_config_schedules_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEETBOT_IRC_PASSWORD", "x")
    monkeypatch.setenv("MEETBOT_MATRIX_TOKEN", "y")
    settings = load_settings(Path(__file__).resolve().parent.parent / "config.example.yaml")
    (hyperscale,) = load_schedules(settings).series
    assert hyperscale.team == "hyperscale"
    assert hyperscale.slots[0].places == (Place("irc", "#centos-meeting", "libera"),)


def test_yml_files_are_ignored_with_a_warning(tmp_path: Path) -> None:
    write(tmp_path / "meetings" / "board.yml", BOARD)
    loaded = load(tmp_path, f"schedules:\n  dir: {tmp_path / 'meetings'}\n")
    assert loaded.series == ()
    assert "ignored: series files end in .yaml" in str(loaded.warnings[0])


# --------------------------------------------------------------------------- the YAML traps


def test_unquoted_time_is_960(tmp_path: Path) -> None:
    assert dir_problems(tmp_path, BOARD.replace("'1600'", "16:00")) == [
        "meetings/board.yaml:3: schedule[0].time: unquoted 16:00 is read by YAML 1.1 as the number 960; "
        'quote it: "16:00"'
    ]


def test_unquoted_hhmm_is_a_number(tmp_path: Path) -> None:
    assert dir_problems(tmp_path, BOARD.replace("'1600'", "1600")) == [
        "meetings/board.yaml:3: schedule[0].time: unquoted 1600 is read by YAML as a number, not text; "
        'quote it: "1600"'
    ]


def test_octal_time(tmp_path: Path) -> None:
    (problem,) = dir_problems(tmp_path, BOARD.replace("'1600'", "0700"))
    assert problem.startswith(
        "meetings/board.yaml:3: schedule[0].time: unquoted 0700 is read by YAML 1.1 as the octal"
    )


def test_channel_lost_as_a_comment(tmp_path: Path) -> None:
    assert dir_problems(tmp_path, BOARD.replace("irc: centos-meeting", "irc: #centos-meeting")) == [
        "meetings/board.yaml:5: schedule[0].irc: #centos-meeting starts a YAML comment, "
        'so this value is empty; quote it: "#centos-meeting"'
    ]


def test_quoted_hash_channel_is_fine(tmp_path: Path) -> None:
    write(
        tmp_path / "meetings" / "board.yaml", BOARD.replace("irc: centos-meeting", "irc: '#centos-meeting'")
    )
    (board,) = load(tmp_path, f"schedules:\n  dir: {tmp_path / 'meetings'}\n").series
    assert board.slots[0].places == (Place("irc", "#centos-meeting"),)


def test_weekday_contradicting_the_frequency(tmp_path: Path) -> None:
    text = BOARD.replace("Wednesday", "Thursday").replace("biweekly-odd", "first-tuesday")
    assert dir_problems(tmp_path, text) == [
        "meetings/board.yaml:4: schedule[0].day: day Thursday contradicts frequency first-tuesday "
        "(a Tuesday); make them name the same weekday"
    ]


def test_start_date_not_on_the_day(tmp_path: Path) -> None:
    assert dir_problems(tmp_path, BOARD + "    start_date: 20261201\n") == [
        "meetings/board.yaml:7: schedule[0].start_date: 2026-12-01 is a Tuesday, but the meeting is on "
        "Wednesday; did you mean 20261202?"
    ]


def test_unknown_zone(tmp_path: Path) -> None:
    (problem,) = dir_problems(tmp_path, BOARD + "timezone: Europe/Berln\n")
    assert problem.startswith("meetings/board.yaml:7: timezone: unknown time zone; use an IANA name")
    assert problem.endswith("did you mean 'Europe/Berlin'?")


def test_fixed_offset_zone(tmp_path: Path) -> None:
    (problem,) = dir_problems(tmp_path, BOARD + "timezone: UTC+2\n")
    assert "'UTC+2' is a fixed offset that ignores daylight saving time" in problem


def test_yaml_dates_and_compact_dates_are_both_dates(tmp_path: Path) -> None:
    write(tmp_path / "meetings" / "a.yaml", BOARD + "    start_date: 2026-12-02\n")
    write(tmp_path / "meetings" / "b.yaml", BOARD.replace("Board", "Other") + "    start_date: '20261202'\n")
    a, b = load(tmp_path, f"schedules:\n  dir: {tmp_path / 'meetings'}\n").series
    assert a.slots[0].start_date == b.slots[0].start_date == date(2026, 12, 2)


@pytest.mark.parametrize(
    ("change", "line", "field", "message"),
    [
        (
            ("day:        Wednesday", "day: Wed"),
            4,
            "schedule[0].day",
            "'Wed' is not a day of the week; write 'Wednesday'",
        ),
        (
            ("biweekly-odd", "biweekly"),
            6,
            "schedule[0].frequency",
            "unknown frequency 'biweekly'; say which weeks: biweekly-odd or biweekly-even",
        ),
        (
            ("biweekly-odd", "quadweekly-week-4"),
            6,
            "schedule[0].frequency",
            "did you mean 'quadweekly-week-3'?",
        ),
        (("'1600'", "'2500'"), 3, "schedule[0].time", "'2500' is not a time; write it as 'HHMM' or 'HH:MM'"),
        (("    irc: centos-meeting\n", ""), 3, "schedule[0].irc", "say where the meeting is: add irc:"),
        (("frequency", "frequenzy"), 6, "schedule[0].frequenzy", "unknown setting 'frequenzy'; did you mean"),
    ],
)
def test_field_errors(tmp_path: Path, change: tuple[str, str], line: int, field: str, message: str) -> None:
    text = BOARD.replace("day: Wednesday", "day:        Wednesday").replace(*change)
    problems = dir_problems(tmp_path, text)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"meetings/board.yaml:{line}: {field}: ")
    assert message in problems[0]


def test_every_needs_a_start_date_and_excludes_frequency(tmp_path: Path) -> None:
    every = BOARD.replace("frequency: biweekly-odd", "every: {weeks: 2}")
    assert dir_problems(tmp_path, every) == [
        "meetings/board.yaml:3: schedule[0].start_date: every: counts from start_date; add start_date: "
        "(the first meeting)"
    ]
    both = BOARD + "    every: {weeks: 2}\n"
    (problem,) = dir_problems(tmp_path, both)
    assert problem.startswith("meetings/board.yaml:7: schedule[0].every: give either frequency: or every:")


def test_overrides_must_name_a_real_meeting(tmp_path: Path) -> None:
    text = (
        BOARD
        + "overrides:\n  - {date: 20261209, cancel: true}\n  - {date: 20261216, schedule: 3, cancel: true}\n"
    )
    assert dir_problems(tmp_path, text) == [
        "meetings/board.yaml:9: overrides[1].schedule: there is no schedule[3]; this series has 1 "
        "(numbered from 0)"
    ]
    assert dir_problems(tmp_path, BOARD + "overrides:\n  - {date: 20261209, cancel: true}\n") == [
        "meetings/board.yaml:8: overrides[0].date: schedule[0] does not meet on 2026-12-09; give the date of "
        "the meeting to change, as it would have been"
    ]
    (problem,) = dir_problems(
        tmp_path, BOARD + "overrides:\n  - {date: 20261202, cancel: true, time: '1700'}\n"
    )
    assert "a cancelled meeting has no new time" in problem


def test_skip_date_on_another_weekday(tmp_path: Path) -> None:
    text = BOARD + "    skip_dates:\n      - skip_date: 20261231\n        reason: New Year\n"
    assert dir_problems(tmp_path, text) == [
        "meetings/board.yaml:8: schedule[0].skip_dates[0].skip_date: 2026-12-31 is a Thursday; this meeting "
        "is on Wednesday"
    ]


def test_skip_date_that_skips_nothing_is_a_warning(tmp_path: Path) -> None:
    write(tmp_path / "meetings" / "board.yaml", BOARD + "    skip_dates:\n      - skip_date: 20261209\n")
    loaded = load(tmp_path, f"schedules:\n  dir: {tmp_path / 'meetings'}\n")
    (warning,) = loaded.warnings
    assert str(warning).endswith(
        "board.yaml:8: schedule[0].skip_dates[0].skip_date: warning: 2026-12-09 is not a meeting date "
        "of this schedule, so it skips nothing"
    )


def test_duplicate_team_names_the_first_definition(tmp_path: Path) -> None:
    write(tmp_path / "meetings" / "a.yaml", BOARD + "meeting_id: board\n")
    problems = dir_problems(tmp_path, BOARD + "meeting_id: board\n")
    assert problems == [
        "meetings/board.yaml:7: meeting_id: team 'board' is already defined at meetings/a.yaml:1; give this "
        "series its own meeting_id"
    ]


def test_unknown_irc_network(tmp_path: Path) -> None:
    (problem,) = dir_problems(tmp_path, BOARD + "    irc_network: efnet\n", config=IRC)
    assert problem == (
        "meetings/board.yaml:3: schedule[0].irc_network: no IRC network named 'efnet' in networks: "
        "(known: libera, oftc)"
    )


def test_missing_directory_points_at_the_main_file(tmp_path: Path) -> None:
    main = write(tmp_path / "meetbot.yaml", "log_level: INFO\nschedules:\n  dir: ./nowhere\n")
    with pytest.raises(ConfigError) as caught:
        load_schedules(load_settings(main))
    assert str(caught.value).startswith(f"{main}:3: schedules.dir: nowhere is not a directory")


def test_several_files_report_together(tmp_path: Path) -> None:
    write(tmp_path / "meetings" / "a.yaml", BOARD.replace("'1600'", "16:00"))
    problems = dir_problems(tmp_path, "project: x\nschedule: []\n")
    assert [p.split(": ")[0] for p in problems] == ["meetings/a.yaml:3", "meetings/board.yaml:2"]


def test_inline_errors_are_config_check_errors(tmp_path: Path) -> None:
    main = write(
        tmp_path / "meetbot.yaml",
        """\
        schedules:
          series:
            - project: Board
              schedule:
                - time: 16:00
                  day: Thursday
                  irc: centos
                  frequency: last-friday
        """,
    )
    # The trap is reported and the meant value validated, so the next mistake shows up too.
    assert [str(issue) for issue in check_config(main)] == [
        f"{main}:5: schedules.series[0].schedule[0].time: unquoted 16:00 is read by YAML 1.1 as the "
        'number 960; quote it: "16:00"',
        f"{main}:6: schedules.series[0].schedule[0].day: day Thursday contradicts frequency last-friday "
        "(a Friday); make them name the same weekday",
    ]
    main.write_text(main.read_text().replace("16:00", "'16:00'"))
    assert [str(issue) for issue in check_config(main)] == [
        f"{main}:6: schedules.series[0].schedule[0].day: day Thursday contradicts frequency last-friday "
        "(a Friday); make them name the same weekday",
    ]


def test_readme_example_loads(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Schedules", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "meetings").mkdir()
    (hyperscale,) = load(tmp_path, example.replace("./meetings", str(tmp_path / "meetings"))).series
    found = occurrences([hyperscale], utc("2027-01-19"), utc("2027-01-28"))
    assert [(f"{o.start:%m-%d %H:%M}", o.kind) for o in found] == [
        ("01-20 17:00", "moved"),
        ("01-27 16:00", "extra"),
    ]


def test_config_check_reports_problems_in_the_series_files(tmp_path: Path) -> None:
    from meetbot.config import check_config

    meetings = tmp_path / "meetings"
    meetings.mkdir()
    series = meetings / "broken.yaml"
    series.write_text(
        "project: Broken\nmeeting_id: broken\nschedule:\n  - time: 16:00\n    day: Wednesday\n"
        "    irc: centos-meeting\n    frequency: weekly\n",
        encoding="utf-8",
    )
    config = tmp_path / "meetbot.yaml"
    config.write_text(f"schedules:\n  dir: {meetings}\n", encoding="utf-8")
    issues = [str(issue) for issue in check_config(config)]
    assert any(issue.startswith(f"{series}:4: ") and "960" in issue for issue in issues), issues
