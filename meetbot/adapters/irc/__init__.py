"""The IRC adapter (jaraco `irc.client_aio`) and the pure pieces it is built from."""

from meetbot.adapters.irc.adapter import IrcAdapter, IrcConfig, Timings

__all__ = ["IrcAdapter", "IrcConfig", "Timings"]
