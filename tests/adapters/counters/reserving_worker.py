"""One of the processes of ``test_processes.py``: reserves from a shared counter store.

Usage: ``python reserving_worker.py KIND URL PREFIX COUNT NOW`` (KIND: sqlite, postgresql or
redis). It opens the store, prints ``ready``, waits for a line on stdin (so that every worker
starts together), then makes COUNT concurrent reservations at NOW on one budget (max 5 an
hour, one grant) and prints how many it got, as JSON.

With COUNT ``hold``, it makes one reservation, prints ``reserved`` once ``reserve`` returned
(the call would now be forwarded), and waits on stdin for ever: for a test to SIGKILL it.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from mcpwall.adapters.counters import RedisCounters, SQLCounters
from mcpwall.adapters.store.engine import database_url
from mcpwall.core.windows import Budget, CounterKey
from mcpwall.ports.counters import CounterStore, Reservation

BUDGET = Budget(CounterKey("delete_pod", "grant", "grt_shared"), 5, 3600.0)


def open_counters(kind: str, url: str, prefix: str) -> CounterStore:
    if kind == "redis":
        return RedisCounters.from_url(url, prefix=prefix)
    return SQLCounters.open(database_url(url, Path("unused")), url)


async def hold(kind: str, url: str, prefix: str, now: float) -> None:
    store = open_counters(kind, url, prefix)
    taken = await store.reserve([BUDGET], now)
    print("reserved" if isinstance(taken, Reservation) else "refused", flush=True)
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
    if count == "hold":
        asyncio.run(hold(kind, url, prefix, float(now)))
        sys.exit(0)
    got = asyncio.run(main(kind, url, prefix, int(count), float(now)))
    print(json.dumps({"allowed": got}), flush=True)
