"""meetbot: a meeting bot for IRC and Matrix communities."""

__version__ = "0.1.0"
