"""Active or standby: which of several bot processes on one database speaks on the networks.

The active process bumps a lease row every `lease_seconds / 4`. A standby looks every second and
takes the row over (compare-and-set on its version) once it has seen the version stand still for
`lease_seconds` of its own time. Nothing compares clocks across hosts, and a database restart
does not hand the bot over: a standby's observation starts again when it reconnects, and the
active process renews within a few seconds of the database coming back.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from enum import StrEnum

from meetbot.storage.lease import LeaseStore
from meetbot.storage.meetings import StorageUnavailableError

log = logging.getLogger(__name__)

LEASE_NAME = "meetbot"


class Role(StrEnum):
    ACTIVE = "active"
    STANDBY = "standby"


def process_identity() -> str:
    """Unique per process start, readable in the lease row: host, pid and a random tag."""
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{secrets.token_hex(4)}"


class LeaseKeeper:
    def __init__(
        self,
        store: LeaseStore,
        *,
        lease_seconds: float,
        holder: str | None = None,
        name: str = LEASE_NAME,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self.lease_seconds = lease_seconds
        self.holder = holder or process_identity()
        self.name = name
        self._monotonic = monotonic
        # What a standby last saw of the holder, and since when it has not moved.
        self._seen: tuple[str | None, int] | None = None
        self._seen_since = 0.0

    @property
    def renew_every(self) -> float:
        return self.lease_seconds / 4

    @property
    def look_every(self) -> float:
        return min(1.0, self.lease_seconds / 8)

    async def try_acquire(self) -> bool:
        """One look by a standby: True once this process holds the lease."""
        try:
            view = await self._store.look(self.name)
            if view is None or view.holder is None:
                return await self._won(await self._store.claim_free(self.name, self.holder))
            if view.holder == self.holder:
                return True
            now = self._monotonic()
            if self._seen != (view.holder, view.version):
                self._seen, self._seen_since = (view.holder, view.version), now
                return False
            if now - self._seen_since < self.lease_seconds:
                return False
            log.warning(
                "the active process %s stopped renewing its lease %.1fs ago; taking over",
                view.holder,
                now - self._seen_since,
            )
            return await self._won(await self._store.take_over(self.name, self.holder, view.version))
        except StorageUnavailableError as error:
            # What was seen before the outage says nothing about the holder after it.
            self._seen = None
            log.warning("database unavailable while waiting on standby (%s)", error)
            return False

    async def renew(self) -> bool:
        """True while the lease is ours. An unreachable database is not a lost lease: the active
        process keeps working and renews once it is back (see the module's note)."""
        try:
            return await self._store.renew(self.name, self.holder)
        except StorageUnavailableError as error:
            log.warning("could not renew the lease (%s); still active, retrying", error)
            return True

    async def release(self) -> None:
        try:
            await self._store.release(self.name, self.holder)
        except StorageUnavailableError as error:
            log.warning("could not release the lease (%s); a standby takes over when it lapses", error)

    async def _won(self, won: bool) -> bool:
        self._seen = None
        if won:
            log.info("this process (%s) is now the active one", self.holder)
        return won
