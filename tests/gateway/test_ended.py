"""A replica's view of ended sessions: at most one store read per check interval, a fresh
read when asked (carrying on a session), and what is known when the store is away."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from mcpwall.core.errors import StoreUnavailable
from mcpwall.gateway.ended import EndedSessions
from mcpwall.ports.clock import FakeClock
from mcpwall.ports.ended_sessions import Ended, MemoryEndedSessions

pytestmark = pytest.mark.anyio


class CountingStore(MemoryEndedSessions):
    """Counts reads; fails them while ``down``."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.down = False

    def ended_sessions(self, after: int) -> Ended:
        if self.down:
            raise StoreUnavailable("sqlite:///x", "the database is away")
        self.reads += 1
        return super().ended_sessions(after)


def hour_from(clock: FakeClock) -> datetime:
    return clock.now() + timedelta(hours=1)


async def test_an_end_on_one_replica_is_seen_by_another_at_its_next_check() -> None:
    clock, store = FakeClock(), CountingStore()
    here = EndedSessions(store, clock, check_every=3_600)
    there = EndedSessions(store, clock, check_every=3_600)
    assert not await there.is_ended("key-1")  # the first request reads
    await here.end("key-1", hour_from(clock))
    assert await here.is_ended("key-1")  # known here at once
    # There: not before its next check (an hour away here), at once when asked fresh.
    assert not await there.is_ended("key-1")
    assert await there.is_ended("key-1", fresh=True)


async def test_requests_between_checks_cost_no_store_read() -> None:
    clock, store = FakeClock(), CountingStore()
    ended = EndedSessions(store, clock, check_every=3_600)
    for _ in range(100):
        assert not await ended.is_ended("key-1")
    assert store.reads == 1


async def test_with_no_interval_every_request_reads() -> None:
    clock, store = FakeClock(), CountingStore()
    ended = EndedSessions(store, clock, check_every=0.0)
    other = EndedSessions(store, clock, check_every=0.0)
    await other.end("key-1", hour_from(clock))
    assert await ended.is_ended("key-1")
    assert await ended.is_ended("key-1")
    assert store.reads == 2


async def test_an_expired_end_is_forgotten() -> None:
    clock, store = FakeClock(), CountingStore()
    ended = EndedSessions(store, clock, check_every=0.0)
    await ended.end("key-1", clock.now() + timedelta(seconds=5))
    assert await ended.is_ended("key-1")
    clock.advance(6)
    assert not await ended.is_ended("key-1")  # its id is refused for its expiry anyway
    assert len(ended) == 0


async def test_a_store_away_fails_a_fresh_check_and_not_a_cached_one() -> None:
    clock, store = FakeClock(), CountingStore()
    writer = EndedSessions(store, clock, check_every=0.0)
    ended = EndedSessions(store, clock, check_every=0.0)
    await writer.end("key-1", hour_from(clock))
    assert await ended.is_ended("key-1")
    store.down = True
    assert await ended.is_ended("key-1")  # what it knew
    with pytest.raises(StoreUnavailable):
        await ended.is_ended("key-2", fresh=True)
