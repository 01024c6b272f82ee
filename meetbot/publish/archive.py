"""The static archive: index pages beside the MeetBot-layout files, and the minutes and log
pages again with navigation (previous/next meeting, team index) and OpenGraph tags.

Layout under the publish directory (team names are normalised series names, never raw text):

    index.html                      every team, and the most recent meetings
    <team>/index.html               all the team's meetings, newest first
    <team>/latest.html              a stable URL that redirects to the newest minutes
    <team>/<YYYY>/index.html        the team's meetings of one year
    _rooms/<network>/<room>.html    all meetings held in one channel or room

`_rooms` can't clash with a team: normalised names never start with "_". Links between pages
are relative, so the archive can be moved or served under any prefix. Incremental: when a
meeting ends only its own pages, its neighbours' minutes and the indexes it appears in are
written again. Restricted (#restrictlogs) and unfinished meetings are never listed.

The page model and rendering below are shared with the web archive (meetbot/web), which
serves the same templates from the database.
"""

from __future__ import annotations

import asyncio
import logging
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from meetbot import __version__
from meetbot.config import Settings
from meetbot.domain.model import Meeting, normalize_name
from meetbot.domain.team import TeamSnapshot
from meetbot.engine import Engine
from meetbot.events import RoomRef
from meetbot.minutes.render import environments
from meetbot.minutes.view import MeetingLinks, MinutesView, build_view
from meetbot.publish.files import PublishedFile, Publisher
from meetbot.publish.paths import minutes_basename
from meetbot.storage.database import Database
from meetbot.storage.listing import MeetingSummary
from meetbot.storage.teams import TeamStore

log = logging.getLogger(__name__)

GENERATOR = f"meetbot {__version__}"
ROOMS_DIR = "_rooms"


# -- the page model: plain values the archive templates lay out ----------------------------------


@dataclass(frozen=True, slots=True)
class Link:
    label: str
    href: str | None  # None: the current page (shown, not linked)
    rel: str | None = None
    detail: str | None = None
    id: str | None = None


@dataclass(frozen=True, slots=True)
class OpenGraph:
    title: str
    description: str
    url: str | None = None
    kind: str = "website"


@dataclass(frozen=True, slots=True)
class MeetingRow:
    """One line of a meeting list."""

    title: str
    href: str
    when: str  # YYYY-MM-DD HH:MM UTC
    at: str  # ISO 8601
    detail: str


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    meetings: tuple[MeetingRow, ...] | None = None
    links: tuple[Link, ...] = ()
    id: str | None = None


@dataclass(frozen=True)
class Page:
    """Everything archive_page.html (and the minutes/log wrappers) need."""

    title: str
    og: OpenGraph
    heading: str = ""
    nav: tuple[Link, ...] = ()
    pager: tuple[Link, ...] = ()
    body: str = "archive_body_index.html"
    sections: tuple[Section, ...] = ()
    intro: str | None = None
    refresh: str | None = None
    form: bool = False
    search_href: str | None = None
    search_team: str | None = None
    generator: str = GENERATOR
    extra: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        # Page-specific values (search hits, a person's actions) without a class per page.
        try:
            return self.__dict__["extra"][name]
        except KeyError:
            raise AttributeError(name) from None


def when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def meeting_title(summary: MeetingSummary) -> str:
    if summary.title:
        return f"{summary.room}: {summary.title}"
    return f"{summary.room} Meeting"


def meeting_row(summary: MeetingSummary, href: str) -> MeetingRow:
    detail = f"{summary.team}, started by {summary.owner_nick}"
    if summary.lines:
        detail += f", {summary.lines} lines"
    return MeetingRow(meeting_title(summary), href, when(summary.started_at), iso(summary.started_at), detail)


def describe(view: MinutesView) -> str:
    """An OpenGraph description: what a link preview should say about these minutes."""
    topics = [t.title for t in view.topics if t.title]
    parts = [f"Meeting in {view.room} started by {view.started_by} at {view.started_at.replace('T', ' ')}"]
    if topics:
        shown = "; ".join(topics[:5]) + ("; …" if len(topics) > 5 else "")
        parts.append(f"Topics: {shown}")
    parts.append(f"{len(view.actions)} action item{'s' if len(view.actions) != 1 else ''}")
    text = ". ".join(parts) + "."
    return text if len(text) <= 300 else text[:299] + "…"


def render_page(page: Page, *, templates_dir: Path | None = None) -> str:
    markup, _ = environments(templates_dir)
    return markup.get_template("archive_page.html").render(page=page)


def render_minutes_page(view: MinutesView, page: Page, *, templates_dir: Path | None = None) -> str:
    markup, _ = environments(templates_dir)
    return markup.get_template("archive_minutes.html").render(view=view, page=page)


def render_log_page(view: MinutesView, page: Page, *, templates_dir: Path | None = None) -> str:
    markup, _ = environments(templates_dir)
    return markup.get_template("archive_log.html").render(view=view, page=page)


async def team_snapshot(teams: TeamStore, meeting: Meeting) -> TeamSnapshot | None:
    """What the minutes show of the team's agenda and actions (as FileMinutesWriter does)."""
    if meeting.id is None:
        return None
    team = meeting.series_name
    return TeamSnapshot(
        agenda=await teams.agenda_for_minutes(team, meeting.id, meeting.ended_at),
        previous_actions=await teams.previous_actions(team, meeting.started_at),
        meeting_actions=await teams.actions_of_meeting(meeting.id),
    )


async def load_meeting(database: Database, engine: Engine, meeting_id: int) -> Meeting | None:
    header = await database.meetings.header(meeting_id)
    if header is None:
        return None
    return engine.rebuild(header, await database.meetings.lines(meeting_id))


async def load_view(
    database: Database,
    engine: Engine,
    settings: Settings,
    meeting_id: int,
    links: MeetingLinks,
    *,
    meeting: Meeting | None = None,
) -> MinutesView | None:
    """The view of a stored meeting; `meeting` saves rebuilding one the caller has at hand."""
    if meeting is None or meeting.id != meeting_id:
        meeting = await load_meeting(database, engine, meeting_id)
    if meeting is None:
        return None
    return build_view(
        meeting,
        links,
        generator=GENERATOR,
        command_prefixes=tuple(settings.command_prefixes),
        team=await team_snapshot(database.teams, meeting),
    )


# -- the static archive ---------------------------------------------------------------------------


def _html(page: PurePosixPath) -> PurePosixPath:
    # Not with_suffix: a team or room name may contain a dot.
    return page.with_name(page.name + ".html")


def href(from_dir: PurePosixPath, target: PurePosixPath) -> str:
    """A relative, percent-quoted link from a page in `from_dir` to the file `target`."""
    relative = posixpath.relpath(str(target), str(from_dir) if str(from_dir) else ".")
    return quote(relative, safe="/")


@dataclass
class StaticArchive:
    settings: Settings
    database: Database
    engine: Engine
    publisher: Publisher
    written: list[PublishedFile] = field(default_factory=list)

    # -- paths

    def basename(self, summary: MeetingSummary) -> PurePosixPath:
        """Where the writer put this meeting's files (the same pattern and zone)."""
        publish = self.settings.publish
        stub = Meeting(
            room=RoomRef(summary.network, summary.room),
            started_at=summary.started_at,
            owner_key="",
            owner_nick=summary.owner_nick,
            # series_name of the stub is then the summary's team, as it was for the real meeting.
            name=summary.team,
        )
        return minutes_basename(stub, publish.pattern, publish.timezone)

    def year(self, at: datetime) -> int:
        return at.astimezone(ZoneInfo(self.settings.publish.timezone)).year

    @staticmethod
    def team_index(team: str) -> PurePosixPath:
        return PurePosixPath(team, "index")

    def year_index(self, team: str, year: int) -> PurePosixPath:
        return PurePosixPath(team, str(year), "index")

    @staticmethod
    def room_index(network: str, room: str) -> PurePosixPath:
        return PurePosixPath(ROOMS_DIR, normalize_name(network) or "network", normalize_name(room) or "room")

    def _url(self, page: PurePosixPath) -> str | None:
        base = self.publisher.base_url
        return f"{base.rstrip('/')}/{quote(str(page) + '.html', safe='/')}" if base else None

    async def _write(self, page: PurePosixPath, content: str) -> None:
        self.written.extend(await self.publisher.publish(page, {".html": content}))

    # -- incremental update

    async def meeting_published(self, meeting_id: int, meeting: Meeting | None = None) -> None:
        """Bring the archive up to date after `meeting_id` was published (ended or regenerated);
        `meeting`, when given, is that meeting as just rebuilt (not rebuilt again)."""
        listing = self.database.listing
        summary = await listing.meeting(meeting_id)
        if summary is None:
            return  # still open, restricted or gone: nothing public changes
        previous, following = await listing.neighbours(meeting_id)
        for one in (summary, previous, following):
            if one is not None:
                await self.write_meeting_pages(one, meeting)
        await self.write_team_indexes(summary.team, years={self.year(summary.started_at)})
        await self.write_room_index(summary.network, summary.room)
        await self.write_top_index()

    async def rebuild(self) -> None:
        """Every archive page from the database (after an upgrade, or to repair)."""
        for team in await self.database.listing.teams():
            page = await self.database.listing.meetings(team=team.team, limit=1_000_000)
            for summary in page.rows:
                await self.write_meeting_pages(summary)
            await self.write_team_indexes(team.team, years={self.year(s.started_at) for s in page.rows})
        for network, room, _count in await self.database.listing.rooms():
            await self.write_room_index(network, room)
        await self.write_top_index()

    async def write_meeting_pages(self, summary: MeetingSummary, meeting: Meeting | None = None) -> None:
        """The minutes page again, with previous/next links and OpenGraph tags."""
        basename = self.basename(summary)
        links = self.publisher.links(basename)
        view = await load_view(self.database, self.engine, self.settings, summary.id, links, meeting=meeting)
        if view is None:
            return
        previous, following = await self.database.listing.neighbours(summary.id)
        here = basename.parent
        nav = [
            Link("All meetings", href(here, PurePosixPath("index.html"))),
            Link(f"{summary.team} meetings", href(here, _html(self.team_index(summary.team)))),
        ]
        if previous is not None:
            nav.append(
                Link(
                    f"← Previous: {when(previous.started_at)}",
                    href(here, _html(self.basename(previous))),
                    rel="prev",
                    id="prev",
                )
            )
        if following is not None:
            nav.append(
                Link(
                    f"Next: {when(following.started_at)} →",
                    href(here, _html(self.basename(following))),
                    rel="next",
                    id="next",
                )
            )
        og = OpenGraph(view.title, describe(view), links.url(".html"), kind="article")
        page = Page(title=view.title, og=og, nav=tuple(nav))
        log_page = replace(page, og=replace(og, title=f"{view.title} (log)", url=links.url(".log.html")))
        templates = self.settings.templates_dir
        # A long meeting's log takes a while to render: off the event loop, so rooms keep going.
        minutes, log_html = await asyncio.to_thread(
            lambda: (
                render_minutes_page(view, page, templates_dir=templates),
                render_log_page(view, log_page, templates_dir=templates),
            )
        )
        self.written.extend(await self.publisher.publish(basename, {".html": minutes, ".log.html": log_html}))

    def _rows(self, from_dir: PurePosixPath, summaries: Sequence[MeetingSummary]) -> tuple[MeetingRow, ...]:
        rows = []
        for summary in summaries:
            base = self.basename(summary)
            rows.append(meeting_row(summary, href(from_dir, _html(base))))
        return tuple(rows)

    async def write_team_indexes(self, team: str, *, years: set[int]) -> None:
        listing = self.database.listing
        everything = (await listing.meetings(team=team, limit=1_000_000)).rows
        index = self.team_index(team)
        here = index.parent
        by_year: dict[int, list[MeetingSummary]] = {}
        for summary in everything:
            by_year.setdefault(self.year(summary.started_at), []).append(summary)
        year_links = tuple(
            Link(str(year), href(here, _html(self.year_index(team, year))), detail=f"{len(rows)}")
            for year, rows in sorted(by_year.items(), reverse=True)
        )
        page = Page(
            title=f"{team} meetings",
            heading=f"{team} meetings",
            og=OpenGraph(
                f"{team} meetings",
                f"All {len(everything)} meetings of {team}, newest first.",
                self._url(index),
            ),
            nav=(Link("All meetings", href(here, PurePosixPath("index.html"))), Link(team, None)),
            intro=f"{len(everything)} meetings, newest first.",
            sections=(
                Section("Latest", links=(Link("Newest minutes", "latest.html"),), id="latest"),
                Section("By year", links=year_links, id="years"),
                Section("All meetings", self._rows(here, everything), id="meetings"),
            ),
        )
        await self._write(index, render_page(page, templates_dir=self.settings.templates_dir))
        for year in sorted(years):
            rows = by_year.get(year, [])
            year_page = self.year_index(team, year)
            year_dir = year_page.parent
            page = Page(
                title=f"{team} meetings in {year}",
                heading=f"{team} meetings in {year}",
                og=OpenGraph(
                    f"{team} meetings in {year}",
                    f"{len(rows)} meetings of {team} in {year}.",
                    self._url(year_page),
                ),
                nav=(
                    Link("All meetings", href(year_dir, PurePosixPath("index.html"))),
                    Link(team, href(year_dir, _html(index))),
                    Link(str(year), None),
                ),
                sections=(Section(str(year), self._rows(year_dir, rows), id="meetings"),),
            )
            await self._write(year_page, render_page(page, templates_dir=self.settings.templates_dir))
        if everything:
            await self._write_latest(team, everything[0])

    async def _write_latest(self, team: str, newest: MeetingSummary) -> None:
        here = PurePosixPath(team)
        base = self.basename(newest)
        target = href(here, _html(base))
        page = Page(
            title=f"{team}: latest meeting",
            heading=f"{team}: latest meeting",
            og=OpenGraph(f"{team}: latest meeting", meeting_title(newest), self._url(here / "latest")),
            body="archive_body_message.html",
            refresh=target,
            extra={
                "message": f"Newest {team} meeting: {meeting_title(newest)}, {when(newest.started_at)}.",
                "link": Link("Open its minutes", target),
            },
        )
        await self._write(here / "latest", render_page(page, templates_dir=self.settings.templates_dir))

    async def write_room_index(self, network: str, room: str) -> None:
        rows = (await self.database.listing.meetings(network=network, room=room, limit=1_000_000)).rows
        page_path = self.room_index(network, room)
        here = page_path.parent
        title = f"Meetings in {room} ({network})"
        page = Page(
            title=title,
            heading=title,
            og=OpenGraph(title, f"{len(rows)} meetings held in {room}.", self._url(page_path)),
            nav=(Link("All meetings", href(here, PurePosixPath("index.html"))), Link(room, None)),
            sections=(Section("Meetings", self._rows(here, rows), id="meetings"),),
        )
        await self._write(page_path, render_page(page, templates_dir=self.settings.templates_dir))

    async def write_top_index(self) -> None:
        listing = self.database.listing
        teams = await listing.teams()
        rooms = await listing.rooms()
        recent = (await listing.meetings(limit=20)).rows
        here = PurePosixPath()
        page = Page(
            title="Meeting archive",
            heading="Meeting archive",
            og=OpenGraph(
                "Meeting archive",
                f"Minutes and logs of {len(teams)} teams.",
                self._url(PurePosixPath("index")),
            ),
            sections=(
                Section(
                    "Teams",
                    links=tuple(
                        Link(
                            t.team,
                            href(here, _html(self.team_index(t.team))),
                            detail=f"{t.meetings} meetings, last {when(t.last_started_at)}",
                        )
                        for t in teams
                    ),
                    id="teams",
                ),
                Section("Recent meetings", self._rows(here, recent), id="recent"),
                Section(
                    "Channels and rooms",
                    links=tuple(
                        Link(
                            f"{room} ({network})",
                            href(here, _html(self.room_index(network, room))),
                            detail=f"{count} meetings",
                        )
                        for network, room, count in rooms
                    ),
                    id="rooms",
                ),
            ),
        )
        await self._write(
            PurePosixPath("index"), render_page(page, templates_dir=self.settings.templates_dir)
        )
