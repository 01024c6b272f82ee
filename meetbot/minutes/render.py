"""Render a MinutesView through Jinja2 templates (and JSON) into MeetBot's set of files.

Two environments share one loader. HTML and text templates use Jinja's own autoescaping
(on for `.html`). The Markdown environment swaps HTML escaping for Markdown escaping: its
`finalize` hook escapes every expression, so an admin's override can't forget to escape a
nick or a topic, and the result is marked as Markup so Jinja's autoescape leaves it alone and
macro output isn't escaped twice.
"""

from __future__ import annotations

import json
import re
import textwrap
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    select_autoescape,
)
from markupsafe import Markup, escape

from meetbot.domain.model import ItemKind, Meeting
from meetbot.domain.team import TeamSnapshot
from meetbot.events import LineKind
from meetbot.minutes.view import (
    EXTENSIONS,
    LogLineView,
    MeetingLinks,
    MinutesView,
    PrerenderedLog,
    TextPart,
    build_view,
)

# Extension -> template name. `.json` is built with json.dumps: a template could emit
# invalid JSON, and there is nothing to lay out.
TEMPLATES: dict[str, str] = {
    ".html": "minutes.html",
    ".txt": "minutes.txt",
    ".log.html": "log.html",
    ".log.txt": "log.txt",
    ".md": "minutes.md",
}

JSON_FORMAT = "meetbot-minutes/1"


class MarkdownText(Markup):
    """Text that is already safe Markdown, so the `.md` environment outputs it as is."""

    __slots__ = ()


# ASCII punctuation that Markdown (CommonMark plus the GFM, math and footnote extensions)
# or embedded HTML gives a meaning to anywhere in a line. Backslash-escaping any ASCII
# punctuation is valid CommonMark, so over-escaping only costs readability of the source.
_MD_SPECIAL = frozenset("\\`*_{}[]<>#|!~&$^")
_MD_SPECIAL_RE = re.compile("[" + re.escape("".join(sorted(_MD_SPECIAL))) + "]")
_MD_LINE_BREAKS = re.compile(r"[\r\n\x0b\x0c\x85\u2028\u2029]+")
_MD_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]+;)")
# Printable ASCII that md_url leaves as it is: not "()<>\"'\\`", a space or "&".
_MD_URL_PLAIN = re.compile(r"[A-Za-z0-9!#$%*+,\-./:;=?@\[\]^_{|}~]*")
# Only special at the start of a block: list bullets, setext underlines, "1." / "1)" lists.
_MD_LEADING = re.compile(r"^(\s*)(?:([-+=])|(\d+)([.)]))")
# Anything md_escape would change: most values (nicks, times, labels) have nothing of it.
_MD_NEEDS_ESCAPE = re.compile(
    _MD_SPECIAL_RE.pattern + "|" + _MD_LINE_BREAKS.pattern + r"|^\s*(?:[-+=]|\d+[.)])"
)


def md_escape(value: object) -> MarkdownText:
    """User text made inert in Markdown: no markup, links, HTML or entities survive."""
    if isinstance(value, MarkdownText):
        return value
    text = str(value)
    if _MD_NEEDS_ESCAPE.search(text) is None:
        return MarkdownText(text)
    # A line break inside a list item could start a new block (list, heading, HTML);
    # Markdown renders a soft break as a space anyway.
    text = _MD_LINE_BREAKS.sub(" ", text)
    escaped = _MD_SPECIAL_RE.sub(_backslash, text)
    return MarkdownText(_MD_LEADING.sub(_escape_leading, escaped, count=1))


def _backslash(match: re.Match[str]) -> str:
    return f"\\{match.group()}"


def _escape_leading(match: re.Match[str]) -> str:
    space, bullet, digits, delimiter = match.groups()
    if bullet:
        return f"{space}\\{bullet}"
    return f"{space}{digits}\\{delimiter}"


def md_url(value: object) -> MarkdownText:
    """A link destination that can't end the `(...)` early or carry a title/HTML."""
    # Markdown decodes entities in destinations; "&" is kept (query strings need it) unless it
    # would start one.
    text = str(value)
    if _MD_URL_PLAIN.fullmatch(text):
        # Nothing below would change (the usual "page.log.html#l-12"): skip the loop.
        return MarkdownText(text)
    text = _MD_ENTITY.sub("%26", text)
    out = []
    for ch in text:
        if ch in "()<>\"'\\` " or ch.isspace() or unicodedata.category(ch).startswith("C"):
            out.append(quote(ch, safe=""))
        else:
            out.append(ch)
    return MarkdownText("".join(out))


def _md_finalize(value: object) -> object:
    # Markup here is macro output or a filter's MarkdownText: already escaped for Markdown.
    return value if isinstance(value, Markup) else md_escape(value)


_FILL_WIDTH = 72


def fill(text: str, indent: int = 0, hanging: int = 2) -> str:
    """MeetBot's `wrapList`: wrap at 72 columns, breaking only at whitespace."""
    if indent + len(text) <= _FILL_WIDTH and text.isprintable() and text and text[-1] != " ":
        # What TextWrapper gives for a line that fits, has no tab or line break to turn into
        # spaces and no trailing space to drop; wrapping costs ~20 us per item otherwise.
        return " " * indent + text
    return _wrapper(indent, hanging).fill(text)


@lru_cache(maxsize=16)
def _wrapper(indent: int, hanging: int) -> textwrap.TextWrapper:
    # Keeps no state between fill() calls, so one per shape serves every thread.
    return textwrap.TextWrapper(
        width=_FILL_WIDTH,
        initial_indent=" " * indent,
        subsequent_indent=" " * (indent + hanging),
        break_long_words=False,
        break_on_hyphens=False,
    )


def split_lines(text: str) -> list[str]:
    # Only the breaks a line-oriented reader splits on; other separators stay inside the text.
    return re.split(r"\r\n|\r|\n", text)


# -- the log ------------------------------------------------------------------------------------
#
# A long meeting's log is most of what is published (10,000 lines: 2 MB of HTML), and Jinja
# costs several microseconds per line and macro call. The packaged log.html and log.txt
# therefore take the lines from the `log_html` and `log_text` filters below, which write what
# log_lines.html (the same markup as a template, with the `parts` and `message` macros of
# macros.html) would, escaped as autoescape does. An admin who overrides either of those two
# templates gets them used instead; a custom log.html may also lay lines out itself.

_SPEECH = frozenset(kind.value for kind in LineKind if kind.is_speech)
_ACTION = LineKind.ACTION.value
LINES_TEMPLATE = "log_lines.html"
_LINE_TEMPLATES = ("macros.html", LINES_TEMPLATE)


def _escape_all(texts: list[str]) -> list[str]:
    """escape() of every string, as one pass over all of them rather than a call each: a long
    log has tens of thousands, and escape() makes a Markup object per call."""
    # Escaping maps each character on its own and leaves NUL alone, so escaping the joined text
    # and splitting it at the NULs gives the same strings, unless a text has a NUL of its own.
    joined = "\0".join(texts)
    if joined.count("\0") == len(texts) - 1:
        return str(escape(joined)).split("\0")
    return [str(escape(text)) for text in texts]


_HTML_SPECIAL = re.compile("[&<>\"']")


def log_html(lines: Sequence[LogLineView]) -> Markup:
    """The HTML log: a `<div class="line ...">...</div>` and a newline per line, as
    log_lines.html lays them out, every value escaped."""
    if isinstance(lines, PrerenderedLog):
        return Markup(lines.html)  # noqa: S704 - made by this function, in the log worker
    texts: list[str] = []  # what users wrote, escaped all at once below
    # Anchors and times: build_view makes them from a line number and a UTC time, so one check
    # over all of them finds nothing to escape (and if it ever does, they are escaped).
    stamps: list[str] = []
    # The lines whose rest has a URL, and its parts: split once for both passes.
    linked: dict[int, tuple[TextPart, ...]] = {}
    for index, line in enumerate(lines):
        texts += (line.nick, line.lead)
        stamps += (line.anchor, line.at, line.time)
        if "://" in line.rest:  # as in split_urls: no URL without one
            linked[index] = line.parts
            for part in linked[index]:
                texts.append(part.text)
                if part.href:
                    texts.append(part.href)
        else:
            texts.append(line.rest)
    if _HTML_SPECIAL.search("".join(stamps)) is not None:
        stamps = [str(escape(stamp)) for stamp in stamps]
    text_of = iter(_escape_all(texts)).__next__
    stamp_of = iter(stamps).__next__
    names: dict[str, str] = {}  # kinds and classes: a handful of fixed words, escaped once
    out: list[str] = []
    for index, (_seq, _anchor, _time, _at, kind, _nick, _text, is_bot, _lead, lead_class, rest) in enumerate(
        lines
    ):
        nick, lead, anchor, at, time = text_of(), text_of(), stamp_of(), stamp_of(), stamp_of()
        linked_parts = linked.get(index)
        if linked_parts is None:
            text = text_of()
        else:
            chunks = []
            for part in linked_parts:
                chunk = text_of()
                chunks.append(f'<a href="{text_of()}">{chunk}</a>' if part.href else chunk)
            text = "".join(chunks)
        kind_name = names.get(kind) or names.setdefault(kind, str(escape(kind)))
        bot = " bot" if is_bot else ""
        head = (
            f'<div class="line {kind_name}{bot}" id="{anchor}"><a class="tm" href="#{anchor}">'
            f'<time datetime="{at}">{time}</time></a> '
        )
        if kind == _ACTION:
            out.append(f'{head}<span class="nka">* {nick}</span> <span class="ac">{text}</span></div>\n')
        elif kind not in _SPEECH:
            out.append(f'{head}<span class="ev">*** {text}</span></div>\n')
        else:
            # The `message` macro: a highlighted addressee or command, then the rest.
            if not lead:
                message = text
            elif lead_class == "hi":
                message = f'<span class="hi">{lead}</span>{text}'
            else:
                name = names.get(lead_class) or names.setdefault(lead_class, str(escape(lead_class)))
                message = f'<span class="{name}">{lead}</span>'
                if rest:
                    message += f'<span class="{name}line">{text}</span>'
            out.append(f'{head}<span class="nk">&lt;{nick}&gt;</span> {message}</div>\n')
    return Markup("".join(out))  # noqa: S704 - every value in it went through escape() above


def log_text(lines: Iterable[LogLineView]) -> str:
    """The text log. Replayable: "HH:MM:SS <nick> text", "HH:MM:SS * nick text", "HH:MM:SS ***
    event"; a line break inside a message continues on an indented "| " line, which replay
    appends to the message, so it can never be read as a line of its own (nor run as a command)."""
    if isinstance(lines, PrerenderedLog):
        return lines.text
    out: list[str] = []
    for line in lines:
        kind = line.kind
        if kind == _ACTION:
            lead = f"{line.time} * {line.nick} "
        elif kind in _SPEECH:
            lead = f"{line.time} <{line.nick}> "
        else:
            lead = f"{line.time} *** "
        text = line.text
        if "\n" in text or "\r" in text:
            first, *more = split_lines(text)
            indent = " " * len(lead)
            out += (lead, first, "\n", *[f"{indent}| {rest}\n" for rest in more])
        else:
            out += (lead, text, "\n")
    return "".join(out)


def _log_html_from_template(env: Environment) -> Callable[[Sequence[LogLineView]], Markup]:
    def render(lines: Sequence[LogLineView]) -> Markup:
        # Autoescaped (.html): safe markup already, which log.html must not escape again.
        return Markup(env.get_template(LINES_TEMPLATE).render(lines=lines))  # noqa: S704

    return render


def _loader(templates_dir: Path | None) -> BaseLoader:
    loaders: list[BaseLoader] = []
    if templates_dir is not None:
        loaders.append(FileSystemLoader(templates_dir))
    loaders.append(PackageLoader("meetbot", "minutes/templates"))
    return ChoiceLoader(loaders)


def _common(env: Environment) -> Environment:
    env.filters["fill"] = fill
    env.filters["split_lines"] = split_lines
    env.filters["md"] = md_escape
    env.filters["md_url"] = md_url
    return env


@lru_cache(maxsize=8)
def environments(templates_dir: Path | None = None) -> tuple[Environment, Environment]:
    """(html/text environment, markdown environment); cached, FileSystemLoader still reloads
    a template whose file changed."""
    loader = _loader(templates_dir)
    options: dict[str, Any] = {
        "loader": loader,
        "undefined": StrictUndefined,
        "trim_blocks": True,
        "lstrip_blocks": True,
        "keep_trailing_newline": True,
        # The packaged templates change only with the package: not checked on disk at every
        # use (a render asks for a template, with those it extends and includes, ~30 times).
        # An admin's directory is, so an edited template shows at once.
        "auto_reload": templates_dir is not None,
    }
    markup = Environment(autoescape=select_autoescape(enabled_extensions=("html",), default=False), **options)
    markdown = Environment(autoescape=True, finalize=_md_finalize, **options)
    markup.filters["log_text"] = log_text
    if templates_dir is not None and any((templates_dir / name).is_file() for name in _LINE_TEMPLATES):
        markup.filters["log_html"] = _log_html_from_template(markup)
    else:
        markup.filters["log_html"] = log_html
    return _common(markup), _common(markdown)


def minutes_json(view: MinutesView) -> str:
    topic: str | None = None
    items: list[dict[str, Any]] = []
    for item in view.items:
        if item.kind == ItemKind.TOPIC:
            topic = item.text
        entry: dict[str, Any] = {
            "kind": item.kind,
            "text": item.text,
            "nick": item.nick,
            "at": item.at,
            "line": item.line,
            "topic": topic,
        }
        if item.kind == ItemKind.ACTION:
            entry["owners"] = list(item.owners)
        items.append(entry)
    data: dict[str, Any] = {
        "format": JSON_FORMAT,
        "meeting": {
            "id": view.meeting_id,
            "name": view.name,
            "title": view.meeting_title,
            "network": view.network,
            "room": view.room,
            "started_at": view.started_at,
            "ended_at": view.ended_at,
            "started_by": view.started_by,
            "chairs": list(view.chairs),
        },
        "topics": [
            {"title": t.heading.text, "nick": t.heading.nick, "at": t.heading.at, "line": t.heading.line}
            for t in view.topics
            if t.heading is not None
        ],
        "items": items,
        "actions": [
            {"id": a.id, "text": a.text, "owners": list(a.owners), "line": a.line} for a in view.actions
        ],
        "attendees": [{"nick": p.nick, "lines": p.lines} for p in view.attendees],
        "generator": view.generator,
    }
    if view.urls:
        data["urls"] = {u.extension: u.url for u in view.urls}
    if view.agenda:
        data["agenda"] = [{"text": a.text, "covered": a.covered, "line": a.line} for a in view.agenda]
    if view.previous_actions:
        data["previous_actions"] = [
            {"id": a.id, "text": a.text, "owners": a.owners, "status": a.status}
            for a in view.previous_actions
        ]
    if view.votes:
        data["votes"] = [
            {
                "question": vote.question,
                "kind": "motion" if vote.motion else "vote",
                "secret": vote.secret,
                "started_by": vote.started_by,
                "line": vote.started_line,
                "closed_line": vote.closed_line,
                "options": [
                    {
                        "option": c.option,
                        "count": c.count,
                        **({} if vote.secret else {"voters": list(c.voters)}),
                    }
                    for c in vote.counts
                ],
                "decided": vote.decided,
                "outcome": vote.outcome,
            }
            for vote in view.votes
        ]
    return json.dumps(data, ensure_ascii=False, sort_keys=True, indent=2) + "\n"


def render_view(
    view: MinutesView, *, templates_dir: Path | None = None, extensions: Iterable[str] = EXTENSIONS
) -> dict[str, str]:
    """`extensions` (default: every format) of an already built view; extension -> file content."""
    markup, markdown = environments(templates_dir)
    out: dict[str, str] = {}
    for extension in extensions:
        if extension == ".json":
            out[extension] = minutes_json(view)
            continue
        env = markdown if extension == ".md" else markup
        out[extension] = env.get_template(TEMPLATES[extension]).render(view=view)
    return out


def render_all(
    meeting: Meeting,
    links: MeetingLinks,
    *,
    templates_dir: Path | None = None,
    generator: str,
    command_prefixes: tuple[str, ...] = ("#",),
    team: TeamSnapshot | None = None,
) -> dict[str, str]:
    """Minutes and logs of `meeting` in every format: `.html .txt .log.html .log.txt .md .json`."""
    view = build_view(meeting, links, generator=generator, command_prefixes=command_prefixes, team=team)
    return render_view(view, templates_dir=templates_dir)
