"""`meetbot schedule list|check|ics|import`: the schedule tools on top of the pure engine.

Warnings (week 53, DST, start dates) go to stderr so stdout stays one record per line for scripts.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meetbot.clock import Clock, SystemClock

if TYPE_CHECKING:
    from meetbot.config.issues import ConfigIssue
    from meetbot.config.schedule_files import Schedules
    from meetbot.schedule import Notice, Occurrence, Series

# register() runs for every `meetbot` command, `meetbot run` and `--help` included: what the
# actions need (the config, the schedule engine, icalendar) is imported by the actions.
# ruff: noqa: PLC0415

LIST_DAYS = 28
CHECK_DAYS = 548  # about 18 months: long enough to cross a year end and both DST changes twice


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `schedule` and its actions to the `meetbot` command's subparsers."""
    schedule = commands.add_parser("schedule", help="meeting series: list, check, ics, import")
    actions = schedule.add_subparsers(dest="schedule_command", required=True, metavar="ACTION")

    def common(sub: argparse.ArgumentParser, *, window: bool = True) -> argparse.ArgumentParser:
        sub.add_argument(
            "-c", "--config", type=Path, default=None, help="config file (default ./meetbot.yaml)"
        )
        if window:
            sub.add_argument(
                "--from", dest="start", type=date.fromisoformat, help="first day, YYYY-MM-DD (UTC)"
            )
            sub.add_argument("--to", dest="end", type=date.fromisoformat, help="last day, YYYY-MM-DD (UTC)")
        return sub

    listing = common(actions.add_parser("list", help="occurrences, one per line, starting with the UTC time"))
    listing.add_argument("--team", help="only this series (its meeting_id)")
    listing.add_argument("--format", choices=("text", "json"), default="text")
    common(actions.add_parser("check", help="report meetings in the same place at overlapping times"))
    ics = common(actions.add_parser("ics", help="write RFC 5545 calendars: one per series and meetings.ics"))
    ics.add_argument("-o", "--output", type=Path, required=True, metavar="DIR")
    imported = actions.add_parser("import", help="validate an irc-meetings repository (or its meetings/ dir)")
    imported.add_argument("directory", type=Path, metavar="DIR")
    imported.add_argument("--network", help="IRC network the channels are on (default: the first configured)")
    imported.add_argument("--write", type=Path, metavar="OUT", help="write the series, normalized, into OUT")
    imported.add_argument(
        "--as-cadence",
        action="store_true",
        help="with --write: odd/even and quadweekly rules become every: {weeks: N} from their next meeting",
    )
    imported.add_argument(
        "--from", dest="start", type=date.fromisoformat, help="warn from this day (default today)"
    )


def run(args: argparse.Namespace, clock: Clock | None = None) -> int:
    """Run `meetbot schedule ...`; ConfigError propagates to the caller, which reports it."""
    from meetbot.config import load_schedules, load_settings

    now = (clock or SystemClock()).now().astimezone(UTC)
    today = now.date()
    if args.schedule_command == "import":
        return _import(args, today)
    schedules = load_schedules(load_settings(args.config))
    _warn(schedules.warnings)
    days = CHECK_DAYS if args.schedule_command == "check" else LIST_DAYS
    start_day = args.start or today
    end_day = args.end or start_day + timedelta(days=days - 1)
    if end_day < start_day:
        print("meetbot schedule: --to is before --from", file=sys.stderr)
        return 2
    start = datetime.combine(start_day, datetime.min.time(), tzinfo=UTC)
    end = datetime.combine(end_day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    if args.schedule_command == "list":
        return _list(schedules, start, end, args.team, args.format)
    if args.schedule_command == "check":
        return _check(schedules, start, end)
    from meetbot.schedule_ics import write_calendars

    _warn(schedules.advisories(start, end))
    for path in write_calendars(schedules.series, args.output, start_day, now):
        print(path)
    return 0


def _warn(notices: Iterable[ConfigIssue | Notice]) -> None:
    for notice in notices:
        print(notice, file=sys.stderr)


def _minutes(occurrence: Occurrence) -> int:
    return int((occurrence.end - occurrence.start).total_seconds() // 60)


def occurrence_line(occurrence: Occurrence) -> str:
    """`2026-12-02T16:00Z hyperscale #centos-meeting 60min CentOS Hyperscale SIG`, local time, notes."""
    places = ",".join(str(place) for place in occurrence.places)
    line = f"{occurrence.start:%Y-%m-%dT%H:%MZ} {occurrence.team} {places} {_minutes(occurrence)}min"
    line += f" {occurrence.project}"
    if occurrence.local_start.utcoffset():
        line += f" ({occurrence.local_start:%H:%M %Z})"
    if occurrence.kind == "moved" and occurrence.original_start is not None:
        line += f" [moved from {occurrence.original_start:%Y-%m-%dT%H:%MZ}"
        line += f": {occurrence.note}]" if occurrence.note else "]"
    elif occurrence.kind == "extra":
        line += f" [extra: {occurrence.note}]" if occurrence.note else " [extra]"
    return line


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def occurrence_json(occurrence: Occurrence) -> dict[str, Any]:
    return {
        "start": _iso(occurrence.start),
        "end": _iso(occurrence.end),
        "team": occurrence.team,
        "project": occurrence.project,
        "place": str(occurrence.places[0]),
        "places": [
            {"kind": place.kind, "room": place.room, "network": place.network} for place in occurrence.places
        ],
        "schedule": occurrence.slot,
        "local_start": occurrence.local_start.isoformat(),
        "kind": occurrence.kind,
        "original_start": _iso(occurrence.original_start) if occurrence.original_start else None,
        "note": occurrence.note,
    }


def _list(schedules: Schedules, start: datetime, end: datetime, team: str | None, form: str) -> int:
    from meetbot.schedule import occurrences

    if team is not None and schedules.team(team) is None:
        known = ", ".join(sorted(series.team for series in schedules.series)) or "none"
        print(f"meetbot schedule: no series {team!r} (known: {known})", file=sys.stderr)
        return 2
    _warn(schedules.advisories(start, end))
    found = occurrences(schedules.series, start, end, team)
    if form == "json":
        print(json.dumps([occurrence_json(o) for o in found], indent=2))
    else:
        for occurrence in found:
            print(occurrence_line(occurrence))
    return 0


def _check(schedules: Schedules, start: datetime, end: datetime) -> int:
    from meetbot.schedule import find_conflicts

    _warn(schedules.advisories(start, end))
    conflicts = find_conflicts(schedules.series, start, end)
    for conflict in conflicts:
        print(f"conflict: {conflict}")
    span = f"{start:%Y-%m-%d} to {(end - timedelta(days=1)):%Y-%m-%d}"
    count = len(schedules.series)
    if conflicts:
        print(f"{len(conflicts)} conflict(s) among {count} series from {span}", file=sys.stderr)
        return 1
    print(f"{count} series, no conflicts from {span}")
    return 0


# --------------------------------------------------------------------------- import


def _summary(series: Series) -> str:
    from meetbot.schedule import describe

    parts = []
    for slot in series.slots:
        places = ",".join(f"{p}" + (f"@{p.network}" if p.network else "") for p in slot.places)
        parts.append(
            f"{describe(slot.recurrence, slot.weekday)} at {slot.time:%H:%M} {slot.zone} in {places}"
        )
    return f"{series.team}: {series.project} ({series.source}): " + "; ".join(parts)


def _normalized(series: Series, as_cadence_from: date | None) -> dict[str, Any]:
    from meetbot.config.schedule_files import read_series_file
    from meetbot.schedule import WeekParity, rule_dates

    config, _, _ = read_series_file(Path(series.source))
    assert config is not None  # only called for files that loaded
    data = config.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    data["meeting_id"] = series.team  # explicit, so renaming the project never renames the minutes
    if as_cadence_from is not None:
        for slot, entry in zip(series.slots, data["schedule"], strict=True):
            rule = slot.recurrence
            if not isinstance(rule, WeekParity) or rule.modulus == 1:
                continue
            # Anchored at the next meeting, the cadence keeps today's weeks; only week 53 tells them apart.
            since = max(as_cadence_from, slot.start_date or as_cadence_from)
            first = next(rule_dates(slot, since, since + timedelta(weeks=5)), None)
            if first is not None:
                del entry["frequency"]
                entry["every"] = {"weeks": rule.modulus}
                entry["start_date"] = first.isoformat()
    return data


def _import(args: argparse.Namespace, today: date) -> int:
    import yaml

    from meetbot.config.schedule_files import Schedules, read_series_dir

    directory: Path = args.directory
    if (directory / "meetings").is_dir():
        directory = directory / "meetings"  # the repository root
    if not directory.is_dir():
        print(f"meetbot schedule import: {directory}: not a directory", file=sys.stderr)
        return 2
    found = read_series_dir(directory, args.network)
    if found.errors:
        _warn(found.errors)
        print(f"meetbot schedule import: {len(found.errors)} problem(s); nothing imported", file=sys.stderr)
        return 1
    start = datetime.combine(args.start or today, datetime.min.time(), tzinfo=UTC)
    _warn(found.warnings)
    _warn(Schedules(tuple(found.series)).advisories(start, start + timedelta(days=365)))
    for series in found.series:
        print(_summary(series))
    if args.write is not None:
        args.write.mkdir(parents=True, exist_ok=True)
        for series in found.series:
            target = args.write / f"{series.team}.yaml"
            data = _normalized(series, start.date() if args.as_cadence else None)
            target.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
            print(f"wrote {target}", file=sys.stderr)
    print(f"{len(found.series)} series imported from {directory}", file=sys.stderr)
    return 0
