"""`meetbot run` alone on its SQLite file syncs with its homeserver while its core is still being
built: an event that arrives meanwhile waits for the core, and the sync position does not move
past it until the core has handled it (meetbot.early)."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import pytest

import meetbot.app
from meetbot import cli
from meetbot.adapters.factory import build_adapters
from meetbot.clock import SystemClock
from meetbot.config import load_settings
from meetbot.early import EarlyAdapters
from tests.matrix.conftest import Person, new_user
from tests.matrix.test_run_command import write_config


async def _until(condition: Any, within: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.02)


async def test_an_event_that_comes_while_the_core_is_built_waits_and_holds_the_sync_position(
    synapse: Any, people: dict[str, Person], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = people["alice"]
    room = await alice.create_room(public=True)
    bot_id = new_user(synapse, "meetbot")
    built = asyncio.Event()
    build_app = meetbot.app.build_app

    async def held_back(*args: Any, **kwargs: Any) -> meetbot.app.App:
        await built.wait()
        return await build_app(*args, **kwargs)

    early: list[EarlyAdapters] = []
    made = EarlyAdapters.__init__

    def noted(self: EarlyAdapters, *args: Any) -> None:
        made(self, *args)
        early.append(self)

    monkeypatch.setattr(meetbot.app, "build_app", held_back)
    monkeypatch.setattr(EarlyAdapters, "__init__", noted)
    monkeypatch.setattr(cli, "settle_garbage_collector", lambda: None)  # not the test process's
    settings = load_settings(write_config(synapse, tmp_path, bot_id, room))
    sync = tmp_path / "state" / "sync.json"
    serving = asyncio.create_task(
        cli._serve(settings, build_adapters(settings.networks, SystemClock(), version="test"), None)
    )
    try:
        await _until(sync.exists, 30, "the bot's first sync")  # listening from here on
        position = sync.read_text()
        await alice.send(room, "#startmeeting Early Matrix")
        await _until(lambda: early[0].waiting == 1, 30, "the line to wait for the core")
        await asyncio.sleep(0.5)
        assert sync.read_text() == position  # not past a line the core has not handled
        built.set()
        await alice.wait_notice(bot_id, room, "Meeting started", within=20)
        await alice.send(room, "#info once the core was ready")
        await alice.send(room, "#endmeeting")
        await alice.wait_notice(bot_id, room, "Meeting ended", within=20)
    finally:
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
        asyncio.get_running_loop().remove_signal_handler(signal.SIGTERM)
    assert sync.read_text() != position
    (minutes,) = (tmp_path / "minutes" / "early_matrix").rglob("*.json")
    data = json.loads(minutes.read_text())
    assert [(item["kind"], item["text"]) for item in data["items"]] == [("INFO", "once the core was ready")]
