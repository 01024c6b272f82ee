"""Logging setup: one line per record (text or JSON) naming the network, room and meeting it
concerns, with every secret from the config masked before anything is written.

The context lives in contextvars, so it follows the asyncio task that handles a line (the
dispatcher's per-room worker) and whatever that task awaits or spawns, and never leaks into
other rooms' tasks.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO
from urllib.parse import parse_qsl, quote, quote_plus, unquote

from pythonjsonlogger.json import JsonFormatter as _LibraryJsonFormatter

from meetbot.adapters.irc.protocol import sasl_payload
from meetbot.config.schema import IrcNetwork, Settings

MASK = "***"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_network: ContextVar[str | None] = ContextVar("meetbot_log_network", default=None)
_room: ContextVar[str | None] = ContextVar("meetbot_log_room", default=None)
_meeting_id: ContextVar[int | None] = ContextVar("meetbot_log_meeting_id", default=None)
CONTEXT_FIELDS = ("network", "room", "meeting_id")

# --------------------------------------------------------------------------- context


def set_room(network: str, room: str) -> None:
    """Name the room for everything the current task logs from now on. A room's worker is a
    task, so it runs in a context of its own: set once, this costs nothing per line."""
    _network.set(network)
    _room.set(room)


def set_meeting_id(meeting_id: int | None) -> None:
    """Name the meeting for the rest of the current log context (for code that learns the
    meeting only while handling a line; the room's worker clears it after each line)."""
    _meeting_id.set(meeting_id)


def current_context() -> dict[str, str | int | None]:
    return {"network": _network.get(), "room": _room.get(), "meeting_id": _meeting_id.get()}


class ContextFilter(logging.Filter):
    """Copies the current context onto each record. On a handler, not a logger: handler filters
    see the records every library's loggers propagate to the root; logger filters do not."""

    def filter(self, record: logging.LogRecord) -> bool:
        for field, value in current_context().items():
            # A value passed with extra= (or set by an earlier handler's filter) wins.
            if not hasattr(record, field):
                setattr(record, field, value)
        return True


def _context_suffix(record: logging.LogRecord) -> str:
    network, room, meeting_id = (getattr(record, field, None) for field in CONTEXT_FIELDS)
    parts = [str(part) for part in (network, room) if part is not None]
    if meeting_id is not None:
        parts.append(f"meeting={meeting_id}")
    return f" [{' '.join(parts)}]" if parts else ""


# --------------------------------------------------------------------------- secrets

# SQLAlchemy's own rule for the userinfo of a URL (sqlalchemy.engine.url._parse_url): the
# password runs to the first '@' and may hold '/', '?' or '#', so urlsplit() would get it wrong.
# Re-stated here because only meetbot/storage may import sqlalchemy (tests/test_architecture.py);
# tests/test_logs.py checks it against make_url().
_DB_USERINFO = re.compile(r"[\w+]+://(?:[^:/]*(?::(?P<password>[^@]*))?@)?")

# Credentials in protocol text, masked even when they are not in the config. IRC (jaraco irc
# logs every raw line at DEBUG): whatever follows a SASL mechanism name, NickServ IDENTIFY's
# last argument, a server PASS. Matrix: a password login gets its access token from the server,
# and matrix-nio logs each parsed response at DEBUG (`'access_token': '...'`); a token also
# travels as `?access_token=` or in an `Authorization: Bearer` header.
_PROTOCOL_SECRETS = (
    re.compile(r"(\bAUTHENTICATE )(?!(?:PLAIN|EXTERNAL|SCRAM-SHA-\d+(?:-PLUS)?|\+|\*)(?:\s|$))\S+"),
    re.compile(r"(?i)(\bNickServ\s+:?IDENTIFY\s+(?:\S+\s+)?)\S+"),
    re.compile(r"(?<!\S)(PASS :?)\S+"),
    re.compile(r"(?i)(\b(?:access|refresh)_token[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,;}]+"),
    re.compile(r"(?i)(\bBearer\s+)[^\s\"',;}]+"),
)


def database_password(url: str) -> list[str]:
    """The password of a database URL as written (percent-encoded) and decoded, plus any
    `password=` query parameter."""
    found: list[str] = []
    match = _DB_USERINFO.match(url)
    if match and match["password"]:
        found += [match["password"], unquote(match["password"])]
    _, _, query = url.partition("?")
    found += [value for key, value in parse_qsl(query) if key == "password" and value]
    return found


def secrets_of(settings: Settings) -> list[str]:
    """Every value in the config that must never reach a log."""
    found = database_password(settings.database.url)
    for network in settings.networks:
        if isinstance(network, IrcNetwork):
            found += [network.nickserv_password or ""]
            # A channel key is the channel's password; the JOIN line carries it.
            found += [channel.key or "" for channel in network.channels]
            sasl = network.sasl
            if sasl is not None and sasl.password:
                found.append(sasl.password)
                if sasl.mechanism == "PLAIN" and sasl.username:
                    # What AUTHENTICATE sends: base64(authzid NUL authcid NUL password), in chunks.
                    chunks = [c for c in sasl_payload("PLAIN", sasl.username, sasl.password) if c != "+"]
                    found += [*chunks, "".join(chunks)]
        else:
            found += [network.password or "", network.access_token or ""]
    return [secret for secret in found if secret]


def _written_forms(secret: str) -> set[str]:
    """The ways a secret shows up in text: as is, inside a repr() or a JSON string, URL-quoted."""
    return {secret, repr(secret)[1:-1], json.dumps(secret)[1:-1], quote(secret, safe=""), quote_plus(secret)}


class Redactor:
    def __init__(self, secrets: Iterable[str]) -> None:
        forms = {form for secret in secrets if secret for form in _written_forms(secret) if form}
        # Longest first, so a secret containing another is masked whole.
        alternatives = sorted(forms, key=len, reverse=True)
        self._secrets = re.compile("|".join(map(re.escape, alternatives))) if alternatives else None

    def redact(self, text: str) -> str:
        if self._secrets is not None:
            text = self._secrets.sub(MASK, text)
        for pattern in _PROTOCOL_SECRETS:
            text = pattern.sub(rf"\g<1>{MASK}", text)
        return text


_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
}
_PLAIN = logging.Formatter()


class RedactingFilter(logging.Filter):
    """Masks the secrets in a record's final message, its traceback and stack, and any text
    passed with extra=. It rewrites the record itself, so every handler after it and every
    formatter (the JSON one included) only ever sees the masked text."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            # A bad format string: logging would print msg and args raw on stderr (handleError),
            # so say it here, masked, instead.
            message = f"{record.msg!s} (unformattable arguments: {record.args!r})"
        redacted = self.redactor.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            # Rendered here once; Formatter.format() uses exc_text when it is set.
            record.exc_text = _PLAIN.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redactor.redact(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRIBUTES and isinstance(value, str):
                setattr(record, key, self.redactor.redact(value))
        return True


# --------------------------------------------------------------------------- formatters


class TextFormatter(logging.Formatter):
    """The classic line, with ` [network room meeting=N]` after the message when known."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        return super().formatMessage(record) + _context_suffix(record)


class JsonFormatter(_LibraryJsonFormatter):
    """One JSON object a line: time, level, logger, message, then network, room, meeting_id
    when known and exc_info when there is one (plus anything passed with extra=)."""

    def __init__(self) -> None:
        super().__init__(
            ["levelname", "name", "message"], rename_fields={"levelname": "level", "name": "logger"}
        )

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info and record.exc_text:
            # The library renders exc_info afresh and would undo RedactingFilter's masking of
            # exc_text; without exc_info it takes exc_text as it is.
            exc_info, record.exc_info = record.exc_info, None
            try:
                return super().format(record)
            finally:
                record.exc_info = exc_info
        return super().format(record)

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        log_data["time"] = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        # A fixed order reads better in a terminal; unknown context is left out, not null.
        first = ("time", "level", "logger", "message", *CONTEXT_FIELDS, "exc_info")
        ordered = {key: log_data[key] for key in first if log_data.get(key) is not None}
        ordered.update((key, value) for key, value in log_data.items() if key not in first)
        return ordered


# --------------------------------------------------------------------------- setup


class _MeetbotHandler(logging.StreamHandler[TextIO]):
    """The handler configure_logging() installs, told apart so a second call replaces it."""


def configure_logging(settings: Settings, stream: TextIO | None = None) -> logging.Handler:
    """Log to stderr (or `stream`) at settings.log_level in settings.log_format, with the
    context and the secret masking on every root handler. Calling it again replaces the setup."""
    root = logging.getLogger()
    root.setLevel(settings.log_level)
    for old in [handler for handler in root.handlers if isinstance(handler, _MeetbotHandler)]:
        root.removeHandler(old)
        old.close()
    handler = _MeetbotHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    root.addHandler(handler)
    redactor = Redactor(secrets_of(settings))
    # Every root handler, not just ours: one added by a host program or a test harness writes
    # the same records, secrets included. Context first, so its values are masked too.
    for each in root.handlers:
        for stale in [f for f in each.filters if isinstance(f, ContextFilter | RedactingFilter)]:
            each.removeFilter(stale)
        each.addFilter(ContextFilter())
        each.addFilter(RedactingFilter(redactor))
    # Alembic narrates every migration step at INFO; only its warnings matter to an operator.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
    # jaraco irc logs every raw line at DEBUG; the IRC adapter logs what matters itself.
    logging.getLogger("irc").setLevel(max(logging.INFO, root.level))
    return handler
