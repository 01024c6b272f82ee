"""Benchmark: publish every minutes format for a generated 10,000-line meeting.

    .venv/bin/python bench/publish_10k.py [--lines 10000] [--runs 7] [--previous 1000]
        [--endmeeting [--archive 300]] [--database URL]

Replays the generated log once through the real bot (engine, storage on SQLite, publishing and
the static archive), then times, `--runs` times, what `#endmeeting` costs after the last line is
stored: loading the meeting from the database, rebuilding it, rendering .html .txt .log.html
.log.txt .md .json (the two pages with the archive's navigation), writing them atomically, and
updating the archive (neighbours' pages, indexes). Reports medians (target: a quarter of
hcoop-meetbot's 1.15 s for 10,000 lines here), the same split per stage, and the process's CPU
time, steadier than wall time when other jobs share the machine.
`--previous N` first replays an N-line meeting in the same channel, as `bench/run` does before its
10,000-line one, so the archive also re-renders that neighbour's pages. The generated log is irssi
format, so the same file can be fed to a peer (e.g. hcoop-meetbot) for a side-by-side run.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import archive_lists

import meetbot.app as app_module
import meetbot.minutes.render as render_module
import meetbot.publish.archive as archive_module
from meetbot.app import build_app
from meetbot.config import Settings
from meetbot.domain.model import Line
from meetbot.engine import MeetingHeader
from meetbot.events import Identity, LineKind, MessageIn, Outbound, RoomRef, Say
from meetbot.logparse import parse_log
from meetbot.replay import replay_log
from meetbot.storage.database import Database

# "view" is part of "render" (or, for a page the archive renders again, of "archive"). "live": what
# the service's #endmeeting costs (FileMinutesWriter.write: it publishes the meeting it has, so
# no load or rebuild). The stages may overlap in time, so they need not add up to "live".
STAGES = ("load", "rebuild", "queries", "view", "render", "files", "archive", "live", "total")
# A quarter of hcoop-meetbot's #endmeeting for 10,000 lines on the bench machine (1.15 s).
TARGET_SECONDS = 0.29

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


class Stopwatch:
    """Seconds spent in wrapped callables, per stage, for the current run."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = defaultdict(float)

    def sync(self, stage: str, target: object, name: str) -> None:
        original = getattr(target, name, None)
        if original is None:
            return  # not in this version of the code

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.spent[stage] += time.perf_counter() - started

        setattr(target, name, timed)

    def coroutine(self, stage: str, target: object, name: str) -> None:
        original: Callable[..., Awaitable[Any]] | None = getattr(target, name, None)
        if original is None:
            return

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                self.spent[stage] += time.perf_counter() - started

        setattr(target, name, timed)


async def _add_a_late_line(database: Database, header: MeetingHeader, run: int) -> None:
    """A line stored after the end (as an edit is): every page showing the meeting changes."""
    _count, last = await database.meetings.line_count(header.id)
    assert last is not None
    at = header.started_at + timedelta(hours=1)
    late = Line(last + 1, at, LineKind.SAY, "late", "bench:late", f"a late remark {run}")
    assert await database.meetings.append_line(header.id, late)


async def replay(log: Path, day: date, work: Path, database: str, settings: Settings) -> None:
    """`log` replayed as a meeting of #bench on `day`, published under `work`/out."""
    await replay_log(
        log,
        channel="#bench",
        network="bench",
        day=day,
        settings=settings,
        publish_dir=work / "out",
        database_url=database,
    )


async def set_up(work: Path, database: str, settings: Settings, lines: int, previous: int) -> Path:
    """The `previous`-line neighbour replayed into the database (if any), and the generated log
    of the `lines`-line meeting the runs publish."""
    if previous:
        earlier = work / "previous.log.txt"
        generate_log(earlier, previous, seed=1)
        await replay(earlier, date(2026, 11, 14), work, database, settings)
    log = work / "bench.log.txt"
    generate_log(log, lines)
    return log


async def measure(
    lines: int, runs: int, previous: int, database_url: str | None = None, *, changing: bool = False
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        database = database_url or f"sqlite+aiosqlite:///{work / 'bench.db'}"
        settings = Settings()
        log = await set_up(work, database, settings, lines, previous)
        started = time.perf_counter()
        await replay(log, date(2026, 11, 21), work, database, settings)
        replay_seconds = time.perf_counter() - started

        app = await build_app(settings, [], database_url=database, publish_dir=work / "out")
        watch = Stopwatch()
        writer = app.writer
        # Rendering: the formats of a meeting's view (render_pages; older code's render_meeting,
        # which made the view too, or render_all where there is none); the archive's own
        # re-rendering of pages (older code) shows under "archive".
        if hasattr(writer.archive, "render_pages"):
            watch.sync("render", writer.archive, "render_pages")
        else:
            watch.sync("render", writer.archive, "render_meeting")
        watch.sync("render", app_module, "render_all")
        watch.sync("view", render_module, "build_view")
        watch.sync("view", archive_module, "build_view")
        watch.sync("view", app_module, "build_view")
        # The meeting's files, and with them the archive's pages where they go in one batch.
        watch.coroutine("files", writer._publisher, "publish_many")
        watch.coroutine("queries", writer, "_team_snapshot")
        watch.coroutine("queries", writer.archive, "listed")  # older code
        watch.coroutine("queries", writer.archive, "prepare")  # every read of a publish, in one go
        watch.coroutine("archive", writer.archive, "meeting_published")  # older code (052e597 and before)
        watch.coroutine("archive", writer.archive, "pages_after")
        samples: dict[str, list[float]] = defaultdict(list)
        try:
            store = app.service.store
            header = (await store.meetings_in(RoomRef("bench", "#bench")))[-1]
            for run in range(runs):
                if changing:
                    await _add_a_late_line(app.database, header, run)
                watch.spent.clear()
                cpu = time.process_time()
                started = time.perf_counter()
                stored = await store.lines(header.id)
                loaded = time.perf_counter()
                meeting = app.service.engine.rebuild(header, stored)
                rebuilt = time.perf_counter()
                live_cpu = time.process_time()
                files = await writer.write(meeting)
                done = time.perf_counter()
                samples["load"].append(loaded - started)
                samples["rebuild"].append(rebuilt - loaded)
                for stage in ("queries", "view", "render", "files", "archive"):
                    samples[stage].append(watch.spent[stage])
                samples["live"].append(done - rebuilt)
                samples["total"].append(done - started)
                samples["cpu"].append(time.process_time() - cpu)
                samples["live cpu"].append(time.process_time() - live_cpu)
        finally:
            await app.close()
        sizes = {file.extension: file.path.stat().st_size for file in files}
    total = samples["total"]
    median = statistics.median(total)
    print(f"meetbot: {lines} lines, {len(meeting.items)} items, {len(meeting.people)} people")
    if previous:
        print(f"  after a previous meeting of {previous} lines in the same channel (its pages rewritten)")
    print(f"  replay (store every line, run every command, publish once): {replay_seconds:.2f} s")
    print(
        f"  publish all formats from the database: median {median:.3f} s over {runs} runs "
        f"(min {min(total):.3f}, max {max(total):.3f}); CPU time {statistics.median(samples['cpu']):.3f} s; "
        f"target <= {TARGET_SECONDS} s: {'OK' if median <= TARGET_SECONDS else 'MISSED'}"
    )
    live = samples["live"]
    print(
        f"  live path (#endmeeting in the service, FileMinutesWriter.write): median "
        f"{statistics.median(live):.4f} s (min {min(live):.4f}, max {max(live):.4f}); "
        f"CPU time {statistics.median(samples['live cpu']):.4f} s"
    )
    print(
        "  split (medians, s): "
        + ", ".join(f"{stage} {statistics.median(samples[stage]):.3f}" for stage in STAGES)
    )
    print(
        "    queries: what the minutes and their navigation need besides the lines; view: the view "
        "model; render: every format (older code: with its view), in a thread; files: writing them "
        "atomically (now with the archive's pages, in one batch); archive: the archive's own work "
        "(neighbours' pages, indexes)"
    )
    print("  sizes: " + ", ".join(f"{ext} {size / 1024:.0f} KiB" for ext, size in sorted(sizes.items())))


class _Announcements:
    """An adapter that hears nothing and notes when the bot announces a meeting's end."""

    network = "bench"
    bot_nick = "meetbot"

    def __init__(self) -> None:
        self.ended_at: float | None = None

    async def run(self, submit: object) -> None:
        return None

    async def send(self, message: Outbound) -> None:
        if isinstance(message, Say) and message.text.startswith("Meeting ended"):
            self.ended_at = time.perf_counter()

    def members(self, room: RoomRef) -> tuple[Identity, ...]:
        return ()


async def measure_endmeeting(
    lines: int, runs: int, previous: int, database_url: str | None = None, archive: int = 0
) -> None:
    """What `bench/run` times: from the chair's `#endmeeting` reaching the service to the bot's
    announcement leaving it, every file published by then. Each run holds a new `lines`-line
    meeting in the same channel (line by line through the service, as live), then ends it.
    `archive`: that many earlier meetings of the same team (500 lines each) stored first."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        database = database_url or f"sqlite+aiosqlite:///{work / 'bench.db'}"
        settings = Settings()
        log = await set_up(work, database, settings, lines, previous)
        if archive:
            stored = await Database.open(database)
            try:
                await archive_lists.fill(stored, archive, 500)
            finally:
                await stored.close()
        adapter = _Announcements()
        app = await build_app(settings, [adapter], database_url=database, publish_dir=work / "out")
        room = RoomRef("bench", "#bench")
        samples: dict[str, list[float]] = defaultdict(list)
        try:
            for run in range(runs):
                with log.open(encoding="utf-8") as handle:
                    parsed = parse_log(handle, date(2026, 11, 15) + timedelta(days=run))
                messages = [
                    MessageIn(room=room, sender=Identity("bench", e.nick), text=e.text, at=e.at, kind=e.kind)
                    for e in parsed.lines
                ]
                *meeting, end = messages
                assert end.text == "#endmeeting"
                for message in meeting:
                    await app.service.handle(message)
                await app.settled()
                worker = getattr(app.writer, "log_worker", None)  # older code has none
                if worker is not None:
                    # A bot that has run a while has its log worker up; here the meetings come
                    # faster than its ~1 s start.
                    await worker.ready()
                adapter.ended_at = None
                cpu = time.process_time()
                started = time.perf_counter()
                await app.service.handle(end)
                assert adapter.ended_at is not None, "no announcement"
                samples["wall"].append(adapter.ended_at - started)
                samples["cpu"].append(time.process_time() - cpu)
        finally:
            await app.close()
    for name in ("wall", "cpu"):
        values = sorted(samples[name])
        median = statistics.median(values) * 1000
        print(
            f"#endmeeting -> announcement, {lines} lines, {name}: median {median:.1f} ms "
            f"(min {values[0] * 1000:.1f}, max {values[-1] * 1000:.1f}) over {runs} runs: "
            + " ".join(f"{v * 1000:.1f}" for v in samples[name])
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--previous", type=int, default=0, help="lines of a meeting before it (0: none)")
    parser.add_argument(
        "--changing",
        action="store_true",
        help="store a line in the meeting before each run, as an edit does: every page it is on "
        "changes (by default each run publishes the meeting unchanged, so pages are left as they were)",
    )
    parser.add_argument(
        "--database",
        help="an empty database at the newest schema (`meetbot db upgrade`), e.g. PostgreSQL; "
        "default: a fresh SQLite file",
    )
    parser.add_argument(
        "--archive",
        type=int,
        default=0,
        help="with --endmeeting: store that many earlier meetings of the team (500 lines each) first",
    )
    parser.add_argument(
        "--endmeeting",
        action="store_true",
        help="time the service's whole #endmeeting instead: the line reaching the service to the "
        "announcement sent (the final state's commit, the publish, the archive), a new meeting each run",
    )
    args = parser.parse_args()
    if args.endmeeting:
        asyncio.run(measure_endmeeting(args.lines, args.runs, args.previous, args.database, args.archive))
        return
    asyncio.run(measure(args.lines, args.runs, args.previous, args.database, changing=args.changing))


if __name__ == "__main__":
    main()
