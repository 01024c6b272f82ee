"""Schema migrations through Alembic, which owns the schema from the first table."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from meetbot.storage.meetings import translate_outages

# Search objects created in raw SQL by migrations 0005 and 0008 (an FTS5 table with its shadow
# tables and the queue of lines to index on SQLite, a GIN expression index on PostgreSQL): no
# model describes them, so comparing the
# models with the database must look past them rather than call for their removal.
SEARCH_OBJECT_PREFIX = "meeting_lines_search"
SEARCH_INDEX = "ix_meeting_lines_search"


def _is_search_object(name: str | None) -> bool:
    return bool(name) and (name == SEARCH_INDEX or str(name).startswith(SEARCH_OBJECT_PREFIX))


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic `include_name`: skip reflecting the raw-SQL search objects."""
    return not _is_search_object(name)


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Alembic `include_object`: the raw-SQL search objects are not the models' business."""
    return not (reflected and compare_to is None and _is_search_object(name))


def script_location() -> Path:
    """The migrations: installed as `meetbot_alembic`, or `alembic/` in a source checkout."""
    spec = importlib.util.find_spec("meetbot_alembic")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            if (Path(location) / "env.py").is_file():
                return Path(location)
    source = Path(__file__).resolve().parents[2] / "alembic"
    if (source / "env.py").is_file():
        return source
    raise FileNotFoundError("meetbot's Alembic migrations are not installed (meetbot_alembic)")


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location()))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _upgrade(connection: Connection, revision: str = "head") -> None:
    command.upgrade(alembic_config(connection), revision)


def _downgrade(connection: Connection, revision: str) -> None:
    command.downgrade(alembic_config(connection), revision)


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


@translate_outages
async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade, revision)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    """Back to `revision` ("-1": one step). For rolling back a failed upgrade; data that only
    the newer schema can hold goes with it."""
    async with engine.begin() as connection:
        await connection.run_sync(_downgrade, revision)


@translate_outages
async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(_current)
