"""Publishing minutes: file names from MeetBot's pattern (paths.py) and atomic writes (files.py)."""

from meetbot.publish.files import PublishedFile, Publisher
from meetbot.publish.paths import DEFAULT_PATTERN, UnsafePathError, links_for, minutes_basename, url_for

__all__ = [
    "DEFAULT_PATTERN",
    "PublishedFile",
    "Publisher",
    "UnsafePathError",
    "links_for",
    "minutes_basename",
    "url_for",
]
