"""What every adapter offers the core."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from meetbot.events import MessageIn, Outbound

Submit = Callable[[MessageIn], None]


class Adapter(Protocol):
    network: str
    bot_nick: str

    async def run(self, submit: Submit) -> None:
        """Deliver incoming lines to `submit` until the network side ends or the task is cancelled."""
        ...

    async def send(self, message: Outbound) -> None: ...
