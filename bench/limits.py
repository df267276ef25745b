"""What checking and reserving a call's limits costs, per call, on each counter store.

Run with ``make bench``. One reservation is what the pipeline does for every call that has
limits: check each limit's window and record the call, all or none. For each store:

- latency: calls one after another (each awaited), median and 99th percentile;
- throughput: 64 calls in flight at once, calls per second;

with one limit (the seed's ``delete_pod``: 5 an hour per grant) and with two (and
``all_tools``: 600 an hour per grant). Each call is another grant's, so every call is allowed
(the path that writes) and each check reads a window of typical size. The SQL store is the
embedded default, a SQLite file here (with ``synchronous=NORMAL``, and the store's default
``FULL`` for comparison), and PostgreSQL at ``MCPWALL_BENCH_POSTGRES_URL`` (default
``postgresql://127.0.0.1:5432/test``, in a schema of its own, dropped after); Redis is at
``MCPWALL_BENCH_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``, keys under a prefix of
their own, deleted after). A server that does not answer is skipped, and says so.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import psycopg
import redis
from sqlalchemy import make_url

from mcpwall.adapters.counters import RedisCounters, SQLCounters
from mcpwall.adapters.store import open_store
from mcpwall.adapters.store.engine import create, database_url
from mcpwall.core.windows import Budget, CounterKey
from mcpwall.ports.counters import CounterStore, MemoryCounters, Reservation

POSTGRES_URL = os.environ.get("MCPWALL_BENCH_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
REDIS_URL = os.environ.get("MCPWALL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
WARMUP = 200
SEQUENTIAL = 3000
IN_FLIGHT = 64
CONCURRENT = 3000

Opener = Callable[[], AbstractAsyncContextManager[CounterStore]]


def budgets(count: int) -> Iterator[list[Budget]]:
    """The budgets of one call after another, each call another grant's."""
    for grant in (f"grt_{n:024x}" for n in itertools.count()):
        own = Budget(CounterKey("delete_pod", "grant", grant), 5, 3600.0)
        every = Budget(CounterKey("all", "grant", grant), 600, 3600.0)
        yield [own, every][:count]


async def latency_us(store: CounterStore, calls: Iterator[list[Budget]]) -> tuple[float, float]:
    """Median and 99th percentile of one awaited reservation, in microseconds."""
    now = time.time()
    for _ in range(WARMUP):
        await store.reserve(next(calls), now)
    samples = []
    for _ in range(SEQUENTIAL):
        asked = next(calls)
        start = time.perf_counter_ns()
        taken = await store.reserve(asked, now)
        samples.append((time.perf_counter_ns() - start) / 1000)
        assert isinstance(taken, Reservation)
    return statistics.median(samples), statistics.quantiles(samples, n=100)[98]


async def throughput(store: CounterStore, calls: Iterator[list[Budget]]) -> float:
    """Reservations per second with ``IN_FLIGHT`` of them at once."""
    now = time.time()
    left = CONCURRENT

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            taken = await store.reserve(next(calls), now)
            assert isinstance(taken, Reservation)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    return CONCURRENT / (time.perf_counter() - start)


@asynccontextmanager
async def memory() -> AsyncIterator[CounterStore]:
    yield MemoryCounters()


def sqlite(synchronous_normal: bool) -> Opener:
    @asynccontextmanager
    async def opened() -> AsyncIterator[CounterStore]:
        with tempfile.TemporaryDirectory() as home:
            url = f"sqlite:///{Path(home) / 'mcpwall.db'}"
            open_store(url, Path(home), environ={}).close()
            engine_url = database_url(url, Path(home))
            store = (
                SQLCounters.open(engine_url, url)
                if synchronous_normal
                else SQLCounters(create(engine_url), url)
            )
            yield store
            await store.aclose()

    return opened


@asynccontextmanager
async def postgresql() -> AsyncIterator[CounterStore]:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    try:
        url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        text = url.render_as_string(hide_password=False)
        with tempfile.TemporaryDirectory() as home:
            open_store(text, Path(home), environ={}).close()
        store = SQLCounters.open(database_url(text, Path(".")), POSTGRES_URL)
        yield store
        await store.aclose()
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@asynccontextmanager
async def on_redis() -> AsyncIterator[CounterStore]:
    prefix = f"mcpwall-bench:{uuid.uuid4().hex[:12]}:limits"
    store = RedisCounters.from_url(REDIS_URL, prefix=prefix)
    try:
        yield store
    finally:
        await store.aclose()
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(match=f"{prefix}:*"):
            client.delete(key)
        client.close()


def reachable() -> dict[str, str | None]:
    """Why each server can't be used (None when it can)."""
    why: dict[str, str | None] = {"postgresql": None, "redis": None}
    try:
        psycopg.connect(POSTGRES_URL, connect_timeout=3).close()
    except psycopg.Error as error:
        why["postgresql"] = str(error).strip().splitlines()[0]
    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
        client.ping()
        client.close()
    except redis.RedisError as error:
        why["redis"] = str(error)
    return why


async def main() -> None:
    why = reachable()
    stores: list[tuple[str, Opener | None, str | None]] = [
        ("in memory (the fake; not persisted)", memory, None),
        ("SQL: SQLite, synchronous=NORMAL (default)", sqlite(True), None),
        ("SQL: SQLite, synchronous=FULL", sqlite(False), None),
        ("SQL: PostgreSQL (advisory locks)", postgresql, why["postgresql"]),
        ("Redis (one Lua script, EVALSHA)", on_redis, why["redis"]),
    ]
    print(f"check-and-reserve per call: {SEQUENTIAL:,} awaited one by one (median, p99), and")
    print(f"{CONCURRENT:,} with {IN_FLIGHT} in flight (calls/s); every call allowed")
    results: dict[str, dict[str, float]] = {}
    for label, opener, unavailable in stores:
        if opener is None or unavailable is not None:
            print(f"  {label:<43} skipped: {unavailable}")
            continue
        for count in (1, 2):
            async with opener() as store:
                calls = budgets(count)
                median, p99 = await latency_us(store, calls)
                rate = await throughput(store, calls)
            row = f"{label}, {count} limit{'s' if count > 1 else ''}"
            results[row] = {"median_us": median, "p99_us": p99, "calls_per_s": rate}
            print(f"  {row:<52} {median:8.1f} µs {p99:8.1f} µs p99 {rate:9,.0f} calls/s")
    print(json.dumps({"limits": results}))


if __name__ == "__main__":
    asyncio.run(main())
