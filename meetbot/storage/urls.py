"""What a database URL names, without loading SQLAlchemy: `meetbot run` asks before it loads it."""

from __future__ import annotations


def is_sqlite(url: str) -> bool:
    """SQLite's URLs, whatever the driver: 'sqlite://', 'sqlite+aiosqlite:///meetbot.db'."""
    scheme, separator, _ = url.partition("://")
    return bool(separator) and scheme.partition("+")[0] == "sqlite"
