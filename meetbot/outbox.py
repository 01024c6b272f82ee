"""Routes what the core says to the adapter of the right network."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from meetbot.adapters.base import Adapter
from meetbot.events import Identity, Outbound, RoomRef

log = logging.getLogger(__name__)


class Outbox:
    def __init__(self, adapters: Iterable[Adapter]) -> None:
        self.adapters = {adapter.network: adapter for adapter in adapters}

    def bot_nick(self, network: str) -> str:
        """The bot's nick on a network right now (an IRC bot may run under its alternative nick)."""
        adapter = self.adapters.get(network)
        return adapter.bot_nick if adapter is not None else "meetbot"

    def members(self, room: RoomRef) -> Sequence[Identity]:
        adapter = self.adapters.get(room.network)
        return adapter.members(room) if adapter is not None else ()

    async def send(self, message: Outbound) -> None:
        adapter = self.adapters.get(message.room.network)
        if adapter is None:
            log.warning("no adapter for network %s; dropped %r", message.room.network, message)
            return
        await adapter.send(message)
