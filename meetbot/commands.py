"""Recognise `#word args` commands in a chat line.

A command is a prefix character followed by letters only, then whitespace or the end of the
line. So `#1234` (an issue reference), `#centos-meeting` (a channel) and `# startmeeting`
(a comment) are never commands, which is what hcoop-meetbot had to learn from user reports.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_PREFIXES = ("#",)


@dataclass(frozen=True, slots=True)
class CommandCall:
    name: str  # lowercased; commands are case-insensitive
    args: str  # stripped; "" when none
    prefix: str


def _pattern(prefixes: Iterable[str]) -> re.Pattern[str]:
    chars = "".join(re.escape(p) for p in prefixes)
    return re.compile(rf"^[ \t]*([{chars}])([A-Za-z]+)(?:[ \t]+(.*?))?[ \t]*$", re.DOTALL)


class CommandParser:
    def __init__(self, prefixes: Iterable[str] = DEFAULT_PREFIXES) -> None:
        prefixes = tuple(prefixes)
        if not prefixes or any(len(p) != 1 or p.isalnum() or p.isspace() for p in prefixes):
            raise ValueError(f"command prefixes must be single punctuation characters, got {prefixes!r}")
        self.prefixes = prefixes
        self._regex = _pattern(prefixes)

    def parse(self, text: str) -> CommandCall | None:
        match = self._regex.match(text)
        if match is None:
            return None
        prefix, word, args = match.groups()
        return CommandCall(name=word.lower(), args=(args or "").strip(), prefix=prefix)


def split_nicks(args: str) -> list[str]:
    """`#chair a b,c` style lists: split on spaces and commas, drop empties, keep order, dedupe."""
    seen: dict[str, str] = {}
    for nick in re.split(r"[\s,]+", args):
        if nick:
            seen.setdefault(nick.casefold(), nick)
    return list(seen.values())
