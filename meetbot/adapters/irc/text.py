"""Text on the wire: mIRC formatting codes, and splitting replies to fit IRC's 512-byte lines."""

from __future__ import annotations

import re

# \x03 colours take up to two digits of foreground and, after a comma, up to two of background;
# \x04 is the hex-colour variant. The rest are single-byte toggles (bold, italics, underline,
# strikethrough, monospace, reverse, reset).
_FORMATTING = re.compile(
    r"\x03(?:\d{1,2}(?:,\d{1,2})?)?"
    r"|\x04(?:[0-9a-fA-F]{6}(?:,[0-9a-fA-F]{6})?)?"
    r"|[\x02\x0f\x11\x16\x1d\x1e\x1f]"
)


def strip_formatting(text: str) -> str:
    """The words without their colours: what a reader of the minutes or log should see."""
    if text.isprintable():
        return text  # no control codes at all: most lines, and much cheaper to tell than to scan
    return _FORMATTING.sub("", text)


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def split_message(text: str, max_bytes: int) -> list[str]:
    """Split one reply into lines of at most `max_bytes` UTF-8 bytes each.

    Newlines always split (IRC has no multi-line message). Within a line, break at the last
    space that fits, else at the last whole character: a code point is never cut in half, so
    every piece is valid UTF-8 on its own.
    """
    if max_bytes < 4:  # one code point can take four bytes
        raise ValueError("max_bytes must allow at least one character")
    pieces: list[str] = []
    for raw_line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw_line.strip()
        while utf8_len(line) > max_bytes:
            cut = _fit(line, max_bytes)
            space = line.rfind(" ", 0, cut + 1)
            # Break at a space only if it does not waste most of the line on one long word.
            if space > cut // 2:
                head, line = line[:space], line[space + 1 :]
            else:
                head, line = line[:cut], line[cut:]
            pieces.append(head.rstrip())
            line = line.lstrip()
        if line:
            pieces.append(line)
    return pieces


def _fit(text: str, max_bytes: int) -> int:
    """How many characters of `text` fit in `max_bytes` UTF-8 bytes."""
    encoded = text.encode("utf-8")[:max_bytes]
    return len(encoded.decode("utf-8", "ignore"))
