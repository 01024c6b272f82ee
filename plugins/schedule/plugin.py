"""Ask the bot when a team meets next, how it meets, and (chairs) cancel one occurrence.

A series chair is named in the schedule (irc-meetings' "Name (nick)" form); `#skip` trusts that
name only as a services account or Matrix user id, never as a bare nick someone could take."""

from __future__ import annotations

from datetime import date, datetime

from meetbot.domain.model import normalize_name
from meetbot.plugin import Context, Plugin, Scope, TeamServices, command
from meetbot.schedule import Occurrence, Series, chair_nicks, describe, display_times, next_occurrences


def _when(occurrence: Occurrence, zones: tuple[str, ...]) -> str:
    local = display_times(occurrence.start, zones)
    places = ", ".join(str(place) for place in occurrence.places)
    return f"{occurrence.start:%a %Y-%m-%d %H:%M} UTC" + (f" ({local})" if local else "") + f" in {places}"


async def _upcoming(team: TeamServices, series: Series, after: datetime, count: int) -> list[Occurrence]:
    skipped = (await team.repo.skips(series.team)).get(series.team, set())
    found = next_occurrences([series], after, count + len(skipped))
    return [o for o in found if o.local_start.date() not in skipped][:count]


async def _next(team: TeamServices, series: Series, after: datetime) -> Occurrence | None:
    upcoming = await _upcoming(team, series, after, 1)
    return upcoming[0] if upcoming else None


def _zones(team: TeamServices) -> tuple[str, ...]:
    return team.schedules.display_timezones if team.schedules is not None else ()


class SchedulePlugin(Plugin):
    name = "schedule"

    @command(
        "nextmeeting", usage="#nextmeeting [team]", scope=Scope.ANYTIME, summary="when a team meets next"
    )
    async def nextmeeting(self, ctx: Context, team: TeamServices) -> None:
        series = self._series(ctx, team)
        if series is None:
            return
        upcoming = await _next(team, series, ctx.at)
        if upcoming is None:
            ctx.reply(f"{series.team} has no meeting scheduled in the next two years.")
            return
        ctx.reply(f"Next {series.team} meeting: {_when(upcoming, _zones(team))}")

    @command("schedule", usage="#schedule [team]", scope=Scope.ANYTIME, summary="how and when a team meets")
    async def schedule(self, ctx: Context, team: TeamServices) -> None:
        series = self._series(ctx, team)
        if series is None:
            return
        rules = "; ".join(
            f"{describe(slot.recurrence, slot.weekday)} at {slot.time:%H:%M} {slot.zone} in "
            + ", ".join(str(place) for place in slot.places)
            for slot in series.slots
        )
        upcoming = await _upcoming(team, series, ctx.at, 3)
        dates = ", ".join(f"{o.start:%Y-%m-%d %H:%M}Z" for o in upcoming) or "none"
        chair = f" Chair: {series.chair}." if series.chair else ""
        ctx.reply(f"{series.project} ({series.team}): {rules}.{chair} Next: {dates}")

    @command(
        "skip", usage="#skip <YYYY-MM-DD>", needs_args=True, scope=Scope.ANYTIME, summary="cancel one meeting"
    )
    async def skip(self, ctx: Context, team: TeamServices) -> None:
        series = self._series(ctx, team, named=False)
        if series is None:
            return
        try:
            day = date.fromisoformat(ctx.args.split()[0])
        except ValueError:
            ctx.reply("Usage: #skip <YYYY-MM-DD>")
            return
        account = ctx.sender_key.partition(":")[2]  # "~nick" for a sender without an account
        if not (ctx.is_chair() or account in chair_nicks(series.chair)):
            ctx.reply(f"{ctx.nick}: only a chair of {series.team} can cancel one of its meetings.")
            return
        on_day = [o for o in await _upcoming(team, series, ctx.at, 60) if o.local_start.date() == day]
        if not on_day:
            ctx.reply(f"{series.team} does not meet on {day}.")
            return
        await team.repo.add_skip(series.team, day, ctx.sender_key, ctx.nick, ctx.at)
        following = await _next(team, series, ctx.at)
        after = f" Next: {_when(following, _zones(team))}" if following else ""
        ctx.reply(f"The {series.team} meeting of {day} is cancelled; its reminders won't be sent.{after}")

    @staticmethod
    def _series(ctx: Context, team: TeamServices, *, named: bool = True) -> Series | None:
        book = team.schedules
        wanted = normalize_name(ctx.args) if named and ctx.args.strip() else team.team
        series = book.team(wanted) if book is not None else None
        if series is None:
            known = ", ".join(sorted(s.team for s in book.series)) if book is not None else ""
            ctx.reply(
                f"No schedule for {wanted or 'this room'}." + (f" Known teams: {known}." if known else "")
            )
        return series
