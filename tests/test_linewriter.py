"""The SQLite line writer: small work (a command's line) runs on the event loop's own thread
while the writer thread is idle, and never waits there for a lock another connection holds;
the rest goes to the writer thread. Real SQLite files."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from meetbot.storage import linewriter
from meetbot.storage.linewriter import ThreadedSqliteWriter, line_writer


@pytest.fixture
async def writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ThreadedSqliteWriter]:
    # A lock that made the loop wait would hang the test for the whole busy timeout.
    monkeypatch.setattr(linewriter, "BUSY_TIMEOUT_MS", 5_000)
    with sqlite3.connect(tmp_path / "db.sqlite") as setup:
        setup.execute("CREATE TABLE notes (thread INTEGER, text TEXT)")
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    made = line_writer(engine)
    assert isinstance(made, ThreadedSqliteWriter)
    yield made
    await made.close()
    await engine.dispose()


def note(text: str) -> linewriter.Work[None]:
    def work(connection: Connection) -> None:
        connection.exec_driver_sql("INSERT INTO notes VALUES (?, ?)", (threading.get_ident(), text))

    return work


def notes(tmp_path: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(tmp_path / "db.sqlite") as reader:
        return list(reader.execute("SELECT thread, text FROM notes ORDER BY rowid"))


async def test_small_work_runs_on_the_loop_thread_and_the_rest_on_the_writer_thread(
    writer: ThreadedSqliteWriter, tmp_path: Path
) -> None:
    await writer.run(note("small"), small=True)
    await writer.run(note("large"))
    await writer.run(note("small again"), small=True)
    loop_thread = threading.get_ident()
    assert [(text, thread == loop_thread) for thread, text in notes(tmp_path)] == [
        ("small", True),
        ("large", False),
        ("small again", True),
    ]


async def test_small_work_waits_for_a_held_lock_on_the_writer_thread_not_the_loop(
    writer: ThreadedSqliteWriter, tmp_path: Path
) -> None:
    await writer.run(note("opens the connection"), small=True)
    blocker = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another connection holds the write lock
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        write = asyncio.create_task(writer.run(note("after the lock"), small=True))
        await asyncio.sleep(0.3)
        assert not write.done()
        assert ticks >= 10, "the loop was blocked while the lock was held"
        blocker.rollback()
        await asyncio.wait_for(write, 5)
    finally:
        ticker.cancel()
        blocker.close()
    (_, opened), (thread, text) = notes(tmp_path)
    assert (opened, text) == ("opens the connection", "after the lock")
    assert thread != threading.get_ident()  # waited for the lock on the writer thread


async def test_commits_never_checkpoint_a_thread_of_its_own_does(
    writer: ThreadedSqliteWriter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint in a commit would stall the event loop for milliseconds when that commit
    is a small write made there."""
    monkeypatch.setattr(linewriter, "CHECKPOINT_EVERY", 5)
    checkpointed_on: list[int] = []
    checkpoint = ThreadedSqliteWriter._checkpoint

    def watched(self: ThreadedSqliteWriter) -> None:
        checkpointed_on.append(threading.get_ident())
        checkpoint(self)

    monkeypatch.setattr(ThreadedSqliteWriter, "_checkpoint", watched)
    written = 0
    async with asyncio.timeout(10):
        # Every fifth unit of work calls for a checkpoint, unless one is still running.
        while len(checkpointed_on) < 2:
            await writer.run(note(f"line {written}"), small=written % 2 == 0)
            written += 1
            await asyncio.sleep(0.001)
    assert threading.get_ident() not in checkpointed_on

    def autocheckpoint(connection: Connection) -> int:
        return int(connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())

    assert await writer.run(autocheckpoint) == 0
    assert await writer.run(autocheckpoint, small=True) == 0
    with sqlite3.connect(tmp_path / "db.sqlite") as reader:
        # Everything the log held is in the database file now (no frame left to copy).
        busy, logged, copied = reader.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert (busy, len(notes(tmp_path))) == (0, written)
    assert logged == copied
