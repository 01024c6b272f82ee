"""Settings every connection to a meetbot SQLite file gets, whichever engine opened it."""

from __future__ import annotations

from typing import Any


def apply_pragmas(dbapi_connection: Any, *, memory: bool) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    if not memory:
        # WAL lets readers (the web archive, `meetbot replay`) work while the bot writes.
        # In WAL mode NORMAL keeps every committed line through a crash or kill -9 (the WAL
        # is in the OS already); only a power cut may take the last commits. FULL would
        # fsync on every line: ~0.8 ms more on each reply. Production runs PostgreSQL.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
