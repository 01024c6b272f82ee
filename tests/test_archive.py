"""The static archive written beside the MeetBot-layout files: indexes per team, year, room
and overall, a stable latest URL, previous/next on the minutes, every link resolving."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from sqlalchemy import event

import meetbot.publish.archive as archive_module
from meetbot.app import App, build_app
from meetbot.config import Settings
from meetbot.domain.model import Line, Meeting
from meetbot.domain.team import ActionStatus, Owner, TeamSnapshot
from meetbot.engine import Engine
from meetbot.events import LineKind, RoomRef
from meetbot.minutes.view import EXTENSIONS
from meetbot.publish.archive import Link, Listed, Prepared, StaticArchive
from meetbot.publish.files import FileSets, PublishedFile, Publisher
from meetbot.replay import replay_log
from meetbot.storage.database import Database
from meetbot.storage.listing import ArchiveLists, ListingStore, MeetingSummary, Reader
from meetbot.storage.teams import SnapshotQuery
from tests.test_e2e import audit_html
from tests.web.conftest import INFRA_2, Seeded, replay, seed


def links(page: Path) -> list[str]:
    return re.findall(r'href="([^"]*)"', page.read_text(encoding="utf-8"))


def resolve(page: Path, href: str) -> Path:
    return (page.parent / unquote(urlsplit(href).path)).resolve()


def all_pages(root: Path) -> list[Path]:
    return sorted(root.rglob("*.html"))


async def test_archive_pages_exist_and_every_link_resolves(database_url: str, tmp_path: Path) -> None:
    seeded = await seed(database_url, tmp_path)
    root = seeded.publish
    for page in (
        "index.html",
        "infra/index.html",
        "infra/2026/index.html",
        "infra/latest.html",
        "docs/index.html",
        "_rooms/libera/infra.html",
        "_rooms/libera/docs.html",
    ):
        assert (root / page).is_file(), page
    for page in all_pages(root):
        document = page.read_text(encoding="utf-8")
        assert audit_html(document).dangers == [], page
        for href in links(page):
            if href.startswith(("http:", "https:", "mailto:", "irc:", "ftp:", "ssh:")):
                continue
            parts = urlsplit(href)
            target = resolve(page, href) if parts.path else page.resolve()
            assert target.is_file(), (page, href)
            assert target.is_relative_to(root.resolve())
            if parts.fragment:
                # Log anchors and the like must exist on the page they point into.
                assert f'id="{parts.fragment}"' in target.read_text(encoding="utf-8"), (page, href)


async def test_team_index_is_newest_first_and_hides_restricted_meetings(
    database_url: str, tmp_path: Path
) -> None:
    seeded = await seed(database_url, tmp_path)
    team = seeded.publish / "infra" / "index.html"
    minutes = [h for h in links(team) if h.endswith(".html") and "infra." in h]
    assert minutes == ["2026/infra.2026-11-09-16.00.html", "2026/infra.2026-11-02-16.00.html"]
    # The #restrictlogs meeting of the 12th exists (owner-only) but is listed nowhere.
    assert (seeded.publish / "infra/2026/infra.2026-11-12-10.00.html").exists()
    for page in all_pages(seeded.publish):
        if "2026-11-12" in page.name:
            continue  # its own files
        assert "2026-11-12" not in page.read_text(encoding="utf-8"), page
    latest = (seeded.publish / "infra" / "latest.html").read_text(encoding="utf-8")
    assert 'http-equiv="refresh" content="0; url=2026/infra.2026-11-09-16.00.html"' in latest


async def test_minutes_get_previous_next_and_opengraph(database_url: str, tmp_path: Path) -> None:
    seeded = await seed(database_url, tmp_path)
    year = seeded.publish / "infra" / "2026"
    first = (year / "infra.2026-11-02-16.00.html").read_text(encoding="utf-8")
    second = (year / "infra.2026-11-09-16.00.html").read_text(encoding="utf-8")
    assert 'href="infra.2026-11-09-16.00.html" rel="next"' in first
    assert 'rel="prev"' not in first
    assert 'href="infra.2026-11-02-16.00.html" rel="prev"' in second
    assert 'rel="next"' not in second
    assert '<meta property="og:description" content="Meeting in #infra started by alice' in first
    assert "Zanzibar migration plan" in first
    # Minutes and log link both ways, the log pages carry the same navigation.
    assert 'href="infra.2026-11-02-16.00.log.html#l-' in first
    log = (year / "infra.2026-11-02-16.00.log.html").read_text(encoding="utf-8")
    assert 'href="infra.2026-11-02-16.00.html"' in log
    assert 'rel="next"' in log


async def test_a_new_meeting_updates_the_archive_incrementally(database_url: str, tmp_path: Path) -> None:
    seeded: Seeded = await seed(database_url, tmp_path)
    root = seeded.publish
    docs_index = root / "docs" / "index.html"
    docs_before = docs_index.stat().st_mtime_ns
    await replay(seeded, INFRA_2, day=date(2027, 1, 4), channel="#infra", tmp=tmp_path)
    newest = "2027/infra.2027-01-04-16.00.html"
    assert links(root / "infra" / "index.html")[3:].count(newest) == 1
    assert (root / "infra" / "2027" / "index.html").is_file()
    assert f'url={newest}"' in (root / "infra" / "latest.html").read_text(encoding="utf-8")
    # The previous newest now has a "next" link across the year boundary.
    previous = (root / "infra/2026/infra.2026-11-09-16.00.html").read_text(encoding="utf-8")
    assert 'href="../2027/infra.2027-01-04-16.00.html" rel="next"' in previous
    # Another team's pages were left alone.
    assert docs_index.stat().st_mtime_ns == docs_before
    top = (root / "index.html").read_text(encoding="utf-8")
    assert top.index(newest.replace("2027/", "infra/2027/")) < top.index(
        "docs/2026/docs.2026-11-05-09.00.html"
    )


async def test_a_replay_into_memory_leaves_the_archive_alone(database_url: str, tmp_path: Path) -> None:
    seeded = await seed(database_url, tmp_path)
    index = seeded.publish / "infra" / "index.html"
    before = index.read_text(encoding="utf-8")
    log = tmp_path / "extra.log"
    log.write_text("\n".join(INFRA_2) + "\n", encoding="utf-8")
    # `meetbot replay` without --database: an in-memory database that knows one meeting.
    await replay_log(
        log,
        channel="#infra",
        network="libera",
        day=date(2027, 2, 1),
        settings=seeded.settings,
        publish_dir=seeded.publish,
    )
    assert (seeded.publish / "infra/2027/infra.2027-02-01-16.00.html").is_file()
    assert index.read_text(encoding="utf-8") == before


async def test_a_new_meetings_pages_are_written_once_with_their_navigation(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded = await seed(database_url, tmp_path)
    writes: list[tuple[str, str]] = []
    publish_many = Publisher.publish_many

    async def recording(self: Publisher, sets: FileSets, *, restricted: bool = False) -> list[PublishedFile]:
        writes.extend((str(basename), extension) for basename, files in sets for extension in files)
        return await publish_many(self, sets, restricted=restricted)

    monkeypatch.setattr(Publisher, "publish_many", recording)
    await replay(seeded, INFRA_2, day=date(2027, 1, 4), channel="#infra", tmp=tmp_path)
    new, previous = "infra/2027/infra.2027-01-04-16.00", "infra/2026/infra.2026-11-09-16.00"
    # Its six files once each (the minutes and log pages not again by the archive), the
    # neighbour's two pages once for its new "next" link.
    assert sorted(ext for base, ext in writes if base == new) == sorted(EXTENSIONS)
    assert sorted(ext for base, ext in writes if base == previous) == [".html", ".log.html"]
    root = seeded.publish
    minutes = (root / f"{new}.html").read_text(encoding="utf-8")
    log = (root / f"{new}.log.html").read_text(encoding="utf-8")
    for page in (minutes, log):
        assert '<nav class="crumbs">' in page
        assert 'href="../../index.html"' in page
        assert 'href="../2026/infra.2026-11-09-16.00.html" rel="prev" id="prev"' in page
        assert 'rel="next"' not in page
        assert '<meta property="og:type" content="article">' in page
    assert '<meta property="og:title" content="#infra: infra">' in minutes
    assert '<meta property="og:title" content="#infra: infra (log)">' in log
    assert minutes.count('<nav class="crumbs">') == 2  # above and below the minutes
    assert 'href="../2027/infra.2027-01-04-16.00.html" rel="next"' in (
        root / f"{previous}.log.html"
    ).read_text(encoding="utf-8")


async def test_a_restricted_meeting_keeps_plain_pages(database_url: str, tmp_path: Path) -> None:
    seeded = await seed(database_url, tmp_path)
    for extension in (".html", ".log.html"):
        page = (seeded.publish / f"infra/2026/infra.2026-11-12-10.00{extension}").read_text(encoding="utf-8")
        assert "<nav" not in page
        assert "og:" not in page


async def test_if_the_archive_look_up_fails_the_archive_writes_the_pages(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded = await seed(database_url, tmp_path)
    prepare = StaticArchive.prepare
    failures: list[int | None] = []

    async def flaky(self: StaticArchive, meeting: Meeting) -> Prepared:
        if not failures:
            failures.append(meeting.id)
            raise OSError("database away for a moment")
        return await prepare(self, meeting)

    monkeypatch.setattr(StaticArchive, "prepare", flaky)
    await replay(seeded, INFRA_2, day=date(2027, 1, 4), channel="#infra", tmp=tmp_path)
    assert failures
    page = (seeded.publish / "infra/2027/infra.2027-01-04-16.00.html").read_text(encoding="utf-8")
    assert 'href="../2026/infra.2026-11-09-16.00.html" rel="prev" id="prev"' in page


# -- a neighbour's pages again, from the pages rendered last ----------------------------------------


def _meeting_pages(root: Path, summary: MeetingSummary, archive: StaticArchive) -> dict[str, str]:
    base = root / str(archive.basename(summary))
    return {ext: Path(f"{base}{ext}").read_text(encoding="utf-8") for ext in (".html", ".log.html")}


async def _infra_meeting(archive: StaticArchive, day: str) -> MeetingSummary:
    rows = (await archive.database.listing.meetings(team="infra")).rows
    return next(row for row in rows if row.started_at.date().isoformat() == day)


def _count_loads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    loads: list[int] = []
    load = archive_module.load_meeting

    async def counting(database: Database, engine: Engine, meeting_id: int) -> Meeting | None:
        loads.append(meeting_id)
        return await load(database, engine, meeting_id)

    monkeypatch.setattr(archive_module, "load_meeting", counting)
    return loads


@contextlib.asynccontextmanager
async def _archive_of(
    seeded: Seeded, settings: Settings | None = None
) -> AsyncIterator[tuple[App, StaticArchive]]:
    """The app on the seeded archive (its own settings, or `settings`), and its archive."""
    app = await build_app(
        settings or seeded.settings, [], database_url=seeded.url, publish_dir=seeded.publish
    )
    try:
        archive = app.writer.archive
        assert archive is not None
        yield app, archive
    finally:
        await app.close()


async def test_a_neighbours_pages_from_the_cache_are_what_rendering_writes(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded = await seed(database_url, tmp_path)
    async with _archive_of(seeded) as (_app, archive):
        summary = await _infra_meeting(archive, "2026-11-09")
        await archive.write_meeting_pages(summary)  # rendered, and kept
        loads = _count_loads(monkeypatch)
        nav = (Link("All meetings", "../../index.html"), Link("Next <&>", "x.html", rel="next", id="next"))
        other = Listed(summary, None, None, nav)
        await archive.write_meeting_pages(summary, listed=other)
        assert loads == []  # not read and replayed again
        cached = _meeting_pages(seeded.publish, summary, archive)
        assert 'rel="next" id="next">Next &lt;&amp;&gt;</a>' in cached[".html"]
        archive.pages.drop(summary.id)
        await archive.write_meeting_pages(summary, listed=other)
        assert loads == [summary.id]
        assert _meeting_pages(seeded.publish, summary, archive) == cached


async def test_a_neighbours_pages_are_rendered_again_when_what_they_show_changed(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded = await seed(database_url, tmp_path)
    async with _archive_of(seeded) as (_app, archive):
        database = archive.database
        summary = await _infra_meeting(archive, "2026-11-09")
        await archive.write_meeting_pages(summary)
        loads = _count_loads(monkeypatch)
        # Another process (or a late edit) adds a line to the stored meeting.
        _count, last = await database.meetings.line_count(summary.id)
        assert last is not None
        late = Line(last + 1, summary.started_at, LineKind.SAY, "late", "libera:late", "a late remark")
        assert await database.meetings.append_line(summary.id, late)
        await archive.write_meeting_pages(summary)
        assert loads == [summary.id]
        assert "a late remark" in _meeting_pages(seeded.publish, summary, archive)[".log.html"]
        # The earlier meeting's action, shown among this one's previous actions, changes hands.
        (action,) = [a for a in await database.teams.open_actions("infra") if "runbook" in a.text]
        await database.teams.reassign_action(
            action.id, (Owner("libera:zed", "zed"),), Owner("libera:alice", "alice"), summary.started_at, None
        )
        await archive.write_meeting_pages(summary)
        assert loads == [summary.id, summary.id]
        assert "zed" in _meeting_pages(seeded.publish, summary, archive)[".html"]
        await archive.write_meeting_pages(summary)  # nothing changed since: from the cache
        assert loads == [summary.id, summary.id]


async def test_pages_from_an_admins_templates_are_not_kept(database_url: str, tmp_path: Path) -> None:
    seeded = await seed(database_url, tmp_path)
    templates = tmp_path / "templates"
    templates.mkdir()
    settings = seeded.settings.model_copy(update={"templates_dir": templates})
    async with _archive_of(seeded, settings) as (_app, archive):
        summary = await _infra_meeting(archive, "2026-11-09")
        await archive.write_meeting_pages(summary)
        assert summary.id not in archive.pages


async def test_the_lists_in_one_session_are_what_the_single_listings_give(
    database_url: str, tmp_path: Path
) -> None:
    seeded = await seed(database_url, tmp_path)
    database = await Database.open(seeded.url)
    try:
        listing = database.listing
        lists = await listing.archive_lists("infra", "libera", "#infra")
        assert lists.team == (await listing.meetings(team="infra", limit=1_000_000)).rows
        assert lists.room == (await listing.meetings(network="libera", room="#infra", limit=1_000_000)).rows
        assert lists.recent == (await listing.meetings(limit=20)).rows
        assert (lists.teams, lists.rooms) == (await listing.teams(), await listing.rooms())
        for summary in lists.team:
            assert await listing.placed(summary.id) == (summary, *await listing.neighbours(summary.id))
        restricted = (await database.meetings.meetings_in(RoomRef("libera", "#infra")))[-1]
        assert await listing.meeting(restricted.id) is None
        assert await listing.placed(restricted.id) is None
    finally:
        await database.close()


# -- the archive's update while the meeting's own files are written ----------------------------------

# A second infra meeting the same day, in another room, an hour later (the same minute would be
# the same file name).
OPS = [line.replace("16:00:", "17:00:") for line in INFRA_2]


async def test_a_meetings_lines_are_its_last_line_number_in_every_listing(
    database_url: str, tmp_path: Path
) -> None:
    """Lines are numbered from 1 and never renumbered, so the last number is how many lines a
    meeting has: one index probe, not a count of every line of every meeting listed at every
    publish. A number skipped (a duplicate event's line, not stored) still counts, and every
    listing says the same."""
    seeded = await seed(database_url, tmp_path)
    database = await Database.open(seeded.url)
    try:
        listing = database.listing
        summary = (await listing.meetings(team="infra")).rows[0]
        _count, last = await database.meetings.line_count(summary.id)
        assert last is not None
        assert summary.lines == last
        after_a_gap = Line(last + 2, summary.started_at, LineKind.SAY, "late", "libera:late", "after a gap")
        assert await database.meetings.append_line(summary.id, after_a_gap)
        lists = await listing.archive_lists("infra", "libera", "#infra")
        everywhere = [
            next(one for one in lists.team if one.id == summary.id),
            next(one for one in lists.room if one.id == summary.id),
            (await listing.meetings(team="infra")).rows[0],
            await listing.meeting(summary.id),
            (await listing.placed(summary.id) or (None,))[0],
        ]
        assert [one.lines if one else None for one in everywhere] == [last + 2] * len(everywhere)
        assert lists.stored[summary.id] == await listing.stored(summary.id)
        assert lists.stored[summary.id].last_seq == last + 2
        assert set(lists.stored) == {one.id for one in (*lists.team, *lists.room, *lists.recent)}
    finally:
        await database.close()


async def _published_2027(seeded: Seeded, tmp_path: Path) -> None:
    await replay(seeded, INFRA_2, day=date(2027, 1, 4), channel="#infra", tmp=tmp_path)
    await replay(seeded, OPS, day=date(2027, 1, 4), channel="#ops", tmp=tmp_path)


async def _meeting(archive: StaticArchive, summary: MeetingSummary) -> Meeting:
    meeting = await archive_module.load_meeting(archive.database, archive.engine, summary.id)
    assert meeting is not None
    return meeting


@contextlib.asynccontextmanager
async def _archive_of_2027(
    database_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Seeded, App, StaticArchive]]:
    """The seeded archive with 2027's meetings published, and the app on it with its archive."""
    seeded = await seed(database_url, tmp_path)
    await _published_2027(seeded, tmp_path)
    async with _archive_of(seeded) as (app, archive):
        yield seeded, app, archive


@contextlib.asynccontextmanager
async def _ops_of_2027(
    database_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Seeded, App, StaticArchive, MeetingSummary, Meeting]]:
    """_archive_of_2027, and its #ops meeting."""
    async with _archive_of_2027(database_url, tmp_path) as (seeded, app, archive):
        rows = (await archive.database.listing.meetings(team="infra")).rows
        (ops,) = [row for row in rows if row.room == "#ops"]
        yield seeded, app, archive, ops, await _meeting(archive, ops)


async def test_two_meetings_of_a_team_ending_at_once_both_end_up_in_its_indexes(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with _archive_of_2027(database_url, tmp_path) as (seeded, app, archive):
        rows = (await archive.database.listing.meetings(team="infra")).rows
        first, second = sorted((row for row in rows if row.started_at.year == 2027), key=lambda row: row.room)
        assert (first.room, second.room) == ("#infra", "#ops")
        meetings = [await _meeting(archive, summary) for summary in (first, second)]
        archive_lists = ListingStore.archive_lists
        overtaking: list[asyncio.Task[Sequence[PublishedFile]]] = []

        async def read_just_before_the_second_ended(
            self: ListingStore,
            team: str,
            network: str,
            room: str,
            *,
            recent: int = 20,
            reader: Reader | None = None,
        ) -> ArchiveLists:
            lists = await archive_lists(self, team, network, room, recent=recent, reader=reader)
            if overtaking:
                return lists
            # The first meeting's update read its lists a moment before the second meeting
            # ended; the second one's whole publish then gets every chance to overtake it.
            overtaking.append(asyncio.create_task(app.writer.write(meetings[1])))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(overtaking[0]), 0.5)

            def hide(rows: tuple[MeetingSummary, ...]) -> tuple[MeetingSummary, ...]:
                return tuple(row for row in rows if row.id != second.id)

            return replace(lists, team=hide(lists.team), room=hide(lists.room), recent=hide(lists.recent))

        monkeypatch.setattr(ListingStore, "archive_lists", read_just_before_the_second_ended)
        await app.writer.write(meetings[0])
        await overtaking[0]
        root = seeded.publish
        for index in ("index.html", "infra/index.html", "infra/2027/index.html", "_rooms/libera/ops.html"):
            page = (root / index).read_text(encoding="utf-8")
            assert "infra.2027-01-04-17.00.html" in page, index
        for index in ("index.html", "infra/index.html", "infra/2027/index.html"):
            assert "infra.2027-01-04-16.00.html" in (root / index).read_text(encoding="utf-8"), index
        # Each meeting's pages link to the other.
        assert 'href="infra.2027-01-04-17.00.html" rel="next"' in (
            root / "infra/2027/infra.2027-01-04-16.00.html"
        ).read_text(encoding="utf-8")
        assert 'href="infra.2027-01-04-16.00.html" rel="prev"' in (
            root / "infra/2027/infra.2027-01-04-17.00.html"
        ).read_text(encoding="utf-8")
        assert not archive._updating.locked()


async def test_if_the_archive_fails_while_the_files_are_written_the_minutes_are_still_published(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    seeded = await seed(database_url, tmp_path)
    team_index = seeded.publish / "infra" / "index.html"
    before = team_index.read_text(encoding="utf-8")
    neighbour = seeded.publish / "infra/2026/infra.2026-11-09-16.00.html"
    neighbour_before = neighbour.read_text(encoding="utf-8")

    async def unavailable(
        self: ListingStore, team: str, network: str, room: str, *, recent: int = 20
    ) -> None:
        raise OSError("database away for a moment")

    monkeypatch.setattr(ListingStore, "archive_lists", unavailable)
    with caplog.at_level(logging.ERROR, logger="meetbot.app"):
        await replay(seeded, INFRA_2, day=date(2027, 1, 4), channel="#infra", tmp=tmp_path)
    assert "updating the archive after meeting" in caplog.text
    for extension in EXTENSIONS:
        assert (seeded.publish / f"infra/2027/infra.2027-01-04-16.00{extension}").is_file()
    # Its own pages have their navigation; nothing else of the archive was written.
    page = (seeded.publish / "infra/2027/infra.2027-01-04-16.00.html").read_text(encoding="utf-8")
    assert 'href="../2026/infra.2026-11-09-16.00.html" rel="prev" id="prev"' in page
    assert team_index.read_text(encoding="utf-8") == before
    assert neighbour.read_text(encoding="utf-8") == neighbour_before
    assert not list(seeded.publish.rglob(".*.tmp"))


async def test_if_the_minutes_fail_to_be_written_nothing_of_the_archive_is(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with _ops_of_2027(database_url, tmp_path) as (seeded, app, archive, ops, meeting):
        # Gone from the archive, as if the meeting had never been published.
        for index in ("index.html", "infra/index.html", "infra/2027/index.html", "_rooms/libera/ops.html"):
            (seeded.publish / index).unlink()
        own = archive.basename(ops)
        batches: list[FileSets] = []  # what was written besides the meeting's own files
        publish_many = Publisher.publish_many
        writing = asyncio.Event()
        failure: list[str] = ["disk full"]

        async def failing(
            self: Publisher, sets: FileSets, *, restricted: bool = False
        ) -> list[PublishedFile]:
            # The meeting's files fail, or hang ("stuck"), with whatever else is in the set.
            if any(basename == own for basename, _files in sets):
                writing.set()
                if failure == ["stuck"]:
                    await asyncio.Event().wait()
                raise OSError(failure[0])
            batches.append(sets)
            return await publish_many(self, sets, restricted=restricted)

        monkeypatch.setattr(Publisher, "publish_many", failing)
        with pytest.raises(OSError, match="disk full"):
            await app.writer.write(meeting)
        assert batches == []
        assert not (seeded.publish / "infra" / "index.html").exists()
        assert not archive._updating.locked()
        # Cancelled while its files are written, it leaves the archive alone and free.
        writing.clear()
        failure[0] = "stuck"
        task = asyncio.create_task(app.writer.write(meeting))
        await writing.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert batches == []
        assert not archive._updating.locked()
        assert not (seeded.publish / "infra" / "index.html").exists()


async def test_if_an_archive_page_cant_be_written_the_minutes_still_are(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async with _ops_of_2027(database_url, tmp_path) as (seeded, app, archive, ops, meeting):
        root = seeded.publish
        own = root / f"{archive.basename(ops)}.html"
        own.unlink()
        top = (root / "index.html").read_text(encoding="utf-8")
        (root / "infra/index.html").unlink()
        (root / "infra/index.html").mkdir()  # a directory where the team's index goes
        with caplog.at_level(logging.ERROR, logger="meetbot.app"):
            published = await app.writer.write(meeting)
        assert "with the archive's pages failed" in caplog.text
        assert [file.extension for file in published] == list(EXTENSIONS)
        assert 'rel="prev" id="prev"' in own.read_text(encoding="utf-8")  # with its navigation
        assert (root / "index.html").read_text(encoding="utf-8") == top
        assert not list(root.rglob(".*.tmp"))


async def test_a_neighbours_place_in_the_teams_list_is_what_the_look_up_gives(
    database_url: str, tmp_path: Path
) -> None:
    async with _archive_of_2027(database_url, tmp_path) as (_seeded, _app, archive):
        listing = archive.database.listing
        lists = await listing.archive_lists("infra", "libera", "#infra")
        assert len(lists.team) >= 4
        for summary in lists.team:
            previous, following = await listing.neighbours(summary.id)
            place = archive._place_in(summary, lists.team)
            assert place is not None
            # The same meetings (the list's rows carry their line counts too), the same links.
            assert place.summary == summary
            assert (place.previous and place.previous.id) == (previous and previous.id)
            assert (place.following and place.following.id) == (following and following.id)
            assert place.nav == archive._nav(summary, previous, following)
        assert archive._place_in(replace(lists.team[0], id=-1), lists.team) is None


# -- a publish's reads in one connection, and pages left as they were --------------------------------


def _identities(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(page.relative_to(root)): (page.stat().st_ino, page.stat().st_mtime_ns) for page in all_pages(root)
    }


def _count_renders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The index pages rendered (by title), however the archive gets to them."""
    titles: list[str] = []
    render = archive_module.render_page

    def counting(page: archive_module.Page, *, templates_dir: Path | None = None) -> str:
        titles.append(page.title)
        return render(page, templates_dir=templates_dir)

    monkeypatch.setattr(archive_module, "render_page", counting)
    return titles


async def test_publishing_a_meeting_again_unchanged_renders_and_writes_no_archive_page(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded = await seed(database_url, tmp_path)
    async with _archive_of(seeded) as (app, archive):
        meeting = await _meeting(archive, await _infra_meeting(archive, "2026-11-09"))
        await app.writer.write(meeting)  # what this process has not rendered yet
        before = _identities(seeded.publish)
        renders = _count_renders(monkeypatch)
        loads = _count_loads(monkeypatch)
        await app.writer.write(meeting)
        assert renders == []
        assert loads == []  # the neighbour's pages from the cache, as they were
        # Not a file of the archive rewritten: the minutes, the neighbour's pages, the indexes.
        assert _identities(seeded.publish) == before


async def test_an_index_is_rendered_and_written_again_when_what_it_shows_changed(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded = await seed(database_url, tmp_path)
    root = seeded.publish
    async with _archive_of(seeded) as (app, archive):
        database = archive.database
        summary = await _infra_meeting(archive, "2026-11-09")
        await app.writer.write(await _meeting(archive, summary))
        before = _identities(root)
        team_index = (root / "infra/index.html").read_text(encoding="utf-8")
        assert f", {summary.lines} lines)" in team_index
        renders = _count_renders(monkeypatch)
        # A late line (an edit, a redaction) changes the line count every index shows.
        _count, last = await database.meetings.line_count(summary.id)
        assert last is not None
        late = Line(last + 1, summary.started_at, LineKind.SAY, "late", "libera:late", "a late remark")
        assert await database.meetings.append_line(summary.id, late)
        await app.writer.write(await _meeting(archive, summary))
        assert sorted(renders) == sorted(
            ["infra meetings", "infra meetings in 2026", "Meetings in #infra (libera)", "Meeting archive"]
        )
        assert f", {summary.lines + 1} lines)" in (root / "infra/index.html").read_text(encoding="utf-8")
        after = _identities(root)
        changed = {page for page in after if after[page] != before.get(page)}
        assert changed == {
            "index.html",
            "infra/index.html",
            "infra/2026/index.html",
            "_rooms/libera/infra.html",
            "infra/2026/infra.2026-11-09-16.00.html",  # its minutes: 1 line more said
            "infra/2026/infra.2026-11-09-16.00.log.html",
        }
        # Another team's meeting renamed into this team: its indexes are new, the old team's too.
        renders.clear()
        docs = await _infra_meeting_of(archive, "docs")
        renamed = await _meeting(archive, docs)
        renamed.name = "infra"
        await database.meetings.save_state(renamed, items=False)
        await app.writer.write(renamed)
        assert "infra meetings" in renders
        assert "infra.2026-11-05-09.00.html" in (root / "infra/index.html").read_text(encoding="utf-8")


async def _infra_meeting_of(archive: StaticArchive, team: str) -> MeetingSummary:
    (row,) = (await archive.database.listing.meetings(team=team)).rows
    return row


async def test_a_publish_reads_in_one_connection_what_the_single_look_ups_give(
    database_url: str, tmp_path: Path
) -> None:
    async with _archive_of_2027(database_url, tmp_path) as (_seeded, _app, archive):
        checkouts: list[object] = []

        def checkout(*args: object) -> None:
            checkouts.append(args)

        # On an SQLite file the reads go through the listing's synchronous engine (see
        # ListingStore.reader), elsewhere through the database's engine.
        listing = archive.database.listing
        sync_engine = listing._sqlite or archive.database.engine.sync_engine
        event.listen(sync_engine, "checkout", checkout)
        try:
            for summary in (await archive.database.listing.meetings(team="infra")).rows:
                meeting = await _meeting(archive, summary)
                checkouts.clear()
                prepared = await archive.prepare(meeting)
                assert len(checkouts) == 1
                listed = await archive.listed(summary.id)
                assert prepared.listed is not None
                assert listed is not None
                # The same places (the list's rows carry their line counts too), the same links.
                assert prepared.listed.summary == listed.summary
                for mine, theirs in (
                    (prepared.listed.previous, listed.previous),
                    (prepared.listed.following, listed.following),
                ):
                    assert (mine and mine.id) == (theirs and theirs.id)
                assert prepared.listed.nav == listed.nav
                assert prepared.team == await archive_module.team_snapshot(archive.database.teams, meeting)
                assert prepared.lists is not None
                lists = await archive.database.listing.archive_lists("infra", "libera", summary.room)
                assert prepared.lists == lists
                for one in prepared.lists.team:
                    assert prepared.lists.stored[one.id] == await archive.database.listing.stored(one.id)
        finally:
            event.remove(sync_engine, "checkout", checkout)


async def test_the_snapshots_in_one_connection_are_what_the_single_reads_give(
    database_url: str, tmp_path: Path
) -> None:
    async with _archive_of_2027(database_url, tmp_path) as (_seeded, _app, archive):
        teams = archive.database.teams
        rows = (await archive.database.listing.meetings(team="infra")).rows
        alice = Owner("libera:alice", "alice")
        # An agenda: one item covered by a meeting, one removed after another, one still open;
        # and an action done between two meetings.
        oldest = min(rows, key=lambda row: row.started_at)
        newest = max(rows, key=lambda row: row.started_at)
        covered = await teams.add_agenda_item("infra", "covered", alice.key, alice.nick, oldest.started_at)
        await teams.cover_agenda_item(covered.id, oldest.id, 3, oldest.started_at)
        removed = await teams.add_agenda_item("infra", "removed", alice.key, alice.nick, oldest.started_at)
        await teams.remove_agenda_item(removed.id, newest.started_at)
        await teams.add_agenda_item("infra", "open", alice.key, alice.nick, oldest.started_at)
        (action, *_) = await teams.open_actions("infra")
        owners = (Owner("libera:zed", "zed"), Owner("libera:amy", "amy"))  # shown in nick order
        await teams.reassign_action(action.id, owners, alice, oldest.started_at, None)
        await teams.change_action(action.id, ActionStatus.DONE, alice, newest.started_at, None)
        queries = [SnapshotQuery("infra", row.id, row.started_at, row.ended_at) for row in rows]
        queries.append(SnapshotQuery("docs", oldest.id, newest.started_at, None))  # another team, still open
        together = await teams.snapshots(queries)
        for query, snapshot in zip(queries, together, strict=True):
            assert snapshot == TeamSnapshot(
                agenda=await teams.agenda_for_minutes(query.team, query.meeting_id, query.ended_at),
                previous_actions=await teams.previous_actions(query.team, query.started_at),
                meeting_actions=await teams.actions_of_meeting(query.meeting_id),
            )
            assert snapshot == (await teams.snapshots([query]))[0]
        assert any(snapshot.agenda for snapshot in together)
        assert any(snapshot.previous_actions for snapshot in together)
        assert any(snapshot.meeting_actions for snapshot in together)
        shown = [a for snapshot in together for a in snapshot.meeting_actions if a.id == action.id]
        assert shown
        assert [owner.nick for owner in shown[0].owners] == ["amy", "zed"]


async def test_a_meetings_files_and_the_archives_pages_are_written_in_one_batch(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded = await seed(database_url, tmp_path)
    batches: list[list[str]] = []
    publish = Publisher._publish

    def recording(self: Publisher, sets: FileSets, mode: int) -> list[list[Path]]:
        batches.append([str(basename) for basename, _files in sets])
        return publish(self, sets, mode)

    monkeypatch.setattr(Publisher, "_publish", recording)
    await replay(seeded, INFRA_2, day=date(2027, 1, 4), channel="#infra", tmp=tmp_path)
    new = "infra/2027/infra.2027-01-04-16.00"
    (batch,) = [batch for batch in batches if new in batch]
    # The meeting's own files first, then its neighbour's pages, then the indexes: one round of
    # syncs, one trip to the writing threads.
    assert batch == [
        new,
        "infra/2026/infra.2026-11-09-16.00",
        "infra/index",
        "infra/2027/index",
        "infra/latest",
        "_rooms/libera/infra",
        "index",
    ]


async def test_the_lists_of_a_team_with_unnamed_meetings_are_what_the_single_listings_give(
    database_url: str, tmp_path: Path
) -> None:
    seeded = await seed(database_url, tmp_path)
    # Without a name the team is the room's ("ops"); a meeting named "ops" elsewhere joins it.
    unnamed = [line.replace("#startmeeting infra", "#startmeeting") for line in INFRA_2]
    await replay(seeded, unnamed, day=date(2027, 1, 4), channel="#ops", tmp=tmp_path)
    named = [line.replace("#startmeeting infra", "#startmeeting ops") for line in INFRA_2]
    await replay(seeded, named, day=date(2027, 1, 5), channel="#infra", tmp=tmp_path)
    async with _archive_of(seeded) as (_app, archive):
        listing = archive.database.listing
        lists = await listing.archive_lists("ops", "libera", "#ops")
        assert len(lists.team) == 2
        assert lists.team == (await listing.meetings(team="ops", limit=1_000_000)).rows
        assert lists.room == (await listing.meetings(network="libera", room="#ops", limit=1_000_000)).rows
        assert (lists.teams, lists.rooms) == (await listing.teams(), await listing.rooms())
        assert "ops" in [team.team for team in lists.teams]
