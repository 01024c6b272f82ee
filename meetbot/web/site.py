"""The read-only web archive (aiohttp): pages and a JSON API, from the database.

Everything is rendered by the minutes' own templates (autoescape on) and the archive
templates; every page is sent with a CSP that forbids scripts and outside requests, so even a
templating mistake can't run code. Only finished, unrestricted meetings are ever shown:
anything else is a 404, the same as an unknown id.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from urllib.parse import quote, urlencode

from aiohttp import web

from meetbot.config import ConfigError, Settings
from meetbot.config.schedule_files import Schedules, load_schedules
from meetbot.domain.model import ItemKind
from meetbot.engine import Engine
from meetbot.minutes.render import render_view
from meetbot.minutes.view import MeetingLinks, MinutesView
from meetbot.publish.archive import (
    Link,
    OpenGraph,
    Page,
    Section,
    describe,
    iso,
    load_view,
    meeting_row,
    render_log_page,
    render_minutes_page,
    render_page,
    when,
)
from meetbot.schedule import occurrences
from meetbot.schedule_ics import calendar
from meetbot.storage.database import Database
from meetbot.storage.listing import MeetingSummary
from meetbot.storage.meetings import StorageUnavailableError
from meetbot.storage.search import SearchFilters, SearchHit, highlight

log = logging.getLogger(__name__)

PAGE_SIZE = 50
SEARCH_PAGE_SIZE = 20
LOG_PAGE_LINES = 1000  # a log page holds the lines numbered ((page-1)*N, page*N]
MAX_PAGE = 100_000
MAX_QUERY = 500

# Prometheus text exposition format 0.0.4.
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

FORMATS = {
    ".html": "text/html",
    ".log.html": "text/html",
    ".txt": "text/plain",
    ".log.txt": "text/plain",
    ".md": "text/markdown",
    ".json": "application/json",
}

SITE: web.AppKey[Site] = web.AppKey("site")


def meeting_href(meeting_id: int, extension: str = ".html") -> str:
    return f"/meetings/{meeting_id}{extension}"


def log_page_of(seq: int) -> int:
    return (seq - 1) // LOG_PAGE_LINES + 1


def hit_href(meeting_id: int, seq: int) -> str:
    page = log_page_of(seq)
    query = f"?page={page}" if page > 1 else ""
    return f"{meeting_href(meeting_id, '.log.html')}{query}#l-{seq}"


def team_href(team: str) -> str:
    return "/teams/" + quote(team, safe="")


def person_href(key: str) -> str:
    return "/people/" + quote(key, safe="")


def room_href(network: str, room: str) -> str:
    return f"/rooms/{quote(network, safe='')}/{quote(room, safe='')}"


def _int_param(request: web.Request, name: str, default: int = 1) -> int:
    raw = request.query.get(name, "")
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise BadRequest(f"{name} must be a whole number from 1 to {MAX_PAGE}")
    return int(raw)


class BadRequest(Exception):
    """A query parameter that makes no sense: a 400 with this message."""


def _pager(base: str, params: dict[str, str], page: int, total: int, size: int) -> tuple[Link, ...]:
    pages = max(1, -(-total // size))
    if pages <= 1:
        return ()

    def at(number: int) -> str:
        return base + "?" + urlencode({**params, "page": str(number)})

    links: list[Link] = []
    if page > 1:
        links.append(
            Link("← Newer" if "q" not in params else "← Previous", at(page - 1), rel="prev", id="prev")
        )
    links.append(Link(f"Page {page} of {pages}", None))
    if page < pages:
        links.append(Link("Older →" if "q" not in params else "Next →", at(page + 1), rel="next", id="next"))
    return tuple(links)


def _rows(summaries: tuple[MeetingSummary, ...] | list[MeetingSummary]) -> tuple[Any, ...]:
    return tuple(meeting_row(s, meeting_href(s.id)) for s in summaries)


UPCOMING_DAYS = 14


def _load_schedules(settings: Settings) -> Schedules:
    # A broken schedule file must not take the archive down: the bot reports it at start.
    try:
        return load_schedules(settings)
    except ConfigError as error:
        log.warning("schedules not loaded for the web archive: %s", error)
        return Schedules()


class BotStatus(Protocol):
    """The bot process this site runs in (absent under `meetbot serve`)."""

    def health(self) -> Mapping[str, object]: ...

    def metrics_text(self) -> bytes: ...


@dataclass
class Site:
    settings: Settings
    database: Database
    engine: Engine
    bot: BotStatus | None = None

    def __post_init__(self) -> None:
        self.schedules = _load_schedules(self.settings)

    # -- plumbing

    def render(self, page: Page, status: int = 200) -> web.Response:
        body = render_page(page, templates_dir=self.settings.templates_dir)
        return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")

    def home_link(self) -> Link:
        return Link("Home", "/")

    def message(self, request: web.Request, title: str, message: str, status: int) -> web.Response:
        if request.path.startswith("/api/"):
            return web.json_response({"error": message, "status": status}, status=status)
        page = Page(
            title=title,
            heading=title,
            og=OpenGraph(title, message),
            nav=(self.home_link(), Link("Search", "/search")),
            body="archive_body_message.html",
            extra={"message": message, "link": None},
        )
        return self.render(page, status)

    # -- pages

    async def home(self, request: web.Request) -> web.Response:
        listing = self.database.listing
        recent = await listing.meetings(limit=25)
        teams = await listing.teams()
        now = datetime.now(UTC)
        upcoming = occurrences(self.schedules.series, now, now + timedelta(days=UPCOMING_DAYS))[:20]
        upcoming_links = tuple(
            Link(
                f"{when(o.start)}: {o.team}",
                team_href(o.team),
                detail=", ".join([str(place) for place in o.places] + ([o.project] if o.project else [])),
            )
            for o in upcoming
        )
        schedule_section = (
            (Section("Upcoming meetings", links=upcoming_links, id="upcoming"),)
            if self.schedules.series
            else ()
        )
        page = Page(
            title="Meeting archive",
            heading="Meeting archive",
            og=OpenGraph("Meeting archive", f"Minutes and logs of {len(teams)} teams."),
            nav=(Link("Home", None), Link("Search", "/search"), Link("Action items", "/actions")),
            form=True,
            search_href="/search",
            sections=(
                *schedule_section,
                Section("Recent meetings", _rows(recent.rows), id="recent"),
                Section(
                    "Teams",
                    links=tuple(
                        Link(
                            t.team,
                            team_href(t.team),
                            detail=f"{t.meetings} meetings, last {when(t.last_started_at)}",
                        )
                        for t in teams
                    ),
                    id="teams",
                ),
            ),
        )
        return self.render(page)

    async def team(self, request: web.Request) -> web.Response:
        team = request.match_info["team"]
        number = _int_param(request, "page")
        listing = await self.database.listing.meetings(
            team=team, offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE
        )
        if listing.total == 0:
            raise web.HTTPNotFound()
        page = Page(
            title=f"{team} meetings",
            heading=f"{team} meetings",
            og=OpenGraph(f"{team} meetings", f"All {listing.total} meetings of {team}, newest first."),
            nav=(
                self.home_link(),
                Link(team, None),
                Link("Latest", team_href(team) + "/latest", id="latest"),
            ),
            form=True,
            search_href="/search",
            search_team=team,
            intro=f"{listing.total} meetings, newest first.",
            sections=(Section("Meetings", _rows(listing.rows), id="meetings"),),
            pager=_pager(team_href(team), {}, number, listing.total, PAGE_SIZE),
        )
        return self.render(page)

    async def team_latest(self, request: web.Request) -> web.Response:
        listing = await self.database.listing.meetings(team=request.match_info["team"], limit=1)
        if not listing.rows:
            raise web.HTTPNotFound()
        raise web.HTTPFound(meeting_href(listing.rows[0].id))

    async def room(self, request: web.Request) -> web.Response:
        network, room = request.match_info["network"], request.match_info["room"]
        number = _int_param(request, "page")
        listing = await self.database.listing.meetings(
            network=network, room=room, offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE
        )
        if listing.total == 0:
            raise web.HTTPNotFound()
        title = f"Meetings in {room} ({network})"
        page = Page(
            title=title,
            heading=title,
            og=OpenGraph(title, f"{listing.total} meetings held in {room}."),
            nav=(self.home_link(), Link(room, None)),
            sections=(Section("Meetings", _rows(listing.rows), id="meetings"),),
            pager=_pager(room_href(network, room), {}, number, listing.total, PAGE_SIZE),
        )
        return self.render(page)

    async def _view(self, meeting_id: int) -> tuple[MeetingSummary, MinutesView]:
        summary = await self.database.listing.meeting(meeting_id)
        if summary is None:
            raise web.HTTPNotFound()
        # stem = the id: the minutes' relative links ("42.log.html#l-7") land on our routes.
        view = await load_view(
            self.database, self.engine, self.settings, meeting_id, MeetingLinks(str(meeting_id))
        )
        if view is None:
            raise web.HTTPNotFound()
        return summary, view

    async def meeting_redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(meeting_href(int(request.match_info["id"])))

    async def meeting(self, request: web.Request) -> web.Response:
        meeting_id, extension = int(request.match_info["id"]), request.match_info["ext"]
        if extension not in FORMATS:
            raise web.HTTPNotFound()
        summary, view = await self._view(meeting_id)
        templates = self.settings.templates_dir
        if extension == ".html":
            return await self._minutes_page(summary, view)
        if extension == ".log.html":
            return await self._log_page(request, summary, view)
        # Only the format asked for: rendering all six for one was most of a long meeting's cost.
        rendered = await asyncio.to_thread(
            render_view, view, templates_dir=templates, extensions=(extension,)
        )
        text = rendered[extension]
        return web.Response(text=text, content_type=FORMATS[extension], charset="utf-8")

    async def _nav(self, summary: MeetingSummary) -> tuple[Link, ...]:
        previous, following = await self.database.listing.neighbours(summary.id)
        nav = [
            self.home_link(),
            Link(f"{summary.team} meetings", team_href(summary.team)),
            Link("Search", "/search"),
        ]
        if previous is not None:
            nav.append(
                Link(f"← Previous: {when(previous.started_at)}", meeting_href(previous.id), "prev", id="prev")
            )
        if following is not None:
            nav.append(
                Link(f"Next: {when(following.started_at)} →", meeting_href(following.id), "next", id="next")
            )
        return tuple(nav)

    def _paginated(self, view: MinutesView) -> bool:
        return bool(view.log) and view.log[-1].seq > LOG_PAGE_LINES

    async def _minutes_page(self, summary: MeetingSummary, view: MinutesView) -> web.Response:
        if self._paginated(view):
            # Items link into the log by anchor; a huge log is paginated, so send them to the
            # single page that holds every line.
            view = replace(view, log_href=f"{summary.id}.log.html?page=all")
        page = Page(
            title=view.title,
            og=OpenGraph(view.title, describe(view), kind="article"),
            nav=await self._nav(summary),
        )
        body = await asyncio.to_thread(
            render_minutes_page, view, page, templates_dir=self.settings.templates_dir
        )
        return web.Response(text=body, content_type="text/html", charset="utf-8")

    async def _log_page(
        self, request: web.Request, summary: MeetingSummary, view: MinutesView
    ) -> web.Response:
        pager: tuple[Link, ...] = ()
        if not self._paginated(view) and request.query.get("page", "1") not in ("1", "all"):
            raise web.HTTPNotFound()
        if self._paginated(view) and request.query.get("page") != "all":
            number = _int_param(request, "page")
            last = log_page_of(view.log[-1].seq)
            if number > last:
                raise web.HTTPNotFound()
            low, high = (number - 1) * LOG_PAGE_LINES, number * LOG_PAGE_LINES
            view = replace(view, log=tuple(line for line in view.log if low < line.seq <= high))
            base = meeting_href(summary.id, ".log.html")
            links = []
            if number > 1:
                links.append(Link("← Earlier lines", f"{base}?page={number - 1}", "prev", id="log-prev"))
            links.append(Link(f"Lines page {number} of {last}", None))
            if number < last:
                links.append(Link("Later lines →", f"{base}?page={number + 1}", "next", id="log-next"))
            links.append(Link("All lines", f"{base}?page=all"))
            pager = tuple(links)
        page = Page(
            title=f"{view.title} (log)",
            og=OpenGraph(f"{view.title} (log)", describe(view), kind="article"),
            nav=await self._nav(summary),
            pager=pager,
        )
        body = await asyncio.to_thread(render_log_page, view, page, templates_dir=self.settings.templates_dir)
        return web.Response(text=body, content_type="text/html", charset="utf-8")

    async def person(self, request: web.Request) -> web.Response:
        key = request.match_info["key"]
        nick = await self.database.listing.nick_of(key)
        actions = [a for a in await self.database.teams.open_actions() if any(o.key == key for o in a.owners)]
        if nick is None and not actions:
            raise web.HTTPNotFound()
        if nick is None:
            nick = next(o.nick for a in actions for o in a.owners if o.key == key)
        attended = await self.database.listing.attended(key)
        now = datetime.now(UTC)
        page = Page(
            title=f"{nick}: actions and meetings",
            heading=nick,
            og=OpenGraph(nick, f"{len(actions)} open action items; {len(attended)} meetings attended."),
            nav=(self.home_link(), Link("Action items", "/actions")),
            body="archive_body_person.html",
            extra={
                "actions": [
                    {
                        "id": a.id,
                        "text": a.text,
                        "team": a.team,
                        "age": f"{(now - a.created_at).days} days",
                        "href": meeting_href(a.meeting_id) + f"#l-{a.line_seq}",
                        "meeting": f"meeting {a.meeting_id}",
                    }
                    for a in actions
                ],
                "meetings": _rows(attended),
            },
        )
        return self.render(page)

    async def actions(self, request: web.Request) -> web.Response:
        """Open action items by team and by person, oldest first, with their age."""
        actions = sorted(await self.database.teams.open_actions(), key=lambda a: a.created_at)
        now = datetime.now(UTC)
        by_team: dict[str, list[Link]] = {}
        by_person: dict[str, tuple[str, int]] = {}
        for action in actions:
            owners = ", ".join(o.nick for o in action.owners) or "unassigned"
            by_team.setdefault(action.team, []).append(
                Link(
                    f"#{action.id} {action.text}",
                    meeting_href(action.meeting_id),
                    detail=f"{owners}, {(now - action.created_at).days} days old",
                )
            )
            for owner in action.owners:
                nick, count = by_person.get(owner.key, (owner.nick, 0))
                by_person[owner.key] = (nick, count + 1)
        sections = [Section(f"Team {team}", links=tuple(links)) for team, links in sorted(by_team.items())]
        sections.append(
            Section(
                "By person",
                links=tuple(
                    Link(nick, person_href(key), detail=f"{count} open")
                    for key, (nick, count) in sorted(by_person.items(), key=lambda kv: kv[1][0].casefold())
                ),
                id="people",
            )
        )
        page = Page(
            title="Open action items",
            heading="Open action items",
            og=OpenGraph("Open action items", f"{len(actions)} open action items."),
            nav=(self.home_link(), Link("Action items", None)),
            sections=tuple(sections),
        )
        return self.render(page)

    # -- search

    def _filters(self, request: web.Request) -> tuple[str, SearchFilters, dict[str, str]]:
        query = request.query
        q = query.get("q", "")[:MAX_QUERY]
        kind = query.get("kind") or None
        if kind is not None and kind not in {k.value for k in ItemKind}:
            raise BadRequest("kind must be one of " + ", ".join(k.value for k in ItemKind))
        try:
            since = query.get("since") or None
            until = query.get("until") or None
            since_at = datetime.combine(date.fromisoformat(since), time(), UTC) if since else None
            # `until` is a day, included: the search stops at the next midnight.
            until_at = (
                datetime.combine(date.fromisoformat(until), time(), UTC) + timedelta(days=1)
                if until
                else None
            )
        except ValueError:
            raise BadRequest("since and until are dates: YYYY-MM-DD") from None
        filters = SearchFilters(
            team=query.get("team") or None,
            network=query.get("network") or None,
            room=query.get("room") or None,
            person=query.get("person") or None,
            since=since_at,
            until=until_at,
            item_kind=kind,
        )
        echo = {
            name: query.get(name, "")[:MAX_QUERY]
            for name in ("q", "team", "network", "room", "person", "since", "until", "kind")
        }
        return q, filters, echo

    async def _search(self, request: web.Request) -> tuple[Any, dict[str, str], int]:
        q, filters, echo = self._filters(request)
        number = _int_param(request, "page")
        results = await self.database.search.search(
            q, filters, offset=(number - 1) * SEARCH_PAGE_SIZE, limit=SEARCH_PAGE_SIZE
        )
        return results, echo, number

    def _hit_title(self, hit: SearchHit) -> str:
        title = f"{hit.room}: {hit.meeting_title}" if hit.meeting_title else f"{hit.room} Meeting"
        return f"{title} ({when(hit.meeting_started_at)})"

    async def search(self, request: web.Request) -> web.Response:
        try:
            results, echo, number = await self._search(request)
        except BadRequest as error:
            return self._search_page(
                echo={"q": request.query.get("q", "")[:MAX_QUERY]}, error=str(error), status=400
            )
        hits = [
            {
                "href": hit_href(hit.meeting_id, hit.seq),
                "meeting": self._hit_title(hit),
                "at": iso(hit.at),
                "when": when(hit.at),
                "nick": hit.nick,
                "item_kind": hit.item_kind,
                "fragments": highlight(hit.text, results.words),
            }
            for hit in results.hits
        ]
        params = {k: v for k, v in echo.items() if v}
        pager = _pager("/search", params, number, results.total, SEARCH_PAGE_SIZE)
        return self._search_page(echo=echo, hits=hits, total=results.total, pager=pager)

    def _search_page(
        self,
        *,
        echo: dict[str, str],
        hits: list[dict[str, Any]] | None = None,
        total: int = 0,
        pager: tuple[Link, ...] = (),
        error: str | None = None,
        status: int = 200,
    ) -> web.Response:
        blank = dict.fromkeys(("q", "team", "network", "room", "person", "since", "until", "kind"), "")
        title = f"Search: {echo['q']}" if echo.get("q") else "Search"
        page = Page(
            title=title,
            heading="Search the meetings",
            og=OpenGraph("Search the meetings", "Full-text search across every meeting's log."),
            nav=(self.home_link(), Link("Search", None)),
            body="archive_body_search.html",
            form=True,
            search_href="/search",
            pager=pager,
            extra={
                "query": {**blank, **echo},
                "kinds": [k.value for k in ItemKind],
                "hits": hits or [],
                "total": total,
                "error": error,
            },
        )
        return self.render(page, status)

    # -- JSON API

    def _absolute(self, request: web.Request, path: str) -> str:
        return str(request.url.origin()) + path

    async def api_search(self, request: web.Request) -> web.Response:
        try:
            results, _echo, number = await self._search(request)
        except BadRequest as error:
            return web.json_response({"error": str(error), "status": 400}, status=400)
        hits = [
            {
                "meeting": {
                    "id": hit.meeting_id,
                    "team": hit.team,
                    "network": hit.network,
                    "room": hit.room,
                    "title": hit.meeting_title,
                    "started_at": iso(hit.meeting_started_at),
                    "url": self._absolute(request, meeting_href(hit.meeting_id)),
                },
                "time": iso(hit.at),
                "speaker": hit.nick,
                "speaker_key": hit.sender_key,
                "text": hit.text,
                "kind": hit.kind,
                "item_kind": hit.item_kind,
                "line": hit.seq,
                "url": self._absolute(request, hit_href(hit.meeting_id, hit.seq)),
                "highlight": [{"text": f.text, "match": f.match} for f in highlight(hit.text, results.words)],
                "rank": hit.rank,
            }
            for hit in results.hits
        ]
        return web.json_response(
            {
                "query": list(results.words),
                "total": results.total,
                "page": number,
                "per_page": results.limit,
                "hits": hits,
            },
            dumps=_dumps,
        )

    def _meeting_json(self, request: web.Request, summary: MeetingSummary) -> dict[str, Any]:
        return {
            "id": summary.id,
            "team": summary.team,
            "network": summary.network,
            "room": summary.room,
            "title": summary.title,
            "started_at": iso(summary.started_at),
            "ended_at": iso(summary.ended_at) if summary.ended_at else None,
            "started_by": summary.owner_nick,
            "lines": summary.lines,
            "url": self._absolute(request, meeting_href(summary.id)),
            "log_url": self._absolute(request, meeting_href(summary.id, ".log.html")),
            "json_url": self._absolute(request, f"/api/meetings/{summary.id}"),
        }

    async def api_meetings(self, request: web.Request) -> web.Response:
        number = _int_param(request, "page")
        listing = await self.database.listing.meetings(
            team=request.query.get("team") or None,
            network=request.query.get("network") or None,
            room=request.query.get("room") or None,
            offset=(number - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
        )
        return web.json_response(
            {
                "total": listing.total,
                "page": number,
                "per_page": PAGE_SIZE,
                "meetings": [self._meeting_json(request, s) for s in listing.rows],
            },
            dumps=_dumps,
        )

    async def api_meeting(self, request: web.Request) -> web.Response:
        _summary, view = await self._view(int(request.match_info["id"]))
        rendered = await asyncio.to_thread(
            render_view, view, templates_dir=self.settings.templates_dir, extensions=(".json",)
        )
        text = rendered[".json"]
        return web.Response(text=text, content_type="application/json", charset="utf-8")

    async def api_items(self, request: web.Request) -> web.Response:
        number = _int_param(request, "page")
        kind = request.query.get("kind") or None
        if kind is not None and kind not in {k.value for k in ItemKind}:
            raise BadRequest("kind must be one of " + ", ".join(k.value for k in ItemKind))
        meeting = request.query.get("meeting") or None
        if meeting is not None and not meeting.isdigit():
            raise BadRequest("meeting must be a meeting id")
        items = await self.database.listing.items(
            meeting_id=int(meeting) if meeting else None,
            team=request.query.get("team") or None,
            kind=kind,
            offset=(number - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
        )
        return web.json_response(
            {
                "total": items.total,
                "page": number,
                "per_page": PAGE_SIZE,
                "items": [
                    {
                        "meeting_id": i.meeting_id,
                        "team": i.team,
                        "room": i.room,
                        "kind": i.kind,
                        "text": i.text,
                        "nick": i.nick,
                        "time": iso(i.at),
                        "line": i.line_seq,
                        "url": self._absolute(request, hit_href(i.meeting_id, i.line_seq)),
                    }
                    for i in items.rows
                ],
            },
            dumps=_dumps,
        )

    async def api_teams(self, request: web.Request) -> web.Response:
        teams = await self.database.listing.teams()
        return web.json_response(
            {
                "teams": [
                    {
                        "team": t.team,
                        "meetings": t.meetings,
                        "last_started_at": iso(t.last_started_at),
                        "url": self._absolute(request, team_href(t.team)),
                    }
                    for t in teams
                ]
            },
            dumps=_dumps,
        )

    async def ics(self, request: web.Request) -> web.Response:
        """Calendars from the schedules: every series, or one team's (`/teams/<team>.ics`)."""
        team = request.match_info.get("team")
        series = [s for s in self.schedules.series if team is None or s.team == team]
        if not series:
            raise web.HTTPNotFound()
        now = datetime.now(UTC)
        cal = calendar(series, team or "meetings", now.date(), now)
        return web.Response(body=cal.to_ical(), content_type="text/calendar", charset="utf-8")

    async def healthz(self, request: web.Request) -> web.Response:
        """For load balancers, container health checks and standby monitoring: 200 when the
        database answers, 503 (still naming the role) when it does not."""
        body: dict[str, object] = dict(self.bot.health()) if self.bot is not None else {}
        try:
            await self.database.listing.ping()
        except StorageUnavailableError as error:
            body |= {"status": "degraded", "database": "unavailable", "error": str(error)}
            return web.json_response(body, status=503)
        return web.json_response({"status": "ok", **body, "database": "ok"})

    async def metrics(self, request: web.Request) -> web.Response:
        if self.bot is None:
            raise web.HTTPNotFound()  # `meetbot serve` alone has no bot to count
        return web.Response(body=self.bot.metrics_text(), headers={"Content-Type": METRICS_CONTENT_TYPE})

    # -- the application

    def app(self) -> web.Application:
        app = web.Application(middlewares=[_headers, self._errors])
        app[SITE] = self
        get = app.router.add_get
        get("/", self.home)
        get("/healthz", self.healthz)
        get("/metrics", self.metrics)
        get("/search", self.search)
        get("/actions", self.actions)
        get("/teams/{team}", self.team)
        get("/teams/{team}/latest", self.team_latest)
        get("/schedules.ics", self.ics)
        get("/teams/{team}/schedule.ics", self.ics)
        get("/rooms/{network}/{room}", self.room)
        get(r"/meetings/{id:\d{1,12}}", self.meeting_redirect)
        get(r"/meetings/{id:\d{1,12}}{ext:\.[a-z.]{1,12}}", self.meeting)
        get("/people/{key}", self.person)
        get("/api/search", self.api_search)
        get("/api/meetings", self.api_meetings)
        get(r"/api/meetings/{id:\d{1,12}}", self.api_meeting)
        get("/api/items", self.api_items)
        get("/api/teams", self.api_teams)
        return app

    @web.middleware
    async def _errors(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return self.message(request, "Not found", "There is no such page in this archive.", 404)
        except web.HTTPMethodNotAllowed:
            return self.message(request, "Not allowed", "This archive is read-only.", 405)
        except BadRequest as error:
            return self.message(request, "Bad request", str(error), 400)
        except StorageUnavailableError:
            log.warning("database unavailable while serving %s", request.path)
            return self.message(request, "Unavailable", "The database is unavailable; try again soon.", 503)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _secure(headers: Any) -> None:
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")


@web.middleware
async def _headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as error:  # redirects
        _secure(error.headers)
        raise
    _secure(response.headers)
    return response


def build_site(
    settings: Settings, database: Database, engine: Engine, bot: BotStatus | None = None
) -> web.Application:
    return Site(settings, database, engine, bot).app()
