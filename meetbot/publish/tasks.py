"""Running independent reads of a publish at once, where that pays."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable
from typing import Any, TypeVar, overload

A = TypeVar("A")
B = TypeVar("B")
C = TypeVar("C")


@overload
async def together(first: Awaitable[A], second: Awaitable[B], /, *, at_once: bool) -> tuple[A, B]: ...


@overload
async def together(
    first: Awaitable[A], second: Awaitable[B], third: Awaitable[C], /, *, at_once: bool
) -> tuple[A, B, C]: ...


async def together(*steps: Awaitable[Any], at_once: bool) -> tuple[Any, ...]:
    """Every step's result: run at once when `at_once` (a server database's round trips then
    overlap), else one after the other.

    At once, unlike asyncio.gather, the first failure cancels the other steps and waits for
    them to stop before it is raised: no query is left running behind a failed publish. Unlike
    a TaskGroup, the exception is raised as it is, not in an ExceptionGroup, so callers see
    what they would see running the steps one after another."""
    if not at_once:
        return await _in_turn(steps)
    tasks = [asyncio.ensure_future(step) for step in steps]
    try:
        return tuple(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)
        for task in tasks:
            if not task.cancelled():
                task.exception()  # retrieved: the one raised is reported, not "never retrieved"
        raise


async def _in_turn(steps: tuple[Awaitable[Any], ...]) -> tuple[Any, ...]:
    results: list[Any] = []
    try:
        for step in steps:
            results.append(await step)
    finally:
        # Steps not reached (one before failed) are closed, not left "never awaited".
        for step in steps[len(results) + 1 :]:
            if inspect.iscoroutine(step):
                step.close()
    return tuple(results)
