"""Adapters started before the core is built.

Connecting to a network is mostly waiting: InspIRCd holds a new client about a second before it
completes registration (Libera, with its ident and DNS lookups, longer), a Matrix login and first
sync take round trips. Building the core (its imports, the database, the plugins) is about as
long again. A process that is alone on its database (SQLite: no lease to win first) starts its
adapters at once and builds the core meanwhile. They join their rooms only once it is ready
(where they can wait: JoinsWhenTold); lines that arrive before then (a Matrix room's events:
its membership outlives the process) wait here and are handed over in order when the core
opens the gate."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from meetbot.adapters.base import Adapter, Handled, JoinsWhenTold, Submit
from meetbot.events import MessageIn


class EarlyAdapters:
    def __init__(self, adapters: Sequence[Adapter]) -> None:
        self._target: Submit | None = None
        self._waiting: list[tuple[MessageIn, Handled]] = []
        # Those that can wait to join their rooms do (IRC: registered, in no channel yet).
        self._held = [adapter for adapter in adapters if isinstance(adapter, JoinsWhenTold)]
        for adapter in self._held:
            adapter.hold_joins()
        self.tasks = [
            asyncio.create_task(adapter.run(self.submit), name=f"adapter {adapter.network}")
            for adapter in adapters
        ]

    @property
    def waiting(self) -> int:
        """Lines received before the core was ready and not yet handed to it."""
        return len(self._waiting)

    def submit(self, message: MessageIn) -> Handled:
        """What the adapters call, before and after the gate opens."""
        if self._target is not None:
            return self._target(message)
        # Not done until the core has handled it: a Matrix adapter keeps its sync position.
        handled: Handled = asyncio.get_running_loop().create_future()
        self._waiting.append((message, handled))
        return handled

    def open(self, submit: Submit) -> None:
        """The core is ready: hand it the lines that waited, oldest first, then every new one; join."""
        waiting, self._waiting = self._waiting, []
        for message, handled in waiting:
            _complete_with(handled, submit(message))
        self._target = submit
        for adapter in self._held:
            adapter.release_joins()

    async def cancel(self) -> None:
        """The core could not be built: leave the networks (adapters quit when cancelled)."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


def _complete_with(handled: Handled, source: Handled) -> None:
    def copy(done: Handled) -> None:
        if handled.done():
            return
        if done.cancelled():
            handled.cancel()
        elif (error := done.exception()) is not None:
            handled.set_exception(error)
        else:
            handled.set_result(done.result())

    source.add_done_callback(copy)
