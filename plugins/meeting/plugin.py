"""MeetBot-compatible meeting commands, with MeetBot's known bugs fixed.

Same syntax and aliases as MeetBot 0.1.4 / OpenStack's fork. Differences on purpose:
`#meetingname` is chair-only (as documented, not as coded); `#restrictlogs` works; a
non-chair's chair command gets one short reply instead of silence; an empty argument gets a
usage line instead of an empty item.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

from meetbot.commands import split_nicks
from meetbot.domain.model import Item, ItemKind, Meeting, Person, normalize_name
from meetbot.plugin import Context, Plugin, Role, Scope, command, listener

# MeetBot's UrlProtocols: a line that *starts* with one of these is a LINK item.
_AUTO_LINK = re.compile(r"^(?:https?|irc|ftp|mailto|ssh)://\S", re.IGNORECASE)
_CLEAR_WORDS = {"none", "unset"}


class MeetingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    require_name: bool = False
    """OpenStack's rule: `#startmeeting` must name the meeting (the name files it)."""
    set_channel_topic: bool = True
    """`#topic` also sets the channel/room topic (when the adapter may)."""
    echo_items: bool = False
    """Repeat each item back ("ACTION: ...") as meetingology's beNoisy does."""


def _time(ctx: Context) -> str:
    return ctx.at.strftime("%a %b %d %H:%M:%S %Y UTC")


class MeetingPlugin(Plugin):
    name = "meeting"
    Config = MeetingConfig
    config: MeetingConfig

    # -- start and end -----------------------------------------------------------------

    @command(
        "startmeeting",
        usage="#startmeeting <meeting name>",
        scope=Scope.STARTS,
        summary="start a meeting; the name files its minutes",
    )
    def startmeeting(self, ctx: Context) -> None:
        meeting = ctx.require_meeting()
        assert ctx.line is not None
        if ctx.line.seq != meeting.lines[0].seq:
            ctx.reply(
                f"{ctx.nick}: a meeting is already in progress here (started by {meeting.owner_nick} "
                f"at {meeting.started_at:%H:%M:%S} UTC); #endmeeting first."
            )
            return
        parts = [f"Meeting started {_time(ctx)}. The chair is {meeting.owner_nick}."]
        if ctx.args:
            meeting.title = ctx.args
            if name := normalize_name(ctx.args):
                meeting.name = name
                parts.append(f"The meeting name has been set to '{name}'.")
        elif self.config.require_name:
            parts.append("Please name it: #meetingname <name> (the name files the minutes).")
        parts.append("Useful commands: #action #agreed #help #info #idea #link #topic.")
        ctx.reply(" ".join(parts))

    @command("endmeeting", role=Role.CHAIR, summary="end the meeting and publish the minutes")
    def endmeeting(self, ctx: Context) -> None:
        meeting = ctx.require_meeting()
        if self.config.require_name and meeting.name is None:
            ctx.reply("This meeting has no name yet: #meetingname <name>, then #endmeeting.")
            return
        meeting.ended_at = ctx.at
        ctx.publish(final=True)

    @command("save", role=Role.CHAIR, summary="publish the minutes so far")
    def save(self, ctx: Context) -> None:
        ctx.publish(final=False)

    # -- topics and names ----------------------------------------------------------------

    @command("topic", usage="#topic <text>", role=Role.CHAIR, needs_args=True, summary="start a new topic")
    def topic(self, ctx: Context) -> None:
        meeting = ctx.require_meeting()
        meeting.current_topic = ctx.args
        self._add(ctx, ItemKind.TOPIC)
        self._announce_topic(ctx, meeting)

    @command(
        "meetingtopic",
        usage="#meetingtopic <text> (or 'none' to clear)",
        role=Role.CHAIR,
        needs_args=True,
        summary="set the meeting's title",
    )
    def meetingtopic(self, ctx: Context) -> None:
        meeting = ctx.require_meeting()
        meeting.title = None if ctx.args.lower() in _CLEAR_WORDS else ctx.args
        if meeting.current_topic:
            self._announce_topic(ctx, meeting)

    @command(
        "meetingname",
        usage="#meetingname <name>",
        role=Role.CHAIR,
        needs_args=True,
        summary="set the name that files the minutes",
    )
    def meetingname(self, ctx: Context) -> None:
        meeting = ctx.require_meeting()
        name = normalize_name(ctx.args)
        if not name:
            ctx.reply("Usage: #meetingname <name> (letters, digits, '-', '_' or '.')")
            return
        meeting.name = name
        ctx.reply(f"The meeting name has been set to '{name}'")

    # -- items -------------------------------------------------------------------------------

    @command("info", usage="#info <text>", needs_args=True, summary="note information")
    def info(self, ctx: Context) -> None:
        self._add(ctx, ItemKind.INFO)

    @command("idea", usage="#idea <text>", needs_args=True, summary="note an idea")
    def idea(self, ctx: Context) -> None:
        self._add(ctx, ItemKind.IDEA)

    @command(
        "action",
        usage="#action <nick> <what they will do>",
        needs_args=True,
        summary="record an action item; every attendee named in it owns it",
    )
    def action(self, ctx: Context) -> None:
        self._add(ctx, ItemKind.ACTION)

    @command("help", usage="#help <text>", aliases=("halp",), needs_args=True, summary="ask for help")
    def help(self, ctx: Context) -> None:
        self._add(ctx, ItemKind.HELP)

    @command("link", usage="#link <url> [description]", needs_args=True, summary="note a link")
    def link(self, ctx: Context) -> None:
        self._add(ctx, ItemKind.LINK)

    @command(
        "agreed",
        usage="#agreed <decision>",
        aliases=("agree",),
        role=Role.CHAIR,
        needs_args=True,
        summary="record a decision",
    )
    def agreed(self, ctx: Context) -> None:
        self._add(ctx, ItemKind.AGREED)

    @command(
        "accepted",
        usage="#accepted <text>",
        aliases=("accept",),
        role=Role.CHAIR,
        needs_args=True,
        summary="record something accepted",
    )
    def accepted(self, ctx: Context) -> None:
        self._add(ctx, ItemKind.ACCEPTED)

    @command(
        "rejected",
        usage="#rejected <text>",
        aliases=("reject",),
        role=Role.CHAIR,
        needs_args=True,
        summary="record something rejected",
    )
    def rejected(self, ctx: Context) -> None:
        self._add(ctx, ItemKind.REJECTED)

    @listener
    def auto_link(self, ctx: Context) -> None:
        """MeetBot files a line that starts with a URL as a LINK, whole line kept."""
        assert ctx.line is not None
        if _AUTO_LINK.match(ctx.line.text.strip()):
            self._add(ctx, ItemKind.LINK, ctx.line.text.strip())

    @command("undo", role=Role.CHAIR, summary="remove the last item from the minutes")
    def undo(self, ctx: Context) -> None:
        meeting = ctx.require_meeting()
        if not meeting.items:
            ctx.reply("Nothing to undo.")
            return
        removed = meeting.items.pop()
        meeting.items_revision += 1
        if removed.kind is ItemKind.TOPIC:
            topics = [item.text for item in meeting.items if item.kind is ItemKind.TOPIC]
            meeting.current_topic = topics[-1] if topics else None
        ctx.reply(f"Removing item from minutes: {removed.kind}: {removed.text}")

    # -- people --------------------------------------------------------------------------------

    @command(
        "chair",
        usage="#chair <nick> [<nick> ...]",
        role=Role.CHAIR,
        needs_args=True,
        summary="add chairs",
    )
    def chair(self, ctx: Context) -> None:
        meeting = ctx.require_meeting()
        for nick in split_nicks(ctx.args):
            key = meeting.identity_of(nick)
            meeting.chairs[key] = nick
            _ensure_person(meeting, key, nick)
        self._report_chairs(ctx, meeting)

    @command(
        "unchair",
        usage="#unchair <nick> [<nick> ...]",
        role=Role.CHAIR,
        needs_args=True,
        summary="remove chairs",
    )
    def unchair(self, ctx: Context) -> None:
        meeting = ctx.require_meeting()
        for nick in split_nicks(ctx.args):
            key = meeting.identity_of(nick)
            if key == meeting.owner_key:
                ctx.reply(f"{meeting.owner_nick} started the meeting and stays a chair.")
                continue
            meeting.chairs.pop(key, None)
        self._report_chairs(ctx, meeting)

    @command(
        "nick",
        usage="#nick <nick> [<nick> ...]",
        needs_args=True,
        summary="add people (who may own action items) to the attendees",
    )
    def nick(self, ctx: Context) -> None:
        meeting = ctx.require_meeting()
        for nick in split_nicks(ctx.args):
            _ensure_person(meeting, meeting.identity_of(nick), nick)

    @command(
        "here",
        usage="#here [alias]",
        summary="mark yourself present, optionally with a name actions may use for you",
    )
    def here(self, ctx: Context) -> None:
        """hcoop's attendance: `#here Ken Pronovici` lets `#action Ken Pronovici to ...` reach ken."""
        meeting = ctx.require_meeting()
        meeting.present[ctx.nick.casefold()] = ctx.nick
        alias = " ".join(ctx.args.split())
        if alias and alias.casefold() != ctx.nick.casefold():
            taken = meeting.roster.get(alias.casefold())
            if taken is not None and taken != ctx.sender_key:
                ctx.reply(f"{ctx.nick}: '{alias}' already names someone else here.")
                return
            meeting.roster[alias.casefold()] = ctx.sender_key
            meeting.present[alias.casefold()] = alias

    # -- bot behaviour ---------------------------------------------------------------------------

    @command("lurk", role=Role.CHAIR, summary="stop talking and setting the topic (still logging)")
    def lurk(self, ctx: Context) -> None:
        ctx.require_meeting().lurking = True

    @command("unlurk", role=Role.CHAIR, summary="talk again")
    def unlurk(self, ctx: Context) -> None:
        ctx.require_meeting().lurking = False

    @command(
        "restrictlogs", role=Role.CHAIR, summary="publish this meeting's files readable by the owner only"
    )
    def restrictlogs(self, ctx: Context) -> None:
        ctx.require_meeting().restricted = True
        ctx.reply("Logs restricted: this meeting's files will not be world-readable.")

    @command("commands", scope=Scope.ANYTIME, summary="list the commands")
    def commands(self, ctx: Context) -> None:
        ctx.reply("Available commands: " + " ".join(ctx.commands_help()))

    # -- helpers ------------------------------------------------------------------------------

    def _add(self, ctx: Context, kind: ItemKind, text: str | None = None) -> None:
        meeting = ctx.require_meeting()
        assert ctx.line is not None
        item = Item(
            kind=kind,
            text=text if text is not None else ctx.args,
            nick=ctx.nick,
            sender_key=ctx.sender_key,
            at=ctx.at,
            line_seq=ctx.line.seq,
        )
        meeting.items.append(item)
        meeting.items_revision += 1
        if self.config.echo_items and kind is not ItemKind.TOPIC:
            ctx.reply(f"{kind}: {item.text}")

    def _announce_topic(self, ctx: Context, meeting: Meeting) -> None:
        if not self.config.set_channel_topic or not meeting.current_topic:
            return
        topic = meeting.current_topic
        if meeting.title:
            topic = f"{topic} (Meeting topic: {meeting.title})"
        ctx.set_topic(topic)

    @staticmethod
    def _report_chairs(ctx: Context, meeting: Meeting) -> None:
        ctx.reply("Current chairs: " + " ".join(sorted(meeting.chairs.values(), key=str.casefold)))


def _ensure_person(meeting: Meeting, key: str, nick: str) -> None:
    if key not in meeting.people:
        meeting.people[key] = Person(key, nick)
