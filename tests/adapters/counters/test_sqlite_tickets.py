"""SQLite counters serve hot logs from tickets, and stay exact (``adapters/counters/tickets.py``).

A log used twice within a horizon claims tickets in a background sync; a call that finds one
takes it with no transaction and no thread. These tests drive the syncs themselves
(``sync_now``), on real databases, with times given; the processes ones use real processes
and the wall clock, lined up on stdin, never by sleeping.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack
from functools import partial
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from mcpwall.adapters.counters import SQLCounters
from mcpwall.adapters.counters.tickets import MIN_CLAIM, MIN_MAX, horizon
from mcpwall.adapters.store.engine import database_url
from mcpwall.core.windows import Budget, CounterKey, Ledger, Refusal
from mcpwall.ports.counters import Reservation
from tests.adapters.counters.conftest import Backend, counted_threads, sql_url
from tests.adapters.counters.reserving_worker import HOURLY, PACED, TICKETED
from tests.adapters.counters.test_processes import WORKERS, run_workers

pytestmark = pytest.mark.anyio

T0 = 1_800_000_000.0
LIMIT = Budget(CounterKey("delete_pod", "grant", "grt_a"), 100, 3600.0)
WORKER = Path(__file__).with_name("reserving_worker.py")


@pytest.fixture
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return sql_url("sqlite", tmp_path, request)


def open_counters(url: str, patience: float | None = None) -> SQLCounters:
    """Counters whose every log may take tickets (the product's take them from max 100), so
    that the small budgets here, where exactness is easiest to see, exercise them."""
    location = database_url(url, Path("unused"))
    if patience is None:
        return SQLCounters.open(location, url, ticket_min_max=1)
    return SQLCounters.open(location, url, patience=patience, ticket_min_max=1)


def rows(url: str, budget: Budget) -> list[float]:
    """The times of the log's rows, oldest first."""
    with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
        found = connection.execute(
            "SELECT at FROM counter_events WHERE log = ? ORDER BY at", (budget.log,)
        ).fetchall()
    return [at for (at,) in found]


async def make_hot(counters: SQLCounters, budget: Budget, now: float) -> None:
    """Two calls through transactions, then a sync: the log holds tickets."""
    for at in (now, now + 0.1):
        assert isinstance(await counters.reserve([budget], at), Reservation)
    await counters.sync_now()


async def test_a_hot_log_is_served_with_no_transaction_and_no_thread(url: str) -> None:
    counters = open_counters(url)
    try:
        await make_hot(counters, LIMIT, T0)  # claims MIN_CLAIM tickets (room for 49)
        claimed = rows(url, LIMIT)
        assert len(claimed) == 2 + MIN_CLAIM
        assert claimed[2:] == pytest.approx([T0 + 0.1 + 60] * MIN_CLAIM)
        with counted_threads() as threads:
            for i in range(4):
                assert isinstance(await counters.reserve([LIMIT], T0 + 0.2 + i / 100), Reservation)
            assert threads.submitted == 0
        assert counters.ticketed == 4
        assert rows(url, LIMIT) == claimed  # nothing written on the calls' path
        await counters.sync_now()  # each ticket's row moves to its call's time
        assert rows(url, LIMIT)[:6] == pytest.approx(
            [T0, T0 + 0.1, T0 + 0.2, T0 + 0.21, T0 + 0.22, T0 + 0.23]
        )
    finally:
        await counters.aclose()


async def test_a_small_budget_takes_no_tickets(url: str) -> None:
    """Below MIN_MAX (the default), a hot log is checked call by call, as before."""
    counters = SQLCounters.open(database_url(url, Path("unused")), url)
    small = Budget(CounterKey("delete_pod", "grant", "grt_s"), MIN_MAX - 1, 3600.0)
    try:
        await make_hot(counters, small, T0)
        assert rows(url, small) == [T0, T0 + 0.1]  # nothing claimed
        assert isinstance(await counters.reserve([small], T0 + 0.2), Reservation)
        assert counters.ticketed == 0
        await make_hot(counters, LIMIT, T0)  # max 100: tickets
        assert len(rows(url, LIMIT)) == 2 + MIN_CLAIM
    finally:
        await counters.aclose()


async def test_closing_gives_back_unused_tickets(url: str) -> None:
    counters = open_counters(url)
    await make_hot(counters, LIMIT, T0)
    assert isinstance(await counters.reserve([LIMIT], T0 + 0.2), Reservation)
    await counters.aclose()
    assert rows(url, LIMIT) == [T0, T0 + 0.1, T0 + 0.2]  # the calls, no ticket
    again = open_counters(url)
    try:
        assert await again.usage([LIMIT], T0 + 1) == [3]
    finally:
        await again.aclose()


async def test_usage_counts_calls_not_tickets(url: str) -> None:
    counters = open_counters(url)
    try:
        await make_hot(counters, LIMIT, T0)
        assert isinstance(await counters.reserve([LIMIT], T0 + 0.2), Reservation)
        # Three calls; four ticket rows, one used (not yet moved), three not.
        for at in (T0 + 0.2, T0 + 1.5, T0 + 3599.9):
            assert await counters.usage([LIMIT], at) == [3]
        assert await counters.usage([LIMIT], T0 + 3600.15) == [1]
    finally:
        await counters.aclose()


async def test_a_seeded_run_with_syncs_decides_as_the_ledger(url: str) -> None:
    """Calls close together (hot logs, tickets), syncs at random, releases, two logs per call
    sometimes: every decision and every reading is the reference's."""
    counters, ledger, rng = open_counters(url), Ledger(), random.Random(7)
    budgets = [
        Budget(CounterKey("a", "grant", "grt_a"), 12, 2.0),
        Budget(CounterKey("b", "grant", "grt_a"), 30, 10.0),
    ]
    now, live = T0, []
    try:
        for _ in range(600):
            now += rng.choice([0.0, 0.01, 0.05, 0.1, 0.3, 1.0])
            asked = rng.sample(budgets, rng.randint(1, 2))
            expected = ledger.reserve(asked, now)
            taken = await counters.reserve(asked, now)
            if expected is None:
                assert isinstance(taken, Reservation), (now - T0, taken)
                live.append(taken)
            else:
                assert taken == expected, (now - T0, taken)
            if live and rng.random() < 0.1:
                back = live.pop(rng.randrange(len(live)))
                ledger.release(back.requests, back.at)
                await counters.release(back)
            if rng.random() < 0.3:
                await counters.sync_now()
            assert await counters.usage(budgets, now) == [ledger.count(b, now) for b in budgets]
        assert counters.ticketed > 100  # the run did use tickets
    finally:
        await counters.aclose()


STEPS = st.lists(
    st.tuples(
        st.integers(0, 1),  # which store
        st.sampled_from([0.0, 0.0, 0.01, 0.01, 0.1, 0.4, 1.0]),  # time passing first
        st.sampled_from(["call", "call", "call", "sync", "sync", "release"]),
    ),
    max_size=60,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=STEPS, maximum=st.integers(1, 6))
@example(  # a hot log's tickets, spent by the same store
    steps=[(0, 0.0, "call"), (0, 0.01, "call"), (0, 0.0, "sync"), *[(0, 0.01, "call")] * 3],
    maximum=2,
)
@example(  # claimed just after a window's edge, offered to a call just before it
    steps=[
        (0, 0.0, "call"),
        (0, 0.0, "call"),
        (0, 1.499999, "call"),
        (0, 0.0, "sync"),
        (0, 0.0, "call"),
    ],
    maximum=2,
)
@example(  # tickets of one store, calls of the other
    steps=[(0, 0.0, "call"), (0, 0.01, "call"), (0, 0.0, "sync"), *[(1, 0.01, "call")] * 6],
    maximum=6,
)
def test_two_stores_on_one_file_never_allow_more_than_max_in_a_window(
    url: str, steps: list[tuple[int, float, str]], maximum: int
) -> None:
    """Whatever the interleaving of calls, syncs and releases on two stores (two processes),
    no window holds more than ``max`` calls that were not given back."""
    window = 1.5
    budget = Budget(CounterKey("c", "grant", uuid.uuid4().hex), maximum, window)
    allowed = asyncio.run(interleave(url, steps, budget))
    for at in allowed:
        assert sum(at - window < other <= at for other in allowed) <= maximum, allowed


async def interleave(url: str, steps: list[tuple[int, float, str]], budget: Budget) -> list[float]:
    stores = [open_counters(url, patience=0.0), open_counters(url, patience=0.0)]
    live: list[tuple[int, Reservation]] = []
    now = T0
    try:
        for which, passing, action in steps:
            now += passing
            if action == "call":
                taken = await stores[which].reserve([budget], now)
                if isinstance(taken, Reservation):
                    live.append((which, taken))
            elif action == "sync":
                await stores[which].sync_now()
            elif live:
                owner, back = live.pop()
                await stores[owner].release(back)
    finally:
        for store in stores:
            await store.aclose()
    return sorted(taken.at for _, taken in live)


@pytest.mark.parametrize("window", [120.0, 3600.0])
async def test_a_store_asks_for_another_stores_tickets_and_gets_them(
    url: str, window: float
) -> None:
    """B would be refused only because A holds unused tickets (dated 2 s ahead on a
    two-minute window, a minute ahead on an hour's, where they would keep B from the last
    room for half a minute). B asks for them (a want); A's background sync gives them back,
    and B gets the room while it waits: the two together allow exactly max."""
    budget = Budget(CounterKey("c", "grant", uuid.uuid4().hex), 10, window)
    first, second = open_counters(url), open_counters(url)
    try:
        now = time.time()
        await make_hot(first, budget, now)  # A: 2 calls, and (10 - 2) // 2 = 4 tickets
        assert max(rows(url, budget)) > now + horizon(window) - 1
        got = [await second.reserve([budget], now + 0.2) for _ in range(9)]
        assert sum(isinstance(t, Reservation) for t in got) == 8
        assert isinstance(got[-1], Refusal)
        assert max(rows(url, budget)) < now + 1  # A gave its tickets back
    finally:
        await first.aclose()
        await second.aclose()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    steps=st.lists(
        st.tuples(
            st.integers(0, 1),
            st.sampled_from([0.0, 0.01, 0.3, 1.0]),
            st.sampled_from(["call", "call", "call", "sync", "release"]),
        ),
        max_size=40,
    ),
    maximum=st.integers(1, 8),
)
@example(  # A claims (6 - 2) // 2 = 2 tickets; B's third call is refused because of them
    steps=[(0, 0.0, "call"), (0, 0.01, "call"), (0, 0.0, "sync"), *[(1, 0.01, "call")] * 3],
    maximum=6,
)
def test_after_the_other_store_syncs_a_refused_call_is_refused_only_by_calls(
    url: str, steps: list[tuple[int, float, str]], maximum: int
) -> None:
    """A call refused while the other store holds tickets asks for them; once that store
    has synced, the same call is refused only if its window holds max calls."""
    window = 60.0  # tickets a second ahead, given back after half a second idle
    budget = Budget(CounterKey("c", "grant", uuid.uuid4().hex), maximum, window)
    asyncio.run(ask_and_retry(url, steps, budget))


async def ask_and_retry(url: str, steps: list[tuple[int, float, str]], budget: Budget) -> None:
    stores = [open_counters(url, patience=0.0), open_counters(url, patience=0.0)]
    live: list[tuple[int, Reservation]] = []
    now = T0
    try:
        for which, passing, action in steps:
            now += passing
            if action == "sync":
                await stores[which].sync_now()
            elif action == "release" and live:
                owner, back = live.pop()
                await stores[owner].release(back)
            elif action == "call":
                taken = await stores[which].reserve([budget], now)
                if isinstance(taken, Refusal):
                    await stores[1 - which].sync_now()
                    taken = await stores[which].reserve([budget], now)
                    calls = sum(now - budget.window < r.at <= now for _, r in live)
                    assert isinstance(taken, Reservation) == (calls < budget.maximum), calls
                if isinstance(taken, Reservation):
                    live.append((which, taken))
    finally:
        for store in stores:
            await store.aclose()


def start_worker(url: str, mode: str, now: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), "sqlite", url, "-", mode, repr(now)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("ending", ["sigkill", "close"])
async def test_a_process_ending_with_tickets_never_hands_back_a_fresh_budget(
    url: str, ending: str
) -> None:
    """A SIGKILL leaves its unused tickets counted (towards refusing); a close gives them
    back. Either way, the calls it made stay counted."""

    def run() -> str:
        mode = "tickets" if ending == "sigkill" else "tickets-close"
        with start_worker(url, mode, T0) as worker:
            assert worker.stdout is not None
            line = worker.stdout.readline()
            if ending == "sigkill":
                worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=60)
            return line

    assert await asyncio.to_thread(run) == "reserved 4 of 6\n"
    counters = open_counters(url)
    try:
        left = [await counters.reserve([TICKETED], T0 + 1) for _ in range(TICKETED.maximum)]
        allowed = sum(isinstance(t, Reservation) for t in left)
        # 4 calls made; a SIGKILL keeps the 2 unused tickets as calls too.
        assert allowed == (TICKETED.maximum - 6 if ending == "sigkill" else TICKETED.maximum - 4)
    finally:
        await counters.aclose()


async def test_processes_spending_tickets_allow_exactly_max_between_them(url: str) -> None:
    """Four processes, 25 paced calls each on one log (max 40 a minute): they claim, spend
    and give back tickets, and allow exactly 40."""
    assert WORKERS == 4
    run = partial(run_workers, Backend("sqlite", url), 0.0, mode="paced:25")
    allowed = await asyncio.to_thread(run)
    assert sum(allowed) == PACED.maximum, allowed
    assert all(at <= time.time() for at in rows(url, PACED))  # every ticket moved or given back


async def test_processes_sharing_an_hourly_budget_allow_exactly_max_between_them(
    url: str,
) -> None:
    """Four processes on a log of max 200 an hour (the product's tickets, a minute ahead,
    synced in the background). Two make 20 calls and stay open, idle, holding what tickets
    they have left; two make 150 calls as fast as they come. Refused only because of the
    idle ones' tickets, the busy ones ask for them and get them: exactly 200 in all."""
    command = [sys.executable, str(WORKER), "sqlite", url, "-"]
    modes = ["hourly:20:hold", "hourly:20:hold", "hourly:150", "hourly:150"]

    def run() -> list[int]:
        with ExitStack() as stack:
            workers = [
                stack.enter_context(
                    subprocess.Popen(
                        [*command, mode, "0"],
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        text=True,
                    )
                )
                for mode in modes
            ]
            for worker in workers:
                assert worker.stdout is not None
                assert worker.stdout.readline() == "ready\n"
            for worker in workers:
                assert worker.stdin is not None
                worker.stdin.write("go\n")
                worker.stdin.flush()
            idle, busy = workers[:2], workers[2:]
            lines = [w.stdout.readline() for w in idle if w.stdout is not None]
            lines += [w.communicate(timeout=120)[0] for w in busy]  # the idle ones still hold
            for worker in idle:
                worker.communicate(timeout=120)
            assert [worker.returncode for worker in workers] == [0] * len(workers)
        return [int(json.loads(line.splitlines()[-1])["allowed"]) for line in lines]

    allowed = await asyncio.to_thread(run)
    assert sum(allowed) == HOURLY.maximum, allowed
    assert all(at <= time.time() for at in rows(url, HOURLY))  # nothing left claimed ahead
