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

    @property
    def bot_nicks(self) -> dict[str, str]:
        return {network: adapter.bot_nick for network, adapter in self.adapters.items()}

    def members(self, room: RoomRef) -> Sequence[Identity]:
        adapter = self.adapters.get(room.network)
        return adapter.members(room) if adapter is not None else ()

    async def send(self, message: Outbound) -> None:
        adapter = self.adapters.get(message.room.network)
        if adapter is None:
            log.warning("no adapter for network %s; dropped %r", message.room.network, message)
            return
        await adapter.send(message)
