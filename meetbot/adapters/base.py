"""What every adapter offers the core."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Protocol, TypeAlias, runtime_checkable

from meetbot.events import Identity, MessageIn, Outbound, RoomRef

# Returns a future that completes once the core has handled the line; most adapters ignore it.
# Its result is None when the line is in the database, else (during a database outage) a future
# that completes once it is.
Handled: TypeAlias = "asyncio.Future[asyncio.Future[None] | None]"
Submit = Callable[[MessageIn], Handled]


class Adapter(Protocol):
    network: str
    bot_nick: str

    async def run(self, submit: Submit) -> None:
        """Deliver incoming lines to `submit` until the network side ends or the task is cancelled."""
        ...

    async def send(self, message: Outbound) -> None: ...

    def members(self, room: RoomRef) -> Sequence[Identity]:
        """Who is in the room now, with accounts where known (from the adapter's own tracking,
        no network round trip). Logged when a meeting starts, so `#chair bob` finds bob's
        account even if bob has not spoken yet, and finds it again when the meeting is rebuilt."""
        ...


@runtime_checkable
class AdapterStats(Protocol):
    """Figures an adapter may keep for /metrics."""

    reconnects: int

    @property
    def send_queue_depth(self) -> int:
        """Messages waiting to go out (or going out) now."""
        ...


@runtime_checkable
class Hearing(Protocol):
    """An adapter that can tell whether it hears a room right now (connected and in it)."""

    def hears(self, room: str) -> bool: ...


@runtime_checkable
class ResolvesRooms(Protocol):
    """An adapter whose rooms may be named by alias in the config but arrive by id."""

    async def resolve_room(self, room: str) -> str: ...


@runtime_checkable
class JoinsWhenTold(Protocol):
    """An adapter that can connect and register now and join its rooms later. Started before
    the core is built (meetbot.early), it is in no room until the core can answer there, and a
    core that fails to start leaves no room a join and a quit to show for it."""

    def hold_joins(self) -> None: ...

    def release_joins(self) -> None: ...
