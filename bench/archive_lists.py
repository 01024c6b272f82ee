"""What a publish reads of a large archive: `ListingStore.archive_lists` (the lists the indexes
a published meeting appears in show, every listed meeting with its number of lines) for one team
of MEETINGS meetings of LINES lines each, on SQLite and, given its URL, PostgreSQL.

usage: .venv/bin/python bench/archive_lists.py [--meetings 300] [--lines 500] [--runs 15]
                                               [--database URL]
A fresh SQLite file by default; `--database` an empty database at the newest schema (`meetbot db
upgrade`), which it fills. PostgreSQL is vacuumed and analysed after the fill, as autovacuum
would have by then: its index-only scans need no visits to the table. Prints the median and the
quartiles of `--runs` reads (the first two, warming up, left out).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, text

from meetbot.storage.database import Database
from meetbot.storage.tables import LineRow, MeetingRow

START = datetime(2020, 1, 1, 16, tzinfo=UTC)


async def fill(database: Database, meetings: int, lines: int) -> None:
    async with database.engine.begin() as connection:
        for number in range(1, meetings + 1):
            started = START + timedelta(days=7 * number)
            meeting_id = (
                await connection.execute(
                    insert(MeetingRow).returning(MeetingRow.id),
                    {
                        "network": "bench",
                        "room": "#bench",
                        "started_at": started,
                        "ended_at": started + timedelta(hours=1),
                        "owner_key": "bench:alice",
                        "owner_nick": "alice",
                        "name": "bench",
                        "title": f"meeting {number}",
                        "restricted": False,
                    },
                )
            ).scalar_one()
            await connection.execute(
                insert(LineRow),
                [
                    {
                        "meeting_id": meeting_id,
                        "seq": seq,
                        "at": started + timedelta(seconds=seq),
                        "kind": "say",
                        "nick": "alice",
                        "sender_key": "bench:alice",
                        "text": f"line {seq} of meeting {number}, about the release and its tests",
                        "is_bot": False,
                    }
                    for seq in range(1, lines + 1)
                ],
            )
    if database.engine.dialect.name == "postgresql":
        async with database.engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text("VACUUM ANALYZE"))


async def measure(url: str, meetings: int, lines: int, runs: int) -> None:
    database = await Database.open(url)
    try:
        started = time.perf_counter()
        await fill(database, meetings, lines)
        print(f"{meetings} meetings of {lines} lines stored in {time.perf_counter() - started:.1f} s")
        listing = database.listing
        seconds = []
        for _ in range(runs):
            started = time.perf_counter()
            async with listing.reader() as reader:
                lists = await listing.archive_lists("bench", "bench", "#bench", reader=reader)
            seconds.append(time.perf_counter() - started)
        assert len(lists.team) == meetings
        assert all(summary.lines == lines for summary in lists.team)
        kept = sorted(seconds[2:])
        quartiles = statistics.quantiles(kept, n=4)
        print(
            f"{database.engine.dialect.name}: archive_lists median {statistics.median(kept) * 1000:.2f} ms "
            f"(quartiles {quartiles[0] * 1000:.2f}-{quartiles[2] * 1000:.2f}) over {len(kept)} reads"
        )
    finally:
        await database.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--meetings", type=int, default=300)
    parser.add_argument("--lines", type=int, default=500)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument(
        "--database", help="an empty database at the newest schema; default: a fresh SQLite file"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        url = args.database or f"sqlite+aiosqlite:///{Path(work) / 'bench.db'}"
        asyncio.run(measure(url, args.meetings, args.lines, args.runs))


if __name__ == "__main__":
    main()
