"""Vote commands. OpenStack's syntax is the main form (`#startvote Q? a, b`, `#vote a`,
`#showvote`, `#endvote`); hcoop's `#motion` / `#vote +1` / `#close` and meetingology's bare
`+1` lines work too, so each peer's users feel at home. The counting rules live in
meetbot.domain.votes; this module only wires commands to them."""

from __future__ import annotations

import dataclasses

from meetbot.commands import split_nicks
from meetbot.domain.model import Item, ItemKind, Meeting
from meetbot.domain.votes import ABSTAIN, BARE_BALLOT, NO, YES, Ballot, Vote, parse_options, summary, tally
from meetbot.plugin import Context, Plugin, Role, command, listener

_SECRET_FLAGS = ("--secret ", "secret: ")
START_USAGE = "#startvote [--secret] <question>? <option>, <option>, ... (Yes/No when no options)"


class VotesPlugin(Plugin):
    name = "votes"

    @command("startvote", usage=START_USAGE, role=Role.CHAIR, needs_args=True, summary="open a vote")
    def startvote(self, ctx: Context) -> None:
        text, secret = _secret_flag(ctx.args)
        parsed = parse_options(text)
        if parsed is None:
            ctx.reply(f"Usage: {START_USAGE}")
            return
        question, options = parsed
        if self._open(ctx, Vote(question, options, _line(ctx), ctx.nick, secret=secret)):
            ctx.reply(
                f"Begin voting on: {question} Valid vote options are {', '.join(options)}. "
                "Vote using '#vote OPTION'. Only your last vote counts."
            )

    @command(
        "motion",
        usage="#motion <what is proposed>",
        role=Role.CHAIR,
        needs_args=True,
        summary="open a yes/no vote",
    )
    def motion(self, ctx: Context) -> None:
        text, secret = _secret_flag(ctx.args)
        vote = Vote(text, (YES, NO, ABSTAIN), _line(ctx), ctx.nick, motion=True, secret=secret)
        if self._open(ctx, vote):
            ctx.reply(
                f"Voting is open on: {text} Vote with #vote +1, -1 or +0 "
                "(or a line that is just +1, -1 or +0). Only your last vote counts."
            )

    @command("vote", usage="#vote <option>", needs_args=True, summary="cast (or change) your vote")
    def vote(self, ctx: Context) -> None:
        meeting = ctx.require_meeting()
        if meeting.open_vote is None:
            ctx.reply("No vote is open; a chair starts one with #startvote <question>? <option>, <option>")
            return
        self._cast(ctx, meeting.open_vote, ctx.args, explain=True)

    @listener
    def bare_ballot(self, ctx: Context) -> None:
        """meetingology: a line that starts with +1, -1 or +0 is a ballot while a yes/no vote is open."""
        meeting = ctx.require_meeting()
        assert ctx.line is not None
        vote = meeting.open_vote
        if vote is None or not vote.is_yes_no:
            return
        match = BARE_BALLOT.match(ctx.line.text)
        if match is not None:
            self._cast(ctx, vote, match.group(1), explain=False)

    @command("showvote", summary="show the running tally")
    def showvote(self, ctx: Context) -> None:
        vote = ctx.require_meeting().open_vote
        if vote is None:
            ctx.reply("No vote is open.")
            return
        result = tally(vote)
        counts = " · ".join(
            f"{count.option} ({count.count})" + (f": {', '.join(count.voters)}" if count.voters else "")
            for count in result.counts
        )
        ctx.reply(f"{vote.question} {counts}")

    @command("endvote", aliases=("close",), role=Role.CHAIR, summary="close the vote and record the result")
    def endvote(self, ctx: Context) -> None:
        if ctx.require_meeting().open_vote is None:
            ctx.reply("No vote is open.")
            return
        self._close(ctx)

    @command(
        "voters",
        usage="#voters <nick> [<nick> ...] | everyone",
        role=Role.CHAIR,
        needs_args=True,
        summary="limit who may vote",
    )
    def voters(self, ctx: Context) -> None:
        meeting = ctx.require_meeting()
        if ctx.args.strip().casefold() == "everyone":
            meeting.vote_rules.voters = None
            ctx.reply("Everyone may vote.")
            return
        meeting.vote_rules.voters = {meeting.identity_of(nick): nick for nick in split_nicks(ctx.args)}
        ctx.reply("Voters: " + ", ".join(sorted(meeting.vote_rules.voters.values(), key=str.casefold)))

    @command(
        "votesrequired",
        usage="#votesrequired <number>",
        role=Role.CHAIR,
        needs_args=True,
        summary="votes needed for a decision (quorum)",
    )
    def votesrequired(self, ctx: Context) -> None:
        if not ctx.args.isdigit():
            ctx.reply("Usage: #votesrequired <number>")
            return
        meeting = ctx.require_meeting()
        meeting.vote_rules.required = int(ctx.args) or None
        ctx.reply(f"Votes required for a decision: {int(ctx.args)}")

    def on_meeting_end(self, ctx: Context) -> None:
        # #endmeeting closes an open vote and records it, rather than losing it.
        if ctx.meeting is not None and ctx.meeting.open_vote is not None:
            self._close(ctx)

    # -- helpers --------------------------------------------------------------------------

    @staticmethod
    def _open(ctx: Context, vote: Vote) -> bool:
        meeting = ctx.require_meeting()
        if meeting.open_vote is not None:
            ctx.reply(f"Already voting on '{meeting.open_vote.question}'; #endvote first.")
            return False
        vote.rules = meeting.vote_rules
        meeting.open_vote = vote
        return True

    @staticmethod
    def _cast(ctx: Context, vote: Vote, choice: str, *, explain: bool) -> None:
        allowed = vote.rules.voters
        if allowed is not None and ctx.sender_key not in allowed:
            if explain:
                ctx.reply(
                    f"{ctx.nick}: only {', '.join(sorted(allowed.values(), key=str.casefold))} may vote."
                )
            return
        option = vote.option_for(choice)
        if option is None:
            if explain:
                valid = ", ".join(vote.options)
                ctx.reply(f"{ctx.nick}: {choice} is not a valid option. Valid options are {valid}.")
            return
        vote.ballots[ctx.sender_key] = Ballot(ctx.nick, option, _line(ctx))

    @staticmethod
    def _close(ctx: Context) -> None:
        meeting = ctx.require_meeting()
        vote = meeting.open_vote
        assert vote is not None
        vote.closed_line = _line(ctx)
        # Later #voters / #votesrequired changes must not recount a closed vote.
        vote.rules = dataclasses.replace(vote.rules)
        text = summary(vote, tally(vote))
        meeting.votes.append(vote)
        meeting.open_vote = None
        _add_item(meeting, ctx, text)
        ctx.reply(text)


def _secret_flag(args: str) -> tuple[str, bool]:
    for flag in _SECRET_FLAGS:
        if args.casefold().startswith(flag):
            return args[len(flag) :].strip(), True
    return args, False


def _line(ctx: Context) -> int:
    assert ctx.line is not None
    return ctx.line.seq


def _add_item(meeting: Meeting, ctx: Context, text: str) -> None:
    meeting.items.append(Item(ItemKind.VOTE, text, ctx.nick, ctx.sender_key, ctx.at, _line(ctx)))
    meeting.items_revision += 1
