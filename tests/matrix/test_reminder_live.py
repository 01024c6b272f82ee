"""A reminder reaches a real Matrix room, named by its alias as schedules name rooms: once, and
not again when the bot restarts within the reminder's grace."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from nio import RoomCreateResponse, RoomPreset  # type: ignore[import-untyped]

from meetbot.adapters.matrix import MatrixAdapter
from meetbot.clock import SystemClock
from meetbot.reminders import ReminderService
from meetbot.schedule import Place
from tests.matrix.conftest import Person, account, already_handled, new_user, ok
from tests.test_reminders import open_database, series_starting, soon


async def test_a_reminder_reaches_a_room_by_alias_once(
    synapse: Any, people: dict[str, Person], tmp_path: Path
) -> None:
    alice = people["alice"]
    created = ok(
        await alice.client.room_create(alias="infra-sig", name="Infra", preset=RoomPreset.public_chat)
    )
    assert isinstance(created, RoomCreateResponse)
    room_id = str(created.room_id)
    bot_id = new_user(synapse, "reminder")
    alias = f"#infra-sig:{bot_id.split(':', 1)[1]}"
    adapter = MatrixAdapter(account(synapse, bot_id, tmp_path / "state", [room_id]), sync_timeout_ms=1000)
    running = asyncio.create_task(adapter.run(lambda message: already_handled()))
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'meetbot.db'}"
    start, due = soon()
    schedules = series_starting(start, remind_at=due, places=(Place("matrix", alias),))

    async def reminders() -> tuple[ReminderService, Any]:
        database = await open_database(database_url)
        service = ReminderService(
            schedules,
            store=database.reminders,
            teams=database.teams,
            send=adapter.send,
            clock=SystemClock(),
            matrix_network=adapter.network,
        )
        await service.start()
        return service, database

    try:
        await asyncio.wait_for(adapter.wait_ready(), 20)
        service, database = await reminders()
        await alice.wait_notice(bot_id, room_id, "Infra SIG (infra)", within=15)
        await service.stop()
        await database.close()
        service, database = await reminders()  # a restart, well within the reminder's grace
        await asyncio.sleep(2)
        await service.stop()
        await database.close()
        assert len([text for text in alice.said_by(bot_id, room_id) if "Infra SIG (infra)" in text]) == 1
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
