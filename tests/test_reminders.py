"""Reminders, with the real scheduler (APScheduler) and real databases: each sent exactly once,
across restarts and across two bot processes on one PostgreSQL database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from meetbot.app import App, build_app
from meetbot.clock import SystemClock
from meetbot.config.schedule_files import Schedules
from meetbot.events import Identity, MessageIn, Outbound, RoomRef, Say
from meetbot.reminders import ReminderService
from meetbot.schedule import Place, ReminderRule, Series, Slot, parse_frequency
from meetbot.storage.database import Database
from tests.conftest import upgrade_schema

ROOM = RoomRef("libera", "#infra")


class Channel:
    network, bot_nick = "libera", "meetbot"

    def __init__(self) -> None:
        self.said: list[Say] = []

    async def run(self, submit: object) -> None:
        return None

    def members(self, room: RoomRef) -> list[Identity]:
        return []

    async def send(self, message: Outbound) -> None:
        if isinstance(message, Say):
            self.said.append(message)


def series_starting(
    start: datetime,
    *,
    remind_at: datetime,
    chair: str | None = None,
    places: tuple[Place, ...] = (Place("irc", "#infra", "libera"),),
) -> Schedules:
    """A weekly series meeting at `start` whose one reminder is due at `remind_at`."""
    slot = Slot(
        index=0,
        recurrence=parse_frequency("weekly"),
        weekday=start.weekday(),
        time=start.time(),
        zone="UTC",
        duration=timedelta(hours=1),
        places=places,
    )
    series = Series(
        team="infra",
        project="Infra SIG",
        slots=(slot,),
        chair=chair,
        reminders=(ReminderRule(before=start - remind_at),),
    )
    return Schedules(series=(series,), _teams={"infra": series})


def soon() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    start = (now + timedelta(minutes=2)).replace(second=0, microsecond=0)
    return start, now + timedelta(seconds=2)


async def open_database(url: str) -> Database:
    await upgrade_schema(url)
    return await Database.open(url)


def reminders(database: Database, schedules: Schedules, channel: Channel) -> ReminderService:
    return ReminderService(
        schedules,
        store=database.reminders,
        teams=database.teams,
        send=channel.send,
        clock=SystemClock(),
    )


async def wait_for(condition: Callable[[], object]) -> None:
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110 - polls an effect the test does not own
            await asyncio.sleep(0.05)


async def test_a_reminder_goes_out_once_and_not_again_after_a_restart(database_url: str) -> None:
    start, due = soon()
    schedules = series_starting(start, remind_at=due, chair="Jane Doe (jdoe)")
    channel = Channel()
    database = await open_database(database_url)
    await database.teams.add_agenda_item("infra", "Rotate the keys", "libera:jdoe", "jane", start)
    service = reminders(database, schedules, channel)
    await service.start()
    try:
        await wait_for(lambda: channel.said)
    finally:
        await service.stop()
        await database.close()
    (sent,) = channel.said
    assert sent.room == ROOM
    assert "infra" in sent.text.casefold()
    assert f"{start:%H:%M}" in sent.text
    assert sent.text.endswith("Agenda: 1. Rotate the keys")

    # A restarted bot plans the same reminder again (still within its grace) but must not send it.
    database = await open_database(database_url)
    again = reminders(database, schedules, channel)
    await again.start()
    try:
        await asyncio.sleep(1.0)
    finally:
        await again.stop()
        await database.close()
    assert len(channel.said) == 1


async def test_a_reminder_past_its_grace_is_skipped_not_sent_late(database_url: str) -> None:
    now = datetime.now(UTC)
    start = (now + timedelta(minutes=2)).replace(second=0, microsecond=0)
    schedules = series_starting(start, remind_at=now - timedelta(minutes=30))  # long overdue
    channel = Channel()
    database = await open_database(database_url)
    service = reminders(database, schedules, channel)
    await service.start()
    await asyncio.sleep(0.5)
    await service.stop()
    await database.close()
    assert channel.said == []


async def test_two_processes_racing_for_one_reminder_send_it_once(database_url: str) -> None:
    """Only the active process runs reminders (meetbot.failover), but even two at once — a
    take-over in the middle of sending — cannot send one twice: the claim is in the database."""
    start, due = soon()
    schedules = series_starting(start, remind_at=due)
    first_channel, second_channel = Channel(), Channel()
    first_db, second_db = await open_database(database_url), await open_database(database_url)
    first = reminders(first_db, schedules, first_channel)
    second = reminders(second_db, schedules, second_channel)
    await first.start()
    await second.start()
    try:
        await wait_for(lambda: first_channel.said or second_channel.said)
        await asyncio.sleep(0.5)
        assert len(first_channel.said) + len(second_channel.said) == 1
        assert first.sent + second.sent == 1
    finally:
        await first.stop()
        await second.stop()
        await first_db.close()
        await second_db.close()


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[tuple[App, Channel]]:
    config = tmp_path / "meetbot.yaml"
    config.write_text(
        "networks:\n  - {name: libera, type: irc, host: 127.0.0.1, nick: meetbot}\n"
        "schedules:\n  series:\n    - project: Infra SIG\n      meeting_id: infra\n"
        "      chair: Jane Doe (jdoe)\n      schedule:\n        - time: '1600'\n          day: Wednesday\n"
        "          irc: infra\n          irc_network: libera\n          frequency: weekly\n",
        encoding="utf-8",
    )
    from meetbot.config import load_settings

    channel = Channel()
    app = await build_app(
        load_settings(config), [channel], database_url=f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    )
    yield app, channel
    await app.close()


async def test_schedule_commands(bot: tuple[App, Channel]) -> None:
    app, channel = bot
    assert app.reminders is not None  # a config with series plans reminders
    jane = Identity("libera", "jane", account="jdoe")
    mallory = Identity("libera", "jdoe")  # the chair's name as a nick, without the account
    at = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)  # a Saturday
    lines = [
        (jane, "#nextmeeting"),
        (jane, "#nextmeeting nova"),
        (mallory, "#skip 2026-11-25"),
        (jane, "#skip 2026-11-26"),
        (jane, "#skip next week"),
        (jane, "#skip 2026-11-25"),
        (jane, "#nextmeeting infra"),
        (jane, "#schedule"),
    ]
    for n, (who, text) in enumerate(lines):
        app.dispatcher.submit(MessageIn(ROOM, who, text, at + timedelta(seconds=n)))
    await app.settled()
    assert [say.text for say in channel.said] == [
        "Next infra meeting: Wed 2026-11-25 16:00 UTC in #infra",  # the room #infra is team infra
        "No schedule for nova. Known teams: infra.",
        "jdoe: only a chair of infra can cancel one of its meetings.",
        "infra does not meet on 2026-11-26.",
        "Usage: #skip <YYYY-MM-DD>",
        "The infra meeting of 2026-11-25 is cancelled; its reminders won't be sent. "
        "Next: Wed 2026-12-02 16:00 UTC in #infra",
        "Next infra meeting: Wed 2026-12-02 16:00 UTC in #infra",
        "Infra SIG (infra): weekly on Wednesday at 16:00 UTC in #infra. Chair: Jane Doe (jdoe). "
        "Next: 2026-12-02 16:00Z, 2026-12-09 16:00Z, 2026-12-16 16:00Z",
    ]


async def test_standing_agenda_items_from_the_schedule(tmp_path: Path) -> None:
    from meetbot.config import load_settings

    config = tmp_path / "meetbot.yaml"
    config.write_text(
        "schedules:\n  series:\n    - project: Infra SIG\n      meeting_id: infra\n      schedule:\n"
        "        - {time: '1600', day: Wednesday, irc: infra, frequency: weekly}\n"
        "      agenda: [Review open action items, Open floor]\n",
        encoding="utf-8",
    )
    channel = Channel()
    app = await build_app(
        load_settings(config), [channel], database_url=f"sqlite+aiosqlite:///{tmp_path / 'db'}"
    )
    alice = Identity("libera", "alice", account="alice")
    at = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
    try:
        await app.database.teams.add_agenda_item("infra", "Open floor", "libera:alice", "alice", at)
        for n, text in enumerate(["#startmeeting infra", "#topic next", "#endmeeting"]):
            app.dispatcher.submit(MessageIn(ROOM, alice, text, at + timedelta(seconds=n)))
        await app.settled()
        said = [say.text for say in channel.said]
        # Already on the agenda: not added twice; the missing standing item is added after it.
        assert "Agenda: 1. Open floor · 2. Review open action items (#topic next takes the next item)" in said
        assert [item.text for item in await app.database.teams.agenda("infra")] == [
            "Review open action items"
        ]
    finally:
        await app.close()
