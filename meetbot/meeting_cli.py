"""`meetbot meeting list|show|edit|redact|regenerate`: fixing minutes after the meeting.

A fix is a line, like a platform edit or redaction: an EDIT or REDACT line naming the line it
changes, stored with who made it (`--by`, as `admin:<name>`) and when. The engine folds it into
the minutes exactly as it folds a Matrix edit, so regenerating or replaying gives the same
result. An edit keeps the original line in the database (`show` prints both); a redaction blanks
the stored text, as a platform redaction does. Then the meeting's files and the archive pages
around it are published again. Only ended meetings can be fixed: the bot numbers the lines of
an open meeting, and a line slipped in beside it would collide.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from meetbot.clock import SystemClock
from meetbot.domain.model import Line, normalize_name
from meetbot.events import LineKind

if TYPE_CHECKING:
    from meetbot.app import App
    from meetbot.config import Settings
    from meetbot.domain.model import Meeting

# register() runs for every `meetbot` command, `--help` included: the bot's wiring (the app,
# the database, the archive) is imported only once a `meeting` action runs.
# ruff: noqa: PLC0415

FIXABLE = (LineKind.SAY, LineKind.ACTION, LineKind.NOTICE)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    meeting = commands.add_parser(
        "meeting", help="stored meetings: list, show, edit, redact, rename, regenerate"
    )
    actions = meeting.add_subparsers(dest="meeting_command", required=True, metavar="ACTION")

    def common(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument(
            "-c", "--config", type=Path, default=None, help="config file (default ./meetbot.yaml)"
        )
        return sub

    listing = common(actions.add_parser("list", help="meetings, newest first (restricted and open ones too)"))
    listing.add_argument("--team")
    listing.add_argument("--limit", type=int, default=50)
    show = common(actions.add_parser("show", help="a meeting's lines, items and amendments"))
    show.add_argument("id", type=int)
    edit = common(actions.add_parser("edit", help="replace a line's text (the original is kept)"))
    edit.add_argument("id", type=int)
    edit.add_argument("line", type=int, help="the line number (the log's #l-N anchor)")
    edit.add_argument("text")
    edit.add_argument("--by", required=True, help="who makes the fix (recorded)")
    redact = common(actions.add_parser("redact", help="remove a line's text for good"))
    redact.add_argument("id", type=int)
    redact.add_argument("line", type=int)
    redact.add_argument("--by", required=True)
    rename = common(actions.add_parser("rename", help="give a meeting another name (old pages redirect)"))
    rename.add_argument("id", type=int)
    rename.add_argument("name")
    rename.add_argument("--by", required=True, help="who renames it (recorded)")
    regenerate = common(actions.add_parser("regenerate", help="publish a meeting's files again"))
    target = regenerate.add_mutually_exclusive_group(required=True)
    target.add_argument("id", type=int, nargs="?")
    target.add_argument("--all", action="store_true", help="every ended meeting, then the whole archive")


def run(args: argparse.Namespace) -> int:
    """Run `meetbot meeting ...`; ConfigError propagates to the caller, which reports it."""
    from meetbot.config import load_settings

    return asyncio.run(_run(args, load_settings(args.config)))


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    from meetbot.app import build_app

    # The bot's own wiring (engine, plugins, publisher, archive) without any network.
    app = await build_app(settings, [])
    try:
        command = args.meeting_command
        if command == "list":
            return await _list(app, args.team, args.limit)
        if command == "show":
            return await _show(app, args.id)
        if command in ("edit", "redact"):
            return await _amend(app, args)
        if command == "rename":
            return await _rename(app, args)
        return await _regenerate(app, args.id, every=args.all)
    finally:
        await app.close()


def _fail(message: str) -> int:
    print(f"meetbot meeting: {message}", file=sys.stderr)
    return 1


async def _rebuild(app: App, meeting_id: int) -> Meeting | None:
    header = await app.database.meetings.header(meeting_id)
    if header is None:
        return None
    return app.service.engine.rebuild(header, await app.database.meetings.lines(meeting_id))


async def _list(app: App, team: str | None, limit: int) -> int:
    from meetbot.publish.archive import when

    for summary, restricted in await app.database.admin.meetings(team=team, limit=limit):
        state = "open" if summary.ended_at is None else "ended"
        flags = " restricted" if restricted else ""
        title = summary.title or ""
        print(
            f"{summary.id}\t{when(summary.started_at)}\t{summary.team}\t{summary.room}\t{state}{flags}\t{title}"
        )
    return 0


async def _show(app: App, meeting_id: int) -> int:
    from meetbot.publish.archive import when

    meeting = await _rebuild(app, meeting_id)
    if meeting is None:
        return _fail(f"no meeting {meeting_id}")
    stored = {line.seq: line for line in await app.database.meetings.lines(meeting_id)}
    state = "open" if meeting.is_open else f"ended {when(meeting.ended_at)}" if meeting.ended_at else ""
    print(f"meeting {meeting.id}: {meeting.series_name} in {meeting.room.room} ({meeting.room.network})")
    print(
        f"started {when(meeting.started_at)} by {meeting.owner_nick}; {state}; title: {meeting.title or '-'}"
    )
    print("items:")
    for item in meeting.items:
        print(f"  l-{item.line_seq}\t{item.kind.value}\t{item.nick}\t{item.text}")
    print("lines:")
    by_native = {line.native_id: line.seq for line in stored.values() if line.native_id}
    for line in meeting.lines:
        if line.kind in (LineKind.EDIT, LineKind.REDACT):
            target = by_native.get(line.edit_of or "", "?")
            what = "edited" if line.kind is LineKind.EDIT else "redacted"
            detail = f": {line.text}" if line.kind is LineKind.EDIT else ""
            print(f"  {line.seq}\t{when(line.at)}\t{line.nick} {what} line {target}{detail}")
            continue
        original = stored[line.seq].text
        note = " [redacted]" if line.redacted else f" [edited; originally: {original}]" if line.edited else ""
        print(f"  {line.seq}\t{when(line.at)}\t<{line.nick}> {line.text}{note}")
    return 0


async def _amend(app: App, args: argparse.Namespace) -> int:
    meeting = await _rebuild(app, args.id)
    if meeting is None:
        return _fail(f"no meeting {args.id}")
    if meeting.is_open:
        return _fail(f"meeting {args.id} is still open; fix it after #endmeeting")
    target = next((line for line in meeting.lines if line.seq == args.line), None)
    if target is None or target.kind not in FIXABLE:
        return _fail(f"meeting {args.id} has no message on line {args.line}")
    if target.redacted:
        return _fail(f"line {args.line} was redacted already")
    handle = await app.database.admin.line_handle(args.id, args.line)
    assert handle is not None
    redact = args.meeting_command == "redact"
    amendment = Line(
        seq=await app.database.admin.next_seq(args.id),
        at=SystemClock().now(),
        kind=LineKind.REDACT if redact else LineKind.EDIT,
        nick=f"{args.by} (admin)",
        sender_key=f"admin:{args.by}",
        text="" if redact else args.text,
        is_bot=True,
        edit_of=handle,
    )
    if not await app.database.meetings.append_line(args.id, amendment):
        return _fail("the fix could not be stored")
    if redact:
        await app.database.meetings.blank_lines(args.id, handle)
    return await _regenerate(app, args.id, every=False)


async def _rename(app: App, args: argparse.Namespace) -> int:
    """A logged `#meetingname` from the admin (recorded as theirs, with a chair's rights): the
    rebuilt meeting takes the name, its files move, and the old pages redirect to the new ones."""
    meeting = await _rebuild(app, args.id)
    if meeting is None:
        return _fail(f"no meeting {args.id}")
    if meeting.is_open:
        return _fail(f"meeting {args.id} is still open; use #meetingname in the meeting")
    name = normalize_name(args.name)
    if not name:
        return _fail(f"{args.name!r} has nothing usable as a name (letters, digits, '-', '_', '.')")
    if name == meeting.name:
        return _fail(f"meeting {args.id} is already called {name}")
    old = app.writer.basename(meeting)
    rename = Line(
        seq=await app.database.admin.next_seq(args.id),
        at=SystemClock().now(),
        kind=LineKind.ON_BEHALF,
        nick=f"{args.by} (admin)",
        sender_key=f"admin:{args.by}",
        text=f"#meetingname {name}",
        privileged=True,
    )
    if not await app.database.meetings.append_line(args.id, rename):
        return _fail("the rename could not be stored")
    renamed = await _rebuild(app, args.id)
    assert renamed is not None
    code = await _regenerate(app, args.id, every=False)
    await app.writer.move(old, app.writer.basename(renamed))
    if app.writer.archive is not None:
        await app.writer.archive.rebuild()  # the old team's pages lose it, the new team's gain it
    return code


async def _regenerate(app: App, meeting_id: int | None, *, every: bool) -> int:
    if every:
        ids = [s.id for s, _ in await app.database.admin.meetings(limit=10**9) if s.ended_at is not None]
    else:
        assert meeting_id is not None
        ids = [meeting_id]
    for one in ids:
        meeting = await _rebuild(app, one)
        if meeting is None:
            return _fail(f"no meeting {one}")
        # The projection (items, name, end) follows the fix, then the files and archive pages.
        await app.database.meetings.save_state(meeting, items=True)
        for file in await app.writer.write(meeting):
            print(file.path)
    if every and app.writer.archive is not None:
        await app.writer.archive.rebuild()
    return 0
