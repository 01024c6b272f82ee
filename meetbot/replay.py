"""`meetbot replay`: run a MeetBot/irssi log through the bot as if it happened live, and
publish the same files a live meeting would. Times come from the log, never the clock."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from meetbot.adapters.base import Submit
from meetbot.app import build_app
from meetbot.config import Settings
from meetbot.events import Identity, MessageIn, Outbound, RoomRef
from meetbot.logparse import parse_log

IN_MEMORY = "sqlite+aiosqlite:///:memory:"


class _SilentAdapter:
    """Replay talks to nobody; the bot's answers are still logged into the meeting."""

    def __init__(self, network: str, bot_nick: str) -> None:
        self.network = network
        self.bot_nick = bot_nick

    async def run(self, submit: Submit) -> None:
        return None

    async def send(self, message: Outbound) -> None:
        return None

    def members(self, room: RoomRef) -> Sequence[Identity]:
        return ()  # a log says nothing about who was silent


@dataclass(frozen=True)
class ReplayResult:
    written: list[Path]
    lines: int
    skipped: int
    unfinished: bool  # the log had no #endmeeting; what there was got published anyway


async def replay_log(
    log_path: Path,
    *,
    channel: str,
    network: str,
    day: date,
    settings: Settings,
    publish_dir: Path,
    database_url: str = IN_MEMORY,
) -> ReplayResult:
    with log_path.open(encoding="utf-8", errors="replace") as handle:
        parsed = parse_log(handle, day)
    adapter = _SilentAdapter(network, "meetbot")
    app = await build_app(settings, [adapter], database_url=database_url, publish_dir=publish_dir)
    room = RoomRef(network, channel)
    try:
        for entry in parsed.lines:
            await app.service.handle(
                MessageIn(
                    room=room,
                    sender=Identity(network, entry.nick),
                    text=entry.text,
                    at=entry.at,
                    kind=entry.kind,
                )
            )
        open_meeting = await app.service.meeting_in(room)
        if open_meeting is not None:
            await app.writer.write(open_meeting)
        written = sorted({file.path for file in app.writer.written})
    finally:
        await app.close()
    return ReplayResult(written, len(parsed.lines), parsed.skipped, open_meeting is not None)
