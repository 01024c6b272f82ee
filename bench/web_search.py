"""Search latency on a 10,000-line meeting (plus the web log page that holds a hit).

usage: .venv/bin/python bench/web_search.py [DATABASE_URL]
Default: a fresh SQLite file in a temporary directory. For PostgreSQL pass an empty database's
URL (it is migrated first)."""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from meetbot.config import Settings
from meetbot.domain.model import Line
from meetbot.engine import Engine
from meetbot.events import LineKind, RoomRef
from meetbot.registry import load_plugins
from meetbot.storage import migrate
from meetbot.storage.database import Database, create_engine
from meetbot.storage.search import SearchFilters
from meetbot.storage.tables import LineRow

LINES = 10_000
WORDS = [
    *("deploy", "release", "server", "database", "migration", "rollback", "kernel", "patch"),
    *("review", "budget", "schedule", "network", "storage", "backup", "mirror", "package"),
    *("build", "test", "ticket", "bug", "feature", "docs", "website", "vote"),
]
T0 = datetime(2026, 11, 2, 16, tzinfo=UTC)


async def seed(database: Database, engine: Engine) -> None:
    rng = random.Random(7)
    first = Line(1, T0, LineKind.SAY, "chair", "bench:chair", "#startmeeting bench")
    header = await database.meetings.start_meeting(RoomRef("bench", "#bench"), first)
    rows = [
        {
            "meeting_id": header.id,
            "seq": seq,
            "at": T0 + timedelta(seconds=seq),
            "kind": "say",
            "nick": f"user{seq % 40}",
            "sender_key": f"bench:user{seq % 40}",
            "text": " ".join(rng.choice(WORDS) for _ in range(12)) + (" zebrafish" if seq == 7777 else ""),
            "is_bot": False,
        }
        for seq in range(2, LINES)
    ]
    rows.append(
        {**rows[-1], "seq": LINES, "text": "#endmeeting", "nick": "chair", "sender_key": "bench:chair"}
    )
    async with database.engine.begin() as connection:
        await connection.execute(insert(LineRow), rows)
    meeting = engine.rebuild(header, await database.meetings.lines(header.id))
    await database.meetings.save_state(meeting, items=True)


async def timed(label: str, call: object, runs: int = 20) -> None:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        result = await call()  # type: ignore[operator]
        samples.append((time.perf_counter() - start) * 1000)
    print(f"{label:45s} median {statistics.median(samples):7.2f} ms  max {max(samples):7.2f} ms  ({result})")


async def main(url: str) -> None:
    schema = create_engine(url)
    await migrate.upgrade(schema)
    await schema.dispose()
    database = await Database.open(url)
    settings = Settings()
    engine = Engine(load_plugins(settings), settings.command_prefixes)
    try:
        await seed(database, engine)
        search = database.search.search
        for query in ("zebrafish", "deploy", "deploy rollback kernel", "release budget"):

            async def run(query: str = query) -> str:
                results = await search(query, limit=20)
                return f"{results.total} hits"

            await timed(f"search {query!r} (first page of 20)", run)

        async def filtered() -> str:
            results = await search("deploy", SearchFilters(person="user3"), limit=20)
            return f"{results.total} hits"

        await timed("search 'deploy' person=user3", filtered)
    finally:
        await database.close()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        asyncio.run(main(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(main(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"))
