"""One of the processes of ``test_processes.py``: reserves from a shared counter store.

Usage: ``python reserving_worker.py KIND URL PREFIX COUNT NOW`` (KIND: sqlite, postgresql or
redis). It opens the store, prints ``ready``, waits for a line on stdin (so that every worker
starts together), then makes COUNT concurrent reservations at NOW on one budget (max 5 an
hour, one grant) and prints how many it got, as JSON.

With COUNT ``hold``, it makes one reservation, prints ``reserved`` once ``reserve`` returned
(the call would now be forwarded), and waits on stdin for ever: for a test to SIGKILL it.

SQLite only: with COUNT ``paced:N``, it makes N calls one after another at the wall clock's
time on :data:`PACED` (max 40 a minute), syncing its tickets after each, so that it claims
and spends tickets (``adapters/counters/tickets.py``); with COUNT ``hourly:N``, it makes N
calls one after another on :data:`HOURLY` (max 200 an hour, enough to take tickets as the
product does), leaving the syncs to the store's own background task; with ``hourly:N:hold``,
the same, then it prints how many it got and keeps the store open (its unused tickets held)
until stdin ends; with COUNT ``tickets``, it makes a
log hot, claims tickets, spends two, prints ``reserved 4 of 6`` (calls made of rows it
counted) and waits on stdin for ever, for a SIGKILL; with ``tickets-close``, the same, then
closes the store and exits.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from mcpwall.adapters.counters import RedisCounters, SQLCounters
from mcpwall.adapters.store.engine import database_url
from mcpwall.core.windows import Budget, CounterKey
from mcpwall.ports.counters import CounterStore, Reservation

BUDGET = Budget(CounterKey("delete_pod", "grant", "grt_shared"), 5, 3600.0)
PACED = Budget(CounterKey("delete_pod", "grant", "grt_paced"), 40, 60.0)
HOURLY = Budget(CounterKey("delete_pod", "grant", "grt_hourly"), 200, 3600.0)
TICKETED = Budget(CounterKey("delete_pod", "grant", "grt_ticketed"), 10, 3600.0)


def open_counters(kind: str, url: str, prefix: str) -> CounterStore:
    if kind == "redis":
        return RedisCounters.from_url(url, prefix=prefix)
    return SQLCounters.open(database_url(url, Path("unused")), url)


async def hold(kind: str, url: str, prefix: str, now: float) -> None:
    store = open_counters(kind, url, prefix)
    taken = await store.reserve([BUDGET], now)
    print("reserved" if isinstance(taken, Reservation) else "refused", flush=True)
    await asyncio.to_thread(sys.stdin.read)


async def paced(url: str, count: int) -> int:
    store = SQLCounters.open(database_url(url, Path("unused")), url, ticket_min_max=1)
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    allowed = 0
    for _ in range(count):
        allowed += isinstance(await store.reserve([PACED], time.time()), Reservation)
        await store.sync_now()
    await store.aclose()
    return allowed


async def hourly(url: str, count: int, hold: bool) -> None:
    store = SQLCounters.open(database_url(url, Path("unused")), url)
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    allowed = 0
    for _ in range(count):
        allowed += isinstance(await store.reserve([HOURLY], time.time()), Reservation)
        await asyncio.sleep(0)  # a gateway's call awaits its upstream: the syncs run between
    if hold:
        print(json.dumps({"allowed": allowed}), flush=True)
        await asyncio.to_thread(sys.stdin.read)
    await store.aclose()
    if not hold:
        print(json.dumps({"allowed": allowed}), flush=True)


async def tickets(url: str, now: float, close: bool) -> None:
    store = SQLCounters.open(database_url(url, Path("unused")), url, ticket_min_max=1)
    made = [await store.reserve([TICKETED], now) for _ in range(2)]  # hot: it wants tickets
    await store.sync_now()  # claims 2 × 2: (10 - 2) // 2 = 4 leave the room it takes
    made += [await store.reserve([TICKETED], now) for _ in range(2)]  # two tickets spent
    assert all(isinstance(m, Reservation) for m in made)
    assert store.ticketed == 2
    print(f"reserved {len(made)} of 6", flush=True)
    if close:
        await store.aclose()
        return
    await asyncio.to_thread(sys.stdin.read)


async def main(kind: str, url: str, prefix: str, count: int, now: float) -> int:
    store = open_counters(kind, url, prefix)
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    taken = await asyncio.gather(*(store.reserve([BUDGET], now) for _ in range(count)))
    await store.aclose()
    return sum(isinstance(t, Reservation) for t in taken)


if __name__ == "__main__":
    kind, url, prefix, count, now = sys.argv[1:]
    if count.startswith("paced:"):
        print(json.dumps({"allowed": asyncio.run(paced(url, int(count[6:])))}), flush=True)
        sys.exit(0)
    if count.startswith("hourly:"):
        calls, _, then = count[7:].partition(":")
        asyncio.run(hourly(url, int(calls), hold=then == "hold"))
        sys.exit(0)
    if count.startswith("tickets"):
        asyncio.run(tickets(url, float(now), close=count == "tickets-close"))
        sys.exit(0)
    if count == "hold":
        asyncio.run(hold(kind, url, prefix, float(now)))
        sys.exit(0)
    got = asyncio.run(main(kind, url, prefix, int(count), float(now)))
    print(json.dumps({"allowed": got}), flush=True)
