"""A real Synapse for the session (scripts/synapse/synapse.py: its own venv, SQLite, loopback),
people driven by matrix-nio, and the bot (build_app + MatrixAdapter) on a temp SQLite database.

Synapse is installed on first use (~25-40 s cold, reused from .cache/synapse-venv after). Without
it the live tests skip, unless MEETBOT_REQUIRE_MATRIX=1 (set by scripts/test.sh): then they fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import itertools
import json
import os
import sys
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from nio import AsyncClient, AsyncClientConfig, ErrorResponse, RoomCreateResponse, RoomPreset, SyncResponse

from meetbot.adapters.matrix import MatrixAdapter
from meetbot.app import App, build_app
from meetbot.config.schema import MatrixAccount, Settings
from meetbot.events import MessageIn

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = os.environ.get("MEETBOT_REQUIRE_MATRIX") == "1"
PASSWORD = "correct horse battery staple"


def _load_harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "meetbot_synapse", ROOT / "scripts" / "synapse" / "synapse.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


harness = _load_harness()


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    try:
        harness.install()
    except harness.HarnessError as error:
        if REQUIRED:
            pytest.fail(f"MEETBOT_REQUIRE_MATRIX=1 but Synapse cannot be installed: {error}")
        pytest.skip(f"no Synapse homeserver and it cannot be installed here: {error}")
    server = harness.start(tmp_path_factory.mktemp("synapse"))
    yield server
    server.stop()


_numbers = itertools.count(1)


def new_user(synapse: Any, name: str) -> str:
    """A fresh account (unique per test, so tests never see each other's rooms or devices)."""
    return str(synapse.register(f"{name}{next(_numbers)}", PASSWORD))


@dataclass
class Person:
    """Someone in Matrix, as a client would be: sends, edits, redacts, and sees every event."""

    client: AsyncClient
    events: list[dict[str, Any]] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def user_id(self) -> str:
        return str(self.client.user_id)

    @classmethod
    async def login(cls, synapse: Any, name: str) -> Person:
        user_id = new_user(synapse, name)
        client = AsyncClient(synapse.url, user_id, config=AsyncClientConfig(max_limit_exceeded=None))
        ok(await client.login(PASSWORD, device_name="test"))
        person = cls(client)
        ok(await client.sync(timeout=0))  # everything so far is history to this person
        person._task = asyncio.create_task(person._sync_forever())
        return person

    async def _sync_forever(self) -> None:
        while True:
            response = await self.client.sync(timeout=30_000)
            if not isinstance(response, SyncResponse):
                await asyncio.sleep(0.1)
                continue
            for room_id, joined in response.rooms.join.items():
                for event in joined.timeline.events:
                    self.events.append({**event.source, "room_id": room_id})
            self._changed.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.client.close()

    async def create_room(
        self, *, invite: tuple[str, ...] = (), public: bool = False, initial_state: list[Any] | None = None
    ) -> str:
        response = ok(
            await self.client.room_create(
                name="meeting",
                invite=list(invite),
                initial_state=initial_state or [],
                preset=RoomPreset.public_chat if public else RoomPreset.private_chat,
            )
        )
        assert isinstance(response, RoomCreateResponse)
        return str(response.room_id)

    async def upgrade(self, room_id: str, version: str = "12") -> str:
        """Upgrade the room (nio has no call for it); returns the replacement room's id."""
        answer = await asyncio.to_thread(
            _http,
            str(self.client.homeserver),
            "POST",
            f"/_matrix/client/v3/rooms/{room_id}/upgrade",
            {"new_version": version},
            token=self.client.access_token,
        )
        return str(answer["replacement_room"])

    async def join(self, room_id: str) -> None:
        ok(await self.client.join(room_id))

    async def send(
        self,
        room_id: str,
        text: str,
        msgtype: str = "m.text",
        *,
        extra: dict[str, Any] | None = None,
        **more: str,
    ) -> str:
        content = {"msgtype": msgtype, "body": text, **more, **(extra or {})}
        return str(ok(await self.client.room_send(room_id, "m.room.message", content)).event_id)

    async def edit(self, room_id: str, event_id: str, text: str) -> str:
        content = {
            "msgtype": "m.text",
            "body": f"* {text}",
            "m.new_content": {"msgtype": "m.text", "body": text},
            "m.relates_to": {"rel_type": "m.replace", "event_id": event_id},
        }
        return str(ok(await self.client.room_send(room_id, "m.room.message", content)).event_id)

    async def redact(self, room_id: str, event_id: str) -> str:
        return str(ok(await self.client.room_redact(room_id, event_id, reason="oops")).event_id)

    async def set_power(self, room_id: str, user_id: str, level: int) -> None:
        current = ok(await self.client.room_get_state_event(room_id, "m.room.power_levels")).content
        users = {**current.get("users", {}), user_id: level}
        ok(await self.client.room_put_state(room_id, "m.room.power_levels", {**current, "users": users}))

    def said_by(self, sender: str, room_id: str) -> list[str]:
        return [
            str(e["content"].get("body"))
            for e in self.events
            if e.get("sender") == sender and e["room_id"] == room_id and e.get("type") == "m.room.message"
        ]

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], within: float = 10, what: str = "an event"
    ) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + within
        while True:
            for event in self.events:
                if predicate(event):
                    return event
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"timed out after {within}s waiting for {what}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def wait_notice(self, bot: str, room_id: str, contains: str, within: float = 10) -> dict[str, Any]:
        return await self.wait_for(
            lambda e: (
                e.get("sender") == bot
                and e["room_id"] == room_id
                and contains in str(e.get("content", {}).get("body", ""))
            ),
            within,
            f"the bot to say {contains!r}",
        )


def admin_api(synapse: Any, method: str, path: str, body: dict[str, Any]) -> Any:
    """A Synapse admin API call, as a freshly registered server admin."""
    admin = str(synapse.register(f"admin{next(_numbers)}", PASSWORD, admin=True))
    login = _http(
        synapse.url,
        "POST",
        "/_matrix/client/v3/login",
        {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": admin},
            "password": PASSWORD,
        },
    )
    return _http(synapse.url, method, path, body, token=login["access_token"])


def _http(base: str, method: str, path: str, body: dict[str, Any], token: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(base + path, json.dumps(body).encode(), headers, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def ok(response: Any) -> Any:
    if isinstance(response, ErrorResponse):
        raise AssertionError(f"homeserver said {response.status_code}: {response.message}")
    return response


@dataclass
class Bot:
    adapter: MatrixAdapter
    app: App
    task: asyncio.Task[None]
    publish_dir: Path

    @property
    def user_id(self) -> str:
        return self.adapter.bot_nick

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


def account(synapse: Any, user_id: str, state_dir: Path, rooms: list[str], **overrides: Any) -> MatrixAccount:
    fields: dict[str, Any] = {
        "name": "mx",
        "type": "matrix",
        "homeserver": synapse.url,
        "user_id": user_id,
        "password": PASSWORD,
        "rooms": rooms,
        "state_dir": str(state_dir),
        **overrides,
    }
    return MatrixAccount.model_validate(fields)


async def start_bot(matrix: MatrixAccount, tmp: Path, *, sync_timeout_ms: int = 30_000) -> Bot:
    settings = Settings.model_validate({"publish": {"dir": str(tmp / "minutes")}, "networks": []})
    adapter = MatrixAdapter(matrix, sync_timeout_ms=sync_timeout_ms)
    app = await build_app(
        settings,
        [adapter],
        database_url=f"sqlite+aiosqlite:///{tmp / 'meetbot.db'}",
        publish_dir=tmp / "minutes",
    )
    task = asyncio.create_task(app.run())
    await asyncio.wait_for(adapter.wait_ready(), 20)
    return Bot(adapter, app, task, tmp / "minutes")


def already_handled() -> asyncio.Future[None]:
    """What a test's submit returns: lines are caught, not handled, so nothing is left to wait for."""
    handled: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    handled.set_result(None)
    return handled


@dataclass
class Collected:
    """The adapter alone, its events caught as the core would get them."""

    adapter: MatrixAdapter
    lines: list[MessageIn]
    task: asyncio.Task[None]

    async def wait_for(self, predicate: Callable[[MessageIn], bool], within: float = 10) -> MessageIn:
        deadline = asyncio.get_running_loop().time() + within
        while asyncio.get_running_loop().time() < deadline:
            for line in self.lines:
                if predicate(line):
                    return line
            await asyncio.sleep(0.02)
        raise AssertionError(f"no such line within {within}s; got {self.lines}")

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def collect(matrix: MatrixAccount) -> Collected:
    adapter = MatrixAdapter(matrix)
    lines: list[MessageIn] = []

    def submit(message: MessageIn) -> asyncio.Future[None]:
        lines.append(message)
        return already_handled()

    task = asyncio.create_task(adapter.run(submit))
    await asyncio.wait_for(adapter.wait_ready(), 20)
    return Collected(adapter, lines, task)


@pytest.fixture
async def people(synapse: Any) -> AsyncIterator[dict[str, Person]]:
    """alice (creates the rooms, so power level 100), bob and carol (level 0)."""
    found = dict(
        zip(
            ("alice", "bob", "carol"),
            await asyncio.gather(*(Person.login(synapse, name) for name in ("alice", "bob", "carol"))),
            strict=True,
        )
    )
    yield found
    await asyncio.gather(*(person.close() for person in found.values()))
