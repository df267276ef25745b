"""SQLite counters reserve on the event loop's thread, and wait their turn when they must.

A reservation takes SQLite's write lock at once on a connection of the loop's own (busy
timeout 0) and commits before it returns; when another connection holds the lock — another
process, this process's proxy-log writer — it queues for a worker thread that waits. These
tests hold the lock with a connection of their own to send reservations down that path on
purpose, and count the threads the loop is asked for (none, on the inline path).
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mcpwall.adapters.counters import SQLCounters
from mcpwall.adapters.counters.sql import CHECKPOINT_EVERY, INLINE_MAX
from mcpwall.adapters.store.engine import database_url
from mcpwall.core.windows import Budget, CounterKey, Refusal
from mcpwall.ports.counters import Reservation
from tests.adapters.counters.conftest import counted_threads, sql_url

pytestmark = pytest.mark.anyio

T0 = 1_800_000_000.0
HOUR = Budget(CounterKey("delete_pod", "grant", "grt_a"), 5, 3600.0)


@pytest.fixture
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return sql_url("sqlite", tmp_path, request)


def path_of(url: str) -> str:
    return url.removeprefix("sqlite:///")


@contextmanager
def write_lock_held(url: str) -> Iterator[sqlite3.Connection]:
    """Another connection holding the write lock, as another process would; committed after."""
    holder = sqlite3.connect(path_of(url), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield holder
    finally:
        if holder.in_transaction:
            holder.execute("COMMIT")
        holder.close()


def record(holder: sqlite3.Connection, budget: Budget, at: float, times: int) -> None:
    """Calls counted by whoever holds the lock (another gateway process, say)."""
    for _ in range(times):
        holder.execute(
            "INSERT INTO counter_events (log, at, expires_at) VALUES (?, ?, ?)",
            (budget.log, at, at + budget.window),
        )


async def until(condition: Callable[[], bool], turns: int = 100_000) -> None:
    """Let the loop run until ``condition`` holds: turns of the loop, no clock."""
    for _ in range(turns):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"still not so after {turns} turns of the event loop")


async def test_a_free_write_lock_means_no_thread_and_no_wait(url: str) -> None:
    counters = SQLCounters.open(database_url(url, Path("unused")), url)
    try:
        await counters.reserve([HOUR], T0)  # its first also starts the minute's pruning
        await counters.settle()
        with counted_threads() as threads:
            taken = [await counters.reserve([HOUR], T0 + i) for i in range(1, 6)]
            assert [isinstance(t, Reservation) for t in taken] == [True] * 4 + [False]
            assert isinstance(taken[0], Reservation)
            await counters.release(taken[0])
            assert isinstance(await counters.reserve([HOUR], T0 + 10), Reservation)
            assert threads.submitted == 0
        assert counters.waited == 0
    finally:
        await counters.aclose()


async def test_a_held_write_lock_sends_reservations_to_wait_and_they_see_what_it_wrote(
    url: str,
) -> None:
    counters = SQLCounters.open(database_url(url, Path("unused")), url)
    try:
        await counters.reserve([Budget(CounterKey("other", "global", ""), 1, 60.0)], T0)
        await counters.settle()
        with counted_threads() as threads, write_lock_held(url) as holder:
            record(holder, HOUR, T0, 3)  # not committed yet: nobody can see these
            tasks = [asyncio.create_task(counters.reserve([HOUR], T0 + 1)) for _ in range(10)]
            await until(lambda: threads.submitted >= 1)  # one waits in a thread, the rest in line
            assert counters.waited == 1
            assert not any(task.done() for task in tasks)  # the lock is still held
            holder.execute("COMMIT")
            taken = await asyncio.gather(*tasks)
        assert sum(isinstance(t, Reservation) for t in taken) == 2  # 5 minus the 3 it wrote
        refusals = [t for t in taken if isinstance(t, Refusal)]
        assert [r.retry_after_s for r in refusals] == [3599.0] * 8
        # With the lock free again, the next reservation is inline again, and counts all.
        assert isinstance(await counters.reserve([HOUR], T0 + 2), Refusal)
        assert counters.waited == 1
    finally:
        await counters.aclose()


async def test_a_give_back_waits_for_a_held_lock_too(url: str) -> None:
    counters = SQLCounters.open(database_url(url, Path("unused")), url)
    try:
        taken = await counters.reserve([HOUR], T0)
        assert isinstance(taken, Reservation)
        await counters.settle()
        with write_lock_held(url):
            release = asyncio.create_task(counters.release(taken))
            await until(lambda: counters.waited == 1)
            assert not release.done()
        await release
        assert await counters.usage([HOUR], T0) == [0]
    finally:
        await counters.aclose()


async def test_a_budget_too_large_to_scan_inline_is_reserved_in_a_thread(url: str) -> None:
    big = Budget(CounterKey("reads", "global", ""), INLINE_MAX + 1, 60.0)
    counters = SQLCounters.open(database_url(url, Path("unused")), url)
    try:
        await counters.reserve([HOUR], T0)
        await counters.settle()
        with counted_threads() as threads:
            assert isinstance(await counters.reserve([HOUR, big], T0 + 1), Reservation)
            assert threads.submitted == 1
        assert await counters.usage([HOUR, big], T0 + 1) == [2, 1]
    finally:
        await counters.aclose()


async def test_the_wal_is_checkpointed_by_a_worker_thread(url: str, tmp_path: Path) -> None:
    """The inline connection never checkpoints; a chore does, every so many commits."""
    counters = SQLCounters.open(database_url(url, Path("unused")), url)
    try:
        await counters.reserve([HOUR], T0)
        await counters.settle()  # the minute's pruning, and the checkpoint after it
        for i in range(CHECKPOINT_EVERY - 2):
            await counters.reserve([Budget(CounterKey("c", "grant", f"g{i}"), 5, 60.0)], T0)
        await counters.settle()
        assert rows_in_file(path_of(url), tmp_path / "before.db") == 1  # the rest in the WAL
        with counted_threads() as threads:
            # The CHECKPOINT_EVERY-th commit asks for one (on a log of its own: a second call
            # of HOUR's within a second would claim tickets, in a thread too).
            await counters.reserve([Budget(CounterKey("c", "grant", "last"), 5, 60.0)], T0)
            await counters.settle()
            assert threads.submitted == 1
        assert rows_in_file(path_of(url), tmp_path / "after.db") == CHECKPOINT_EVERY
    finally:
        await counters.aclose()


def rows_in_file(path: str, copy: Path) -> int:
    """The rows the database file itself holds, without its WAL (read from a copy of it)."""
    shutil.copyfile(path, copy)
    connection = sqlite3.connect(copy, isolation_level=None)
    try:
        (count,) = connection.execute("SELECT count(*) FROM counter_events").fetchone()
        return int(count)
    finally:
        connection.close()
