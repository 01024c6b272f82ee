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
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
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
from meetbot.minutes.render import environments, render_view
from meetbot.minutes.view import EXTENSIONS, MeetingLinks, MinutesView, build_view
from meetbot.publish.files import PublishedFile, Publisher
from meetbot.publish.paths import minutes_basename
from meetbot.storage.database import Database
from meetbot.storage.listing import ArchiveLists, MeetingSummary, Reader, StoredMeeting, TeamSummary
from meetbot.storage.teams import SnapshotQuery, TeamStore

log = logging.getLogger(__name__)

GENERATOR = f"meetbot {__version__}"
ROOMS_DIR = "_rooms"

# Pages to publish together: (path without ".html", {".html": content}).
PageBatch = list[tuple[PurePosixPath, dict[str, str]]]


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


def meeting_pages(view: MinutesView, links: MeetingLinks, nav: tuple[Link, ...]) -> tuple[Page, Page]:
    """The page values of a meeting's minutes and log in the archive: navigation, OpenGraph."""
    og = OpenGraph(view.title, describe(view), links.url(".html"), kind="article")
    page = Page(title=view.title, og=og, nav=nav)
    log_page = replace(page, og=replace(og, title=f"{view.title} (log)", url=links.url(".log.html")))
    return page, log_page


def render_archived(
    view: MinutesView,
    links: MeetingLinks,
    nav: tuple[Link, ...],
    *,
    templates_dir: Path | None = None,
    extensions: Sequence[str] = EXTENSIONS,
) -> dict[str, str]:
    """Like render_view, but the minutes and log pages are the archive's, with `nav`: a
    meeting's files are rendered once, as the archive shows them, never again to add it."""
    page, log_page = meeting_pages(view, links, nav)
    out: dict[str, str] = {}
    for extension in extensions:
        if extension == ".html":
            out[extension] = render_minutes_page(view, page, templates_dir=templates_dir)
        elif extension == ".log.html":
            out[extension] = render_log_page(view, log_page, templates_dir=templates_dir)
        else:
            out.update(render_view(view, templates_dir=templates_dir, extensions=(extension,)))
    return out


async def team_snapshot(teams: TeamStore, meeting: Meeting) -> TeamSnapshot | None:
    """What the minutes show of the team's agenda and actions (as FileMinutesWriter does)."""
    query = SnapshotQuery.of(meeting)
    return None if query is None else (await teams.snapshots([query]))[0]


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


# Every row of every index a publish writes needs one (relpath asks the OS for the working
# directory twice), and they are the same from one publish to the next.
@lru_cache(maxsize=16_384)
def href(from_dir: PurePosixPath, target: PurePosixPath) -> str:
    """A relative, percent-quoted link from a page in `from_dir` to the file `target`."""
    relative = posixpath.relpath(str(target), str(from_dir) if str(from_dir) else ".")
    return quote(relative, safe="/")


@dataclass(frozen=True, slots=True)
class Listed:
    """Where a published meeting sits in the archive, and the navigation its pages carry."""

    summary: MeetingSummary
    previous: MeetingSummary | None
    following: MeetingSummary | None
    nav: tuple[Link, ...]


# -- a meeting's pages again, with other navigation ----------------------------------------------
#
# When a meeting is published, its neighbours' minutes and log pages change only in their
# navigation (the previous/next links), yet rendering them again meant reading and replaying
# the neighbour's whole log (for 1,000 lines ~35 ms, most of the archive's work). So the pages
# of the meetings rendered lately are kept cut around their navigation blocks, with what they
# were made from; a neighbour whose stored lines, header and team snapshot are still the same
# gets its pages back with the new navigation put in, byte for byte what rendering gives.

# The navigation blocks of each page, in order: the top one has ids, the bottom repeat none
# (archive_minutes.html, archive_log.html).
NAV_BLOCKS: dict[str, tuple[bool, ...]] = {".html": (True, False), ".log.html": (True,)}
_NAV_MARK = '<nav class="crumbs">'
# A 10,000-line meeting's two pages are ~2.3 million characters; a page with any non-Latin-1
# character takes 2-4 bytes a character in memory, so this is 32-64 MB at most.
PAGE_CACHE_CHARS = 16_000_000
# The index pages RenderedPages keeps: most are a few kilobytes, a big team's a few hundred.
RENDERED_CACHE_CHARS = 4_000_000
# Meetings whose file names StaticArchive.basename remembers (a few hundred bytes each).
_BASENAMES_KEPT = 10_000
# Index rows StaticArchive keeps made (~1 KB each with the meeting's summary): a team's index,
# its years' and its room's show each of its meetings.
_ROWS_KEPT = 4_096


# A publish cuts its meeting's pages at their navigation and puts new navigation into its
# neighbours' pages: the same few blocks each time.
@lru_cache(maxsize=256)
def render_nav(nav: tuple[Link, ...], *, ids: bool) -> str:
    """The navigation block archive_macros.html's `nav` macro writes (packaged templates)."""
    markup, _ = environments(None)
    return str(markup.get_template("archive_macros.html").module.nav(nav, ids=ids))  # type: ignore[attr-defined]


def cut_at(page: str, blocks: Sequence[str]) -> tuple[str, ...] | None:
    """`page` split around `blocks`, found in this order; None unless they are there and no
    other navigation block is."""
    pieces: list[str] = []
    start = 0
    for block in blocks:
        at = page.find(block, start) if block else -1
        if at < 0:
            return None
        pieces.append(page[start:at])
        start = at + len(block)
    pieces.append(page[start:])
    if any(_NAV_MARK in piece for piece in pieces):
        return None
    return tuple(pieces)


def navigated(pieces: tuple[str, ...], nav: tuple[Link, ...], ids: Sequence[bool]) -> str:
    """The page `cut_at` cut, with `nav` in each navigation block."""
    blocks = {flag: render_nav(nav, ids=flag) for flag in set(ids)}
    out = [pieces[0]]
    for flag, piece in zip(ids, pieces[1:], strict=True):
        out += (blocks[flag], piece)
    return "".join(out)


@dataclass(frozen=True, slots=True)
class MadeFrom:
    """Everything besides the navigation that a listed meeting's archive pages depend on
    (the templates are the packaged ones and GENERATOR a constant)."""

    stored: StoredMeeting
    team: tuple[tuple[object, ...], ...] | None
    links: MeetingLinks
    command_prefixes: tuple[str, ...]


def team_key(team: TeamSnapshot | None) -> tuple[tuple[object, ...], ...] | None:
    # Tuples: the store hands out lists, a default snapshot tuples.
    if team is None:
        return None
    return (tuple(team.agenda), tuple(team.previous_actions), tuple(team.meeting_actions))


def stored_state(meeting: Meeting) -> StoredMeeting:
    """What listing.stored() says of the database that holds exactly this meeting."""
    lines = meeting.lines
    return StoredMeeting(
        meeting.room.network,
        meeting.room.room,
        meeting.started_at,
        meeting.owner_key,
        meeting.owner_nick,
        lines[-1].seq if lines else None,
    )


@dataclass(frozen=True, slots=True)
class CutPages:
    made_from: MadeFrom
    snapshot: SnapshotQuery
    pieces: dict[str, tuple[str, ...]]  # extension -> the page cut around its navigation
    size: int


@dataclass(frozen=True, slots=True)
class Prepared:
    """What StaticArchive.prepare() read for one publish of a meeting."""

    team: TeamSnapshot | None  # what its minutes show of the team
    listed: Listed | None  # None: not listed (restricted, or gone), so nothing public changes
    lists: ArchiveLists | None  # what its indexes list
    # Its neighbours, each with its cached pages when they still hold.
    neighbours: tuple[tuple[MeetingSummary, CutPages | None], ...] = ()


class PageCache:
    """The cut pages of the meetings rendered last, least recently used dropped first. Used
    from the rendering threads, hence the lock."""

    def __init__(self, max_chars: int = PAGE_CACHE_CHARS) -> None:
        self.max_chars = max_chars
        self._entries: OrderedDict[int, CutPages] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()

    def __contains__(self, meeting_id: int) -> bool:
        with self._lock:
            return meeting_id in self._entries

    def get(self, meeting_id: int) -> CutPages | None:
        with self._lock:
            entry = self._entries.get(meeting_id)
            if entry is not None:
                self._entries.move_to_end(meeting_id)
            return entry

    def put(self, meeting_id: int, entry: CutPages) -> None:
        with self._lock:
            self._drop(meeting_id)
            if entry.size > self.max_chars:
                return
            self._entries[meeting_id] = entry
            self._chars += entry.size
            while self._chars > self.max_chars:
                self._drop(next(iter(self._entries)))

    def drop(self, meeting_id: int) -> None:
        with self._lock:
            self._drop(meeting_id)

    def _drop(self, meeting_id: int) -> None:
        old = self._entries.pop(meeting_id, None)
        if old is not None:
            self._chars -= old.size


def cut_pages(
    pages: dict[str, str], nav: tuple[Link, ...], made_from: MadeFrom, snapshot: SnapshotQuery
) -> CutPages | None:
    """The pages rendered with `nav`, cut for `PageCache`; None if they can't be."""
    blocks = {flag: render_nav(nav, ids=flag) for flag in (True, False)}
    pieces: dict[str, tuple[str, ...]] = {}
    for extension, ids in NAV_BLOCKS.items():
        page = pages.get(extension)
        cut = None if page is None else cut_at(page, [blocks[flag] for flag in ids])
        if cut is None:
            return None
        pieces[extension] = cut
    size = sum(len(piece) for cut in pieces.values() for piece in cut)
    return CutPages(made_from, snapshot, pieces, size)


class RenderedPages:
    """The archive's index pages as last rendered, by path: a page whose values are the same
    as last time is the same text, so it is not rendered again (an index of a team with many
    meetings takes milliseconds). Most publishes change the indexes they touch; a republished
    meeting (an edit, a regeneration) leaves several as they were: its team's "latest" page,
    other years, and often all of them."""

    def __init__(self, templates_dir: Path | None, max_chars: int = RENDERED_CACHE_CHARS) -> None:
        # An admin's templates may change on disk: rendered every time, then.
        self.enabled = templates_dir is None
        self.templates_dir = templates_dir
        self.max_chars = max_chars
        self._entries: OrderedDict[PurePosixPath, tuple[Page, str]] = OrderedDict()
        self._chars = 0

    def render(self, path: PurePosixPath, page: Page) -> str:
        known = self._entries.get(path)
        if known is not None and known[0] == page:
            self._entries.move_to_end(path)
            return known[1]
        content = render_page(page, templates_dir=self.templates_dir)
        if self.enabled:
            self._keep(path, page, content)
        return content

    def _keep(self, path: PurePosixPath, page: Page, content: str) -> None:
        old = self._entries.pop(path, None)
        if old is not None:
            self._chars -= len(old[1])
        if len(content) > self.max_chars:
            return
        self._entries[path] = (page, content)
        self._chars += len(content)
        while self._chars > self.max_chars:
            _path, (_page, dropped) = self._entries.popitem(last=False)
            self._chars -= len(dropped)


@dataclass
class StaticArchive:
    settings: Settings
    database: Database
    engine: Engine
    publisher: Publisher
    written: list[PublishedFile] = field(default_factory=list)
    pages: PageCache = field(default_factory=PageCache, repr=False)
    rendered: RenderedPages = field(init=False, repr=False, compare=False)
    # One publish at a time, from its reads to its last page (see updating()).
    _updating: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False, compare=False)
    _basenames: dict[tuple[object, ...], PurePosixPath] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _row_of: Callable[[str, MeetingSummary], MeetingRow] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.rendered = RenderedPages(self.settings.templates_dir)
        # An index's row of a meeting, by the page's directory and the meeting as listed: the
        # same from one publish to the next, and a team's index lists every meeting it had
        # (300: ~6 ms of a publish to make them again, twice, with its room's index).
        self._row_of = lru_cache(maxsize=_ROWS_KEPT)(self._make_row)

    # -- paths

    def basename(self, summary: MeetingSummary) -> PurePosixPath:
        """Where the writer put this meeting's files (the same pattern and zone)."""
        publish = self.settings.publish
        # Every index row and navigation link needs one, each a pattern check and strftime:
        # remembered by what it is made of.
        key = (
            summary.network,
            summary.room,
            summary.team,
            summary.started_at,
            publish.pattern,
            publish.timezone,
        )
        known = self._basenames.get(key)
        if known is None:
            if len(self._basenames) >= _BASENAMES_KEPT:
                self._basenames.clear()
            known = self._basenames[key] = self._basename(summary)
        return known

    def _basename(self, summary: MeetingSummary) -> PurePosixPath:
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

    async def _write(self, path: PurePosixPath, page: Page, into: PageBatch | None) -> None:
        """Render and publish the page now, or add it to `into` for the caller to publish with
        others."""
        await self._write_files(path, {".html": self.rendered.render(path, page)}, into)

    async def _write_files(
        self, basename: PurePosixPath, files: dict[str, str], into: PageBatch | None
    ) -> None:
        if into is None:
            self.written.extend(await self.publisher.publish(basename, files))
        else:
            into.append((basename, files))

    async def _write_batch(self, batch: PageBatch) -> None:
        # One trip to the file-writing threads for all the pages a meeting touches.
        if batch:
            self.written.extend(await self.publisher.publish_many(batch))

    # -- incremental update

    def updating(self) -> asyncio.Lock:
        """Held while a meeting's publish reads what the archive's pages show and writes them:
        two meetings ending together could otherwise have the later reader's pages (which show
        both) overwritten by the earlier reader's (which lack the other one)."""
        return self._updating

    async def listed(self, meeting_id: int) -> Listed | None:
        """The meeting's place in the archive; None when it isn't listed (still open,
        restricted or gone), so its pages carry no navigation."""
        placed = await self.database.listing.placed(meeting_id)
        if placed is None:
            return None
        summary, previous, following = placed
        return Listed(summary, previous, following, self._nav(summary, previous, following))

    def _nav(
        self, summary: MeetingSummary, previous: MeetingSummary | None, following: MeetingSummary | None
    ) -> tuple[Link, ...]:
        here = self.basename(summary).parent
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
        return tuple(nav)

    async def prepare(self, meeting: Meeting) -> Prepared:
        """Everything a publish of `meeting` reads (its team snapshot, its place in the archive,
        the lists its indexes show, whether its neighbours' cached pages still hold), in one
        connection: it was up to 26 statements on 9 connections, each statement four trips to
        SQLite's thread. Hold updating() from here until the pages of pages_after() are written."""
        query = SnapshotQuery.of(meeting)
        if query is None:
            raise ValueError("only a stored meeting has a place in the archive")
        listing = self.database.listing
        async with listing.reader() as reader:
            listed, lists = await self._read_place(meeting, reader)
            neighbours = [] if listed is None else [n for n in (listed.previous, listed.following) if n]
            cached = [(one, self.pages.get(one.id)) for one in neighbours]
            snapshots = await self.database.teams.snapshots(
                [query, *[entry.snapshot for _one, entry in cached if entry is not None]], reader=reader
            )
        team, rest = snapshots[0], iter(snapshots[1:])
        cuts = tuple(
            (one, None if entry is None else self._still_holds(one, entry, lists, next(rest)))
            for one, entry in cached
        )
        return Prepared(team, listed, lists, cuts)

    async def _read_place(
        self, meeting: Meeting, reader: Reader
    ) -> tuple[Listed | None, ArchiveLists | None]:
        """The meeting's place and its indexes' lists; (None, None) when it isn't listed."""
        listing = self.database.listing
        if not meeting.restricted and meeting.id is not None:
            lists = await listing.archive_lists(
                meeting.series_name, meeting.room.network, meeting.room.room, reader=reader
            )
            for row in lists.team:
                if row.id == meeting.id:
                    return self._place_in(row, lists.team), lists
        # Not in the list the meeting itself points to: as the database has it (restricted there
        # too, most likely; else listed under another team).
        assert meeting.id is not None
        listed = await self.listed(meeting.id)
        if listed is None:
            return None, None
        summary = listed.summary
        lists = await listing.archive_lists(summary.team, summary.network, summary.room, reader=reader)
        return self._place_in(summary, lists.team) or listed, lists

    def _still_holds(
        self, summary: MeetingSummary, entry: CutPages, lists: ArchiveLists | None, team: TeamSnapshot
    ) -> CutPages | None:
        """`entry` when what its pages were made from is what the database holds now (another
        process, an edit or a team change since shows there); else None, and it is dropped."""
        stored = None if lists is None else lists.stored.get(summary.id)
        links = self.publisher.links(self.basename(summary))
        now = (
            MadeFrom(stored, team_key(team), links, tuple(self.settings.command_prefixes)) if stored else None
        )
        if now != entry.made_from:
            self.pages.drop(summary.id)
            return None
        return entry

    async def pages_after(self, prepared: Prepared, meeting: Meeting | None = None) -> PageBatch:
        """What a listed meeting's publish changes in the archive besides its own pages: its
        neighbours' pages and the indexes it appears in, from what prepare() read, to publish
        after the meeting's own pages (nothing when it isn't listed). `meeting`: that meeting,
        as just rebuilt."""
        listed, lists = prepared.listed, prepared.lists
        batch: PageBatch = []
        if listed is None or lists is None:
            return batch  # not listed: nothing public changes
        summary = listed.summary
        for one, cut in prepared.neighbours:
            # Its own neighbours are beside it in the team's list just read: not looked up.
            place = self._place_in(one, lists.team) or await self._placed(one, None)
            await self._meeting_pages(one, meeting, place, cut, into=batch)
        await self.write_team_indexes(
            summary.team, years={self.year(summary.started_at)}, into=batch, everything=lists.team
        )
        await self.write_room_index(summary.network, summary.room, into=batch, rows=lists.room)
        # The neighbours' pages first, then the indexes, as when each was written on its own.
        await self.write_top_index(into=batch, lists=(lists.teams, lists.rooms, lists.recent))
        return batch

    async def refresh(self, meeting_id: int, meeting: Meeting | None = None) -> None:
        """Bring the archive up to date after `meeting_id` was published plain, without
        prepare() (its look-up failed): its pages again, with navigation, then its neighbours'
        and the indexes. The caller holds updating(). `meeting`, when given, is that meeting as
        just rebuilt (not rebuilt again)."""
        listed = await self.listed(meeting_id)
        if listed is None:
            return  # still open, restricted or gone: nothing public changes
        # Written at once, not in the batch below: its navigation must not wait on the lists,
        # whose reads may fail as the look-up just did.
        await self.write_meeting_pages(listed.summary, meeting, listed=listed)
        summary = listed.summary
        neighbours = [one for one in (listed.previous, listed.following) if one is not None]
        listing = self.database.listing
        async with listing.reader() as reader:
            lists = await listing.archive_lists(summary.team, summary.network, summary.room, reader=reader)
            cuts = [await self._cached_pages(one, lists, reader) for one in neighbours]
        prepared = Prepared(None, listed, lists, tuple(zip(neighbours, cuts, strict=True)))
        await self._write_batch(await self.pages_after(prepared, meeting))

    def _place_in(self, summary: MeetingSummary, team: Sequence[MeetingSummary]) -> Listed | None:
        """`summary`'s place among its team's public meetings, newest first (archive_lists), as
        listing.neighbours() gives it; None if it isn't there (then that is asked)."""
        for at, row in enumerate(team):
            if row.id == summary.id:
                previous = team[at + 1] if at + 1 < len(team) else None
                following = team[at - 1] if at > 0 else None
                return Listed(summary, previous, following, self._nav(summary, previous, following))
        return None

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

    async def write_meeting_pages(
        self,
        summary: MeetingSummary,
        meeting: Meeting | None = None,
        *,
        listed: Listed | None = None,
        into: PageBatch | None = None,
    ) -> None:
        """The minutes and log pages again, with previous/next links and OpenGraph tags;
        published now, or added to `into` for the caller to publish with others."""
        place = await self._placed(summary, listed)
        cut = None
        if meeting is None or meeting.id != summary.id:
            cut = await self._cached_pages(summary, None, None)
        await self._meeting_pages(summary, meeting, place, cut, into=into)

    async def _meeting_pages(
        self,
        summary: MeetingSummary,
        meeting: Meeting | None,
        place: Listed,
        cut: CutPages | None,
        *,
        into: PageBatch | None,
    ) -> None:
        """write_meeting_pages() once its place and cached pages (`cut`, if they still hold) are known."""
        basename = self.basename(summary)
        links = self.publisher.links(basename)
        if cut is not None:
            pages = {
                extension: navigated(pieces, place.nav, NAV_BLOCKS[extension])
                for extension, pieces in cut.pieces.items()
            }
            await self._write_files(basename, pages, into)
            return
        if meeting is None or meeting.id != summary.id:
            meeting = await load_meeting(self.database, self.engine, summary.id)
            if meeting is None:
                return
        team = await team_snapshot(self.database.teams, meeting)
        # A long meeting's view and log take a while: off the event loop, so rooms keep going.
        pages = await asyncio.to_thread(
            self.render_meeting, meeting, links, place.nav, team=team, extensions=(".html", ".log.html")
        )
        await self._write_files(basename, pages, into)

    async def _placed(self, summary: MeetingSummary, listed: Listed | None) -> Listed:
        """`listed`, or the meeting's place looked up."""
        if listed is not None:
            return listed
        previous, following = await self.database.listing.neighbours(summary.id)
        return Listed(summary, previous, following, self._nav(summary, previous, following))

    async def _cached_pages(
        self, summary: MeetingSummary, lists: ArchiveLists | None, reader: Reader | None
    ) -> CutPages | None:
        """The cut pages of the meeting's last rendering, when what they were made from is
        still what the database holds (see _still_holds); None otherwise. `lists`: what the
        caller read already, which says what stored() would."""
        entry = self.pages.get(summary.id)
        if entry is None:
            return None  # nothing to check: spare the queries
        if lists is None or summary.id not in lists.stored:
            stored = await self.database.listing.stored(summary.id)
            lists = ArchiveLists((), (), (), [], [], {summary.id: stored} if stored else {})
        (team,) = await self.database.teams.snapshots([entry.snapshot], reader=reader)
        return self._still_holds(summary, entry, lists, team)

    def remember(
        self,
        meeting: Meeting,
        links: MeetingLinks,
        nav: tuple[Link, ...],
        team: TeamSnapshot | None,
        pages: dict[str, str],
    ) -> None:
        """Keep the pages just rendered for `_cached_pages`, when they can be reused at all."""
        snapshot = SnapshotQuery.of(meeting)
        if snapshot is None:
            return
        if self.settings.templates_dir is not None:
            # An admin's templates may use the navigation anywhere, and may change on disk.
            return
        made_from = MadeFrom(
            stored_state(meeting), team_key(team), links, tuple(self.settings.command_prefixes)
        )
        entry = cut_pages(pages, nav, made_from, snapshot)
        if entry is None:
            self.pages.drop(snapshot.meeting_id)
        else:
            self.pages.put(snapshot.meeting_id, entry)

    def render_meeting(
        self,
        meeting: Meeting,
        links: MeetingLinks,
        nav: tuple[Link, ...],
        *,
        team: TeamSnapshot | None,
        extensions: Sequence[str] = EXTENSIONS,
    ) -> dict[str, str]:
        """A listed meeting's files as the archive has them (render_archived), kept for the
        next publish next to it; CPU work, so callers run it in a thread."""
        prefixes = tuple(self.settings.command_prefixes)
        view = build_view(meeting, links, generator=GENERATOR, command_prefixes=prefixes, team=team)
        pages = self.render_pages(view, nav, extensions)
        self.remember(meeting, links, nav, team, pages)
        return pages

    def render_pages(
        self, view: MinutesView, nav: tuple[Link, ...], extensions: Sequence[str]
    ) -> dict[str, str]:
        """render_archived() of a view made already, with this archive's templates (a caller
        that renders the minutes and the log apart keeps the pages once it has both, with
        remember())."""
        templates = self.settings.templates_dir
        return render_archived(view, view.links, nav, templates_dir=templates, extensions=extensions)

    def _rows(self, from_dir: PurePosixPath, summaries: Sequence[MeetingSummary]) -> tuple[MeetingRow, ...]:
        directory, row_of = str(from_dir), self._row_of
        return tuple(row_of(directory, summary) for summary in summaries)

    def _make_row(self, from_dir: str, summary: MeetingSummary) -> MeetingRow:
        return meeting_row(summary, href(PurePosixPath(from_dir), _html(self.basename(summary))))

    async def write_team_indexes(
        self,
        team: str,
        *,
        years: set[int],
        into: PageBatch | None = None,
        everything: Sequence[MeetingSummary] | None = None,
    ) -> None:
        """`everything`: the team's public meetings, newest first, when the caller has them."""
        if everything is None:
            everything = (await self.database.listing.meetings(team=team, limit=1_000_000)).rows
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
        await self._write(index, page, into)
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
            await self._write(year_page, page, into)
        if everything:
            await self._write_latest(team, everything[0], into)

    async def _write_latest(self, team: str, newest: MeetingSummary, into: PageBatch | None) -> None:
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
        await self._write(here / "latest", page, into)

    async def write_room_index(
        self,
        network: str,
        room: str,
        *,
        into: PageBatch | None = None,
        rows: Sequence[MeetingSummary] | None = None,
    ) -> None:
        if rows is None:
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
        await self._write(page_path, page, into)

    async def write_top_index(
        self,
        *,
        into: PageBatch | None = None,
        lists: tuple[Sequence[TeamSummary], Sequence[tuple[str, str, int]], Sequence[MeetingSummary]]
        | None = None,
    ) -> None:
        """`lists`: (teams, rooms, the 20 newest meetings) when the caller has them."""
        if lists is None:
            listing = self.database.listing
            lists = (await listing.teams(), await listing.rooms(), (await listing.meetings(limit=20)).rows)
        teams, rooms, recent = lists
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
        await self._write(PurePosixPath("index"), page, into)
