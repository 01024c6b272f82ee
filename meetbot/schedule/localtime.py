"""Wall-clock time in a zone to a UTC instant, with the DST policy and a record of when it applied.

Policy (the same as RFC 5545 section 3.3.5, so the ICS feed and the bot agree): a local time in
the spring-forward gap is read with the offset from before the gap, i.e. moved forward by the gap
(02:30 Berlin on the change day is 03:30 CEST); a time repeated in autumn takes its first instant.
Both are zoneinfo's fold=0 reading; this module only notices when either happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@dataclass(frozen=True, slots=True)
class LocalTime:
    local: datetime  # aware, in the zone, as it will be shown (03:30 for a 02:30 in the gap)
    utc: datetime
    quirk: Literal["nonexistent", "ambiguous"] | None = None


def resolve(day: date, clock: time, zone_name: str) -> LocalTime:
    tz = zone(zone_name)
    first = datetime.combine(day, clock, tzinfo=tz)
    utc = first.astimezone(UTC)
    local = utc.astimezone(tz)
    if local.replace(tzinfo=None) != first.replace(tzinfo=None):
        return LocalTime(local, utc, "nonexistent")
    if first.replace(fold=1).utcoffset() != first.utcoffset():
        return LocalTime(local, utc, "ambiguous")
    return LocalTime(local, utc)


def to_utc(day: date, clock: time, zone_name: str) -> datetime:
    return resolve(day, clock, zone_name).utc
