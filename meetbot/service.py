"""The meeting service: store every line, then let the engine act on it, then carry out the
effects (replies, topic changes, publishing). Called by one room worker at a time. While the
database is unreachable, the lines of open meetings wait in a bounded buffer (WriteBehind) and
the bot keeps answering."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Protocol, TypeVar

from meetbot.config.schedule_files import Schedules
from meetbot.domain.model import Line, Meeting, normalize_name
from meetbot.domain.presence import present_line_text
from meetbot.domain.starting import may_start, refusal
from meetbot.domain.team import TeamRepository
from meetbot.engine import Engine, MeetingHeader, Outcome
from meetbot.events import Identity, LineKind, MessageIn, Outbound, RoomRef, Say, SetTopic
from meetbot.logs import set_meeting_id
from meetbot.plugin import ChangeTopic, Effect, PublishMinutes, Reply, RunTeamCommand, TeamServices
from meetbot.storage.meetings import MeetingAlreadyOpenError, MeetingStore, StorageUnavailableError
from meetbot.writebehind import WriteBehind

log = logging.getLogger(__name__)

T = TypeVar("T")

Send = Callable[[Outbound], Awaitable[None]]


class WrittenFile(Protocol):
    @property
    def extension(self) -> str: ...
    @property
    def path(self) -> Path: ...
    @property
    def url(self) -> str | None: ...


class MinutesWriter(Protocol):
    """Renders a meeting (as rebuilt from the database) and writes its files."""

    async def write(self, meeting: Meeting) -> Sequence[WrittenFile]: ...

    def growing(self, meeting: Meeting) -> None:
        """Another GROWTH_STEP lines logged in an open meeting: a chance to get ready for its end."""


# How often a growing meeting is shown to the writer (MinutesWriter.growing), in lines.
GROWTH_STEP = 100


ENCRYPTED_ROOM = (
    "Meetings can't run in an end-to-end encrypted room: their minutes and log are published, "
    "which would undo the encryption. Meet in an unencrypted room."
)

ENCRYPTED_MID_MEETING = (
    "This room is now end-to-end encrypted, and encrypted lines can't go into published minutes: "
    "ending the meeting here. The minutes hold everything said before."
)

STARTING_WHEN_BACK = "The database is unreachable just now; the meeting starts as soon as it is back."
PUBLISHING_WHEN_BACK = (
    "The database is unreachable just now: the minutes will be published as soon as it is back."
)

_reply_thread: ContextVar[str | None] = ContextVar("reply_thread", default=None)

# The three links MeetBot posts, in its order and words; the rest are a click away.
ANNOUNCED = {".html": "Minutes", ".txt": "Minutes (text)", ".log.html": "Log"}


@dataclass
class _RoomState:
    meeting: Meeting | None


def bot_key(network: str) -> str:
    # `@bot` can't be a services account or a `~nick` key, so no person can ever hold it.
    return f"{network}:@bot"


class MeetingService:
    def __init__(
        self,
        engine: Engine,
        *,
        store: MeetingStore,
        teams: TeamRepository,
        writer: MinutesWriter,
        send: Send,
        bot_nick: Callable[[str], str],
        members: Callable[[RoomRef], Sequence[Identity]] = lambda room: (),
        schedules: Schedules | None = None,
        retry_delays: tuple[float, ...] = (0.2, 0.5, 1, 2, 5, 10, 30),
        buffer_lines: int = 10_000,
    ) -> None:
        self.engine = engine
        self.store = store
        self.teams = teams
        self.writer = writer
        self._send = send
        self._bot_nick = bot_nick
        self._members = members
        self.schedules = schedules  # replaced when the config is reloaded
        self._rooms: dict[RoomRef, _RoomState] = {}
        self._retry_delays = retry_delays
        self.buffer = WriteBehind(store, capacity=buffer_lines, retry_delays=retry_delays[:5])
        self.messages_handled = 0  # for /metrics
        # Network ids of each open meeting's lines: a redelivered event is dropped before the
        # engine sees it (its line is only queued for the database, which would catch it late).
        self._native_ids: dict[int, set[str]] = {}
        self._background: set[asyncio.Task[None]] = set()

    @property
    def meetings_open(self) -> int:
        return sum(state.meeting is not None for state in self._rooms.values())

    async def handle(self, message: MessageIn) -> None:
        """Handle one line. Whether it is in the database yet: `written()`."""
        self.messages_handled += 1
        if message.from_self:
            return  # our own lines are logged as we send them
        if message.private:
            await self._private(message)
            return
        # Replies to a message written in a thread go to that thread. A context variable, since
        # the workers of several rooms run through this one service at once.
        token = _reply_thread.set(message.thread)
        try:
            await self._handle_in_room(message)
        finally:
            _reply_thread.reset(token)

    def written(self) -> asyncio.Future[None] | None:
        """None when every line handled so far is in the database, or (during an outage) a
        future that completes once they are: an adapter that keeps a position in the network's
        history must not move it past a line that is only buffered."""
        return self.buffer.written()

    def forget_rooms(self) -> None:
        """Stepping down to standby: whoever is active now owns the meetings; if this process
        becomes active again it reloads them from the database."""
        self._rooms.clear()
        self._native_ids.clear()
        self.store.forget_saved()

    async def close(self, grace: float = 10.0) -> None:
        """Finish writing: the buffered lines, then the minutes still waiting to be published."""
        await self.buffer.close(grace)
        if self._background:
            await asyncio.wait(self._background, timeout=grace)

    async def _handle_in_room(self, message: MessageIn) -> None:
        # Looked up here first: a coroutine less for every line of a busy room.
        state = self._rooms.get(message.room) or await self._room(message.room)
        set_meeting_id(state.meeting.id if state.meeting is not None else None)
        if message.kind in (LineKind.EDIT, LineKind.REDACT):
            await self._amend(state, message)
            return
        if message.backfilled:
            await self._backfill(state, message)
            return
        if state.meeting is None:
            await self._outside_meeting(state, message)
            return
        if not message.loggable:
            await self._end_unloggable(state, message)
            return
        meeting = state.meeting
        line = self._line(meeting, message)
        if self._seen_before(meeting, line):
            return  # the same network event, seen twice
        outcome = self.engine.apply(meeting, line)
        # Durable before anything is done about it that anyone can see (a reply, a topic, the
        # minutes). A line that only changes the meeting in memory (#info, #action) or nothing
        # (chatter, a command turned away with a usage line or a refusal) is queued and
        # group-committed with the lines and state around it, so a busy channel keeps up and
        # such replies leave at once; a crash can take only those last lines, and a rebuild from
        # the stored ones is consistent with what the room was told.
        acts = outcome.ended or (bool(outcome.effects) and not outcome.turned_away)
        if not await self.buffer.append_line(_meeting_id(meeting), line, durable=acts):
            return  # the database knew its id (a line of this meeting not loaded in memory)
        if line.seq % GROWTH_STEP == 0:
            self.writer.growing(meeting)
        if outcome.state_changed or outcome.ended or outcome.effects:  # chatter: nothing to do
            await self._carry_out(state, outcome)

    def _seen_before(self, meeting: Meeting, line: Line) -> bool:
        if line.native_id is None or meeting.id is None:
            return False
        known = self._native_ids.get(meeting.id)
        if known is None:
            known = self._native_ids[meeting.id] = {old.native_id for old in meeting.lines if old.native_id}
        if line.native_id in known:
            return True
        known.add(line.native_id)
        return False

    async def _backfill(self, state: _RoomState, message: MessageIn) -> None:
        """A line the server delivered late (said while the bot was reconnecting): logged into
        the open meeting if it belongs there and is not there yet; never run (the engine skips
        backfilled lines, live and on rebuild). Outside a meeting it is history: ignored.

        It is logged where it arrives, so the log keeps the order the bot learned things in (the
        `#l-N` anchors and rebuilds follow it). That is also time order in practice: the gap's
        lines arrive on rejoin, before any later live line, while their server times may be
        coarse (InspIRCd replays +H history with whole seconds) and would misplace them if sorted."""
        meeting = state.meeting
        if meeting is None or not message.loggable:
            return
        # Channel history reaches back before the meeting: that chatter is not part of it.
        if message.at < meeting.started_at or _already_logged(meeting, message):
            return
        line = self._line(meeting, message)
        known = meeting.roster.get(message.sender.nick.casefold())
        if message.sender.account is None and known is not None:
            # Replays rarely carry account tags: count the line for whoever this meeting knows
            # by that nick, not for a second, account-less attendee. Attribution only: the line
            # never runs, so it can grant no one anything.
            line = replace(line, sender_key=known)
        if not await self._store_line(meeting, line):
            return  # the database knew its id (a line of this meeting not loaded in memory)
        await self._carry_out(state, self.engine.apply(meeting, line))

    async def meeting_in(self, room: RoomRef) -> Meeting | None:
        return (await self._room(room)).meeting

    # -- internals ------------------------------------------------------------------------------

    async def _room(self, room: RoomRef) -> _RoomState:
        state = self._rooms.get(room)
        if state is None:
            state = _RoomState(await self._retrying(lambda: self._load_open(room)))
            self._rooms[room] = state
        return state

    async def _load_open(self, room: RoomRef) -> Meeting | None:
        header = await self.store.open_meeting(room)
        if header is None:
            return None
        meeting = self.engine.rebuild(header, await self.store.lines(header.id))
        log.info(
            "resumed meeting %s in %s/%s at line %d", header.id, room.network, room.room, len(meeting.lines)
        )
        return meeting

    async def _amend(self, state: _RoomState, message: MessageIn) -> None:
        """An edit or redaction: logged into the meeting holding its target (open or ended). A
        redaction also blanks the stored text; an ended meeting's minutes are published again."""
        if message.edit_of is None:
            return
        open_meeting = state.meeting
        if open_meeting is not None and any(line.native_id == message.edit_of for line in open_meeting.lines):
            line = self._line(open_meeting, message)
            if await self._store_line(open_meeting, line):
                await self._redact_stored(open_meeting, line)
                await self._carry_out(state, self.engine.apply(open_meeting, line))
            return
        room, target = message.room, message.edit_of
        await self.buffer.flushed()  # the target may be a line still queued
        header = await self._retrying(lambda: self.store.meeting_with_line(room, target))
        if header is None:
            return  # not something any meeting logged
        ended = await self._retrying(lambda: self._rebuild(header.id))
        line = self._line(ended, message)
        if await self._store_line(ended, line):
            await self._redact_stored(ended, line)
            await self.buffer.flushed()  # republished from the database, so it must be there
            republished = await self._retrying(lambda: self._rebuild(header.id))
            try:
                await self.writer.write(republished)
            except Exception:
                log.exception("republishing meeting %s after an edit failed", header.id)

    async def _end_unloggable(self, state: _RoomState, message: MessageIn) -> None:
        """The room became unloggable (encryption turned on) mid-meeting: say why, then end the
        meeting for its owner, so the minutes hold what was said before."""
        meeting = state.meeting
        assert meeting is not None
        await self._say(state, meeting.room, ENCRYPTED_MID_MEETING)
        line = Line(
            seq=meeting.lines[-1].seq + 1,
            at=message.at,
            kind=LineKind.ON_BEHALF,
            nick=meeting.owner_nick,
            sender_key=meeting.owner_key,
            text="#endmeeting",
        )
        await self._store_line(meeting, line)
        await self._carry_out(state, self.engine.apply(meeting, line))

    async def _redact_stored(self, meeting: Meeting, line: Line) -> None:
        if line.kind is LineKind.REDACT and line.edit_of is not None:
            meeting_id, target = _meeting_id(meeting), line.edit_of
            await self.buffer.blank_lines(meeting_id, target)

    async def _private(self, message: MessageIn) -> None:
        outcome = self.engine.run_outside_meeting(
            message.room, message.sender, message.text, message.at, private=True
        )
        await self._carry_out_outside(_RoomState(None), message.room, outcome.effects)

    async def _outside_meeting(self, state: _RoomState, message: MessageIn) -> None:
        starts = self.engine.starts_meeting(message.text, message.kind, message.room.network)
        if starts and not message.loggable:
            await self._send(Say(message.room, ENCRYPTED_ROOM, thread=message.thread))
            return
        rule = message.start_rule
        if starts and rule is not None and not may_start(rule, message.standing, message.sender.account):
            await self._send(Say(message.room, refusal(message.sender.nick, rule), thread=message.thread))
            return
        if not starts:
            outcome = self.engine.run_outside_meeting(message.room, message.sender, message.text, message.at)
            await self._carry_out_outside(state, message.room, outcome.effects)
            return
        first = _to_line(1, message)
        try:
            header = await self._start_meeting(message.room, first)
        except MeetingAlreadyOpenError:
            # Another bot process opened one first: adopt it and log this line into it.
            state.meeting = await self._load_open(message.room)
            if state.meeting is not None:
                await self.handle(message)
            return
        meeting = self.engine.new_meeting(header)
        state.meeting = meeting
        set_meeting_id(header.id)
        log.info(
            "meeting %s started in %s/%s by %s", header.id, header.room.network, header.room.room, first.nick
        )
        outcome = self.engine.apply(meeting, first)
        await self._log_present(meeting)
        await self._carry_out(state, outcome)
        if state.meeting is meeting:
            team = await self._team(meeting, state)
            for plugin in self.engine.plugins:
                for text in await self._hook(plugin.on_meeting_started(meeting, team)) or []:
                    await self._say(state, meeting.room, text)

    async def _log_present(self, meeting: Meeting) -> None:
        """Record who was already here, so their nicks resolve to their accounts (live and
        on rebuild alike) before they say a word."""
        members = self._members(meeting.room)
        if not members:
            return
        line = self._bot_line(meeting, LineKind.PRESENT, present_line_text(members))
        await self._store_line(meeting, line)
        self.engine.apply(meeting, line)

    @staticmethod
    def _line(meeting: Meeting, message: MessageIn) -> Line:
        return _to_line(meeting.lines[-1].seq + 1 if meeting.lines else 1, message)

    async def _carry_out(self, state: _RoomState, outcome: Outcome) -> None:
        meeting = state.meeting
        assert meeting is not None
        if outcome.state_changed:
            await self.buffer.save_state(meeting, items=outcome.items_changed)
        if outcome.ended:
            state.meeting = None
            self._native_ids.pop(_meeting_id(meeting), None)
        for effect in outcome.effects:
            if isinstance(effect, Reply):
                await self._say(state, meeting.room, effect.text)
            elif isinstance(effect, ChangeTopic):
                await self._send(SetTopic(meeting.room, effect.topic))
            elif isinstance(effect, PublishMinutes):
                if effect.final:
                    team = await self._team(meeting, state)
                    for plugin in self.engine.plugins:
                        await self._hook(plugin.on_meeting_ended(meeting, team))
                await self._publish(state, meeting, final=effect.final)
            elif isinstance(effect, RunTeamCommand):
                await self._run_team_command(state, meeting.room, effect)

    async def _carry_out_outside(self, state: _RoomState, room: RoomRef, effects: Sequence[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Reply):
                await self._send(Say(room, effect.text, thread=_reply_thread.get()))
            elif isinstance(effect, RunTeamCommand):
                await self._run_team_command(state, room, effect)

    async def _run_team_command(self, state: _RoomState, room: RoomRef, effect: RunTeamCommand) -> None:
        ctx = effect.ctx
        already = len(ctx.effects)
        team = await self._team(ctx.meeting, state, room, private=ctx.private)
        try:
            await effect.handler(ctx, team)
        except StorageUnavailableError:
            # Agendas and action items live in the database: say so now rather than hold the
            # room until it is back (the command's own line is logged either way).
            ctx.reply(f"{ctx.nick}: the database is unreachable just now; try that again in a minute.")
        except Exception:
            log.exception("team command %s failed", ctx.command)
            ctx.reply(f"{ctx.nick}: that failed (a bug, now logged for the admins).")
        follow_up: list[Effect] = [e for e in ctx.effects[already:] if not isinstance(e, RunTeamCommand)]
        if state.meeting is not None:
            await self._carry_out(state, Outcome(effects=follow_up))
        else:
            await self._carry_out_outside(state, room, follow_up)

    async def _team(
        self,
        meeting: Meeting | None,
        state: _RoomState,
        room: RoomRef | None = None,
        *,
        private: bool = False,
    ) -> TeamServices:
        """The team a line speaks for: the meeting's series, else the room's latest named one;
        a private message has none (its commands name their team themselves)."""
        if meeting is not None:
            name, meeting_id = meeting.series_name, meeting.id
        elif private:
            name, meeting_id = "", None
        else:
            assert room is not None
            stored = await self._retrying(lambda: self.teams.team_of_room(room.network, room.room))
            name, meeting_id = stored or normalize_name(room.room) or "meeting", None

        async def run_as(text: str) -> int | None:
            return await self._run_as(state, text)

        return TeamServices(
            repo=self.teams, team=name, meeting_id=meeting_id, run_as=run_as, schedules=self.schedules
        )

    async def _run_as(self, state: _RoomState, text: str) -> int | None:
        """Log and apply a command for the person whose command is being handled."""
        meeting = state.meeting
        if meeting is None:
            return None
        asker = meeting.lines[-1]
        line = Line(
            seq=asker.seq + 1,
            at=asker.at,
            kind=LineKind.ON_BEHALF,
            nick=asker.nick,
            sender_key=asker.sender_key,
            text=text,
        )
        await self._store_line(meeting, line)
        await self._carry_out(state, self.engine.apply(meeting, line))
        return line.seq

    @staticmethod
    async def _hook(call: Awaitable[T]) -> T | None:
        # A plugin's hook failing must not keep a meeting from starting or its minutes from publishing.
        try:
            return await call
        except Exception:
            log.exception("plugin hook failed")
            return None

    async def _store_line(self, meeting: Meeting, line: Line, *, durable: bool = True) -> bool:
        return await self.buffer.append_line(_meeting_id(meeting), line, durable=durable)

    async def _start_meeting(self, room: RoomRef, first: Line) -> MeetingHeader:
        try:
            return await self.store.start_meeting(room, first)
        except StorageUnavailableError as error:
            log.warning("database unavailable (%s) at #startmeeting in %s/%s", error, room.network, room.room)
        # A meeting needs its row before its first line can count: tell the room, then wait.
        await self._send(Say(room, STARTING_WHEN_BACK, thread=_reply_thread.get()))
        return await self._retrying(lambda: self.store.start_meeting(room, first))

    async def _publish(self, state: _RoomState, meeting: Meeting, *, final: bool) -> None:
        if self.buffer.outage:
            # The minutes are made from the database, which lacks the buffered lines yet.
            await self._say(state, meeting.room, PUBLISHING_WHEN_BACK)
            task = asyncio.create_task(
                self._publish_when_written(meeting, final=final, thread=_reply_thread.get())
            )
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            return
        await self._publish_now(state, meeting, final=final)

    async def _publish_when_written(self, meeting: Meeting, *, final: bool, thread: str | None) -> None:
        await self.buffer.flushed()
        token = _reply_thread.set(thread)
        try:
            # Not logged into the meeting: by now it may have ended, or be further on.
            await self._publish_now(_RoomState(None), meeting, final=final, live=False)
        finally:
            _reply_thread.reset(token)

    async def _publish_now(
        self, state: _RoomState, meeting: Meeting, *, final: bool, live: bool = True
    ) -> None:
        """`live`: the room waits for this, so its meeting cannot change meanwhile."""
        # Published from what is stored: the minutes show exactly what the database holds, the
        # same as a later regeneration or replay would.
        meeting_id = _meeting_id(meeting)
        await self.buffer.flushed()  # the lines still queued belong in these minutes
        stored = await self._retrying(lambda: self._as_stored(meeting) if live else self._rebuild(meeting_id))
        try:
            where = await self.writer.write(stored)
        except Exception:
            log.exception("publishing meeting %s failed", meeting_id)
            await self._say(
                state,
                meeting.room,
                "Publishing the minutes failed; the log is safe. An admin can run it again.",
            )
            return
        by_extension = {file.extension: file for file in where}
        minutes = by_extension.get(".html")
        log.info(
            "meeting %s %s; minutes: %s",
            meeting_id,
            "ended" if final else "saved",
            (minutes.url or minutes.path) if minutes else "none written",
        )
        links = " · ".join(
            f"{label}: {by_extension[ext].url or by_extension[ext].path}"
            for ext, label in ANNOUNCED.items()
            if ext in by_extension
        )
        if final:
            assert stored.ended_at is not None
            await self._say(state, meeting.room, f"Meeting ended at {stored.ended_at:%H:%M:%S} UTC. {links}")
        else:
            await self._say(state, meeting.room, f"Minutes so far: {links}")

    async def _as_stored(self, meeting: Meeting) -> Meeting:
        """The meeting as the database holds it: the live one when the database holds exactly
        its lines, which spares reading and replaying a long meeting at its end (0.14 s for
        10,000 lines); rebuilt from the database otherwise. Lines are numbered from 1 without
        gaps and unique per meeting, so the same count and last number mean the same lines. A
        meeting with edits or redactions is always rebuilt: the database holds redacted text
        blanked, the live meeting still holds it."""
        count, last = await self.store.line_count(_meeting_id(meeting))
        lines = meeting.lines
        if (
            lines
            and count == len(lines)
            and last == lines[-1].seq
            and not any(line.kind in (LineKind.EDIT, LineKind.REDACT) for line in lines)
        ):
            return meeting
        return await self._rebuild(_meeting_id(meeting))

    async def _rebuild(self, meeting_id: int) -> Meeting:
        header = await self.store.header(meeting_id)
        assert header is not None
        return self.engine.rebuild(header, await self.store.lines(meeting_id))

    async def _say(self, state: _RoomState, room: RoomRef, text: str) -> None:
        """Send, and log what we said into the open meeting (MeetBot lists the bot too)."""
        meeting = state.meeting
        line = self._bot_line(meeting, LineKind.SAY, text) if meeting is not None else None
        # Sent first: the reply must not wait for our own line's bookkeeping. That line acts on
        # nothing and is only queued for the group commit; a crash right here loses at most it.
        await self._send(Say(room, text, thread=_reply_thread.get()))
        if meeting is not None and line is not None:
            await self._store_line(meeting, line, durable=False)
            self.engine.apply(meeting, line)

    def _bot_line(self, meeting: Meeting, kind: LineKind, text: str) -> Line:
        # Stamped with the time of the line it answers: replays stay deterministic.
        return Line(
            seq=meeting.lines[-1].seq + 1,
            at=meeting.lines[-1].at,
            kind=kind,
            nick=self._bot_nick(meeting.room.network),
            sender_key=bot_key(meeting.room.network),
            text=text,
            is_bot=True,
        )

    async def _retrying(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Ride out a database restart: the room's queue waits (for as long as it takes) rather
        than drop a line; other rooms keep their own queues."""
        delays = itertools.chain(self._retry_delays, itertools.repeat(self._retry_delays[-1]))
        while True:
            try:
                return await operation()
            except StorageUnavailableError as error:
                delay = next(delays)
                log.warning("database unavailable (%s); retrying in %ss", error, delay)
                await asyncio.sleep(delay)


def _meeting_id(meeting: Meeting) -> int:
    if meeting.id is None:
        raise ValueError("the service only handles stored meetings")
    return meeting.id


# How far apart a live line's and its replay's server times may be: history servers may store
# coarser times (InspIRCd's +H keeps whole seconds, so 12:00:05.731 comes back as 12:00:05).
BACKFILL_TIME_SLACK = timedelta(seconds=1)


def _already_logged(meeting: Meeting, message: MessageIn) -> bool:
    """The same message by its network id, or (for servers that replay without ids) the same
    person saying the same words at the same time."""
    if message.native_id is not None and any(line.native_id == message.native_id for line in meeting.lines):
        return True
    return any(
        line.nick.casefold() == message.sender.nick.casefold()
        and line.text == message.text
        and line.kind is message.kind
        and abs(line.at - message.at) < BACKFILL_TIME_SLACK
        and (line.native_id is None or message.native_id is None)
        for line in reversed(meeting.lines)
    )


def _to_line(seq: int, message: MessageIn) -> Line:
    return Line(
        seq=seq,
        at=message.at,
        kind=message.kind,
        nick=message.sender.nick,
        sender_key=message.sender.key,
        text=message.text,
        is_bot=False,
        native_id=message.native_id,
        privileged=message.privileged,
        edit_of=message.edit_of,
        thread=message.thread,
        backfilled=message.backfilled,
    )
