"""The irc-meetings vocabulary (frequency names, weekdays, 'HHMM' times) read into model values.

Each reader raises ValueError with a message that says how to fix the value.
"""

from __future__ import annotations

import difflib
import re
from datetime import time

from meetbot.schedule.model import WEEKDAYS, Adhoc, MonthlyNth, Recurrence, WeekParity

ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "last": -1}
_PARITY = {
    "weekly": WeekParity(1, 0),
    "biweekly-odd": WeekParity(2, 1),
    "biweekly-even": WeekParity(2, 0),
    "quadweekly": WeekParity(4, 0),
    "quadweekly-week-1": WeekParity(4, 1),
    "quadweekly-week-2": WeekParity(4, 2),
    "quadweekly-week-3": WeekParity(4, 3),
    # yaml2ical treats it as week 2: "alternating" with plain quadweekly two weeks earlier.
    "quadweekly-alternate": WeekParity(4, 2),
}
_TIME = re.compile(r"(?P<h>[01]\d|2[0-3]):?(?P<m>[0-5]\d)")


def _known_frequencies() -> list[str]:
    monthly = [f"{o}-{d.lower()}" for o in ORDINALS for d in WEEKDAYS]
    return [*_PARITY, *monthly, "adhoc"]


def parse_frequency(name: str) -> Recurrence:
    """A frequency name as irc-meetings writes it, plus fifth-*/last-* and weekend days."""
    text = name.strip().lower()
    if text in _PARITY:
        return _PARITY[text]
    if text == "adhoc":
        return Adhoc()
    ordinal, _, day = text.partition("-")
    if ordinal in ORDINALS and day.capitalize() in WEEKDAYS:
        return MonthlyNth(ORDINALS[ordinal], WEEKDAYS.index(day.capitalize()))
    if text in ("biweekly", "fortnightly"):
        # Which weeks is the whole question; see the week-53 notes in advisories.py.
        hint = "say which weeks: biweekly-odd or biweekly-even (ISO week numbers); "
    else:
        close = difflib.get_close_matches(text, _known_frequencies(), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
    raise ValueError(
        f"unknown frequency {name!r}; {hint}use weekly, biweekly-odd, biweekly-even, quadweekly, "
        "quadweekly-week-1/2/3, first..fifth-<weekday>, last-<weekday>, adhoc, or every: {weeks: N}"
    )


def parse_weekday(name: str) -> int:
    """0 for Monday; full English names in any case, as irc-meetings requires."""
    text = name.strip().capitalize()
    if text in WEEKDAYS:
        return WEEKDAYS.index(text)
    prefix = [day for day in WEEKDAYS if len(text) >= 2 and day.startswith(text)]
    hint = f"write {prefix[0]!r}" if len(prefix) == 1 else f"use one of {', '.join(WEEKDAYS)}"
    raise ValueError(f"{name!r} is not a day of the week; {hint}")


def parse_time(text: str) -> time:
    """'1600' (irc-meetings) or '16:00'."""
    match = _TIME.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a time; write it as 'HHMM' or 'HH:MM' in quotes, e.g. '1600'")
    return time(int(match["h"]), int(match["m"]))


def describe(recurrence: Recurrence, weekday: int) -> str:
    """A short human description, e.g. 'every two weeks on Wednesday (odd ISO weeks)'."""
    day = WEEKDAYS[weekday]
    if isinstance(recurrence, WeekParity):
        if recurrence.modulus == 1:
            return f"weekly on {day}"
        if recurrence.modulus == 2:
            parity = "odd" if recurrence.remainder else "even"
            return f"every two weeks on {day} ({parity} ISO weeks)"
        return f"every four weeks on {day} (ISO weeks where week % 4 == {recurrence.remainder})"
    if isinstance(recurrence, MonthlyNth):
        ordinal = next(name for name, n in ORDINALS.items() if n == recurrence.nth)
        return f"the {ordinal} {day} of each month"
    if isinstance(recurrence, Adhoc):
        return "ad hoc"
    return f"every {recurrence.weeks} weeks on {day} from the start date"
