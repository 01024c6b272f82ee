"""Who is in which channel, under which account, with which channel status. Pure.

Fed by JOIN/PART/QUIT/KICK/NICK, NAMES, WHOX, ACCOUNT and MODE as the adapter sees them, so
`members()` answers without a round trip and a message's sender maps to an account even on a
server without account-tag.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from meetbot.adapters.irc.protocol import ServerFeatures, irc_fold

_NO_MODES: frozenset[str] = frozenset()


@dataclass
class Member:
    nick: str
    account: str | None = None
    modes: set[str] = field(default_factory=set)  # channel status letters: 'o', 'v', ...


@dataclass
class Channel:
    name: str
    members: dict[str, Member] = field(default_factory=dict)  # folded nick -> member
    modes: set[str] = field(default_factory=set)  # flag modes only: 't', 'n', ...
    modes_known: bool = False
    topic: str = ""


class Tracker:
    def __init__(self) -> None:
        self.channels: dict[str, Channel] = {}
        # Accounts are per person, not per channel: account-notify arrives once for all channels.
        self.accounts: dict[str, str | None] = {}

    def reset(self) -> None:
        self.channels.clear()
        self.accounts.clear()

    def channel(self, name: str) -> Channel | None:
        return self.channels.get(irc_fold(name))

    def joined(self, channel: str, nick: str, account: str | bool | None = False) -> None:
        """`account`: a name or None when known (extended-join), False when the join did not say."""
        key = irc_fold(channel)
        state = self.channels.setdefault(key, Channel(channel))
        if account is not False:
            # Through set_account, so the other channels' entries for this person follow too:
            # set_account relies on them always agreeing with `accounts`.
            self.set_account(nick, account if isinstance(account, str) else None)
        state.members[irc_fold(nick)] = Member(nick, self.account(nick))

    def left(self, channel: str, nick: str, *, me: bool = False) -> None:
        if me:
            self.channels.pop(irc_fold(channel), None)
            return
        state = self.channel(channel)
        if state is not None:
            state.members.pop(irc_fold(nick), None)
        self._forget_if_gone(nick)

    def quit(self, nick: str) -> list[str]:
        """Removes the person everywhere; returns the channels they were in (for the log)."""
        folded = irc_fold(nick)
        where = [state.name for state in self.channels.values() if state.members.pop(folded, None)]
        self.accounts.pop(folded, None)
        return where

    def renamed(self, old: str, new: str) -> list[str]:
        old_key, new_key = irc_fold(old), irc_fold(new)
        where = []
        for state in self.channels.values():
            member = state.members.pop(old_key, None)
            if member is not None:
                member.nick = new
                state.members[new_key] = member
                where.append(state.name)
        if old_key in self.accounts:
            self.accounts[new_key] = self.accounts.pop(old_key)
        return where

    def set_account(self, nick: str, account: str | None) -> None:
        folded = irc_fold(nick)
        if folded in self.accounts and self.accounts[folded] == account:
            return  # as known: the usual case, on every tagged line (the loop below is per channel)
        self.accounts[folded] = account
        for state in self.channels.values():
            member = state.members.get(folded)
            if member is not None:
                member.account = account

    def account(self, nick: str) -> str | None:
        return self.accounts.get(irc_fold(nick))

    def modes_of(self, channel_key: str, nick_key: str) -> AbstractSet[str]:
        """A member's status letters, by names already folded (the adapter has them on every
        line); empty for someone not in the channel."""
        state = self.channels.get(channel_key)
        member = state.members.get(nick_key) if state is not None else None
        return member.modes if member is not None else _NO_MODES

    def knows_account(self, nick: str) -> bool:
        return irc_fold(nick) in self.accounts

    def names(self, channel: str, entries: list[str], features: ServerFeatures) -> None:
        """One RPL_NAMREPLY: `@+alice!a@host bob` (multi-prefix, userhost-in-names)."""
        state = self.channels.setdefault(irc_fold(channel), Channel(channel))
        symbol_to_mode = {symbol: mode for mode, symbol in features.prefixes.items()}
        for entry in entries:
            modes = set()
            start = 0
            while start < len(entry) and entry[start] in symbol_to_mode:
                modes.add(symbol_to_mode[entry[start]])
                start += 1
            nick = entry[start:].split("!", 1)[0]
            if not nick:
                continue
            member = state.members.setdefault(irc_fold(nick), Member(nick, self.account(nick)))
            member.modes = modes

    def mode(self, channel: str, changes: str, params: list[str], features: ServerFeatures) -> None:
        """Apply `+ot-v alice carol` to status and flag modes."""
        state = self.channel(channel)
        if state is None:
            return
        args = iter(params)
        adding = True
        for letter in changes:
            if letter in "+-":
                adding = letter == "+"
            elif letter in features.prefixes:
                member = state.members.get(irc_fold(next(args, "")))
                if member is not None:
                    (member.modes.add if adding else member.modes.discard)(letter)
            elif letter in features.list_modes or letter in features.always_param:
                next(args, None)
            elif letter in features.set_param:
                if adding:
                    next(args, None)
            else:
                (state.modes.add if adding else state.modes.discard)(letter)

    def channel_modes(self, channel: str, changes: str, params: list[str], features: ServerFeatures) -> None:
        """RPL_CHANNELMODEIS: the full flag set, replacing what we assumed."""
        state = self.channel(channel)
        if state is None:
            return
        state.modes.clear()
        self.mode(channel, changes, params, features)
        state.modes_known = True

    def may_set_topic(self, channel: str, me: str) -> bool:
        """Ops (or halfops) may always; anyone may on a -t channel. Unknown modes count as +t,
        the default on every common ircd."""
        state = self.channel(channel)
        if state is None:
            return False
        member = state.members.get(irc_fold(me))
        if member is not None and member.modes & {"o", "h", "a", "q"}:
            return True
        return state.modes_known and "t" not in state.modes

    def members(self, channel: str) -> list[Member]:
        state = self.channel(channel)
        return list(state.members.values()) if state is not None else []

    def _forget_if_gone(self, nick: str) -> None:
        folded = irc_fold(nick)
        if not any(folded in state.members for state in self.channels.values()):
            self.accounts.pop(folded, None)
