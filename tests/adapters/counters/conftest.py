"""Counter stores to hold to one contract: in memory, SQLite, PostgreSQL and Redis.

A :class:`Backend` opens as many stores on one storage as a test wants (a second one is what a
second gateway process would have); every store it opened is closed after the test.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis

from mcpwall.adapters.counters import RedisCounters, SQLCounters
from mcpwall.adapters.store import open_store
from mcpwall.adapters.store.engine import database_url
from mcpwall.ports.counters import CounterStore, MemoryCounters

DURABLE = ["sqlite", "postgresql", "redis"]
BACKENDS = ["memory", *DURABLE]


@dataclass
class Backend:
    """One kind of storage, and how to open a store on it."""

    name: str
    url: str  # the database or Redis URL ("" in memory)
    prefix: str = ""  # Redis keys' prefix, one per test
    opened: list[CounterStore] = field(default_factory=list)
    shared: MemoryCounters = field(default_factory=MemoryCounters)

    def open(self) -> CounterStore:
        store = self._make()
        self.opened.append(store)
        return store

    def _make(self) -> CounterStore:
        if self.name == "memory":
            return self.shared
        if self.name == "redis":
            return RedisCounters.from_url(self.url, prefix=self.prefix)
        return SQLCounters.open(database_url(self.url, Path("unused")), self.url)


class CountingExecutor(ThreadPoolExecutor):
    """The loop's default executor (``asyncio.to_thread``), counting what it is given."""

    def __init__(self) -> None:
        super().__init__(max_workers=4)
        self.submitted = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


@contextmanager
def counted_threads() -> Iterator[CountingExecutor]:
    executor = CountingExecutor()
    asyncio.get_running_loop().set_default_executor(executor)
    yield executor


def sql_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A migrated database: a SQLite file, or a PostgreSQL schema of this test's own."""
    url: str = (
        f"sqlite:///{tmp_path / 'store.db'}"
        if kind == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    open_store(url, tmp_path / "home", environ={}).close()
    return url


def redis_prefix() -> str:
    return f"mcpwall-test:{uuid.uuid4().hex[:12]}:limits"


def delete_keys(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@asynccontextmanager
async def opened(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Backend]:
    if kind == "memory":
        made = Backend(kind, "")
    elif kind == "redis":
        made = Backend(kind, request.getfixturevalue("redis_server"), redis_prefix())
    else:
        made = Backend(kind, sql_url(kind, tmp_path, request))
    try:
        yield made
    finally:
        for store in made.opened:
            await store.aclose()
        if kind == "redis":
            delete_keys(made.url, made.prefix)


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    async with opened(request.param, request, tmp_path) as made:
        yield made


@pytest.fixture(params=DURABLE)
async def durable_backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """The stores that two processes (or a restart) share: memory counters are one process's."""
    async with opened(request.param, request, tmp_path) as made:
        yield made
