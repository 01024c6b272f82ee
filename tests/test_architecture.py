"""The dependency directions of the design, checked on the source: pure modules import no I/O
library, adapters know nothing of meetings, plugins know nothing of networks or SQL."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IO_LIBRARIES = {
    "sqlalchemy",
    "aiosqlite",
    "asyncpg",
    "alembic",
    "jinja2",
    "aiohttp",
    "irc",
    "nio",
    "apscheduler",
}

PURE = [
    "meetbot/events.py",
    "meetbot/clock.py",
    "meetbot/commands.py",
    "meetbot/engine.py",
    "meetbot/plugin.py",
    "meetbot/logparse.py",
    "meetbot/config",
    "meetbot/domain",
    "meetbot/minutes/view.py",
    "meetbot/publish/paths.py",
    "meetbot/schedule",
]


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def files(*targets: str) -> list[Path]:
    out: list[Path] = []
    for target in targets:
        path = ROOT / target
        out.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return out


@pytest.mark.parametrize("path", files(*PURE), ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_modules_import_no_io_library(path: Path) -> None:
    assert {name.split(".")[0] for name in imports(path)} & IO_LIBRARIES == set()


@pytest.mark.parametrize("path", files("meetbot/adapters"), ids=lambda p: str(p.relative_to(ROOT)))
def test_adapters_know_only_events(path: Path) -> None:
    own = {n for n in imports(path) if n.startswith("meetbot") and not n.startswith("meetbot.adapters")}
    allowed = {"meetbot", "meetbot.events", "meetbot.clock"}  # plus their own package, meetbot.adapters.*
    assert own <= allowed, own - allowed


@pytest.mark.parametrize("path", files("plugins"), ids=lambda p: str(p.relative_to(ROOT)))
def test_plugins_never_touch_networks_or_sql(path: Path) -> None:
    names = imports(path)
    assert {name.split(".")[0] for name in names} & IO_LIBRARIES == set()
    assert not [n for n in names if n.startswith(("meetbot.adapters", "meetbot.storage", "meetbot.app"))]


def test_only_the_storage_layer_speaks_sql() -> None:
    speakers = {
        str(path.relative_to(ROOT))
        for path in files("meetbot")
        if any(
            name.split(".")[0] in {"sqlalchemy", "asyncpg", "aiosqlite", "alembic"} for name in imports(path)
        )
    }
    assert {s for s in speakers if not s.startswith("meetbot/storage/")} == set()
