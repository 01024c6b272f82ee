"""Meeting series and their occurrences: a pure recurrence engine (stdlib and zoneinfo only).

- model.py: Series, Slot, Place, the recurrence kinds, Occurrence.
- frequency.py: the irc-meetings vocabulary (frequency names, weekdays, 'HHMM') read into those.
- localtime.py: wall-clock time in a zone to a UTC instant, with the DST policy.
- recurrence.py: the dates a slot meets on and a series' occurrences in a UTC window.
- advisories.py: week-53 and DST warnings.
- conflicts.py: the same place at overlapping times, on real occurrences.
- reminders.py: which reminders are due when (with stable keys), and their text.
"""

from meetbot.schedule.advisories import Notice, advisories, week53_years
from meetbot.schedule.conflicts import Conflict, find_conflicts
from meetbot.schedule.frequency import describe, parse_frequency, parse_time, parse_weekday
from meetbot.schedule.localtime import LocalTime, resolve, to_utc
from meetbot.schedule.model import (
    WEEKDAYS,
    Adhoc,
    EveryWeeks,
    Extra,
    MonthlyNth,
    Occurrence,
    Override,
    Place,
    Recurrence,
    ReminderRule,
    Series,
    Skip,
    Slot,
    WeekParity,
)
from meetbot.schedule.recurrence import (
    is_rule_date,
    next_occurrences,
    nth_weekday,
    occurrences,
    rule_dates,
    series_occurrences,
)
from meetbot.schedule.reminders import (
    DEFAULT_REMINDERS,
    TEMPLATE_FIELDS,
    Reminder,
    chair_nicks,
    display_times,
    plan_reminders,
    reminder_key,
    reminder_text,
    template_fields,
)

__all__ = [
    "DEFAULT_REMINDERS",
    "TEMPLATE_FIELDS",
    "WEEKDAYS",
    "Adhoc",
    "Conflict",
    "EveryWeeks",
    "Extra",
    "LocalTime",
    "MonthlyNth",
    "Notice",
    "Occurrence",
    "Override",
    "Place",
    "Recurrence",
    "Reminder",
    "ReminderRule",
    "Series",
    "Skip",
    "Slot",
    "WeekParity",
    "advisories",
    "chair_nicks",
    "describe",
    "display_times",
    "find_conflicts",
    "is_rule_date",
    "next_occurrences",
    "nth_weekday",
    "occurrences",
    "parse_frequency",
    "parse_time",
    "parse_weekday",
    "plan_reminders",
    "reminder_key",
    "reminder_text",
    "resolve",
    "rule_dates",
    "series_occurrences",
    "template_fields",
    "to_utc",
    "week53_years",
]
