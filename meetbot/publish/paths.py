"""Where a meeting's files go: MeetBot's file-name pattern, checked so it can't leave the archive.

Pure: no file system access. The values substituted are normalised already, but the admin's
pattern and the final result are checked anyway, because a mistake here writes files
wherever the bot's user can.
"""

from __future__ import annotations

import string
import unicodedata
from pathlib import PurePosixPath
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from meetbot.domain.model import Meeting, normalize_name
from meetbot.minutes.view import MeetingLinks

DEFAULT_PATTERN = "{name}/%Y/{name}.%Y-%m-%d-%H.%M"
PLACEHOLDERS = frozenset({"name", "channel", "network"})

# Room for the longest extension (".log.html") under the usual 255-byte name limit.
_MAX_COMPONENT_BYTES = 240


class UnsafePathError(ValueError):
    """A file name or pattern that could escape the publish directory (or isn't a name)."""


def _bad_char(ch: str) -> bool:
    # Control (Cc), format (Cf: bidi overrides that disguise names), surrogates (Cs) and
    # line/paragraph separators have no business in a published file name.
    return ch == "\\" or unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp")


def _has_bad_char(text: str) -> bool:
    if text.isascii() and text.isprintable():
        # Printable ASCII has no control, format or separator character, so only the
        # backslash is left to look for; a check of every character was most of publishing's
        # path checks (each file's path is checked several times).
        return "\\" in text
    return any(_bad_char(ch) for ch in text)


def check_relative(path: str, *, what: str = "path") -> PurePosixPath:
    """`path` as a relative POSIX path whose every component is an ordinary name."""
    if not path or path.startswith("/"):
        raise UnsafePathError(f"{what} must be a relative path: {path!r}")
    parts = path.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise UnsafePathError(f"{what} has an empty, '.' or '..' component: {path!r}")
        if _has_bad_char(part):
            raise UnsafePathError(f"{what} has a backslash or control character: {path!r}")
        if len(part.encode("utf-8", "surrogatepass")) > _MAX_COMPONENT_BYTES:
            raise UnsafePathError(f"{what} has a component longer than {_MAX_COMPONENT_BYTES} bytes")
    return PurePosixPath(*parts)


def _check_pattern(pattern: str) -> None:
    # Before substitution, "{name}" stands for a non-empty component, so the admin's own
    # separators, dots and characters can be checked on their own.
    try:
        fields = list(string.Formatter().parse(pattern))
    except ValueError as exc:
        raise UnsafePathError(f"malformed file-name pattern {pattern!r}: {exc}") from exc
    for _literal, field, spec, conversion in fields:
        if field is None:
            continue
        # Only bare names: "{name.__class__}" or "{name!r}" would let a pattern read attributes.
        if field not in PLACEHOLDERS or spec or conversion:
            raise UnsafePathError(
                f"file-name pattern {pattern!r} may only use {{name}}, {{channel}} and {{network}}"
            )
    check_relative(pattern.replace("{{", "{").replace("}}", "}"), what="file-name pattern")


def _strftime_safe(value: str) -> str:
    # Substituted before strftime: a "%" in a value must stay literal.
    return value.replace("%", "%%")


def minutes_basename(meeting: Meeting, pattern: str = DEFAULT_PATTERN, tz: str = "UTC") -> PurePosixPath:
    """The path, relative to the publish directory and without extension, of `meeting`'s files.

    `{name}` is the series name, `{channel}` and `{network}` the normalised room and network,
    then strftime codes use the start time in `tz`: `nova/2019/nova.2019-01-03-14.00`.
    """
    _check_pattern(pattern)
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {tz!r}") from exc
    values = {
        "name": meeting.series_name,
        "channel": normalize_name(meeting.room.room),
        "network": normalize_name(meeting.room.network),
    }
    for key, value in values.items():
        # Checked before strftime, which silently cuts a string at a NUL.
        if "/" in value or _has_bad_char(value):
            raise UnsafePathError(f"{{{key}}} has a separator or control character: {value!r}")
    substituted = pattern.format_map({key: _strftime_safe(value) for key, value in values.items()})
    started = meeting.started_at.astimezone(zone)
    try:
        result = started.strftime(substituted)
    except ValueError as exc:
        raise UnsafePathError(f"bad strftime code in file-name pattern {pattern!r}") from exc
    return check_relative(result, what="file name")


def url_for(base_url: str, relative: str) -> str:
    """`base_url` joined with a percent-quoted relative path, with exactly one `/` between."""
    return base_url.rstrip("/") + "/" + quote(relative, safe="/")


def links_for(basename: PurePosixPath, base_url: str | None = None) -> MeetingLinks:
    """The MeetingLinks the renderer uses, agreeing with the URLs the Publisher returns."""
    check_relative(str(basename), what="file name")
    return MeetingLinks(
        stem=basename.name,
        url_stem=url_for(base_url, str(basename)) if base_url else None,
    )
