"""The container entrypoint (scripts/docker-entrypoint.sh), run as the image runs it: on an empty
database (a fresh SQLite file, a fresh PostgreSQL database) it creates the schema, starts the bot,
which answers /healthz, and SIGTERM reaches the bot, which exits 0. A missing config is a clear
error with exit status 64 (EX_USAGE)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from meetbot.storage import migrate
from meetbot.storage.database import create_engine
from tests.conftest import free_port

ENTRYPOINT = Path(__file__).resolve().parents[1] / "scripts" / "docker-entrypoint.sh"
# The venv the tests run from (.venv/bin): the image has its venv first on PATH the same way.
VENV_BIN = Path(sys.executable).parent
START_WITHIN = 12.0  # seconds from launch to a healthy /healthz (upgrade + start take ~2 s)
STOP_WITHIN = 8.0  # seconds from SIGTERM to exit

pytestmark = pytest.mark.slow


def _env(config: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MEETBOT_")}
    env["PATH"] = os.pathsep.join([str(VENV_BIN), env.get("PATH", "/usr/bin:/bin")])
    env["MEETBOT_CONFIG"] = str(config)
    return env


def _write_config(directory: Path, database_url: str, web_port: int, irc_port: int) -> Path:
    # JSON strings are valid YAML scalars, quoted, so a URL or '#chan' cannot be misread.
    q = json.dumps
    config = directory / "meetbot.yaml"
    config.write_text(
        f"database: {{url: {q(database_url)}}}\n"
        f"web: {{host: 127.0.0.1, port: {web_port}}}\n"
        "networks:\n"
        # Nothing listens on irc_port: the IRC adapter keeps retrying, the bot keeps running.
        f"  - {{name: test, type: irc, host: 127.0.0.1, port: {irc_port}, tls: false,\n"
        f"     nick: meetbot, channels: [{q('#meetbot-test')}]}}\n",
        encoding="utf-8",
    )
    return config


async def _revision(database_url: str) -> str | None:
    engine = create_engine(database_url)
    try:
        return await migrate.current_revision(engine)
    finally:
        await engine.dispose()


async def _poll_health(url: str, process: asyncio.subprocess.Process) -> tuple[int, Any]:
    """The first 200 answer of /healthz from an active bot (or the last answer when none came
    in time). The site answers as soon as it listens, which on PostgreSQL can be a moment
    before the process holds the lease: it says "standby" until then, rightly."""
    deadline = time.monotonic() + START_WITHIN
    last: tuple[int, Any] = (0, None)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while time.monotonic() < deadline and process.returncode is None:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(url) as response:
                    last = (response.status, await response.json(content_type=None))
                    if response.status == 200 and last[1].get("role") == "active":
                        return last
            await asyncio.sleep(0.1)
    return last


async def _port_closed(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return True
    writer.close()
    return False


async def test_entrypoint_upgrades_an_empty_database_runs_and_stops_on_sigterm(
    database_url: str, tmp_path: Path
) -> None:
    assert (VENV_BIN / "meetbot").exists(), f"no meetbot in {VENV_BIN}; install the project first"
    web_port = free_port()
    config = _write_config(tmp_path, database_url, web_port, irc_port=free_port())
    assert await _revision(database_url) is None  # really empty

    process = await asyncio.create_subprocess_exec(
        "/bin/sh",
        str(ENTRYPOINT),
        cwd=tmp_path,
        env=_env(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    stopped_in: float | None = None
    try:
        status, health = await _poll_health(f"http://127.0.0.1:{web_port}/healthz", process)
        if process.returncode is None:
            # `exec` made the bot this very process: the signal goes to meetbot, not to a shell.
            process.send_signal(signal.SIGTERM)
            sent = time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), STOP_WITHIN)
                stopped_in = time.monotonic() - sent
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        assert process.stdout is not None
        output = (await process.stdout.read()).decode(errors="replace")

    head = migrate.head_revision()
    assert head is not None
    assert f"database at revision {head}" in output, output
    assert await _revision(database_url) == head
    assert status == 200, f"/healthz answered {status} {health!r}\n{output}"
    assert health["status"] == "ok", health
    assert stopped_in is not None, f"still running {STOP_WITHIN} s after SIGTERM\n{output}"
    assert process.returncode == 0, output
    assert await _port_closed(web_port), "the bot outlived the entrypoint process"
    assert health["role"] == "active", health  # SQLite and a lone PostgreSQL process: active


async def test_a_missing_config_is_a_clear_error_with_status_64(tmp_path: Path) -> None:
    missing = tmp_path / "config" / "meetbot.yaml"
    process = await asyncio.create_subprocess_exec(
        "/bin/sh",
        str(ENTRYPOINT),
        cwd=tmp_path,
        env=_env(missing),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    message = stderr.decode()
    assert process.returncode == 64, message
    assert f"no config at {missing}" in message
    assert f"{missing.parent}:ro" in message  # says how to mount it
    assert stdout == b""
    assert list(tmp_path.iterdir()) == []  # no database, no minutes made on the way out


async def test_a_command_runs_instead_of_the_bot(tmp_path: Path) -> None:
    """`docker run IMAGE meetbot ...` runs that command, without a config or an upgrade."""
    process = await asyncio.create_subprocess_exec(
        "/bin/sh",
        str(ENTRYPOINT),
        "meetbot",
        "--version",
        cwd=tmp_path,
        env=_env(tmp_path / "absent.yaml"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()
    assert stdout.decode().startswith("meetbot ")
