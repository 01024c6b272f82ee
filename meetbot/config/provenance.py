"""Where each value of a loaded config came from: its data path, line, YAML tag and whether it is secret.

The YAML builder records this, the pydantic error mapping reads it, and Settings keeps it (as a
private attribute) so plugin sections validated long after loading still report lines. It lives
apart from all three so none of them has to import another just for these types.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

Loc = tuple[str | int, ...]

# The resolved YAML tags NodeInfo.tag holds for plain scalars and merge keys.
TAG = "tag:yaml.org,2002:"
NULL, BOOL, INT, FLOAT, STR, MERGE = (TAG + t for t in ("null", "bool", "int", "float", "str", "merge"))


def format_path(path: Loc) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


@dataclass(frozen=True, slots=True)
class NodeInfo:
    line: int  # 1-based line where the value starts
    key_line: int  # line of the key naming the value (the dash line for a list item)
    tag: str
    raw: str | None  # source text of an unquoted scalar, for "quote it" hints


@dataclass(frozen=True, slots=True)
class Source:
    # Provenance must not make equal settings compare unequal, hence compare=False throughout.
    file: str = field(default="<settings>", compare=False)
    nodes: Mapping[Loc, NodeInfo] = field(default_factory=dict, compare=False)
    sensitive: frozenset[Loc] = field(default=frozenset(), compare=False)  # from ${ENV}: never echoed
