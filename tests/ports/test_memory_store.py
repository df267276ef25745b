"""What the memory store promises beyond the shared contract (``tests/adapters/store``)."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor

from mcpwall.core.errors import Conflict
from mcpwall.core.registry import Upstream
from mcpwall.core.tokens import TokenKind, hash_token, make_token
from mcpwall.ports.clock import FakeClock
from mcpwall.ports.memory_store import MemoryStore
from mcpwall.ports.store import Store


def test_it_is_a_store() -> None:
    store: Store = MemoryStore()
    assert store.revision() == 0


def test_what_it_returns_cannot_change_what_it_holds() -> None:
    store = MemoryStore(FakeClock())
    store.add_upstream(Upstream.stdio("k8s", "true"), actor="test")
    store.add_policy_version("seed", "{}", actor="test")
    store.list_policy_versions("seed").clear()
    store.list_upstreams().clear()
    assert store.get_policy("seed").version == 1
    assert [u.name for u in store.list_upstreams()] == ["k8s"]


def test_threads_racing_for_one_label_get_one_grant() -> None:
    store = MemoryStore(FakeClock())
    store.add_upstream(Upstream.stdio("k8s", "true"), actor="test")
    store.add_policy_version("seed", "{}", actor="test")

    def issue(_: int) -> bool:
        token_hash = hash_token(make_token(TokenKind.GRANT, secrets.token_bytes(32)))
        try:
            store.issue_grant("shared", {"k8s": "seed"}, token_hash, actor="test")
        except Conflict:
            return False
        return True

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert sum(pool.map(issue, range(64))) == 1
    assert len(store.list_grants()) == 1
