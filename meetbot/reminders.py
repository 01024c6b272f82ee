"""Reminders before recurring meetings, each sent exactly once.

APScheduler 3 is only the alarm clock: every 15 minutes (and on config reload) the reminders due
in the next 48 hours are computed from the schedules and set as in-memory jobs. The database is
the truth: a reminder's key is recorded before it is sent, so a restart or a second bot process
never repeats it; one past its grace time is skipped, not sent late. With several processes on
one PostgreSQL database only the active one runs this service (see meetbot.failover)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]

from meetbot.clock import Clock
from meetbot.config import Schedules
from meetbot.domain.team import TeamRepository
from meetbot.events import Outbound, RoomRef, Say
from meetbot.schedule import Reminder, plan_reminders, reminder_text
from meetbot.storage.reminders import ReminderStore

log = logging.getLogger(__name__)

HORIZON = timedelta(hours=48)
REPLAN_EVERY = timedelta(minutes=15)


class ReminderService:
    def __init__(
        self,
        schedules: Schedules,
        *,
        store: ReminderStore,
        teams: TeamRepository,
        send: Callable[[Outbound], Awaitable[None]],
        clock: Clock,
        matrix_network: str | None = None,
    ) -> None:
        self.schedules = schedules
        self._store = store
        self._teams = teams
        self._send = send
        self._clock = clock
        self._matrix_network = matrix_network
        self._scheduler: AsyncIOScheduler | None = None
        self.sent = 0  # reminders sent by this process, for /metrics

    async def start(self) -> None:
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._scheduler.start()
        self._scheduler.add_job(self.replan, "interval", seconds=REPLAN_EVERY.total_seconds(), id="replan")
        await self.replan()

    async def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None

    async def reload(self, schedules: Schedules) -> None:
        self.schedules = schedules
        await self.replan()

    async def replan(self) -> None:
        """Set a job for every reminder due within the horizon that nobody has sent yet."""
        scheduler = self._scheduler
        if scheduler is None:
            return
        for job in scheduler.get_jobs():
            if job.id.startswith("reminder:"):
                job.remove()
        now = self._clock.now()
        skips = await self._teams.skips()
        # From a little in the past: a reminder still within its grace after a restart goes out.
        due = [
            reminder
            for reminder in plan_reminders(self.schedules.series, now - timedelta(minutes=5), now + HORIZON)
            if not reminder.stale(now)
            and reminder.occurrence.local_start.date() not in skips.get(reminder.occurrence.team, set())
        ]
        sent = await self._store.claimed([reminder.key for reminder in due])
        for reminder in due:
            if reminder.key not in sent:
                scheduler.add_job(
                    self.fire,
                    "date",
                    run_date=max(reminder.due, now),
                    args=[reminder],
                    id=f"reminder:{reminder.key}",
                    replace_existing=True,
                    misfire_grace_time=int(reminder.grace.total_seconds()) or 1,
                )
        log.info("planned %d reminder(s) for the next %s", len(due) - len(sent), HORIZON)

    async def fire(self, reminder: Reminder) -> None:
        now = self._clock.now()
        if reminder.stale(now):
            log.warning("skipped reminder %s: %s late", reminder.key, now - reminder.due)
            return
        if not await self._store.claim(reminder.key, now):
            return  # sent already, by us before a restart or by another process
        series = self.schedules.team(reminder.occurrence.team)
        if series is None:
            return
        stored = [item.text for item in await self._teams.agenda(series.team)]
        # Standing items from the schedule go on the agenda at #startmeeting; announce them now.
        agenda = stored + [
            text for text in series.agenda if text.casefold() not in {s.casefold() for s in stored}
        ]
        text = reminder_text(reminder, series, self.schedules.display_timezones, agenda)
        for room in self.rooms(reminder):
            await self._send(Say(room, text))
        self.sent += 1
        log.info("sent reminder %s", reminder.key)

    def rooms(self, reminder: Reminder) -> Sequence[RoomRef]:
        """Every place the meeting is held that a configured network can reach."""
        found = []
        for place in reminder.occurrence.places:
            network = place.network if place.kind == "irc" else self._matrix_network
            if network is None:
                log.warning("reminder %s: no %s network configured for %s", reminder.key, place.kind, place)
                continue
            found.append(RoomRef(network, place.room))
        return found
