"""The minutes view model: everything a template needs, as frozen plain values.

Pure (no jinja2, no I/O), so the web archive, the file publisher and tests all build minutes
from the same numbers. Templates only lay out what is computed here; the few decisions MeetBot
users rely on (grouping, attribution, link detection) live in code where they can be tested.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import quote

from meetbot.domain.attribution import owners_in
from meetbot.domain.model import Item, ItemKind, Line, Meeting
from meetbot.domain.presence import present_members
from meetbot.domain.team import ActionItem, AgendaItem, TeamSnapshot
from meetbot.domain.votes import OptionCount, Vote, tally
from meetbot.events import LineKind

# Every format render_all produces, in MeetBot's order plus the two new ones.
EXTENSIONS: tuple[str, ...] = (".html", ".txt", ".log.html", ".log.txt", ".md", ".json")

# MeetBot's UrlProtocols. Anything else (javascript:, data:, vbscript:) stays plain text,
# so a user can never make a reader's browser run something by typing it.
_URL_RE = re.compile(r"(?:https?|irc|ftp|mailto|ssh)://[^\s]*[^\s.)]", re.IGNORECASE)

# MeetBot's HTML log highlights "nick: ..." lines: someone being addressed.
_ADDRESSEE_RE = re.compile(r"(\S+:)(?= )")

# URL characters left as typed ("%" too, so existing escapes survive); everything else
# (quotes, <, >, spaces, backslashes, backticks, non-ASCII) is percent-encoded before it
# reaches an attribute, so an href can't end early whatever the template's quoting.
_HREF_SAFE = "!#$%&()*+,/:;=?@[]~-._"


@dataclass(frozen=True, slots=True)
class MeetingLinks:
    """Where the sibling files of one set of minutes live.

    `stem` is the last path component without extension (`nova.2019-01-03-14.00`), so the
    minutes link to `<stem>.log.html` relatively and keep working when the archive is moved.
    `url_stem` is the same stem as an absolute, already percent-quoted URL, when the publisher
    knows its base URL.
    """

    stem: str
    url_stem: str | None = None

    def href(self, extension: str) -> str:
        # Quote everything, ":" included, so a stem can never be read as a URL scheme.
        return quote(self.stem + extension, safe="")

    def url(self, extension: str) -> str | None:
        if self.url_stem is None:
            return None
        return self.url_stem + quote(extension, safe="")


@dataclass(frozen=True, slots=True)
class TextPart:
    """A run of user text; `href` is set only for a URL with an allowed scheme."""

    text: str
    href: str | None = None


@dataclass(frozen=True, slots=True)
class LinkParts:
    """A `#link` text split MeetBot's way: prefix, the first URL, the rest."""

    prefix: str
    url: str
    href: str
    suffix: str


@dataclass(frozen=True, slots=True)
class ItemView:
    kind: str
    label: str  # "" for INFO and TOPIC, which MeetBot prints without a type
    text: str
    nick: str
    time: str  # HH:MM:SS UTC
    at: str  # ISO 8601 UTC
    line: int
    anchor: str
    link: LinkParts | None = None
    owners: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TopicView:
    """A numbered topic and its items; `heading` is None for items before the first #topic."""

    heading: ItemView | None
    items: tuple[ItemView, ...]

    @property
    def title(self) -> str | None:
        return self.heading.text if self.heading else None


@dataclass(frozen=True, slots=True)
class ActionView:
    text: str
    owners: tuple[str, ...]
    nick: str
    time: str
    line: int
    anchor: str
    id: int | None = None  # once stored at the meeting's end: what #done <id> takes


@dataclass(frozen=True, slots=True)
class AgendaView:
    text: str
    covered: bool  # discussed in this meeting (else: not reached, carried over)
    line: int | None
    anchor: str | None


@dataclass(frozen=True, slots=True)
class PreviousActionView:
    id: int
    text: str
    owners: str
    status: str  # as of this meeting's end


@dataclass(frozen=True, slots=True)
class PersonActions:
    nick: str
    actions: tuple[ActionView, ...]


@dataclass(frozen=True, slots=True)
class AttendeeView:
    nick: str
    lines: int
    is_bot: bool


class LogLineView(NamedTuple):
    """One line of the log.

    A named tuple of plain strings, numbers and flags rather than a frozen dataclass like the
    rest: a long log has tens of thousands, a frozen dataclass takes four times as long to make,
    and the garbage collector stops tracking such a tuple at its first pass, so a long log does
    not set off full collections while it is published. `parts` is worked out when asked for.
    """

    seq: int
    anchor: str
    time: str
    at: str
    kind: str  # a LineKind value
    nick: str
    text: str  # verbatim, for the text log
    is_bot: bool
    lead: str  # a leading "#command " or "nick:" MeetBot highlights, else ""
    lead_class: str  # "topic", "cmd", "hi" or ""
    rest: str  # the text after `lead`

    @property
    def parts(self) -> tuple[TextPart, ...]:
        """`rest` with its URLs split out (none for an empty rest)."""
        return split_urls(self.rest) if self.rest else ()

    @property
    def is_speech(self) -> bool:
        return LineKind(self.kind).is_speech


class PrerenderedLog(tuple[LogLineView, ...]):
    """A log whose two renderings were made elsewhere (meetbot.minutes.logworker): no lines of
    its own, the `.log.html` lines and the `.log.txt` text the `log_html` and `log_text`
    filters give back as they are. Only for the packaged log templates, which lay the lines out
    through those filters alone."""

    html: str
    text: str

    def __new__(cls, html: str, text: str) -> PrerenderedLog:
        made = super().__new__(cls)
        made.html, made.text = html, text
        return made

    # As an empty tuple it would equal every other prerendered log and every empty log, and
    # views holding different logs would compare equal.
    def __eq__(self, other: object) -> bool:
        if isinstance(other, PrerenderedLog):
            return (self.html, self.text) == (other.html, other.text)
        return False if isinstance(other, tuple) else NotImplemented

    def __ne__(self, other: object) -> bool:  # tuple's own would answer otherwise
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:
        return hash((self.html, self.text))


@dataclass(frozen=True, slots=True)
class FileUrl:
    extension: str
    url: str


@dataclass(frozen=True, slots=True)
class VoteView:
    question: str
    motion: bool
    secret: bool
    started_by: str
    started_line: int
    closed_line: int | None
    counts: tuple[OptionCount, ...]  # every option, zero counts included; no names when secret
    decided: str | None
    outcome: str


@dataclass(frozen=True, slots=True)
class MinutesView:
    meeting_id: int | None
    name: str  # the series name used in file names
    title: str  # MeetBot's page title: "#chan: <title>" or "#chan Meeting"
    meeting_title: str | None  # what #meetingtopic set, unadorned
    network: str
    room: str
    started_by: str
    chairs: tuple[str, ...]
    start_time: str  # HH:MM:SS UTC
    started_at: str  # ISO 8601 UTC
    end_time: str | None  # None while the meeting is still open (#save)
    ended_at: str | None
    topics: tuple[TopicView, ...]
    items: tuple[ItemView, ...]
    actions: tuple[ActionView, ...]
    actions_by_person: tuple[PersonActions, ...]
    unassigned_actions: tuple[ActionView, ...]
    attendees: tuple[AttendeeView, ...]
    log: tuple[LogLineView, ...]
    links: MeetingLinks
    log_href: str  # relative link to the HTML log
    minutes_href: str
    full_logs: str  # the log's absolute URL when known, else the relative one (text formats)
    urls: tuple[FileUrl, ...]
    generator: str
    votes: tuple[VoteView, ...] = ()
    agenda: tuple[AgendaView, ...] = ()
    previous_actions: tuple[PreviousActionView, ...] = ()


def _href(url: str) -> str:
    return quote(url, safe=_HREF_SAFE)


@lru_cache(maxsize=32)
def _command_re(prefix: str) -> re.Pattern[str]:
    # A letter must follow the prefix, so "#1234" (a ticket) and "# comment" are not commands.
    return re.compile(rf"({re.escape(prefix)}[^\W\d_]\S*[ \t]*)(.*)", re.DOTALL)


def find_link(text: str) -> LinkParts | None:
    """MeetBot's `#link` rule: the first URL, without a trailing `.` or `)`, splits the text."""
    match = _URL_RE.search(text)
    if match is None:
        return None
    url = match.group(0)
    return LinkParts(text[: match.start()], url, _href(url), text[match.end() :])


def split_urls(text: str) -> tuple[TextPart, ...]:
    """`text` cut into plain runs and linked URLs, for the HTML log."""
    if "://" not in text:
        # Every URL the pattern accepts has "://": most lines of a long log have none, and the
        # substring test is far cheaper than running the pattern over them.
        return (TextPart(text),)
    parts: list[TextPart] = []
    pos = 0
    for match in _URL_RE.finditer(text):
        if match.start() > pos:
            parts.append(TextPart(text[pos : match.start()]))
        parts.append(TextPart(match.group(0), _href(match.group(0))))
        pos = match.end()
    if pos < len(text) or not parts:
        parts.append(TextPart(text[pos:]))
    return tuple(parts)


def _utc(at: datetime) -> datetime:
    # Stored times are aware UTC; a naive one (a hand-built test meeting) is taken as UTC
    # rather than as the renderer's local time, which would make output machine-dependent.
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def hms(at: datetime) -> str:
    return _utc(at).strftime("%H:%M:%S")


def iso(at: datetime) -> str:
    return _utc(at).isoformat(timespec="seconds").replace("+00:00", "Z")


def _stamps(at: datetime) -> tuple[str, str]:
    """(hms(at), iso(at)), the log needs both for every line: the time of day formatted once,
    the day once a day (a datetime's own isoformat() with its offset took twice as long)."""
    if at.tzinfo is not UTC:
        at = _utc(at)
    time = at.time().isoformat(timespec="seconds")
    return time, f"{_day(at.date())}T{time}Z"


@lru_cache(maxsize=64)
def _day(day: date) -> str:
    return day.isoformat()  # the year always four digits, as datetime.isoformat() has it


def page_title(meeting: Meeting) -> str:
    if meeting.title:
        return f"{meeting.room.room}: {meeting.title}"
    return f"{meeting.room.room} Meeting"


def _item_view(item: Item, nicks: Sequence[str]) -> ItemView:
    label = "" if item.kind in (ItemKind.INFO, ItemKind.TOPIC) else item.kind.value
    time, at = _stamps(item.at)
    return ItemView(
        kind=item.kind.value,
        label=label,
        text=item.text,
        nick=item.nick,
        time=time,
        at=at,
        line=item.line_seq,
        anchor=f"l-{item.line_seq}",
        link=find_link(item.text) if item.kind is ItemKind.LINK else None,
        owners=tuple(owners_in(item.text, nicks)) if item.kind is ItemKind.ACTION else (),
    )


def _group_topics(items: Iterable[ItemView]) -> tuple[TopicView, ...]:
    groups: list[TopicView] = []
    heading: ItemView | None = None
    members: list[ItemView] = []
    for item in items:
        if item.kind == ItemKind.TOPIC:
            # Items before the first topic form an unnamed group, but only if there are any.
            if heading is not None or members:
                groups.append(TopicView(heading, tuple(members)))
            heading, members = item, []
        else:
            members.append(item)
    if heading is not None or members:
        groups.append(TopicView(heading, tuple(members)))
    return tuple(groups)


def _action_view(item: ItemView, ids: dict[int, int]) -> ActionView:
    return ActionView(
        item.text, item.owners, item.nick, item.time, item.line, item.anchor, ids.get(item.line)
    )


def _agenda_view(item: AgendaItem, meeting_id: int | None) -> AgendaView:
    covered = meeting_id is not None and item.covered_meeting_id == meeting_id
    line = item.covered_line if covered else None
    return AgendaView(item.text, covered, line, f"l-{line}" if line else None)


def _previous_action_view(item: ActionItem, ended_at: datetime | None) -> PreviousActionView:
    # As of the meeting's end, from the history: regenerated minutes must say the same thing.
    status = item.status_at(ended_at) if ended_at else item.status
    return PreviousActionView(item.id, item.text, item.owner_nicks(), status.value)


def _by_person(actions: Sequence[ActionView]) -> tuple[tuple[PersonActions, ...], tuple[ActionView, ...]]:
    owned: dict[str, list[ActionView]] = {}
    names: dict[str, str] = {}
    for action in actions:
        for nick in action.owners:
            names.setdefault(nick.casefold(), nick)
            owned.setdefault(nick.casefold(), []).append(action)
    people = tuple(PersonActions(names[key], tuple(owned[key])) for key in sorted(owned))
    # MeetBot dropped the bucket when exactly one action was unassigned; keep every one.
    return people, tuple(action for action in actions if not action.owners)


# Membership and topic lines store only their argument (reason, new nick, new topic); the log
# reads them as a sentence.
_EVENT_PHRASES = {
    LineKind.JOIN: "{nick} has joined",
    LineKind.PART: "{nick} has left{reason}",
    LineKind.QUIT: "{nick} has quit{reason}",
    LineKind.KICK: "{nick} was kicked{reason}",
    LineKind.NICK: "{nick} is now known as {text}",
    LineKind.TOPIC: "{nick} changed the topic to: {text}",
}


def _present_phrase(line: Line) -> str:
    return "present at the start: " + ", ".join(nick for nick, _ in present_members(line.text))


def event_phrase(line: Line) -> str:
    if line.kind is LineKind.PRESENT:
        return _present_phrase(line)
    phrase = _EVENT_PHRASES.get(line.kind)
    if phrase is None:
        return line.text
    return phrase.format(nick=line.nick, text=line.text, reason=f" ({line.text})" if line.text else "")


_AMENDMENTS = (LineKind.EDIT, LineKind.REDACT)

# Looked up once for every line of a long log: an enum member's attributes (`.value`,
# `.is_speech`, `LineKind.SAY` itself) go through Python-level descriptors, plain sets do not.
_SPEECH = frozenset(kind for kind in LineKind if kind.is_speech)
_COMMAND_KINDS = frozenset((LineKind.SAY, LineKind.NOTICE))
_KIND_VALUES = {kind: kind.value for kind in LineKind}


def _log_line(line: Line, commands: Sequence[tuple[str, re.Pattern[str]]]) -> LogLineView:
    """`commands`: (prefix, _command_re(prefix)) for each command prefix, in order."""
    kind = line.kind
    text = line.text if kind in _SPEECH else event_phrase(line)
    if line.redacted:
        text = "(message removed)"
    elif line.edited:
        text = f"{text} (edited)"
    if line.backfilled:
        # Said while the bot was away and replayed by the server on its return: shown where it
        # arrived (its time may be coarse), and never shown as a command, since it never ran.
        text = f"{text} (replayed by the server)"
    lead, lead_class, rest = "", "", text
    if kind in _COMMAND_KINDS and not line.backfilled:
        for prefix, command in commands:
            # Most lines aren't commands: the prefix test spares them the pattern.
            match = command.match(line.text) if line.text.startswith(prefix) else None
            if match:
                lead, rest = match.group(1), match.group(2)
                word = lead[len(prefix) :].strip().casefold()
                lead_class = "topic" if word == "topic" else "cmd"
                break
        else:
            hilight = _ADDRESSEE_RE.match(line.text)
            if hilight:
                lead, lead_class, rest = hilight.group(1), "hi", line.text[hilight.end() :]
    time, at = _stamps(line.at)
    # Positional: made for every line of a long log, and keywords cost measurably more.
    return LogLineView(
        line.seq,
        f"l-{line.seq}",
        time,
        at,
        _KIND_VALUES[kind],
        line.nick,
        text,
        line.is_bot,
        lead,
        lead_class,
        rest,
    )


def log_lines(lines: Iterable[Line], command_prefixes: Sequence[str]) -> tuple[LogLineView, ...]:
    """The log's lines: edits and redactions show in the lines they change, not as lines of their own."""
    commands = [(prefix, _command_re(prefix)) for prefix in command_prefixes]
    return tuple([_log_line(line, commands) for line in lines if line.kind not in _AMENDMENTS])


def build_view(
    meeting: Meeting,
    links: MeetingLinks,
    *,
    generator: str,
    command_prefixes: Sequence[str] = ("#",),
    team: TeamSnapshot | None = None,
    log: tuple[LogLineView, ...] | None = None,
) -> MinutesView:
    """The minutes of `meeting` (taken as finished state) as plain values for the templates;
    `team` adds the agenda, earlier action items and action ids when storage has them. `log`:
    the log's lines when made already (a PrerenderedLog, or none for formats without the log)."""
    nicks = meeting.attendee_nicks()
    items = tuple(_item_view(item, nicks) for item in meeting.items)
    team = team or TeamSnapshot()
    ids = {action.line_seq: action.id for action in team.meeting_actions}
    actions = tuple(_action_view(item, ids) for item in items if item.kind == ItemKind.ACTION)
    by_person, unassigned = _by_person(actions)
    log_href = links.href(".log.html")
    urls = tuple(FileUrl(ext, url) for ext in EXTENSIONS if (url := links.url(ext)) is not None)
    return MinutesView(
        meeting_id=meeting.id,
        name=meeting.series_name,
        title=page_title(meeting),
        meeting_title=meeting.title,
        network=meeting.room.network,
        room=meeting.room.room,
        started_by=meeting.owner_nick,
        chairs=tuple(meeting.chairs.values()),
        start_time=hms(meeting.started_at),
        started_at=iso(meeting.started_at),
        end_time=hms(meeting.ended_at) if meeting.ended_at else None,
        ended_at=iso(meeting.ended_at) if meeting.ended_at else None,
        topics=_group_topics(items),
        items=items,
        actions=actions,
        actions_by_person=by_person,
        unassigned_actions=unassigned,
        attendees=tuple(AttendeeView(p.nick, p.lines, p.is_bot) for p in meeting.people_present()),
        log=log_lines(meeting.lines, command_prefixes) if log is None else log,
        links=links,
        log_href=log_href,
        minutes_href=links.href(".html"),
        full_logs=links.url(".log.html") or log_href,
        urls=urls,
        generator=generator,
        votes=tuple(_vote_view(vote) for vote in meeting.votes),
        agenda=tuple(_agenda_view(item, meeting.id) for item in team.agenda),
        previous_actions=tuple(
            _previous_action_view(item, meeting.ended_at) for item in team.previous_actions
        ),
    )


def _vote_view(vote: Vote) -> VoteView:
    result = tally(vote)
    return VoteView(
        question=vote.question,
        motion=vote.motion,
        secret=vote.secret,
        started_by=vote.started_by,
        started_line=vote.started_line,
        closed_line=vote.closed_line,
        counts=result.counts,
        decided=result.decided,
        outcome=result.outcome,
    )
