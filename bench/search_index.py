"""The cost of full-text indexing on the line-write path (SQLite): single-line insert+commit and
batches of 200 lines per transaction, on a file at 0007 (every line indexed by 0005's trigger
as it is written) and at the head (lines queued, indexed by a catch-up: migration 0008), plus
what catching up costs per line.

usage: .venv/bin/python bench/search_index.py [ROUNDS]
The writes go through the stdlib sqlite3 module with meetbot's pragmas, like the bot's line
writer thread; figures are medians over ROUNDS (default 7) rounds of each.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from meetbot.storage import migrate
from meetbot.storage.database import create_engine
from meetbot.storage.search_index import SearchIndexer
from meetbot.storage.sqlite import apply_pragmas

BEFORE = "0007"
SINGLES = 1_000
BATCHES = 40
BATCH = 200
WORDS = [
    *("deploy", "release", "server", "database", "migration", "rollback", "kernel", "patch"),
    *("review", "budget", "schedule", "network", "storage", "backup", "mirror", "package"),
]
INSERT = (
    "INSERT INTO meeting_lines (meeting_id, seq, at, kind, nick, sender_key, text, is_bot, native_id, "
    "privileged, edit_of, thread, backfilled) "
    "VALUES (1, ?, '2026-11-21 16:00:00.000000', 'say', 'alice', 'libera:alice', ?, 0, NULL, 0, NULL, "
    "NULL, 0)"
)


async def migrated(path: Path, revision: str) -> str:
    url = f"sqlite+aiosqlite:///{path}"
    engine = create_engine(url)
    await migrate.upgrade(engine, revision)
    await engine.dispose()
    return url


def connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    apply_pragmas(connection, memory=False)
    connection.execute(
        "INSERT INTO meetings (id, network, room, started_at, owner_key, owner_nick, restricted) "
        "VALUES (1, 'libera', '#bench', '2026-11-21 16:00:00.000000', 'libera:alice', 'alice', 0)"
    )
    return connection


class Lines:
    def __init__(self) -> None:
        self.seq = 0
        self.rng = random.Random(7)

    def next(self) -> tuple[int, str]:
        self.seq += 1
        return self.seq, " ".join(self.rng.choice(WORDS) for _ in range(8))


def singles(connection: sqlite3.Connection, lines: Lines) -> float:
    times = []
    for _ in range(SINGLES):
        row = lines.next()
        start = time.perf_counter()
        connection.execute("BEGIN")
        connection.execute(INSERT, row)
        connection.execute("COMMIT")
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def batches(connection: sqlite3.Connection, lines: Lines) -> float:
    start = time.perf_counter()
    for _ in range(BATCHES):
        rows = [lines.next() for _ in range(BATCH)]
        connection.execute("BEGIN")
        connection.executemany(INSERT, rows)
        connection.execute("COMMIT")
    return BATCHES * BATCH / (time.perf_counter() - start)


async def catch_up_per_row(url: str) -> float | None:
    """None before migration 0008: the lines were indexed as they were written."""
    engine = create_engine(url)
    try:
        indexer = SearchIndexer(engine)
        start = time.perf_counter()
        rows = await indexer.catch_up()
        return (time.perf_counter() - start) / rows * 1e6 if rows else None
    finally:
        await engine.dispose()


@dataclass
class Figures:
    single_p50: list[float] = field(default_factory=list)
    batch_rate: list[float] = field(default_factory=list)
    catch_up: list[float] = field(default_factory=list)

    def report(self, revision: str) -> None:
        print(
            f"{revision}: single insert+commit p50 {statistics.median(self.single_p50):.1f} us, "
            f"batches of {BATCH} {statistics.median(self.batch_rate):,.0f} lines/s"
            + (f", catch-up {statistics.median(self.catch_up):.2f} us/line" if self.catch_up else "")
        )


def one_round(revision: str, figures: Figures) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "meetbot.db"
        url = asyncio.run(migrated(path, revision))
        connection = connect(path)
        lines = Lines()
        figures.single_p50.append(singles(connection, lines))
        figures.batch_rate.append(batches(connection, lines))
        connection.close()
        if revision != BEFORE:
            caught = asyncio.run(catch_up_per_row(url))
            if caught is not None:
                figures.catch_up.append(caught)


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    # Interleaved, so a busy phase of the machine hits both alike.
    figures = {BEFORE: Figures(), "head": Figures()}
    for _ in range(rounds):
        for revision, collected in figures.items():
            one_round(revision, collected)
    for revision, collected in figures.items():
        collected.report(revision)


if __name__ == "__main__":
    main()
