"""Action items across meetings. `#action` (the meeting plugin) records them in a meeting;
when it ends they are stored with an id and owners resolved to identities, and from then on
`#actions`, `#done`, `#drop` and `#reassign` follow them until they are closed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from meetbot.commands import split_nicks
from meetbot.domain.attribution import is_matrix_user_id, owners_in
from meetbot.domain.model import Meeting
from meetbot.domain.team import ActionItem, ActionStatus, NewAction, Owner
from meetbot.events import Identity
from meetbot.plugin import Context, Plugin, Scope, TeamServices, command

LISTED = 8  # one chat line stays readable; the rest are in the minutes and the archive


def describe(items: Sequence[ActionItem]) -> str:
    shown = " · ".join(f"#{item.id} {item.text} ({item.owner_nicks()})" for item in items[:LISTED])
    more = f" · and {len(items) - LISTED} more" if len(items) > LISTED else ""
    return shown + more


def _action_id(args: str) -> int | None:
    words = args.split(maxsplit=1)
    word = words[0].lstrip("#") if words else ""
    return int(word) if word.isdigit() else None


class ActionsPlugin(Plugin):
    name = "actions"

    @command("actions", usage="#actions [nick | team]", scope=Scope.ANYTIME, summary="list open action items")
    async def actions(self, ctx: Context, team: TeamServices) -> None:
        wanted = ctx.args.strip() or (ctx.nick if ctx.private else "")  # by private message: your own
        if not wanted:
            items = await team.repo.open_actions(team.team)
            ctx.reply(
                f"Open action items of {team.team}: {describe(items)}"
                if items
                else f"{team.team} has no open action items."
            )
            return
        as_team = await team.repo.open_actions(wanted.casefold())
        if as_team:
            ctx.reply(f"Open action items of {wanted.casefold()}: {describe(as_team)}")
            return
        key = ctx.sender_key if ctx.private and not ctx.args.strip() else _named(ctx, wanted)
        folded = wanted.casefold()
        mine = [
            item
            for item in await team.repo.open_actions()
            if item.owned_by(key) or any(owner.nick.casefold() == folded for owner in item.owners)
        ]
        ctx.reply(
            f"Open action items of {wanted}: {describe(mine)}"
            if mine
            else f"{wanted} has no open action items."
        )

    @command(
        "done",
        usage="#done <action id>",
        needs_args=True,
        scope=Scope.ANYTIME,
        summary="close an action item",
    )
    async def done(self, ctx: Context, team: TeamServices) -> None:
        await self._set_status(ctx, team, ActionStatus.DONE, "#done")

    @command(
        "drop", usage="#drop <action id>", needs_args=True, scope=Scope.ANYTIME, summary="drop an action item"
    )
    async def drop(self, ctx: Context, team: TeamServices) -> None:
        await self._set_status(ctx, team, ActionStatus.DROPPED, "#drop")

    @command(
        "reassign",
        usage="#reassign <action id> <nick> [<nick> ...]",
        needs_args=True,
        scope=Scope.ANYTIME,
        summary="give an action item to someone else",
    )
    async def reassign(self, ctx: Context, team: TeamServices) -> None:
        nicks = split_nicks(ctx.args.split(maxsplit=1)[1]) if len(ctx.args.split()) > 1 else []
        item = await self._changeable(
            ctx, team, "#reassign <action id> <nick> [<nick> ...]", needs_nicks=bool(nicks)
        )
        if item is None:
            return
        owners = _distinct(Owner(_named(ctx, nick), nick) for nick in nicks)
        changed = await team.repo.reassign_action(item.id, owners, _actor(ctx), ctx.at, team.meeting_id)
        ctx.reply(f"#{changed.id} {changed.text} is now {changed.owner_nicks()}'s.")

    async def on_meeting_started(self, meeting: Meeting, team: TeamServices) -> list[str]:
        items = await team.repo.open_actions(team.team)
        return [f"Open action items from earlier meetings: {describe(items)}"] if items else []

    async def on_meeting_ended(self, meeting: Meeting, team: TeamServices) -> None:
        """Store this meeting's actions, each owned by every attendee its text names (MeetBot's
        rule, matched without its misses), by identity so a later nick change keeps them."""
        if meeting.id is None:
            return
        attendees = meeting.attendee_nicks()
        new = [
            NewAction(
                text=item.text,
                line_seq=item.line_seq,
                at=item.at,
                owners=_distinct(
                    Owner(meeting.identity_of(nick), nick) for nick in owners_in(item.text, attendees)
                ),
            )
            for item in meeting.actions()
        ]
        if new:
            actor = Owner(meeting.owner_key, meeting.owner_nick)
            await team.repo.record_actions(meeting.series_name, meeting.id, new, actor)

    # -- helpers ------------------------------------------------------------------------------

    async def _set_status(self, ctx: Context, team: TeamServices, status: ActionStatus, name: str) -> None:
        item = await self._changeable(ctx, team, f"{name} <action id>")
        if item is None:
            return
        if item.status is status:
            ctx.reply(f"#{item.id} is already {status.value}.")
            return
        changed = await team.repo.change_action(item.id, status, _actor(ctx), ctx.at, team.meeting_id)
        ctx.reply(f"#{changed.id} {changed.text} ({changed.owner_nicks()}): {status.value}.")

    @staticmethod
    async def _changeable(
        ctx: Context, team: TeamServices, usage: str, *, needs_nicks: bool = True
    ) -> ActionItem | None:
        """The action item the command names, if it exists and the sender may change it:
        its owners may, and so may the chairs of a running meeting."""
        action_id = _action_id(ctx.args)
        if action_id is None or not needs_nicks:
            ctx.reply(f"Usage: {usage}")
            return None
        item = await team.repo.action(action_id)
        if item is None:
            ctx.reply(f"There is no action item #{action_id}; #actions lists the open ones.")
            return None
        if not (item.owned_by(ctx.sender_key) or ctx.is_chair()):
            ctx.reply(f"{ctx.nick}: only {item.owner_nicks()} or a meeting chair can change #{item.id}.")
            return None
        return item


def _actor(ctx: Context) -> Owner:
    return Owner(ctx.sender_key, ctx.nick)


def _named(ctx: Context, nick: str) -> str:
    """The identity a name in a command means: as the meeting resolves it; outside one, a Matrix
    user id is that account and anything else a bare nick."""
    if ctx.meeting is not None:
        return ctx.meeting.identity_of(nick)
    return Identity(ctx.room.network, nick, account=nick if is_matrix_user_id(nick) else None).key


def _distinct(owners: Iterable[Owner]) -> tuple[Owner, ...]:
    # One person named twice (`@bob:example.org` and his display name, or a `#here` alias and
    # the nick) owns the item once: storage keeps one owner row per identity.
    found: dict[str, Owner] = {}
    for owner in owners:
        found.setdefault(owner.key, owner)
    return tuple(found.values())
