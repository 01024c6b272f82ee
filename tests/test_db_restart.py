"""A database restart mid-meeting loses no line: a real PostgreSQL server of the test's own is
stopped while people keep talking, then started again; every line lands, in order."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from meetbot.app import build_app
from meetbot.config import Settings
from meetbot.events import Identity, MessageIn, Outbound, RoomRef
from meetbot.storage import migrate
from meetbot.storage.database import create_engine
from meetbot.web.site import build_site
from tests.conftest import PG_REQUIRED, T0, free_port

PG_BINARIES = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
ROOM = RoomRef("libera", "#restart")

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@dataclass
class PrivateServer:
    bindir: Path
    data: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def ctl(self, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(self.bindir / "pg_ctl"), "-D", str(self.data), *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.data.parent} -c fsync=off"
        self.ctl("-l", str(self.data.parent / "log"), "-w", "-o", options, "start")

    def stop(self) -> None:
        # "immediate" is the harshest stop PostgreSQL has: no checkpoint, connections cut.
        self.ctl("-m", "immediate", "-w", "stop")


@pytest.fixture(scope="module")
def private_server() -> Iterator[PrivateServer]:
    if not PG_BINARIES or os.geteuid() != 0 or shutil.which("runuser") is None:
        reason = "needs PostgreSQL's server binaries and root (to run them as the postgres user)"
        if PG_REQUIRED:
            pytest.fail(reason)
        pytest.skip(reason)
    home = Path(tempfile.mkdtemp(prefix="meetbot-pg-restart-"))
    shutil.chown(home, "postgres", "postgres")
    server = PrivateServer(PG_BINARIES[-1].parent, home / "data", free_port())
    subprocess.run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            str(server.bindir / "initdb"),
            "-D",
            str(server.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-instructions",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    server.start()
    try:
        yield server
    finally:
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(server.bindir / "pg_ctl"),
                "-D",
                str(server.data),
                "-m",
                "immediate",
                "stop",
            ],
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(home, ignore_errors=True)


class _Recording:
    """An adapter that only records what the bot sends."""

    network, bot_nick = "libera", "meetbot"

    def __init__(self) -> None:
        self.sent: list[Outbound] = []
        self.changed = asyncio.Event()

    async def run(self, submit: object) -> None:
        return None

    def members(self, room: RoomRef) -> list[Identity]:
        return [Identity("libera", "bob", account="bobby")]

    async def send(self, message: Outbound) -> None:
        self.sent.append(message)
        self.changed.set()

    async def wait_for(self, wanted: str) -> Outbound:
        async with asyncio.timeout(60):
            while True:
                for message in self.sent:
                    if wanted in getattr(message, "text", getattr(message, "topic", "")):
                        return message
                self.changed.clear()
                await self.changed.wait()


async def test_a_database_restart_loses_no_line_and_the_bot_keeps_answering(
    private_server: PrivateServer, tmp_path: Path
) -> None:
    database = create_engine(private_server.url)
    await migrate.upgrade(database)
    await database.dispose()
    network = _Recording()
    app = await build_app(Settings(), [network], database_url=private_server.url, publish_dir=tmp_path)
    alice = Identity("libera", "alice", account="alice")

    def said(n: int, text: str) -> MessageIn:
        return MessageIn(ROOM, alice, text, T0 + timedelta(seconds=n))

    try:
        app.dispatcher.submit(said(0, "#startmeeting restart drill"))
        app.dispatcher.submit(said(1, "#topic before"))
        await app.dispatcher.drain()

        await asyncio.to_thread(private_server.stop)
        for n in range(2, 12):  # people keep talking while the database is down
            app.dispatcher.submit(said(n, f"line {n} while the database is down"))
        app.dispatcher.submit(said(12, "#info said during the outage"))
        app.dispatcher.submit(said(13, "#topic chosen during the outage"))
        # The bot answers while the database is still down: the lines wait in its buffer.
        await network.wait_for("chosen during the outage")
        assert app.service.buffer.buffered_lines >= 12
        assert app.health()["buffered_lines"] == app.service.buffer.buffered_lines
        # /healthz tells a monitor what is going on; /metrics counts what waits.
        site = build_site(Settings(), app.database, app.service.engine, bot=app)
        async with TestClient(TestServer(site)) as client:
            response = await client.get("/healthz")
            assert response.status == 503
            health = await response.json()
            assert health["status"] == "degraded"
            assert health["role"] == app.role.value  # (not running: no lease taken)
            assert health["database"] == "unavailable"
            metrics = await (await client.get("/metrics")).text()
            assert f"meetbot_buffered_lines {app.service.buffer.buffered_lines}.0" in metrics
        await asyncio.to_thread(private_server.start)
        app.dispatcher.submit(said(14, "#endmeeting"))
        # Published once the buffered lines are in: the minutes are made from the database.
        await network.wait_for("Meeting ended at")
        assert app.service.buffer.buffered_lines == 0

        (header,) = await app.database.meetings.meetings_in(ROOM)
        lines = await app.database.meetings.lines(header.id)
        people = [line.text for line in lines if not line.is_bot]
        assert people == [
            "#startmeeting restart drill",
            "#topic before",
            *(f"line {n} while the database is down" for n in range(2, 12)),
            "#info said during the outage",
            "#topic chosen during the outage",
            "#endmeeting",
        ]
        assert [line.seq for line in lines] == list(range(1, len(lines) + 1))
        assert await app.database.meetings.open_meeting(ROOM) is None
        (minutes_file,) = tmp_path.rglob("*[0-9].txt")
        minutes = minutes_file.read_text(encoding="utf-8")
        assert "said during the outage" in minutes
        assert "chosen during the outage" in minutes
    finally:
        await app.close()


async def test_a_full_buffer_makes_rooms_wait_and_says_so(
    private_server: PrivateServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = create_engine(private_server.url)
    await migrate.upgrade(database)
    await database.dispose()
    settings = Settings.model_validate({"database": {"buffer_lines": 100}})
    app = await build_app(settings, [_Recording()], database_url=private_server.url, publish_dir=tmp_path)
    room = RoomRef("libera", "#overflow")
    alice = Identity("libera", "alice", account="alice")

    def said(n: int, text: str) -> MessageIn:
        return MessageIn(room, alice, text, T0 + timedelta(seconds=n))

    try:
        app.dispatcher.submit(said(0, "#startmeeting overflow drill"))
        await app.dispatcher.drain()
        await asyncio.to_thread(private_server.stop)
        for n in range(1, 151):
            app.dispatcher.submit(said(n, f"line {n}"))
        async with asyncio.timeout(30):
            while app.service.buffer.buffered_lines < 100:  # noqa: ASYNC110 - watching the bot
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        # Full: the rest wait in the room's queue (never dropped), and the log says so.
        assert app.service.buffer.buffered_lines == 100
        assert app.dispatcher.waiting > 0
        assert any(
            record.levelname == "ERROR" and "write buffer full" in record.getMessage()
            for record in caplog.records
        )
        await asyncio.to_thread(private_server.start)
        await asyncio.wait_for(app.dispatcher.drain(), 60)
        await asyncio.wait_for(app.service.buffer.flushed(), 60)
        (header,) = await app.database.meetings.meetings_in(room)
        texts = [line.text for line in await app.database.meetings.lines(header.id) if not line.is_bot]
        assert texts == ["#startmeeting overflow drill", *(f"line {n}" for n in range(1, 151))]
    finally:
        await app.close()
