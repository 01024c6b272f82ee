"""Who an action item belongs to: every attendee whose nick appears in its text.

MeetBot used `\\b nick \\b`, which never matches nicks that begin or end with a non-word
character (`ken[`, `[m]`); hcoop's whitespace rule misses `ken,`. Here a nick matches when it
is not glued to another nick character on either side, case-insensitively, so `bob:`, `bob,`,
`(bob)` and `@bob` match while `jon` never matches `jonathan`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

# Characters RFC 2812 allows in a nick, besides letters and digits.
_NICK_SPECIALS = r"\[\]\\`^{}|_\-"


@lru_cache(maxsize=4096)
def _nick_pattern(nick: str) -> re.Pattern[str]:
    edge = rf"[\w{_NICK_SPECIALS}]"
    return re.compile(rf"(?<!{edge}){re.escape(nick)}(?!{edge})", re.IGNORECASE)


def mentions(text: str, nick: str) -> bool:
    return bool(nick) and _nick_pattern(nick).search(text) is not None


def owners_in(text: str, nicks: Iterable[str]) -> list[str]:
    """The nicks named in `text`, in the order given, each once (case-insensitively)."""
    found: dict[str, str] = {}
    for nick in nicks:
        folded = nick.casefold()
        if folded not in found and mentions(text, nick):
            found[folded] = nick
    return list(found.values())
