"""The composition root: builds the database, engine, service, dispatcher and adapters from
the settings and runs them. Nothing else constructs these pieces."""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from meetbot import __version__
from meetbot.adapters.base import Adapter, Handled, Hearing, ResolvesRooms
from meetbot.bridges import Bridges
from meetbot.clock import Clock, SystemClock
from meetbot.config import MatrixAccount, Schedules, Settings, load_schedules
from meetbot.dispatch import Dispatcher
from meetbot.domain.model import Meeting
from meetbot.domain.team import TeamSnapshot
from meetbot.early import EarlyAdapters
from meetbot.engine import Engine
from meetbot.events import Identity, MessageIn, Outbound, RoomRef
from meetbot.failover import LeaseKeeper, Role
from meetbot.metrics import Figures, Metrics
from meetbot.minutes.logworker import WARM_AT, LogJob, LogWorker
from meetbot.minutes.render import render_view
from meetbot.minutes.view import EXTENSIONS, LogLineView, MeetingLinks, MinutesView, build_view, log_lines
from meetbot.outbox import Outbox
from meetbot.publish import files as publish_files
from meetbot.publish.archive import PageBatch, Prepared, StaticArchive
from meetbot.publish.files import PublishedFile, Publisher
from meetbot.publish.paths import links_for, minutes_basename
from meetbot.registry import load_plugins
from meetbot.reminders import ReminderService
from meetbot.service import MeetingService
from meetbot.storage.database import Database, is_memory_sqlite
from meetbot.storage.teams import SnapshotQuery, TeamStore
from meetbot.storage.urls import is_sqlite

log = logging.getLogger(__name__)

GENERATOR = f"meetbot {__version__}"
SHUTDOWN_GRACE = 10.0  # seconds to finish handling and writing on the way out


def _redirect_page(relative_url: str) -> str:
    url = html.escape(quote(relative_url), quote=True)
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="0; url={url}"><link rel="canonical" href="{url}">'
        f'<title>Moved</title></head><body><p>This meeting was renamed: <a href="{url}">{url}</a></p>'
        "</body></html>\n"
    )


# Renders the formats asked for of a meeting's view (extension -> content).
_Render = Callable[[MinutesView, Sequence[str]], dict[str, str]]
# Pages kept for the next publish beside them, once all are rendered (StaticArchive.remember).
_Keep = Callable[[Meeting, MeetingLinks, TeamSnapshot | None, dict[str, str]], None]
# The formats made of the log, and the rest.
LOG_EXTENSIONS = (".log.html", ".log.txt")
MINUTES_EXTENSIONS = tuple(extension for extension in EXTENSIONS if extension not in LOG_EXTENSIONS)


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
        # The worker's text is what the packaged log templates make; an admin's may differ.
        self.log_worker = LogWorker(enabled=publish.log_worker and self.settings.templates_dir is None)

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
        basename = self.basename(meeting)
        # First, so that the log renders while the database is read and the minutes rendered.
        log_job = self.log_worker.start(meeting.lines, self.settings.command_prefixes)
        archive = self.archive if meeting.id is not None and not meeting.is_open else None
        if archive is None:
            team = await self._team_snapshot(meeting)
            return await self._publish(meeting, basename, self._render_plain, team, log_job)
        # From the archive's reads to its last page written (see StaticArchive.updating).
        async with archive.updating():
            return await self._write_listed(archive, meeting, basename, log_job)

    def growing(self, meeting: Meeting) -> None:
        if len(meeting.lines) >= WARM_AT:
            # Likely a long one: the worker gets ready (~1 s) well before its end needs it.
            self.log_worker.warm()

    async def close(self) -> None:
        await self.log_worker.close()

    async def _write_listed(
        self,
        archive: StaticArchive,
        meeting: Meeting,
        basename: PurePosixPath,
        log_job: LogJob | None,
    ) -> Sequence[PublishedFile]:
        """write() of a finished, stored meeting, with the archive's update after it."""
        try:
            prepared: Prepared | None = await archive.prepare(meeting)
        except Exception:
            # Still published, plain; the archive looks again below and writes the pages itself.
            log.exception("looking up meeting %s in the archive failed", meeting.id)
            prepared = None
        if prepared is None:
            team = await self._team_snapshot(meeting)
            published = await self._publish(meeting, basename, self._render_plain, team, log_job)
            assert meeting.id is not None  # write() sends only stored meetings here
            try:
                await archive.refresh(meeting.id, meeting)
            except Exception:
                # The minutes are out; a stale index is worth a log line, not a failed publish.
                log.exception("updating the archive after meeting %s failed", meeting.id)
            return published
        listed = prepared.listed
        if listed is None:
            # Not listed (restricted): nothing public changes.
            return await self._publish(meeting, basename, self._render_plain, prepared.team, log_job)

        # A listed meeting's pages are rendered once, with the archive's navigation, rather
        # than written plain and then again by the archive.
        def render(view: MinutesView, extensions: Sequence[str]) -> dict[str, str]:
            return archive.render_pages(view, listed.nav, extensions)

        def keep(
            meeting: Meeting, links: MeetingLinks, team: TeamSnapshot | None, files: dict[str, str]
        ) -> None:
            archive.remember(meeting, links, listed.nav, team, files)

        files = await self._render(meeting, basename, render, prepared.team, log_job, keep=keep)
        try:
            pages = await archive.pages_after(prepared, meeting)
        except Exception:
            log.exception("updating the archive after meeting %s failed", meeting.id)
            pages = []
        return await self._publish_with_pages(archive, meeting, basename, files, pages)

    async def _publish_with_pages(
        self,
        archive: StaticArchive,
        meeting: Meeting,
        basename: PurePosixPath,
        files: dict[str, str],
        pages: PageBatch,
    ) -> list[PublishedFile]:
        """The meeting's files and the archive's pages in one publish (every file synced before
        the first rename, the meeting's renamed first): one round of syncs, not two one after
        the other. If that fails, the meeting's files on their own: a page of the archive that
        can't be written must not keep the minutes back."""
        if pages:
            try:
                published = await self._publisher.publish_many([(basename, files), *pages])
            except Exception:
                log.exception("publishing meeting %s with the archive's pages failed", meeting.id)
            else:
                own, archived = published[: len(files)], published[len(files) :]
                self.written.extend(own)
                archive.written.extend(archived)
                return own
        return await self._write_files(meeting, basename, files)

    async def _publish(
        self,
        meeting: Meeting,
        basename: PurePosixPath,
        render: _Render,
        team: TeamSnapshot | None,
        log_job: LogJob | None,
    ) -> list[PublishedFile]:
        files = await self._render(meeting, basename, render, team, log_job)
        return await self._write_files(meeting, basename, files)

    async def _render(
        self,
        meeting: Meeting,
        basename: PurePosixPath,
        render: _Render,
        team: TeamSnapshot | None,
        log_job: LogJob | None,
        *,
        keep: _Keep | None = None,
    ) -> dict[str, str]:
        """Every format; with a log job, the minutes while the worker renders the log, then the
        log's pages around its text (or around the log rendered here, if the worker failed).
        The view is made once for both (~2 ms for 1,000 lines on the bench machine)."""
        links = links_for(basename, self.settings.publish.base_url)
        prefixes = tuple(self.settings.command_prefixes)

        def view_with(log: tuple[LogLineView, ...] | None) -> MinutesView:
            return build_view(
                meeting, links, generator=GENERATOR, command_prefixes=prefixes, team=team, log=log
            )

        def finish(extensions: Sequence[str], view: MinutesView, minutes: dict[str, str]) -> dict[str, str]:
            """The formats left to render, then all of them kept for the next publish."""
            files = {**minutes, **render(view, extensions)}
            if keep is not None:
                keep(meeting, links, team, files)
            return files

        # Rendering a long meeting is CPU work: keep it off the event loop.
        if log_job is None:
            return await asyncio.to_thread(lambda: finish(EXTENSIONS, view_with(None), {}))

        def minutes_first() -> tuple[MinutesView, dict[str, str]]:
            made = view_with(())  # the minutes show none of the log
            return made, render(made, MINUTES_EXTENSIONS)

        made, minutes = await asyncio.to_thread(minutes_first)
        log = await self.log_worker.result(log_job)

        def with_log() -> dict[str, str]:
            lines = log if log is not None else log_lines(meeting.lines, prefixes)
            return finish(LOG_EXTENSIONS, replace(made, log=lines), minutes)

        return await asyncio.to_thread(with_log)

    async def _write_files(
        self, meeting: Meeting, basename: PurePosixPath, files: dict[str, str]
    ) -> list[PublishedFile]:
        published = await self._publisher.publish(basename, files, restricted=meeting.restricted)
        self.written.extend(published)
        return published

    def _render_plain(self, view: MinutesView, extensions: Sequence[str]) -> dict[str, str]:
        return render_view(view, templates_dir=self.settings.templates_dir, extensions=extensions)

    async def _team_snapshot(self, meeting: Meeting) -> TeamSnapshot | None:
        query = SnapshotQuery.of(meeting)
        if self.teams is None or query is None:
            return None
        return (await self.teams.snapshots([query]))[0]


@dataclass
class App:
    settings: Settings
    database: Database
    service: MeetingService
    dispatcher: Dispatcher
    outbox: Outbox
    writer: FileMinutesWriter
    reminders: ReminderService
    # None: the only process on its database (SQLite), always active.
    lease: LeaseKeeper | None = None
    role: Role = Role.STANDBY
    # Bridged IRC channel + Matrix room pairs: the filter in front of the dispatcher.
    bridges: Bridges = field(default_factory=Bridges)
    # Adapters started while the app was being built (meetbot.early): run() takes them over.
    early: EarlyAdapters | None = None
    metrics: Metrics = field(init=False)
    _indexing: asyncio.Task[None] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.metrics = Metrics(
            Figures(
                messages_handled=lambda: self.service.messages_handled,
                lines_logged=lambda: self.service.buffer.lines_logged,
                meetings_open=lambda: self.service.meetings_open,
                reminders_sent=lambda: self.reminders.sent,
                buffered_lines=lambda: self.service.buffer.buffered_lines,
                lines_waiting=lambda: self.dispatcher.waiting,
                active=lambda: self.role is Role.ACTIVE,
                adapters=list(self.outbox.adapters.values()),
            )
        )

    async def run(self) -> None:
        """Stand by until this process may be the active one, then run every adapter. Returns
        when the adapters have all finished (a console at the end of its input); cancelled
        (SIGTERM), it quits the networks, finishes its writes and closes."""
        indexer = self.database.search.indexer
        if indexer.runs_in_background:
            # New lines wait for the search index: keep the backlog short for searches.
            self._indexing = asyncio.create_task(indexer.run_forever(), name="search index")
        try:
            while True:
                if self.lease is not None:
                    await self._wait_for_lease(self.lease)
                if await self._run_active():
                    return
        finally:
            await self.close()

    def health(self) -> dict[str, object]:
        return {"role": self.role.value, "buffered_lines": self.service.buffer.buffered_lines}

    def metrics_text(self) -> bytes:
        return self.metrics.exposition()

    async def reload_schedules(self, schedules: Schedules) -> None:
        """New schedules from a reloaded config: commands see them at once, reminders are replanned."""
        self.service.schedules = schedules
        await self.reminders.reload(schedules)

    async def settled(self) -> None:
        """Every line received so far handled, and in the database (not just queued for it)."""
        await self.dispatcher.drain()
        await self.service.buffer.flushed()

    async def close(self) -> None:
        if self.early is not None:  # never taken over (run() failed before the adapters): leave
            await self.early.cancel()
        self.role = Role.STANDBY
        await self.reminders.stop()
        # Lines already received are handled, and what is buffered gets its chance to be written.
        try:
            await asyncio.wait_for(self.dispatcher.drain(), SHUTDOWN_GRACE)
        except TimeoutError:
            log.error("shutting down with %d line(s) not handled", self.dispatcher.waiting)
        await self.service.close(SHUTDOWN_GRACE)
        await self.dispatcher.close()
        if self.lease is not None:
            await self.lease.release()
        if self._indexing is not None:
            self._indexing.cancel()
            await asyncio.gather(self._indexing, return_exceptions=True)
        await self.database.close()
        await self.writer.close()
        await publish_files.settled()  # no second name of a replaced page left behind

    # -- roles ----------------------------------------------------------------------------------

    async def _wait_for_lease(self, lease: LeaseKeeper) -> None:
        if not await lease.try_acquire():
            log.info(
                "standing by: another meetbot process is active on this database; taking over if it "
                "stops renewing its lease for %ss",
                lease.lease_seconds,
            )
            while True:
                await asyncio.sleep(lease.look_every)
                if await lease.try_acquire():
                    return

    async def _run_active(self) -> bool:
        """True when the adapters finished by themselves, False when another process took over."""
        self.role = Role.ACTIVE
        await self.reminders.start()
        adapters = asyncio.create_task(self._run_adapters(), name="adapters")
        tasks = [adapters]
        if self.lease is not None:
            tasks.append(asyncio.create_task(self._keep_lease(self.lease), name="lease"))
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # Cancelled adapters say goodbye on their networks (QUIT) before they return.
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks)
        if not adapters.cancelled() and adapters.exception() is not None:
            raise adapters.exception()  # type: ignore[misc]
        await self.dispatcher.drain()
        if not adapters.cancelled():
            return True
        # The lease went to another process: it owns the networks and the meetings now.
        await self.reminders.stop()
        await self.service.buffer.flushed()
        self.service.forget_rooms()
        self.role = Role.STANDBY
        log.warning("another process took over the lease: this one stands by")
        return False

    def submit(self, message: MessageIn) -> Handled:
        """What adapters call: a bridge's copies and echoes stop here, lines of a bridged place
        go on under its canonical room, everything else to the dispatcher unchanged."""
        if not self.bridges:
            return self.dispatcher.submit(message)  # no bridged places: the usual case, every line
        decision = self.bridges.decide(message)
        if decision.message is None:
            log.debug("dropped a line in %s/%s: %s", message.room.network, message.room.room, decision.reason)
            # Nothing to handle: the adapter may move its sync position past it at once.
            dropped: Handled = asyncio.get_running_loop().create_future()
            dropped.set_result(None)
            return dropped
        return self.dispatcher.submit(decision.message)

    async def _run_adapters(self) -> None:
        resolving = asyncio.create_task(self._resolve_bridged_aliases(), name="bridge aliases")
        early, self.early = self.early, None
        try:
            async with asyncio.TaskGroup() as group:
                if early is None:
                    for adapter in self.outbox.adapters.values():
                        group.create_task(adapter.run(self.submit), name=f"adapter {adapter.network}")
                else:
                    early.open(self.submit)  # the lines that came while the app was built, first
                    for task in early.tasks:
                        group.create_task(_awaited(task), name=task.get_name())
        finally:
            resolving.cancel()
            await asyncio.gather(resolving, return_exceptions=True)

    async def _resolve_bridged_aliases(self) -> None:
        """Bridged Matrix rooms named by alias: adapters report room ids, so look each id up
        once. Retried while the homeserver is away."""
        for alias in self.bridges.unresolved():
            adapter = self.outbox.adapters.get(alias.network)
            if not isinstance(adapter, ResolvesRooms):
                continue  # the bot is not on that Matrix network: it never sees the room's ids
            delay = 1.0
            while True:
                try:
                    room_id = await adapter.resolve_room(alias.room)
                except Exception as error:
                    # Unknown alias or homeserver away: said each time, retried with backoff.
                    log.warning(
                        "bridges: resolving %s failed (%s); retrying in %.0fs", alias.room, error, delay
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 60.0)
                    continue
                self.bridges.resolved(alias, room_id)
                log.info("bridges: %s is %s", alias.room, room_id)
                break

    async def _keep_lease(self, lease: LeaseKeeper) -> None:
        while True:
            await asyncio.sleep(lease.renew_every)
            if not await lease.renew():
                return


async def _awaited(task: asyncio.Task[None]) -> None:
    await task  # cancelled, it cancels the task it awaits


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

    # The core knows a bridged place by its canonical room; the bridge wiring turns that into
    # the reply side for what it says and both sides' people for who is there.
    def hears(room: RoomRef) -> bool:
        adapter = outbox.adapters.get(room.network)
        if adapter is None:
            return False
        return adapter.hears(room.room) if isinstance(adapter, Hearing) else True

    bridges = Bridges.from_settings(settings.bridges, hears=hears)

    async def send(message: Outbound) -> None:
        await outbox.send(bridges.outbound(message, datetime.now(UTC)))

    def members(room: RoomRef) -> Sequence[Identity]:
        return bridges.members(room, outbox.members)

    service = MeetingService(
        engine,
        store=database.meetings,
        teams=database.teams,
        writer=writer,
        send=send,
        bot_nick=outbox.bot_nick,
        members=members,
        schedules=schedules,
        buffer_lines=settings.database.buffer_lines,
    )
    # Always there, even with no series yet: a config reload may add the first one.
    matrix = next((n.name for n in settings.networks if isinstance(n, MatrixAccount)), None)
    reminders = ReminderService(
        schedules,
        store=database.reminders,
        teams=database.teams,
        send=outbox.send,
        clock=clock or SystemClock(),
        matrix_network=matrix,
    )
    # One SQLite file serves one process; on PostgreSQL several share the work (one active).
    lease = (
        None
        if is_sqlite(url)
        else LeaseKeeper(database.leases, lease_seconds=settings.failover.lease_seconds)
    )
    return App(
        settings,
        database,
        service,
        Dispatcher(service.handle, service.written),
        outbox,
        writer,
        reminders,
        lease,
        bridges=bridges,
    )
