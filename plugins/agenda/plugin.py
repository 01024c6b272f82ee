"""A team's agenda, kept between meetings: `#agenda add|list|remove|move|clear`, and
`#topic next` (or `#next`) to take the next item as the topic. Items not reached stay for the
next meeting; covered ones are marked with the meeting and line where they were discussed."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from meetbot.domain.model import Meeting, normalize_name
from meetbot.domain.team import AgendaItem
from meetbot.plugin import Context, Plugin, Role, Scope, TeamServices, command

USAGE = "#agenda add <text> | list | remove <n> | move <n> <m> | clear"


def describe(items: Sequence[AgendaItem]) -> str:
    return " · ".join(f"{item.position}. {item.text}" for item in items)


class AgendaPlugin(Plugin):
    name = "agenda"

    @command("agenda", usage=USAGE, scope=Scope.ANYTIME, summary="the team's agenda between meetings")
    async def agenda(self, ctx: Context, team: TeamServices) -> None:
        args = ctx.args.strip()
        if ctx.private:  # by private message the team comes first: #agenda nova add <text>
            named, _, args = args.partition(" ")
            if not named:
                ctx.reply("By private message, name the team: #agenda <team> add <text> (or list)")
                return
            team = dataclasses.replace(team, team=normalize_name(named))
        action, _, rest = args.strip().partition(" ")
        action, rest = action.casefold() or "list", rest.strip()
        items = await team.repo.agenda(team.team)
        if action == "list":
            ctx.reply(
                f"Agenda of {team.team}: {describe(items)}"
                if items
                else f"The agenda of {team.team} is empty; add to it with #agenda add <text>."
            )
        elif action == "add" and rest:
            added = await team.repo.add_agenda_item(team.team, rest, ctx.sender_key, ctx.nick, ctx.at)
            ctx.reply(f"Added to the agenda of {team.team} as item {added.position}.")
        elif action == "remove" and rest.isdigit():
            if (item := self._editable(ctx, items, int(rest))) is not None:
                await team.repo.remove_agenda_item(item.id, ctx.at)
                ctx.reply(f"Removed from the agenda: {item.text}")
        elif action == "move" and len(rest.split()) == 2 and all(part.isdigit() for part in rest.split()):
            source, target = (int(part) for part in rest.split())
            if (item := self._editable(ctx, items, source)) is not None:
                await team.repo.move_agenda_item(team.team, item.id, target)
                ctx.reply(f"Agenda of {team.team}: {describe(await team.repo.agenda(team.team))}")
        elif action == "clear" and not rest:
            if not ctx.is_chair():
                ctx.reply(f"{ctx.nick}: only the chairs of a running meeting can clear the agenda.")
                return
            cleared = await team.repo.clear_agenda(team.team, ctx.at)
            ctx.reply(f"Cleared the agenda of {team.team} ({cleared} items).")
        else:
            ctx.reply(f"Usage: {USAGE}")

    @command(
        "next",
        role=Role.CHAIR,
        claims=("topic next",),
        summary="take the next agenda item as the topic (also #topic next)",
    )
    async def next(self, ctx: Context, team: TeamServices) -> None:
        items = await team.repo.agenda(team.team)
        if not items or team.meeting_id is None:
            ctx.reply(f"The agenda of {team.team} is empty; #topic <text> sets a topic.")
            return
        item = items[0]
        line = await team.run_as(f"#topic {item.text}")
        if line is not None:
            await team.repo.cover_agenda_item(item.id, team.meeting_id, line, ctx.at)

    async def on_meeting_started(self, meeting: Meeting, team: TeamServices) -> list[str]:
        items = await self._with_standing_items(meeting, team)
        return [f"Agenda: {describe(items)} (#topic next takes the next item)"] if items else []

    @staticmethod
    async def _with_standing_items(meeting: Meeting, team: TeamServices) -> Sequence[AgendaItem]:
        """The team's agenda after adding the schedule's standing items not already on it."""
        items = await team.repo.agenda(team.team)
        series = team.schedules.team(team.team) if team.schedules is not None else None
        if series is None:
            return items
        have = {item.text.casefold() for item in items}
        missing = [text for text in series.agenda if text.casefold() not in have]
        for text in missing:
            await team.repo.add_agenda_item(
                team.team, text, meeting.owner_key, "schedule", meeting.started_at
            )
        return await team.repo.agenda(team.team) if missing else items

    @staticmethod
    def _editable(ctx: Context, items: Sequence[AgendaItem], position: int) -> AgendaItem | None:
        """Chairs of a running meeting may edit any item; otherwise whoever added it."""
        if not 1 <= position <= len(items):
            ctx.reply(f"There is no agenda item {position} (the agenda has {len(items)}).")
            return None
        item = items[position - 1]
        if not (ctx.is_chair() or item.added_by_key == ctx.sender_key):
            ctx.reply(
                f"{ctx.nick}: only {item.added_by_nick} (who added it) or a meeting chair can change it."
            )
            return None
        return item
