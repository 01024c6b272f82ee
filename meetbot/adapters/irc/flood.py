"""Flood control: a token bucket, and a send queue that merges replies rather than drop them.

Pure: time is passed in, nothing sleeps here. The adapter's sender task asks `delay()` how long
to wait, sleeps, then takes the next line.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

# Sleeping exactly delay() seconds can land a hair short of a whole token in floating point.
_EPSILON = 1e-9


class TokenBucket:
    """`burst` lines at once, then `per_second` lines a second on average, forever."""

    def __init__(self, burst: int, per_second: float, now: float) -> None:
        if burst < 1 or per_second <= 0:
            raise ValueError("burst must be >= 1 and per_second > 0")
        self.burst = burst
        self.per_second = per_second
        self._tokens = float(burst)
        self._at = now

    def _refill(self, now: float) -> None:
        if now > self._at:
            self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.per_second)
            self._at = now

    def tokens(self, now: float) -> float:
        self._refill(now)
        return self._tokens

    def delay(self, now: float) -> float:
        """Seconds until a line may go (0 when one may go now)."""
        self._refill(now)
        return 0.0 if self._tokens >= 1 - _EPSILON else (1 - self._tokens) / self.per_second

    def take(self, now: float) -> None:
        self._refill(now)
        if self._tokens < 1 - _EPSILON:
            raise RuntimeError("no token: wait delay() first")
        self._tokens = max(0.0, self._tokens - 1)


@dataclass(frozen=True, slots=True)
class Queued:
    """One line to send. `target`/`text` are set for chat lines (PRIVMSG/NOTICE), which may
    be merged; `raw` lines (JOIN, TOPIC, WHO, MODE) are sent as they are."""

    command: str
    target: str = ""
    text: str = ""
    raw: str = ""

    def line(self) -> str:
        return self.raw if self.raw else f"{self.command} {self.target} :{self.text}"


SEPARATOR = " | "


class SendQueue:
    """FIFO of lines; when it backs up, consecutive messages to one target share a line.

    A room where 100 people each trip a reply would otherwise wait 100 seconds for the last
    one; merged, the same words go out in a handful of lines and nothing is dropped.
    """

    def __init__(self) -> None:
        self._items: deque[Queued] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def peek(self) -> Queued:
        return self._items[0]

    def push(self, item: Queued) -> None:
        self._items.append(item)

    def push_front(self, item: Queued) -> None:
        self._items.appendleft(item)

    def pop(self, max_bytes: int, merge: bool) -> Queued:
        """The next line. With `merge`, the PRIVMSGs to the same target that follow it join
        it while the text stays within `max_bytes` (the room left after the line's prefix).
        A repeat of a text already in the line only bumps its count ("… (×3)"), wherever it
        sits in that run: identical replies to a flood of commands collapse into one. New
        texts are only taken in order, so distinct messages are never reordered."""
        first = self._items.popleft()
        if not merge or first.command != "PRIVMSG":
            return first
        pieces: dict[str, int] = {first.text: 1}
        kept: deque[Queued] = deque()
        taking_new = True
        while self._items and self._items[0].command == "PRIVMSG" and self._items[0].target == first.target:
            following = self._items.popleft()
            candidate = dict(pieces)
            candidate[following.text] = candidate.get(following.text, 0) + 1
            is_new = following.text not in pieces
            if (taking_new or not is_new) and len(_render(candidate).encode("utf-8")) <= max_bytes:
                pieces = candidate
            else:
                kept.append(following)
                taking_new = taking_new and not is_new
        self._items.extendleft(reversed(kept))
        return Queued(first.command, first.target, _render(pieces))


def _render(pieces: dict[str, int]) -> str:
    return SEPARATOR.join(text if count == 1 else f"{text} (×{count})" for text, count in pieces.items())
