"""The storage layer's errors that callers catch before it is loaded (`meetbot run` sets up its
handlers first and loads SQLAlchemy while it connects: meetbot.early)."""

from __future__ import annotations


class SchemaOutOfDateError(Exception):
    pass
