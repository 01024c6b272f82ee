"""Who an action item belongs to: every attendee whose nick appears in its text.

MeetBot used `\\b nick \\b`, which never matches nicks that begin or end with a non-word
character (`ken[`, `[m]`); hcoop's whitespace rule misses `ken,`. Here a nick matches when it
is not glued to another nick character on either side, case-insensitively, so `bob:`, `bob,`,
`(bob)` and `@bob` match while `jon` never matches `jonathan`.

A Matrix user id in the text (`@bob:example.org`, what a mention pill becomes) names exactly that
account: it matches only the same id, and no nick matches inside it (a display name "bob" or
"example" is not named by `@bob:example.org`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

# Characters RFC 2812 allows in a nick, besides letters and digits.
_NICK_SPECIALS = r"\[\]\\`^{}|_\-"

# A Matrix user id as clients write and link it: the localpart grammar (upper case too, which
# older accounts have), then a server name (host name or IPv6 literal, optional port). Shared
# with the Matrix adapter's reading of mention links by meaning, not by import (adapters can't
# import the domain); tests/test_matrix_pills.py checks the two agree.
_MATRIX_USER_ID = (
    r"@[A-Za-z0-9._=/+\-]+:(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*)(?::[0-9]{1,5})?"
)
_WHOLE_USER_ID = re.compile(_MATRIX_USER_ID)
# In running text: not glued to a character an id could continue with (a trailing full stop
# ends the sentence, not the server name).
_USER_ID_IN_TEXT = re.compile(rf"(?<![\w@.=/+\-]){_MATRIX_USER_ID}(?![\w\-]|\.[\w\-]|:[0-9])")


def is_matrix_user_id(text: str) -> bool:
    """`@bob:example.org`: a Matrix account, which no IRC nick can look like (`@`, `:`)."""
    return len(text) <= 255 and _WHOLE_USER_ID.fullmatch(text) is not None


def matrix_user_ids(text: str) -> list[str]:
    """The Matrix user ids written in `text`, in order."""
    return _USER_ID_IN_TEXT.findall(text) if "@" in text else []


@lru_cache(maxsize=4096)
def _nick_pattern(nick: str) -> re.Pattern[str]:
    edge = rf"[\w{_NICK_SPECIALS}]"
    return re.compile(rf"(?<!{edge}){re.escape(nick)}(?!{edge})", re.IGNORECASE)


def mentions(text: str, nick: str) -> bool:
    return bool(nick) and _nick_pattern(nick).search(text) is not None


def owners_in(text: str, nicks: Iterable[str]) -> list[str]:
    """The nicks named in `text`, in the order given, each once (case-insensitively).

    A Matrix user id among `nicks` is named only by that id in the text; other nicks are looked
    for in the text with its ids taken out."""
    ids = set(matrix_user_ids(text))
    plain = _USER_ID_IN_TEXT.sub(" ", text) if ids else text
    found: dict[str, str] = {}
    for nick in nicks:
        folded = nick.casefold()
        if folded in found:
            continue
        if nick in ids if is_matrix_user_id(nick) else mentions(plain, nick):
            found[folded] = nick
    return list(found.values())
