"""The PRESENT line: who was already in the room when a meeting started.

Its text is a JSON list of [nick, account-or-null] pairs. Logged by the bot, read by the engine
(to resolve nicks to accounts) and by the minutes (to show it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from meetbot.events import Identity


def present_line_text(members: Sequence[Identity]) -> str:
    return json.dumps([[member.nick, member.account] for member in members], ensure_ascii=False)


def present_members(text: str) -> list[tuple[str, str | None]]:
    """The [nick, account] pairs of a PRESENT line; anything malformed is ignored, not fatal."""
    try:
        pairs = json.loads(text)
    except ValueError:
        return []
    if not isinstance(pairs, list):
        return []
    return [
        (pair[0], pair[1] if isinstance(pair[1], str) else None)
        for pair in pairs
        if isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str) and pair[0]
    ]
