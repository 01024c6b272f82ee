"""Mentions ("pills") in a Matrix message: the plain text the core sees names people by user id.

A client that inserts a mention puts the person's display name in the plain `body` ("#chair Bob
Smith") and a link in the HTML `formatted_body` (`<a href="https://matrix.to/#/@bob:example.org">
Bob Smith</a>`). The core reads the plain text, and a display name is neither unique nor fixed:
anyone may take "Bob Smith". So each pill's text in the body is replaced by the user id its link
names, and `#chair Bob Smith` reaches the core as `#chair @bob:example.org`.

The logged line says the id too, not the name: the core stores the text it was given and rebuilds
a meeting by running its stored lines again, so only an id there makes the rebuilt meeting chair
the same person; and minutes read later must say who was meant, whoever has that name by then.
The speaker column still shows display names.

The identity comes only from the link, never from the text shown. The body is changed only where
a pill's place in it is certain: its text is found in the body as often as in the HTML's text, so
the n-th occurrence in one is the n-th in the other. Otherwise that pill leaves the body as it is
(at worst a mention stays a display name, as before, and never becomes the wrong person).

`m.mentions` is not read: it lists who was mentioned but not where, and may list people the
text does not name (a reply's author), so it can neither place an id nor add one.

Pure: the HTML is read with the standard library's parser, never with a regex.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit

HTML_FORMAT = "org.matrix.custom.html"

# The same grammar as meetbot.domain.attribution's (which this package may not import): an id
# this accepts is one the core recognises as a Matrix account, or the line would name a nick.
_USER_ID = re.compile(
    r"@[A-Za-z0-9._=/+\-]+:(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*)(?::[0-9]{1,5})?"
)
_MATRIX_TO_HOSTS = {"matrix.to", "www.matrix.to"}


def is_user_id(text: str) -> bool:
    return len(text) <= 255 and _USER_ID.fullmatch(text) is not None


def user_of_link(href: str) -> str | None:
    """The user a link names: `https://matrix.to/#/@bob:example.org` (also percent-encoded, and
    with `?via=` after it) or `matrix:u/bob:example.org`; None for rooms, events and the rest."""
    try:
        parts = urlsplit(href.strip())
    except ValueError:  # e.g. a malformed IPv6 host
        return None
    scheme = parts.scheme.lower()
    if scheme in ("https", "http") and parts.hostname in _MATRIX_TO_HOSTS:
        fragment = parts.fragment
        if not fragment.startswith("/"):
            return None
        # `#/@bob:example.org?via=x`: the query lives inside the fragment on matrix.to.
        candidate = unquote(fragment[1:].partition("?")[0])
    elif scheme == "matrix" and not parts.netloc:
        kind, _, rest = parts.path.partition("/")
        if kind != "u":
            return None
        candidate = "@" + unquote(rest)
    else:
        return None
    return candidate if is_user_id(candidate) else None


@dataclass(frozen=True, slots=True)
class Pill:
    """A user link in the HTML: where its text is in the HTML's text, the link as written, and
    the user it names."""

    start: int
    end: int
    href: str
    user_id: str


class _Reader(HTMLParser):
    """The HTML's text as a reader sees it (without a reply's quoted fallback) and its pills."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.length = 0
        self.pills: list[Pill] = []
        self._in_reply = 0
        self._links: list[tuple[str | None, int]] = []  # open <a>: its href, where its text starts

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "mx-reply":
            self._in_reply += 1
        elif tag == "a":
            self._links.append((dict(attrs).get("href"), self.length))

    def handle_endtag(self, tag: str) -> None:
        if tag == "mx-reply":
            self._in_reply = max(0, self._in_reply - 1)
        elif tag == "a" and self._links:
            href, start = self._links.pop()
            # A link inside another one is not a pill of its own (invalid HTML anyway); nor is
            # a link in the quoted reply, which the body no longer holds.
            if self._links or self._in_reply or href is None:
                return
            user_id = user_of_link(href)
            if user_id is not None:
                self._pill(start, href, user_id)

    def handle_data(self, data: str) -> None:
        if not self._in_reply:
            self.parts.append(data)
            self.length += len(data)

    def _pill(self, start: int, href: str, user_id: str) -> None:
        text = "".join(self.parts)[start:]
        stripped = text.strip()
        # A link showing its own address is a pasted link, not a name: the log keeps it as written.
        if stripped and user_of_link(stripped) is None:
            begin = start + text.index(stripped)
            self.pills.append(Pill(begin, begin + len(stripped), href, user_id))


def read_pills(formatted_body: str) -> tuple[str, Sequence[Pill]]:
    """The HTML's text and its user pills, in order."""
    reader = _Reader()
    reader.feed(formatted_body)
    reader.close()
    return "".join(reader.parts), reader.pills


def with_user_ids(body: str, formatted_body: str | None) -> str:
    """`body` with the text of each pill the HTML holds replaced by that pill's user id, where
    the pill's place in the body is certain; `body` unchanged otherwise."""
    if not formatted_body or "<a" not in formatted_body.lower():
        return body
    try:
        text, pills = read_pills(formatted_body)
    except Exception:
        # Anyone's HTML, and html.parser asserts on some malformed input (`<![ x`): a message
        # whose HTML can't be read keeps its body, rather than the log losing the line.
        return body
    if not pills:
        return body
    spans: list[tuple[int, int, str]] = []
    # A body may carry the link itself as Markdown, `[Bob](https://matrix.to/#/@bob:…)`: the
    # whole link becomes the id, and neither side counts it again below.
    masked_body, masked_text = body, text
    for pill in pills:
        markdown = f"[{text[pill.start : pill.end]}]({pill.href})"
        at = masked_body.find(markdown)
        if at < 0:
            continue
        spans.append((at, at + len(markdown), pill.user_id))
        masked_body = _mask(masked_body, at, at + len(markdown))
        masked_text = _mask(masked_text, pill.start, pill.end)
    by_text: dict[str, dict[int, str]] = {}
    for pill in pills:
        if masked_text[pill.start : pill.end] == text[pill.start : pill.end]:
            by_text.setdefault(text[pill.start : pill.end], {})[pill.start] = pill.user_id
    for shown, users in by_text.items():
        in_text = _occurrences(masked_text, shown)
        in_body = _occurrences(masked_body, shown)
        if len(in_text) != len(in_body) or not set(users) <= set(in_text):
            continue  # which occurrence is the pill is not certain: keep the display name
        spans.extend(
            (body_at, body_at + len(shown), users[text_at])
            for text_at, body_at in zip(in_text, in_body, strict=True)
            if text_at in users
        )
    return _replace(body, spans)


def _mask(text: str, start: int, end: int) -> str:
    # NUL keeps every position where it was and occurs in no display name a pill could show.
    return text[:start] + "\0" * (end - start) + text[end:]


def _occurrences(text: str, part: str) -> list[int]:
    found: list[int] = []
    at = text.find(part)
    while at >= 0:
        found.append(at)
        at = text.find(part, at + len(part))
    return found


def _replace(body: str, spans: list[tuple[int, int, str]]) -> str:
    ordered = sorted(spans)
    # Spans of different pills' texts could overlap only if body and HTML disagree: then
    # neither is certain, and both are left alone.
    clashing = {
        index
        for index, (start, end, _) in enumerate(ordered)
        for other, (other_start, other_end, _) in enumerate(ordered)
        if index != other and start < other_end and other_start < end
    }
    pieces: list[str] = []
    at = 0
    for index, (start, end, user_id) in enumerate(ordered):
        if index not in clashing:
            pieces += [body[at:start], user_id]
            at = end
    pieces.append(body[at:])
    return "".join(pieces)
