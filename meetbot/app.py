"""The composition root: builds the database, engine, service, dispatcher and adapters from
the settings and runs them. Nothing else constructs these pieces."""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from meetbot import __version__
from meetbot.adapters.base import Adapter
from meetbot.clock import Clock, SystemClock
from meetbot.config import MatrixAccount, Schedules, Settings, load_schedules
from meetbot.dispatch import Dispatcher
from meetbot.domain.model import Meeting
from meetbot.domain.team import TeamSnapshot
from meetbot.engine import Engine
from meetbot.minutes.render import render_all
from meetbot.minutes.view import EXTENSIONS
from meetbot.outbox import Outbox
from meetbot.publish.archive import StaticArchive
from meetbot.publish.files import PublishedFile, Publisher
from meetbot.publish.paths import links_for, minutes_basename
from meetbot.registry import load_plugins
from meetbot.reminders import ReminderService
from meetbot.service import MeetingService
from meetbot.storage.database import Database, is_memory_sqlite
from meetbot.storage.teams import TeamStore

log = logging.getLogger(__name__)

GENERATOR = f"meetbot {__version__}"


def _redirect_page(relative_url: str) -> str:
    url = html.escape(quote(relative_url), quote=True)
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="0; url={url}"><link rel="canonical" href="{url}">'
        f'<title>Moved</title></head><body><p>This meeting was renamed: <a href="{url}">{url}</a></p>'
        "</body></html>\n"
    )


@dataclass
class FileMinutesWriter:
    """Renders a meeting into every format and writes the files in MeetBot's layout."""

    settings: Settings
    publish_dir: Path | None = None
    teams: TeamStore | None = None
    written: list[PublishedFile] = field(default_factory=list)
    # Indexes, latest and previous/next links beside the files (set by build_app).
    archive: StaticArchive | None = None

    def __post_init__(self) -> None:
        publish = self.settings.publish
        self._publisher = Publisher(self.publish_dir or publish.dir, publish.base_url)

    def basename(self, meeting: Meeting) -> PurePosixPath:
        publish = self.settings.publish
        return minutes_basename(meeting, publish.pattern, publish.timezone)

    async def move(self, old: PurePosixPath, new: PurePosixPath) -> None:
        """After a rename: the old pages redirect to the new ones, so links people kept still
        work; the old copies of the other formats go (they would only go stale)."""
        if old == new:
            return
        stubs = {}
        # Both are relative to the publish root: up from the old page's folder, down to the new.
        up = "../" * len(old.parent.parts)
        for extension in EXTENSIONS:
            if extension in (".html", ".log.html"):
                stubs[extension] = _redirect_page(f"{up}{new}{extension}")
            else:
                await asyncio.to_thread(self._publisher.target(old, extension).unlink, missing_ok=True)
        await self._publisher.publish(old, stubs)

    async def write(self, meeting: Meeting) -> Sequence[PublishedFile]:
        publish = self.settings.publish
        basename = self.basename(meeting)
        links = links_for(basename, publish.base_url)
        # Rendering a long meeting is CPU work: keep it off the event loop.
        team = await self._team_snapshot(meeting)
        files = await asyncio.to_thread(
            render_all,
            meeting,
            links,
            templates_dir=self.settings.templates_dir,
            generator=GENERATOR,
            command_prefixes=tuple(self.settings.command_prefixes),
            team=team,
        )
        published = await self._publisher.publish(basename, files, restricted=meeting.restricted)
        self.written.extend(published)
        if self.archive is not None and meeting.id is not None and not meeting.is_open:
            try:
                await self.archive.meeting_published(meeting.id, meeting)
            except Exception:
                # The minutes are out; a stale index is worth a log line, not a failed publish.
                log.exception("updating the archive after meeting %s failed", meeting.id)
        return published

    async def _team_snapshot(self, meeting: Meeting) -> TeamSnapshot | None:
        if self.teams is None or meeting.id is None:
            return None
        team = meeting.series_name
        return TeamSnapshot(
            agenda=await self.teams.agenda_for_minutes(team, meeting.id, meeting.ended_at),
            previous_actions=await self.teams.previous_actions(team, meeting.started_at),
            meeting_actions=await self.teams.actions_of_meeting(meeting.id),
        )


@dataclass
class App:
    settings: Settings
    database: Database
    service: MeetingService
    dispatcher: Dispatcher
    outbox: Outbox
    writer: FileMinutesWriter
    reminders: ReminderService

    async def run(self) -> None:
        """Run every adapter; when they have all finished, handle what is queued and stop."""
        try:
            await self.reminders.start()
            async with asyncio.TaskGroup() as group:
                for adapter in self.outbox.adapters.values():
                    group.create_task(adapter.run(self.dispatcher.submit), name=f"adapter {adapter.network}")
            await self.dispatcher.drain()
        finally:
            await self.close()

    async def reload_schedules(self, schedules: Schedules) -> None:
        """New schedules from a reloaded config: commands see them at once, reminders are replanned."""
        self.service.schedules = schedules
        await self.reminders.reload(schedules)

    async def close(self) -> None:
        await self.reminders.stop()
        await self.dispatcher.close()
        await self.database.close()


async def build_app(
    settings: Settings,
    adapters: Sequence[Adapter],
    *,
    database_url: str | None = None,
    publish_dir: Path | None = None,
    clock: Clock | None = None,
) -> App:
    engine = Engine(
        load_plugins(settings),
        settings.command_prefixes,
        network_prefixes={
            n.name: n.command_prefixes for n in settings.networks if isinstance(n, MatrixAccount)
        },
    )
    schedules = load_schedules(settings)  # before opening anything: a bad series file stops here
    database = await Database.open(database_url or settings.database.url)
    outbox = Outbox(adapters)
    writer = FileMinutesWriter(settings, publish_dir, database.teams)
    url = database_url or settings.database.url
    if not is_memory_sqlite(url):
        # An in-memory database (`meetbot replay` by default) knows only the replayed meeting:
        # its indexes would replace the real archive's with a list of one.
        publisher = Publisher(publish_dir or settings.publish.dir, settings.publish.base_url)
        writer.archive = StaticArchive(settings, database, engine, publisher)
    service = MeetingService(
        engine,
        store=database.meetings,
        teams=database.teams,
        writer=writer,
        send=outbox.send,
        bot_nick=outbox.bot_nick,
        members=outbox.members,
        schedules=schedules,
    )
    # Always there, even with no series yet: a config reload may add the first one.
    matrix = next((n.name for n in settings.networks if isinstance(n, MatrixAccount)), None)
    reminders = ReminderService(
        schedules,
        store=database.reminders,
        teams=database.teams,
        leader=database.leader,
        send=outbox.send,
        clock=clock or SystemClock(),
        matrix_network=matrix,
    )
    return App(settings, database, service, Dispatcher(service.handle), outbox, writer, reminders)
