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
from markupsafe import Markup

from meetbot.domain.model import ItemKind, Meeting
from meetbot.domain.team import TeamSnapshot
from meetbot.minutes.view import MeetingLinks, MinutesView, build_view

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
_MD_LINE_BREAKS = re.compile(r"[\r\n\x0b\x0c\x85\u2028\u2029]+")
_MD_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]+;)")
# Only special at the start of a block: list bullets, setext underlines, "1." / "1)" lists.
_MD_LEADING = re.compile(r"^(\s*)(?:([-+=])|(\d+)([.)]))")


def md_escape(value: object) -> MarkdownText:
    """User text made inert in Markdown: no markup, links, HTML or entities survive."""
    if isinstance(value, MarkdownText):
        return value
    # A line break inside a list item could start a new block (list, heading, HTML);
    # Markdown renders a soft break as a space anyway.
    text = _MD_LINE_BREAKS.sub(" ", str(value))
    escaped = "".join(f"\\{ch}" if ch in _MD_SPECIAL else ch for ch in text)
    return MarkdownText(_MD_LEADING.sub(_escape_leading, escaped, count=1))


def _escape_leading(match: re.Match[str]) -> str:
    space, bullet, digits, delimiter = match.groups()
    if bullet:
        return f"{space}\\{bullet}"
    return f"{space}{digits}\\{delimiter}"


def md_url(value: object) -> MarkdownText:
    """A link destination that can't end the `(...)` early or carry a title/HTML."""
    # Markdown decodes entities in destinations; "&" is kept (query strings need it) unless it
    # would start one.
    text = _MD_ENTITY.sub("%26", str(value))
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


def fill(text: str, indent: int = 0, hanging: int = 2) -> str:
    """MeetBot's `wrapList`: wrap at 72 columns, breaking only at whitespace."""
    return textwrap.TextWrapper(
        width=72,
        initial_indent=" " * indent,
        subsequent_indent=" " * (indent + hanging),
        break_long_words=False,
        break_on_hyphens=False,
    ).fill(text)


def split_lines(text: str) -> list[str]:
    # Only the breaks a line-oriented reader splits on; other separators stay inside the text.
    return re.split(r"\r\n|\r|\n", text)


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
    }
    markup = Environment(autoescape=select_autoescape(enabled_extensions=("html",), default=False), **options)
    markdown = Environment(autoescape=True, finalize=_md_finalize, **options)
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


def render_view(view: MinutesView, *, templates_dir: Path | None = None) -> dict[str, str]:
    """Every format for an already built view; extension -> file content."""
    markup, markdown = environments(templates_dir)
    out: dict[str, str] = {}
    for extension, name in TEMPLATES.items():
        env = markdown if extension == ".md" else markup
        out[extension] = env.get_template(name).render(view=view)
    out[".json"] = minutes_json(view)
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
