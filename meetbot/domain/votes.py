"""Votes that count right: one ballot per identity (the last one counts), abstain as its own
option, every option listed even at zero, and a tie, no quorum or no votes reported as no
decision, never as carried. Each peer gets one of these wrong (irc-meetbots.md A.10)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

YES, NO, ABSTAIN = "Yes", "No", "Abstain"

# meetingology's bare-line ballots and hcoop's `#vote +1`: only for yes/no votes.
_SIGN_BALLOTS = {"+1": YES, "1": YES, "-1": NO, "+0": ABSTAIN, "0": ABSTAIN, "-0": ABSTAIN}
BARE_BALLOT = re.compile(r"^\s*([+-]?[01])(?:\s|$)")


@dataclass(slots=True)
class Ballot:
    nick: str
    option: str
    line: int


@dataclass(slots=True)
class VoteRules:
    """`#voters` and `#votesrequired`: they apply to the open vote and to every later one."""

    voters: dict[str, str] | None = None  # identity key -> nick; None = everyone may vote
    required: int | None = None


@dataclass(slots=True)
class Vote:
    question: str
    options: tuple[str, ...]  # display names in order; the last one is always the abstain option
    started_line: int
    started_by: str
    motion: bool = False
    secret: bool = False
    ballots: dict[str, Ballot] = field(default_factory=dict)  # identity key -> ballot
    rules: VoteRules = field(default_factory=VoteRules)
    closed_line: int | None = None

    @property
    def is_yes_no(self) -> bool:
        folded = {option.casefold() for option in self.options}
        return {"yes", "no"} <= folded

    def option_for(self, choice: str) -> str | None:
        """The option a ballot names (case-insensitive; +1/-1/+0 on yes/no votes), or None."""
        wanted = choice.strip().casefold()
        for option in self.options:
            if option.casefold() == wanted:
                return option
        if self.is_yes_no and wanted in _SIGN_BALLOTS:
            return self.option_for(_SIGN_BALLOTS[wanted])
        if wanted in ("abstain", "+0", "0", "-0"):
            return self.options[-1]
        return None


@dataclass(frozen=True, slots=True)
class OptionCount:
    option: str
    count: int
    voters: tuple[str, ...]  # empty when the vote is secret


@dataclass(frozen=True, slots=True)
class VoteResult:
    counts: tuple[OptionCount, ...]
    decided: str | None  # the winning option, or None for no decision
    outcome: str  # one sentence: "carried", "Yes wins", "tied: no decision", ...


def parse_options(text: str) -> tuple[str, tuple[str, ...]] | None:
    """`Question? a, b, c` -> ("Question?", (a, b, c)); Yes/No when no options are given.

    The question runs to the last `?`; OpenStack splits options on anything non-word, which
    breaks multi-word options, so commas (or `/` or `|`) separate them here.
    """
    question, mark, rest = text.rpartition("?")
    if not mark:
        question, rest = text, ""
    question = question.strip()
    if not question:
        return None
    question += mark
    options: dict[str, str] = {}
    for option in re.split(r"[,/|]", rest):
        cleaned = option.strip()
        if cleaned:
            options.setdefault(cleaned.casefold(), cleaned)
    if len(options) == 1:
        return None
    chosen = list(options.values()) or [YES, NO]
    if not any(option.casefold() in ("abstain", "+0") for option in chosen):
        chosen.append(ABSTAIN)
    else:  # keep the abstain option last, where tallies expect it
        chosen.sort(key=lambda option: option.casefold() in ("abstain", "+0"))
    return question, tuple(chosen)


def tally(vote: Vote) -> VoteResult:
    by_option: dict[str, list[str]] = {option: [] for option in vote.options}
    for ballot in vote.ballots.values():
        by_option[ballot.option].append(ballot.nick)
    counts = tuple(
        OptionCount(option, len(nicks), () if vote.secret else tuple(sorted(nicks, key=str.casefold)))
        for option, nicks in by_option.items()
    )
    return VoteResult(counts, *_decide(vote, counts))


def _decide(vote: Vote, counts: tuple[OptionCount, ...]) -> tuple[str | None, str]:
    cast = sum(count.count for count in counts)
    if cast == 0:
        return None, "no votes were cast: no decision"
    required = vote.rules.required
    if required is not None and cast < required:
        return None, f"only {cast} of the {required} required votes were cast: no decision"
    choices = [count for count in counts if count.option != vote.options[-1]]
    top = max(count.count for count in choices)
    if top == 0:
        return None, "everyone abstained: no decision"
    leaders = [count.option for count in choices if count.count == top]
    if len(leaders) > 1:
        return None, f"tied between {' and '.join(leaders)}: no decision"
    (winner,) = leaders
    if vote.is_yes_no:
        return winner, ("carried" if winner.casefold() == "yes" else "rejected")
    return winner, f"{winner} wins"


def summary(vote: Vote, result: VoteResult) -> str:
    """The minutes line of a closed vote: question, outcome, then every option with its voters."""
    label = "Motion" if vote.motion else "Vote"
    parts = []
    for count in result.counts:
        who = f" ({', '.join(count.voters)})" if count.voters else ""
        parts.append(f"{count.option}: {count.count}{who}")
    secret = " (secret ballot)" if vote.secret else ""
    return f"{label}{secret}: {vote.question} Result: {result.outcome}. " + "; ".join(parts)
