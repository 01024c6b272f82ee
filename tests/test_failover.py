"""The lease that makes one bot process active, on a real database of each backend. Time is
each process's own monotonic clock (never compared across hosts), advanced here by hand."""

from __future__ import annotations

import pytest

from meetbot.failover import LeaseKeeper
from meetbot.storage.database import Database

LEASE = 8.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def database(opened_database: Database) -> Database:
    return opened_database


def keeper(database: Database, holder: str, clock: Clock) -> LeaseKeeper:
    return LeaseKeeper(database.leases, lease_seconds=LEASE, holder=holder, monotonic=clock)


async def test_the_first_process_takes_a_free_lease_and_the_second_stands_by(database: Database) -> None:
    clock = Clock()
    first, second = keeper(database, "host-a:1", clock), keeper(database, "host-b:2", clock)
    assert await first.try_acquire()
    assert not await second.try_acquire()
    assert await first.renew()
    view = await database.leases.look("meetbot")
    assert view is not None
    assert view.holder == "host-a:1"


async def test_a_standby_takes_over_only_after_the_holder_stood_still_for_a_whole_lease(
    database: Database,
) -> None:
    clock = Clock()
    active, standby = keeper(database, "host-a:1", clock), keeper(database, "host-b:2", clock)
    assert await active.try_acquire()
    assert not await standby.try_acquire()  # starts watching
    # The active process renews: however long the standby watches, the lease stays.
    for _ in range(10):
        clock.now += active.renew_every
        assert await active.renew()
        assert not await standby.try_acquire()
    # It stops renewing (kill -9): just short of a lease, nothing; past it, the standby has it.
    clock.now += LEASE - 0.5
    assert not await standby.try_acquire()
    clock.now += 1.0
    assert await standby.try_acquire()
    # The old holder, should it come back, learns it lost the lease and must step down.
    assert not await active.renew()
    assert not await active.try_acquire()


async def test_a_clean_shutdown_hands_over_at_once(database: Database) -> None:
    clock = Clock()
    active, standby = keeper(database, "host-a:1", clock), keeper(database, "host-b:2", clock)
    assert await active.try_acquire()
    assert not await standby.try_acquire()
    await active.release()
    assert await standby.try_acquire()  # no waiting out the lease


async def test_two_standbys_racing_for_a_lapsed_lease_get_it_once(database: Database) -> None:
    clock = Clock()
    dead = keeper(database, "host-a:1", clock)
    b, c = keeper(database, "host-b:2", clock), keeper(database, "host-c:3", clock)
    assert await dead.try_acquire()
    assert not await b.try_acquire()
    assert not await c.try_acquire()
    clock.now += LEASE + 1
    # Both saw the same version stand still; the compare-and-set lets exactly one through.
    won = [await b.try_acquire(), await c.try_acquire()]
    assert won.count(True) == 1
    assert not await (c if won[0] else b).try_acquire()
