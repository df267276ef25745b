"""One contract for every counter store: it counts as the core's :class:`Ledger` does.

Run over memory, SQLite, PostgreSQL and Redis (``conftest.py``). Times are given, never slept
through, so window edges are tested to the millisecond on real databases too.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from mcpwall.core.windows import Budget, CounterKey, Ledger, Refusal
from mcpwall.ports.counters import CounterStore, Reservation
from tests.adapters.counters.conftest import Backend

pytestmark = pytest.mark.anyio

HOUR = 3600.0
T0 = 1_800_000_000.0  # a time like the ones gateways pass: seconds since the epoch


def budget(
    counter: str = "c", maximum: int = 5, window: float = HOUR, grant: str = "grt_a"
) -> Budget:
    return Budget(CounterKey(counter, "grant", grant), maximum, window)


async def allowed(store: CounterStore, budgets: list[Budget], now: float, times: int) -> int:
    """How many of ``times`` concurrent calls at ``now`` got a reservation."""
    taken = await asyncio.gather(*(store.reserve(budgets, now) for _ in range(times)))
    return sum(isinstance(t, Reservation) for t in taken)


async def test_of_many_concurrent_calls_exactly_max_are_allowed(backend: Backend) -> None:
    store = backend.open()
    taken = await asyncio.gather(*(store.reserve([budget()], T0) for _ in range(20)))
    refused = [t for t in taken if isinstance(t, Refusal)]
    assert len(taken) - len(refused) == 5
    assert {(r.index, r.retry_after_s) for r in refused} == {(0, HOUR)}


async def test_window_edges_to_the_millisecond(backend: Backend) -> None:
    store, one = backend.open(), [budget()]
    assert await allowed(store, one, T0, 5) == 5
    early = await store.reserve(one, T0 + HOUR - 0.001)
    assert isinstance(early, Refusal)
    assert early.retry_after_s == pytest.approx(0.001, abs=1e-6)
    assert isinstance(await store.reserve(one, T0 + HOUR), Reservation)
    assert await allowed(store, one, T0 + HOUR, 5) == 4


async def test_the_window_slides(backend: Backend) -> None:
    store, one = backend.open(), [budget(maximum=3, window=60.0)]
    for at in (0.0, 10.0, 20.0):
        assert isinstance(await store.reserve(one, T0 + at), Reservation)
    assert await store.reserve(one, T0 + 59.5) == Refusal(0, 0.5)
    assert isinstance(await store.reserve(one, T0 + 60.0), Reservation)
    assert await store.reserve(one, T0 + 61.0) == Refusal(0, 9.0)


async def test_a_full_limit_takes_nothing_from_the_others(backend: Backend) -> None:
    store = backend.open()
    wide, narrow = budget("wide", maximum=3), budget("narrow", maximum=1)
    assert isinstance(await store.reserve([wide, narrow], T0), Reservation)
    assert await store.reserve([wide, narrow], T0) == Refusal(1, HOUR)
    assert await store.reserve([wide, narrow], T0) == Refusal(1, HOUR)
    assert await allowed(store, [wide], T0, 5) == 2  # only the first call took from "wide"


async def test_release_gives_the_budget_back(backend: Backend) -> None:
    store, both = backend.open(), [budget("a", maximum=2), budget("b", maximum=1)]
    first = await store.reserve(both, T0)
    assert isinstance(first, Reservation)
    await store.release(first)
    second = await store.reserve(both, T0 + 1)
    assert isinstance(second, Reservation)
    assert isinstance(await store.reserve([both[0]], T0 + 2), Reservation)
    assert await store.reserve([both[0]], T0 + 3) == Refusal(0, HOUR - 2)  # second's at T0+1


async def test_releasing_one_call_leaves_the_others_counted(backend: Backend) -> None:
    store, one = backend.open(), [budget(maximum=3)]
    taken = [await store.reserve(one, T0 + i) for i in range(3)]
    middle = taken[1]
    assert isinstance(middle, Reservation)
    await store.release(middle)
    await store.release(middle)  # twice: nothing more to give back
    assert isinstance(await store.reserve(one, T0 + 5), Reservation)
    assert await store.reserve(one, T0 + 5) == Refusal(0, HOUR - 5)


async def test_two_grants_have_budgets_of_their_own(backend: Backend) -> None:
    store = backend.open()
    assert await allowed(store, [budget(grant="grt_a")], T0, 20) == 5
    assert await allowed(store, [budget(grant="grt_b")], T0, 20) == 5


async def test_a_call_drawing_twice_on_one_log_counts_once(backend: Backend) -> None:
    store = backend.open()
    assert await allowed(store, [budget(maximum=2), budget(maximum=2)], T0, 3) == 2


async def test_max_zero_refuses(backend: Backend) -> None:
    store = backend.open()
    assert await store.reserve([budget(), budget("z", maximum=0, window=60.0)], T0) == Refusal(
        1, 60.0
    )
    assert await allowed(store, [budget()], T0, 9) == 5  # the refused call took nothing


async def test_a_call_without_limits_is_always_reserved(backend: Backend) -> None:
    store = backend.open()
    assert await store.reserve([], T0) == Reservation((), T0)
    await store.release(Reservation((), T0))


async def test_it_counts_as_the_ledger_does(backend: Backend) -> None:
    """A seeded random run of reservations and releases, against the core's reference."""
    store, ledger, rng = backend.open(), Ledger(), random.Random(5)
    budgets = [budget("a", 3, 10.0), budget("b", 5, 60.0), budget("c", 2, 1.0, grant="grt_b")]
    now, live = T0, []
    for _ in range(150):
        now += rng.choice([0.0, 0.25, 0.5, 1.0, 3.0, 9.999, 10.0])
        asked = rng.sample(budgets, rng.randint(1, 3))
        expected = ledger.reserve(asked, now)
        got = await store.reserve(asked, now)
        if expected is None:
            assert isinstance(got, Reservation), (now - T0, asked)
            live.append(got)
        else:
            assert isinstance(got, Refusal), (now - T0, asked)
            assert got.index == expected.index
            assert got.retry_after_s == pytest.approx(expected.retry_after_s, abs=1e-6)
        if live and rng.random() < 0.2:
            given_back = live.pop(rng.randrange(len(live)))
            ledger.release(given_back.requests, given_back.at)
            await store.release(given_back)


async def test_what_one_store_counted_another_sees(durable_backend: Backend) -> None:
    """A restart (or a second gateway process) finds the counts: no fresh budget."""
    first = durable_backend.open()
    assert await allowed(first, [budget()], T0, 5) == 5
    await first.aclose()
    durable_backend.opened.remove(first)
    again = durable_backend.open()
    assert await again.reserve([budget()], T0 + 60) == Refusal(0, HOUR - 60)


async def test_two_stores_on_one_storage_allow_exactly_max_between_them(
    durable_backend: Backend,
) -> None:
    first, second = durable_backend.open(), durable_backend.open()
    one = [budget()]
    counts = await asyncio.gather(allowed(first, one, T0, 15), allowed(second, one, T0, 15))
    assert sum(counts) == 5


# -- reading usage ----------------------------------------------------------------------------


async def test_usage_counts_what_was_reserved_and_takes_nothing(backend: Backend) -> None:
    store, one = backend.open(), [budget()]
    assert await store.usage(one, T0) == [0]
    assert await allowed(store, one, T0, 3) == 3
    for _ in range(4):  # reading, however often, reserves nothing
        assert await store.usage(one, T0 + 1) == [3]
    assert await allowed(store, one, T0 + 1, 5) == 2
    assert await store.usage(one, T0 + 1) == [5]


async def test_usage_follows_the_sliding_window_to_the_millisecond(backend: Backend) -> None:
    store, one = backend.open(), [budget(maximum=3, window=60.0)]
    for at in (0.0, 10.0, 20.0):
        assert isinstance(await store.reserve(one, T0 + at), Reservation)
    assert await store.usage(one, T0 + 59.999) == [3]
    assert await store.usage(one, T0 + 60.0) == [2]  # the call at 0 left the window
    assert await store.usage(one, T0 + 80.0) == [0]


async def test_usage_is_per_budget_in_the_order_asked(backend: Backend) -> None:
    store = backend.open()
    a, b, other_grant = budget("a", 5), budget("b", 2, 60.0), budget("a", 5, grant="grt_b")
    assert isinstance(await store.reserve([a, b], T0), Reservation)
    assert isinstance(await store.reserve([a], T0), Reservation)
    # The same log asked twice reads the same; another grant's budget is its own.
    assert await store.usage([b, a, other_grant, a], T0) == [1, 2, 0, 2]
    assert await store.usage([], T0) == []


async def test_usage_leaves_out_released_calls(backend: Backend) -> None:
    store, one = backend.open(), [budget()]
    first = await store.reserve(one, T0)
    assert isinstance(await store.reserve(one, T0 + 1), Reservation)
    assert isinstance(first, Reservation)
    await store.release(first)
    assert await store.usage(one, T0 + 2) == [1]


async def test_usage_reads_as_the_ledger_counts(backend: Backend) -> None:
    """A seeded random run of reservations and releases, reading every budget's usage after
    each step (and a little later) against the core's reference."""
    store, ledger, rng = backend.open(), Ledger(), random.Random(13)
    budgets = [budget("a", 3, 10.0), budget("b", 5, 60.0), budget("c", 2, 1.0, grant="grt_b")]
    now, live = T0, []
    for _ in range(120):
        now += rng.choice([0.0, 0.25, 0.5, 1.0, 3.0, 9.999, 10.0])
        asked = rng.sample(budgets, rng.randint(1, 3))
        if ledger.reserve(asked, now) is None:
            taken = await store.reserve(asked, now)
            assert isinstance(taken, Reservation)
            live.append(taken)
        else:
            assert isinstance(await store.reserve(asked, now), Refusal)
        if live and rng.random() < 0.2:
            given_back = live.pop(rng.randrange(len(live)))
            ledger.release(given_back.requests, given_back.at)
            await store.release(given_back)
        for at in (now, now + rng.choice([0.5, 1.0, 9.999, 10.0, 59.999])):
            expected = [ledger.count(b, at) for b in budgets]
            assert await store.usage(budgets, at) == expected, (at - T0, expected)


async def test_what_one_store_counted_another_reads(durable_backend: Backend) -> None:
    """The dashboard's reading of a counter shared with the gateway's process."""
    gateway, dashboard = durable_backend.open(), durable_backend.open()
    assert await allowed(gateway, [budget()], T0, 3) == 3
    assert await dashboard.usage([budget()], T0 + 60) == [3]


async def test_a_reachable_store_answers_a_ping(backend: Backend) -> None:
    await backend.open().ping()  # /readyz's check: returns, raises nothing
