"""Upstream definitions while the store is lost: as last read, for the grant cache's grace."""

from __future__ import annotations

import asyncio

import pytest

from mcpwall.core.errors import NotFound, StoreLost, StoreUnavailable
from mcpwall.core.registry import Upstream
from mcpwall.gateway.directory import UpstreamDirectory
from mcpwall.gateway.grants import GrantCache
from mcpwall.ports.changes import RevisionSignal
from mcpwall.ports.clock import FakeClock
from mcpwall.ports.memory_store import MemoryStore

DB = "postgresql://mcpwall:***@db.example/mcpwall"


class LosableStore(MemoryStore):
    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock)
        self.down = False
        self.reads = 0

    def get_upstream(self, name: str) -> Upstream:
        self.reads += 1
        if self.down:
            raise StoreUnavailable(DB, "Connection refused")
        return super().get_upstream(name)


def test_a_lost_store_opens_upstreams_as_last_read_for_the_grace() -> None:
    clock = FakeClock()
    store = LosableStore(clock)
    store.add_upstream(Upstream.stdio("k8s", "kubectl-mcp"), actor="t")
    store.add_upstream(Upstream.stdio("docs", "docs-mcp"), actor="t")
    grants = GrantCache(store, RevisionSignal(store), clock, grace=60.0, url=DB)
    directory = UpstreamDirectory(store, grants)
    assert asyncio.run(directory.lookup("k8s")).command == "kubectl-mcp"

    store.down = True
    assert asyncio.run(directory.lookup("k8s")).command == "kubectl-mcp"  # finds it lost
    assert grants.outage is not None
    reads = store.reads
    assert asyncio.run(directory.lookup("k8s")).name == "k8s"
    assert store.reads == reads  # not asked again while lost
    with pytest.raises(StoreUnavailable, match="Connection refused"):
        asyncio.run(directory.lookup("docs"))  # never read: can't be opened
    clock.advance(60)
    with pytest.raises(StoreLost):
        asyncio.run(directory.lookup("k8s"))


def test_a_removed_upstream_is_forgotten() -> None:
    clock = FakeClock()
    store = LosableStore(clock)
    store.add_upstream(Upstream.stdio("k8s", "kubectl-mcp"), actor="t")
    grants = GrantCache(store, RevisionSignal(store), clock, url=DB)
    directory = UpstreamDirectory(store, grants)
    asyncio.run(directory.lookup("k8s"))
    store.remove_upstream("k8s", actor="t")
    with pytest.raises(NotFound):
        asyncio.run(directory.lookup("k8s"))
    store.down = True
    with pytest.raises(StoreUnavailable):
        asyncio.run(directory.lookup("k8s"))
