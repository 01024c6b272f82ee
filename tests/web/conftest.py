"""Archives filled the way users fill them: IRC logs replayed through the real bot (engine,
plugins, storage, publisher and archive), into SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from meetbot.config import Settings
from meetbot.config.schema import DatabaseSettings, PublishSettings
from meetbot.engine import Engine
from meetbot.registry import load_plugins
from meetbot.replay import replay_log
from meetbot.storage.database import Database
from meetbot.web.site import build_site
from tests.conftest import upgrade_schema

# Stored text that must come out inert everywhere.
HOSTILE = '<script>alert("x")</script> <img src=x onerror=alert(1)> "quoted" NEAR(a b) * : ^ AND OR'

INFRA_1 = [
    "16:00:00 <alice> #startmeeting infra",
    "16:00:05 <alice> #topic Zanzibar migration plan",
    "16:00:10 <bob> we should move the flamingo servers first",
    "16:00:15 <alice> #agreed flamingo servers move on Monday",
    "16:00:20 <bob> #action bob writes the flamingo runbook",
    f"16:00:25 <mallory> {HOSTILE}",
    "16:00:30 <alice> #endmeeting",
]
INFRA_2 = [
    "16:00:00 <alice> #startmeeting infra",
    "16:00:05 <alice> #topic Quokka rollout",
    "16:00:10 <carol> the quokka rollout is halfway done",
    "16:00:15 <alice> #info flamingo runbook reviewed",
    "16:00:20 <alice> #endmeeting",
]
DOCS = [
    "09:00:00 <dave> #startmeeting docs",
    "09:00:05 <dave> #topic Style guide",
    "09:00:10 <erin> the flamingo chapter needs pictures",
    "09:00:20 <dave> #endmeeting",
]
SECRET = [
    "10:00:00 <alice> #startmeeting infra",
    "10:00:01 <alice> #restrictlogs",
    "10:00:02 <alice> the pangolin password is hunter2",
    "10:00:03 <alice> #endmeeting",
]


@dataclass
class Seeded:
    url: str
    settings: Settings
    publish: Path


def write_log(directory: Path, name: str, lines: Sequence[str]) -> Path:
    path = directory / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def replay(seeded: Seeded, lines: Sequence[str], *, day: date, channel: str, tmp: Path) -> None:
    path = write_log(tmp, f"{channel.strip('#')}-{day}.log", lines)
    await replay_log(
        path,
        channel=channel,
        network="libera",
        day=day,
        settings=seeded.settings,
        publish_dir=seeded.publish,
        database_url=seeded.url,
    )


async def seed(database_url: str, tmp: Path) -> Seeded:
    await upgrade_schema(database_url)
    publish = tmp / "published"
    settings = Settings(database=DatabaseSettings(url=database_url), publish=PublishSettings(dir=publish))
    seeded = Seeded(database_url, settings, publish)
    await replay(seeded, INFRA_1, day=date(2026, 11, 2), channel="#infra", tmp=tmp)
    await replay(seeded, DOCS, day=date(2026, 11, 5), channel="#docs", tmp=tmp)
    await replay(seeded, INFRA_2, day=date(2026, 11, 9), channel="#infra", tmp=tmp)
    await replay(seeded, SECRET, day=date(2026, 11, 12), channel="#infra", tmp=tmp)
    return seeded


@pytest.fixture
async def seeded(database_url: str, tmp_path: Path) -> Seeded:
    return await seed(database_url, tmp_path)


@pytest.fixture
async def database(seeded: Seeded) -> AsyncIterator[Database]:
    database = await Database.open(seeded.url)
    yield database
    await database.close()


@pytest.fixture
async def client(seeded: Seeded, database: Database) -> AsyncIterator[TestClient[object, object]]:
    engine = Engine(load_plugins(seeded.settings), seeded.settings.command_prefixes)
    async with TestClient(TestServer(build_site(seeded.settings, database, engine))) as client:
        yield client
