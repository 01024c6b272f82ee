"""Read MeetBot/irssi-style logs for `meetbot replay`.

Accepted lines (anything else, e.g. `***` join lines or `# comments`, is skipped and counted):
    HH:MM:SS <nick> text        [HH:MM:SS] <nick> text        HH:MM <nick> text
    HH:MM:SS * nick action      [HH:MM:SS] * nick action      HH:MM * nick action
An indented `| text` line continues the previous message (how meetbot writes multi-line
messages). Logs carry times only: the date comes from the caller, and a time earlier than the previous
line's means the log crossed midnight.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from meetbot.events import LineKind

_STAMP = r"^\[?(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?\]?[ \t]+"
# Mode prefixes some clients show before a nick: <@op>, <+voice>.
_SAY = re.compile(_STAMP + r"<[ @+%&~]?(?P<nick>[^>\s]+)>(?: (?P<text>.*))?$")
_ACTION = re.compile(_STAMP + r"\*[ \t]+(?P<nick>[^\s*]+)(?: (?P<text>.*))?$")
_CONTINUATION = re.compile(r"^[ \t]+\| ?(?P<text>.*)$")
_DATE_IN_NAME = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


@dataclass(frozen=True, slots=True)
class LogLine:
    at: datetime
    nick: str
    text: str
    kind: LineKind
    number: int  # line number in the file, for messages


@dataclass(frozen=True, slots=True)
class ParsedLog:
    lines: list[LogLine]
    skipped: int


def date_from_name(name: str) -> date | None:
    match = _DATE_IN_NAME.search(name)
    if match is None:
        return None
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


def parse_log(text_lines: Iterable[str], day: date) -> ParsedLog:
    lines: list[LogLine] = []
    skipped = 0
    current_day, previous = day, time.min
    for number, original in enumerate(text_lines, 1):
        raw = original.rstrip("\r\n")
        if not raw.strip():
            continue
        continued = _CONTINUATION.match(raw)
        if continued is not None and lines:
            previous_line = lines[-1]
            lines[-1] = dataclasses.replace(previous_line, text=f"{previous_line.text}\n{continued['text']}")
            continue
        match = _SAY.match(raw)
        kind = LineKind.SAY
        if match is None:
            match = _ACTION.match(raw)
            kind = LineKind.ACTION
        if match is None:
            skipped += 1
            continue
        try:
            stamp = time(int(match["h"]), int(match["m"]), int(match["s"] or 0))
        except ValueError:
            skipped += 1
            continue
        if stamp < previous:
            current_day += timedelta(days=1)
        previous = stamp
        lines.append(
            LogLine(
                at=datetime.combine(current_day, stamp, tzinfo=UTC),
                nick=match["nick"],
                text=match["text"] or "",
                kind=kind,
                number=number,
            )
        )
    return ParsedLog(lines, skipped)
