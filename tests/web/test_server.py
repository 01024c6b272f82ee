"""The site as a process runs it: `meetbot serve` on a real port, and beside the bot (`web:`)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from meetbot.config.schema import WebSettings
from meetbot.engine import Engine
from meetbot.registry import load_plugins
from meetbot.storage.database import Database
from meetbot.web.server import beside_bot
from tests.conftest import free_port
from tests.web.conftest import Seeded


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_meetbot_serve_answers_on_the_given_port(seeded: Seeded, tmp_path: Path) -> None:
    if not seeded.url.startswith("sqlite"):
        pytest.skip("one backend is enough for the command line; the routes run on both elsewhere")
    config = tmp_path / "meetbot.yaml"
    config.write_text(f"database:\n  url: '{seeded.url}'\n", encoding="utf-8")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "meetbot.cli", "serve", "-c", str(config), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, body = fetch(f"http://127.0.0.1:{port}/healthz")
                break
            except OSError:
                assert process.poll() is None, process.communicate()[0]
                assert time.monotonic() < deadline, "meetbot serve did not start"
                time.sleep(0.1)
        assert status == 200
        assert json.loads(body) == {"status": "ok", "database": "ok"}
        status, body = fetch(f"http://127.0.0.1:{port}/api/search?q=zanzibar")
        assert json.loads(body)["total"] == 1
        assert fetch(f"http://127.0.0.1:{port}/no/such/page")[0] == 404
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_the_bot_serves_the_site_when_the_config_says_web(seeded: Seeded, database: Database) -> None:
    engine = Engine(load_plugins(seeded.settings), seeded.settings.command_prefixes)
    port = free_port()
    settings = seeded.settings.model_copy(update={"web": WebSettings(host="127.0.0.1", port=port)})
    async with beside_bot(settings, database, engine):
        status, _body = await asyncio.to_thread(fetch, f"http://127.0.0.1:{port}/healthz")
        assert status == 200
    with pytest.raises(urllib.error.URLError, match="Connection refused"):  # stopped with the bot
        fetch(f"http://127.0.0.1:{port}/healthz")
