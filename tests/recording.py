"""A network adapter that records what the bot sends, for tests of the service and the core
through the real app and a real database. The networks themselves are tested live in
tests/irc and tests/matrix; here only what the core decides matters."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from meetbot.app import App, build_app
from meetbot.config import Settings
from meetbot.events import Identity, Outbound, RoomRef, Say


class Recorder:
    def __init__(
        self, members: Sequence[Identity] = (), *, network: str = "libera", bot_nick: str = "meetbot"
    ) -> None:
        self.network, self.bot_nick = network, bot_nick
        self._members = list(members)
        self.sent: list[Outbound] = []

    @property
    def said(self) -> list[str]:
        return [message.text for message in self.sent if isinstance(message, Say)]

    async def run(self, submit: object) -> None:
        return None

    def members(self, room: RoomRef) -> list[Identity]:
        return self._members

    async def send(self, message: Outbound) -> None:
        self.sent.append(message)


@contextlib.asynccontextmanager
async def recorded_app(
    tmp_path: Path, recorder: Recorder, *, database_url: str | None = None
) -> AsyncIterator[App]:
    """The real app talking to `recorder` only, publishing into `tmp_path`; on a SQLite file
    there unless given a database (upgraded already, as `meetbot db upgrade` would)."""
    app = await build_app(
        Settings(),
        [recorder],
        database_url=database_url or f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
        publish_dir=tmp_path,
    )
    try:
        yield app
    finally:
        await app.close()
