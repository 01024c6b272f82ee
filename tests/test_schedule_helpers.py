"""Building series the way a YAML file would, for the schedule tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from meetbot.config.schedules import SeriesConfig
from meetbot.schedule import Series, occurrences


def entry(**fields: Any) -> dict[str, Any]:
    """One `schedule:` item: Wednesday 16:00 weekly in #centos-meeting unless told otherwise."""
    return {"time": "1600", "day": "Wednesday", "irc": "centos-meeting", "frequency": "weekly", **fields}


def series(*entries: dict[str, Any], team: str = "demo", **fields: Any) -> Series:
    data = {"project": f"{team.title()} Meeting", "meeting_id": team, "schedule": list(entries) or [entry()]}
    return SeriesConfig.model_validate({**data, **fields}).to_series(f"{team}.yaml")


def utc(text: str) -> datetime:
    """'2026-12-02 16:00' (or just a date) as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def starts(*all_series: Series, start: str, end: str) -> list[str]:
    return [f"{o.start:%Y-%m-%d %H:%M}" for o in occurrences(all_series, utc(start), utc(end))]
