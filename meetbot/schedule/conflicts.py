"""Two meetings in the same place at overlapping times, found on real occurrences.

yaml2ical compares rules on a synthetic week, which reports first-vs-third Tuesday as a clash,
misses a Sunday meeting running past midnight, ignores start dates, skips and week-53 drift, and
never compares schedules within one file. Expanding the actual occurrences over a horizon has none
of those problems: whatever the rules are, two meetings conflict exactly when they would collide.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from meetbot.schedule.model import Occurrence, Place, Series
from meetbot.schedule.recurrence import occurrences

PlaceKey = tuple[str, str, str]
SlotRef = tuple[str, int]  # (team, slot index)


@dataclass(frozen=True, slots=True)
class Conflict:
    """Two slots that collide in one place; `first` and `count` summarise every collision found."""

    place: Place
    a: SlotRef
    b: SlotRef
    first: datetime  # start of the later-starting meeting of the first collision
    last: datetime
    count: int

    def __str__(self) -> str:
        more = f" and {self.count - 1} more until {self.last:%Y-%m-%dT%H:%MZ}" if self.count > 1 else ""
        return (
            f"{self.first:%Y-%m-%dT%H:%MZ} {self.place}: {self.a[0]} schedule[{self.a[1]}] overlaps "
            f"{self.b[0]} schedule[{self.b[1]}]{more}"
        )


def _pairs(found: list[Occurrence]) -> Iterable[tuple[Occurrence, Occurrence]]:
    """Overlapping pairs among occurrences sorted by start (a sweep: only still-running ones can overlap)."""
    running: list[Occurrence] = []
    for occurrence in found:
        running = [other for other in running if other.end > occurrence.start]
        for other in running:
            yield other, occurrence
        running.append(occurrence)


def find_conflicts(all_series: Iterable[Series], start: datetime, end: datetime) -> list[Conflict]:
    """Every pair of slots that meets in one place at overlapping times in [start, end)."""
    by_place: dict[PlaceKey, list[Occurrence]] = defaultdict(list)
    places: dict[PlaceKey, Place] = {}
    for occurrence in occurrences(all_series, start, end):
        for place in occurrence.places:
            by_place[place.key].append(occurrence)
            places.setdefault(place.key, place)
    hits: dict[tuple[PlaceKey, SlotRef, SlotRef], list[datetime]] = defaultdict(list)
    for key, found in by_place.items():
        for earlier, later in _pairs(found):
            a, b = sorted([(earlier.team, earlier.slot), (later.team, later.slot)])
            hits[key, a, b].append(later.start)
    return sorted(
        (
            Conflict(places[key], a, b, min(times), max(times), len(times))
            for (key, a, b), times in hits.items()
        ),
        key=lambda c: (c.first, c.a, c.b),
    )
