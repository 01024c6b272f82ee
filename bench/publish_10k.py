"""Benchmark: publish every minutes format for a generated 10,000-line meeting.

    .venv/bin/python bench/publish_10k.py [--lines 10000] [--runs 7]

Replays the generated log once through the real bot (engine, storage on SQLite, publishing),
then times, `--runs` times, what `#endmeeting` costs: loading the meeting from the database,
rebuilding it, rendering .html .txt .log.html .log.txt .md .json and writing them atomically.
Reports medians (target: under 1 s on a 2-core machine). The generated log is irssi format, so
the same file can be fed to a peer (e.g. hcoop-meetbot) for a side-by-side run.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from meetbot.app import build_app
from meetbot.config import Settings
from meetbot.events import RoomRef
from meetbot.replay import replay_log

NICKS = ["alice", "bob", "carol", "dave", "ken[", "Üţáhraptõr", "re_st", "[m]"]
WORDS = [
    "the",
    "release",
    "branch",
    "needs",
    "tests",
    "docs",
    "review",
    "<b>html</b>",
    "&",
    "more",
    "üñí",
    "links",
    "before",
    "friday",
]


def generate_log(path: Path, lines: int, seed: int = 20261121) -> None:
    """A long meeting: chatter with topics, items and actions sprinkled through it."""
    rng = random.Random(seed)
    out = ["09:00:00 <alice> #startmeeting bench", "09:00:00 <alice> #chair bob"]
    seconds = 0
    while len(out) < lines - 1:
        seconds += 1
        stamp = f"{9 + seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        nick = rng.choice(NICKS)
        text = " ".join(rng.choices(WORDS, k=rng.randint(3, 14)))
        roll = rng.random()
        if roll < 0.01:
            out.append(f"{stamp} <alice> #topic {text}")
        elif roll < 0.05:
            out.append(
                f"{stamp} <{nick}> #{rng.choice(['info', 'idea', 'link http://example.org/', 'help'])} {text}"
            )
        elif roll < 0.07:
            out.append(f"{stamp} <{nick}> #action {rng.choice(NICKS)} to {text}")
        elif roll < 0.08:
            out.append(f"{stamp} * {nick} {text}")
        else:
            out.append(f"{stamp} <{nick}> {text}")
    out.append(f"{9 + seconds // 3600:02d}:59:59 <alice> #endmeeting")
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


async def measure(lines: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        log = work / "bench.log.txt"
        generate_log(log, lines)
        database = f"sqlite+aiosqlite:///{work / 'bench.db'}"
        settings = Settings()
        started = time.perf_counter()
        await replay_log(
            log,
            channel="#bench",
            network="bench",
            day=date(2026, 11, 21),
            settings=settings,
            publish_dir=work / "out",
            database_url=database,
        )
        replay_seconds = time.perf_counter() - started

        app = await build_app(settings, [], database_url=database, publish_dir=work / "out")
        try:
            store = app.service.store
            (header,) = await store.meetings_in(RoomRef("bench", "#bench"))
            timings = []
            for _ in range(runs):
                started = time.perf_counter()
                meeting = app.service.engine.rebuild(header, await store.lines(header.id))
                files = await app.writer.write(meeting)
                timings.append(time.perf_counter() - started)
        finally:
            await app.close()
        sizes = {file.extension: file.path.stat().st_size for file in files}
    median = statistics.median(timings)
    print(f"meetbot: {lines} lines, {len(meeting.items)} items, {len(meeting.people)} people")
    print(f"  replay (store every line, run every command, publish once): {replay_seconds:.2f} s")
    print(
        f"  publish all formats from the database: median {median:.3f} s over {runs} runs "
        f"(min {min(timings):.3f}, max {max(timings):.3f}); target < 1 s: {'OK' if median < 1 else 'MISSED'}"
    )
    print("  sizes: " + ", ".join(f"{ext} {size / 1024:.0f} KiB" for ext, size in sorted(sizes.items())))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(measure(args.lines, args.runs))


if __name__ == "__main__":
    main()
