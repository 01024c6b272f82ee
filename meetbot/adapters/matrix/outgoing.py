"""What the bot sends: `m.notice` contents and transaction ids. Pure."""

from __future__ import annotations

import html
import itertools
import re
from typing import Any

_URL = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")


def notice_content(text: str, *, thread: str | None = None, reply_to: str | None = None) -> dict[str, Any]:
    """An m.notice (the bot convention: other bots and the IRC bridge treat it as bot output).

    An HTML body only where it adds something (links to click); the plain body is always the
    text itself, so clients without HTML and the IRC bridge show exactly what the core said."""
    content: dict[str, Any] = {"msgtype": "m.notice", "body": text}
    formatted = html_body(text)
    if formatted is not None:
        content["format"] = "org.matrix.custom.html"
        content["formatted_body"] = formatted
    if thread is not None:
        # is_falling_back: clients without threads show it as a reply to the thread's latest
        # message instead of a reply to a specific one.
        content["m.relates_to"] = {
            "rel_type": "m.thread",
            "event_id": thread,
            "is_falling_back": True,
            "m.in_reply_to": {"event_id": reply_to or thread},
        }
    return content


def html_body(text: str) -> str | None:
    if not _URL.search(text) and "\n" not in text:
        return None
    parts: list[str] = []
    last = 0
    for match in _URL.finditer(text):
        parts.append(html.escape(text[last : match.start()]))
        url = html.escape(match.group(0))
        parts.append(f'<a href="{url}">{url}</a>')
        last = match.end()
    parts.append(html.escape(text[last:]))
    return "".join(parts).replace("\n", "<br>")


class TransactionIds:
    """One id per message, reused by every retry of it: the homeserver then stores a retried
    send once. The session part keeps a restarted bot (counting from 0 again) from colliding
    with its previous run's ids, which Synapse would answer with the old event, unsent."""

    def __init__(self, session: str) -> None:
        self._session = session
        self._counter = itertools.count()

    def next(self) -> str:
        return f"meetbot.{self._session}.{next(self._counter)}"
