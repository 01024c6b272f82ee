"""The reminder planner and its texts: offsets on instants (D.5), keys, windows, week 53 (D.10)."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from meetbot.config import ConfigError, load_schedules, load_settings
from meetbot.schedule import (
    DEFAULT_REMINDERS,
    Reminder,
    ReminderRule,
    chair_nicks,
    display_times,
    plan_reminders,
    reminder_text,
)
from meetbot.schedule.localtime import zone
from tests.test_schedule_helpers import entry, series, utc

HYPERSCALE = {
    "team": "hyperscale",
    "project": "CentOS Hyperscale SIG",
    "chair": "Davide Cavalca (dcavalca), Neal Gompa (Conan_Kudo)",
    "agenda_url": "https://hackmd.io/@hyperscale/agenda",
}


def due(reminders: list[Reminder]) -> list[str]:
    return [f"{r.due:%Y-%m-%d %H:%M} {r.key}" for r in reminders]


def test_defaults_are_24h_15m_and_at_start() -> None:
    sig = series(entry(frequency="biweekly-odd", start_date=20261202), **HYPERSCALE)
    assert due(plan_reminders([sig], utc("2026-11-30"), utc("2026-12-03"))) == [
        "2026-12-01 16:00 hyperscale:0:20261202T1600Z:24h",
        "2026-12-02 15:45 hyperscale:0:20261202T1600Z:15m",
        "2026-12-02 16:00 hyperscale:0:20261202T1600Z:start",
    ]
    assert [r.before for r in DEFAULT_REMINDERS] == [timedelta(hours=24), timedelta(minutes=15), timedelta(0)]


def test_offsets_are_absolute_across_dst() -> None:
    # Monday 2026-03-30 09:00 Berlin = 07:00Z, the day after the spring change.
    rules = [{"before": "1h"}, {"before": "24h"}, {"before": "48h"}]
    monday = series(
        entry(day="Monday", time="0900", start_date=20260330), timezone="Europe/Berlin", reminders=rules
    )
    planned = plan_reminders([monday], utc("2026-03-27"), utc("2026-03-30 07:00"))
    assert [f"{r.due:%m-%d %H:%MZ}" for r in planned] == ["03-28 07:00Z", "03-29 07:00Z", "03-30 06:00Z"]
    berlin = [f"{r.due.astimezone(zone('Europe/Berlin')):%H:%M %Z}" for r in planned]
    assert berlin == ["08:00 CET", "09:00 CEST", "08:00 CEST"]


def test_offsets_cross_iso_weeks_and_week_53() -> None:
    # Odd-week Monday 00:15Z meetings are reminded on Sundays, in the week before.
    odd = series(entry(day="Monday", time="0015", frequency="biweekly-odd"), reminders=[{"before": "30m"}])
    planned = plan_reminders([odd], utc("2026-12-20"), utc("2027-01-10"))
    assert [f"{r.due:%Y-%m-%d %H:%M} W{r.due.isocalendar().week}" for r in planned] == [
        "2026-12-27 23:45 W52",
        "2027-01-03 23:45 W53",
    ]
    assert [r.occurrence.start.isocalendar().week for r in planned] == [53, 1]


def test_replan_around_week_53() -> None:
    odd = series(entry(frequency="biweekly-odd"), team="odd", reminders=[{"at_start": True}])
    even = series(entry(frequency="biweekly-even"), team="even", reminders=[{"at_start": True}])
    planned = plan_reminders([odd, even], utc("2026-12-24"), utc("2027-01-13"))
    assert due(planned) == [
        "2026-12-30 16:00 odd:0:20261230T1600Z:start",
        "2027-01-06 16:00 odd:0:20270106T1600Z:start",
    ]


def test_window_is_half_open_and_reaches_ahead_for_early_reminders() -> None:
    weekly = series(entry())
    planned = plan_reminders([weekly], utc("2026-12-01 16:00"), utc("2026-12-02 15:45"))
    # 12-02's 24 h reminder is due inside the window although the meeting is not.
    assert due(planned) == ["2026-12-01 16:00 demo:0:20261202T1600Z:24h"]


def test_keys_are_stable_across_overlapping_plans_and_unique() -> None:
    a = series(entry(), entry(time="1800", frequency="first-wednesday"), team="a")
    b = series(entry(day="Friday", irc="other"), team="b", timezone="America/New_York")
    whole = plan_reminders([a, b], utc("2026-01-01"), utc("2027-01-01"))
    halves = plan_reminders([a, b], utc("2026-01-01"), utc("2026-07-01")) + plan_reminders(
        [a, b], utc("2026-07-01"), utc("2027-01-01")
    )
    assert [r.key for r in halves] == [r.key for r in whole]
    assert len({r.key for r in whole}) == len(whole) > 300


def test_moved_and_extra_occurrences_are_reminded_at_their_new_time() -> None:
    moved = series(
        entry(),
        overrides=[{"date": 20261209, "time": "1800"}, {"date": 20261216, "cancel": True}],
        extra_dates=[{"date": 20261218}],
        reminders=[{"at_start": True}],
    )
    planned = plan_reminders([moved], utc("2026-12-08"), utc("2026-12-20"))
    assert due(planned) == [
        "2026-12-09 18:00 demo:0:20261209T1800Z:start",
        "2026-12-18 16:00 demo:0:20261218T1600Z:start",
    ]


def test_grace_and_staleness() -> None:
    weekly = series(entry(), reminders=[{"before": "24h"}, {"before": "4m"}, {"at_start": True}])
    day, four, start = plan_reminders([weekly], utc("2026-12-01"), utc("2026-12-02 16:01"))
    assert (day.grace, four.grace, start.grace) == (
        timedelta(minutes=5),
        timedelta(minutes=2),
        timedelta(minutes=2),
    )
    assert not start.stale(utc("2026-12-02 16:02"))
    assert start.stale(utc("2026-12-02 16:02:01"))
    assert day.stale(utc("2026-12-01 16:18"))  # a restart 18 minutes late sends nothing


def test_no_reminders_when_the_series_says_so() -> None:
    assert plan_reminders([series(entry(), reminders=[])], utc("2026-12-01"), utc("2026-12-31")) == []


# --------------------------------------------------------------------------- text


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        ("2026-03-04 16:00", "11:00 New York EST, 17:00 Berlin CET, 16:00 London GMT, Thu 03:00 Sydney AEDT"),
        ("2026-03-11 16:00", "12:00 New York EDT, 17:00 Berlin CET, 16:00 London GMT, Thu 03:00 Sydney AEDT"),
        (
            "2026-04-01 16:00",
            "12:00 New York EDT, 18:00 Berlin CEST, 17:00 London BST, Thu 03:00 Sydney AEDT",
        ),
        ("2026-10-28 16:00", "12:00 New York EDT, 17:00 Berlin CET, 16:00 London GMT, Thu 03:00 Sydney AEDT"),
        ("2026-11-04 16:00", "11:00 New York EST, 17:00 Berlin CET, 16:00 London GMT, Thu 03:00 Sydney AEDT"),
    ],
)
def test_display_times_in_the_us_eu_gap_weeks(instant: str, expected: str) -> None:
    zones = ["UTC", "America/New_York", "Europe/Berlin", "Europe/London", "Australia/Sydney"]
    assert display_times(utc(instant), zones) == expected


def test_default_texts() -> None:
    sig = series(
        entry(frequency="biweekly-odd"),
        reminders=[
            {"before": "15m", "ping": ["dcavalca", "@alice:fedora.im"]},
            {"before": "24h"},
            {"at_start": True},
        ],
        **HYPERSCALE,
    )
    planned = {
        r.key.rsplit(":", 1)[1]: r for r in plan_reminders([sig], utc("2026-12-01"), utc("2026-12-02 16:01"))
    }
    zones = ["America/New_York", "Europe/Berlin"]
    chair = "Chair: Davide Cavalca (dcavalca), Neal Gompa (Conan_Kudo)."
    assert reminder_text(planned["15m"], sig, zones) == (
        "CentOS Hyperscale SIG (hyperscale) starts in 15 minutes, Wed 2026-12-02 16:00 UTC "
        f"(11:00 New York EST, 17:00 Berlin CET) in #centos-meeting. {chair} "
        "Agenda: https://hackmd.io/@hyperscale/agenda "
        "dcavalca @alice:fedora.im"
    )
    assert reminder_text(planned["24h"], sig).startswith(
        "CentOS Hyperscale SIG (hyperscale) starts in 24 hours, Wed 2026-12-02 16:00 UTC in #centos-meeting."
    )
    assert reminder_text(planned["start"], sig, zones) == (
        f"CentOS Hyperscale SIG (hyperscale) starts now in #centos-meeting. {chair} "
        "Agenda: https://hackmd.io/@hyperscale/agenda"
    )


def test_template_text() -> None:
    template = "{project} starts {when} in {place} ({times}). Agenda: {agenda_url}. Chair: {chair_nicks}"
    sig = series(
        entry(), timezone="Europe/Berlin", reminders=[{"before": 90, "text": template}], **HYPERSCALE
    )
    (reminder,) = plan_reminders([sig], utc("2026-12-02"), utc("2026-12-03"))
    assert reminder_text(reminder, sig) == (
        "CentOS Hyperscale SIG starts in 1h30 in #centos-meeting (16:00 Berlin CET). "
        "Agenda: https://hackmd.io/@hyperscale/agenda. Chair: dcavalca Conan_Kudo"
    )
    # Rules built in code skip config validation; an unknown placeholder stays as written.
    loose = Reminder(
        reminder.due, reminder.key, reminder.occurrence, ReminderRule(timedelta(0), "{team} {x}")
    )
    assert reminder_text(loose, sig) == "hyperscale {x}"


def test_chair_nicks() -> None:
    assert chair_nicks("Jane Doe (jdoe), John Roe (jroe)") == ["jdoe", "jroe"]
    assert chair_nicks("Kiall Mac Innes") == []
    assert chair_nicks(None) == []


# --------------------------------------------------------------------------- config


def test_reminders_in_config(tmp_path: Path) -> None:
    path = tmp_path / "meetbot.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            schedules:
              reminders: [{before: 1h}]
              series:
                - project: A
                  schedule: [{time: '1600', day: Monday, irc: a, frequency: weekly}]
                - project: B
                  reminders: [{before: 1d2h, text: "{project} in {when}"}, {at_start: true}]
                  schedule: [{time: '1600', day: Monday, irc: b, frequency: weekly}]
            """
        )
    )
    a, b = load_schedules(load_settings(path)).series
    assert a.reminders == (ReminderRule(timedelta(hours=1)),)
    assert b.reminders == (
        ReminderRule(timedelta(hours=26), "{project} in {when}"),
        ReminderRule(timedelta(0)),
    )


@pytest.mark.parametrize(
    ("reminder", "message"),
    [
        ("{before: 15m, at_start: true}", "give either before: (like 15m or 24h) or at_start: true"),
        ("{}", "give either before: (like 15m or 24h) or at_start: true"),
        ("{before: soon}", "'soon' is not a duration; write minutes (15) or text like '15m', '24h', '1d'"),
        ('{before: 15m, text: "{agenda}"}', "unknown placeholder 'agenda'; use only team, project, when"),
    ],
)
def test_bad_reminders(tmp_path: Path, reminder: str, message: str) -> None:
    path = tmp_path / "meetbot.yaml"
    path.write_text(
        "schedules:\n  series:\n    - project: A\n"
        f"      reminders:\n        - {reminder}\n"
        "      schedule: [{time: '1600', day: Monday, irc: a, frequency: weekly}]\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    (issue,) = caught.value.issues
    assert issue.line == 5
    assert issue.field.startswith("schedules.series[0].reminders[0]")
    assert message in issue.message
