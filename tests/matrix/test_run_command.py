"""`meetbot run` itself, as a process, with a Matrix account in its config file: the factory
wiring, config loading and the adapter together; and a `kill -9` in the middle of a meeting."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

from tests.matrix.conftest import PASSWORD, Person, new_user


def write_config(synapse: Any, tmp_path: Path, bot_id: str, room: str) -> Path:
    config = {
        "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'meetbot.db'}"},
        "publish": {"dir": str(tmp_path / "minutes")},
        "networks": [
            {
                "name": "mx",
                "type": "matrix",
                "homeserver": synapse.url,
                "user_id": bot_id,
                "password": PASSWORD,
                "rooms": [room],
                "state_dir": str(tmp_path / "state"),
            }
        ],
    }
    path = tmp_path / "meetbot.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


async def start(config: Path, tmp_path: Path) -> asyncio.subprocess.Process:
    sync = tmp_path / "state" / "sync.json"
    mark = sync.stat().st_mtime_ns if sync.exists() else 0
    with (tmp_path / "meetbot.log").open("ab") as output:  # a file: a pipe nobody reads could fill up
        process = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "meetbot"),
            "run",
            "-c",
            str(config),
            cwd=tmp_path,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
        )
    # Listening once its first sync is stored (before that, what is said is history to it).
    for _ in range(300):
        if sync.exists() and sync.stat().st_mtime_ns != mark:
            return process
        await asyncio.sleep(0.05)
    process.kill()
    raise AssertionError(f"meetbot run did not sync: {(tmp_path / 'meetbot.log').read_text()[-2000:]}")


async def stop(process: asyncio.subprocess.Process, how: signal.Signals = signal.SIGTERM) -> None:
    if process.returncode is None:
        process.send_signal(how)
    try:
        await asyncio.wait_for(process.wait(), 10)
    except TimeoutError:
        process.kill()
        await process.wait()


async def test_meetbot_run_serves_a_matrix_room(
    synapse: Any, people: dict[str, Person], tmp_path: Path
) -> None:
    alice = people["alice"]
    room = await alice.create_room(public=True)
    bot_id = new_user(synapse, "meetbot")
    process = await start(write_config(synapse, tmp_path, bot_id, room), tmp_path)
    try:
        await alice.send(room, "#commands")
        answer = await alice.wait_notice(bot_id, room, "#startmeeting", within=20)
        assert answer["content"]["msgtype"] == "m.notice"
        assert json.loads((tmp_path / "state" / "credentials.json").read_text())["user_id"] == bot_id
    finally:
        await stop(process)


async def test_kill_9_mid_meeting(synapse: Any, people: dict[str, Person], tmp_path: Path) -> None:
    alice, bob = people["alice"], people["bob"]
    room = await alice.create_room(public=True)
    await bob.join(room)
    bot_id = new_user(synapse, "meetbot")
    await alice.set_power(room, bot_id, 50)
    config = write_config(synapse, tmp_path, bot_id, room)
    process = await start(config, tmp_path)
    try:
        await alice.send(room, "#startmeeting Kill Test")
        await alice.wait_notice(bot_id, room, "Meeting started", within=20)
        await bob.send(room, "#info before the kill")
        await alice.send(room, "#topic First")
        await alice.wait_for(
            lambda e: e.get("type") == "m.room.topic" and e.get("sender") == bot_id, 20, "topic"
        )
    finally:
        await stop(process, signal.SIGKILL)
    await bob.send(room, "#info while it was dead")
    process = await start(config, tmp_path)
    try:
        await alice.send(room, "#endmeeting")
        await alice.wait_notice(bot_id, room, "Meeting ended", within=20)
    finally:
        await stop(process)
    (minutes,) = (tmp_path / "minutes" / "kill_test").rglob("*.json")
    data = json.loads(minutes.read_text())
    assert [(item["kind"], item["text"]) for item in data["items"]] == [
        ("INFO", "before the kill"),
        ("TOPIC", "First"),
        ("INFO", "while it was dead"),
    ]
    said = alice.said_by(bot_id, room)
    assert sum("Meeting started" in body for body in said) == 1
    assert sum("Meeting ended" in body for body in said) == 1
