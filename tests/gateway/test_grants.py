"""The grant cache: no query per request, and never a stale answer after a change."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from mcpwall.control import ControlPlane
from mcpwall.core.registry import Upstream
from mcpwall.gateway.grants import GrantCache
from mcpwall.ports.changes import RevisionSignal
from mcpwall.ports.clock import FakeClock
from mcpwall.ports.memory_store import MemoryStore

SEED = (Path(__file__).parents[1] / "core" / "policy" / "cases" / "seed.policy.json").read_text()


class CountingStore(MemoryStore):
    """A memory store that counts the lookups the data plane makes."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock)
        self.lookups = 0

    def find_grant_by_token_hash(self, token_hash: str) -> Any:
        self.lookups += 1
        return super().find_grant_by_token_hash(token_hash)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(clock: FakeClock) -> CountingStore:
    return CountingStore(clock)


@pytest.fixture
def plane(store: CountingStore, clock: FakeClock) -> ControlPlane:
    plane = ControlPlane(store, clock)
    store.add_upstream(Upstream.stdio("k8s", "npx"), actor="t")
    plane.set_policy("seed", SEED, actor="t")
    return plane


@pytest.fixture
def cache(store: CountingStore, clock: FakeClock) -> GrantCache:
    return GrantCache(store, RevisionSignal(store), clock)


def authenticate(cache: GrantCache, token: str) -> Any:
    return asyncio.run(cache.authenticate(token))


def test_a_token_is_looked_up_once_then_served_from_memory(
    plane: ControlPlane, cache: GrantCache, store: CountingStore
) -> None:
    token = plane.issue_grant("alice", {"k8s": "seed"}, actor="t").token
    store.lookups = 0
    for _ in range(50):
        principal = authenticate(cache, token)
        assert principal is not None
        assert principal.label == "alice"
    assert store.lookups == 1
    policy = principal.bindings["k8s"].compiled
    assert policy is not None
    assert (policy.name, policy.version) == ("seed", 1)


def test_revocation_takes_effect_on_the_next_request(
    plane: ControlPlane, cache: GrantCache
) -> None:
    token = plane.issue_grant("alice", {"k8s": "seed"}, actor="t").token
    assert authenticate(cache, token) is not None
    plane.store.revoke_grant("alice", actor="t")
    assert authenticate(cache, token) is None


def test_rotation_retires_the_cached_old_token(plane: ControlPlane, cache: GrantCache) -> None:
    old = plane.issue_grant("alice", {"k8s": "seed"}, actor="t").token
    assert authenticate(cache, old) is not None
    new = plane.rotate_grant("alice", actor="t").token
    assert authenticate(cache, old) is None
    assert authenticate(cache, new) is not None


def test_a_new_policy_version_is_used_on_the_next_request(
    plane: ControlPlane, cache: GrantCache
) -> None:
    token = plane.issue_grant("alice", {"k8s": "seed"}, actor="t").token
    first = authenticate(cache, token).bindings["k8s"].compiled
    plane.set_policy("seed", '{"version": "1", "default": "deny"}', actor="t")
    second = authenticate(cache, token).bindings["k8s"].compiled
    assert (first.version, second.version) == (1, 2)
    assert second.default == "deny"


def test_expiry_is_checked_on_every_request(
    plane: ControlPlane, cache: GrantCache, clock: FakeClock
) -> None:
    token = plane.issue_grant("alice", {"k8s": "seed"}, expires_in=60, actor="t").token
    assert authenticate(cache, token) is not None
    clock.advance(60)
    assert authenticate(cache, token) is None


def test_unknown_tokens_are_remembered(
    plane: ControlPlane, cache: GrantCache, store: CountingStore
) -> None:
    bogus = "mcpw_" + "B" * 43
    store.lookups = 0
    for _ in range(20):
        assert authenticate(cache, bogus) is None
    assert store.lookups == 1
    assert authenticate(cache, "not-a-token") is None
    assert store.lookups == 1  # malformed tokens never reach the store


def test_used_grants_are_collected_for_a_batched_last_used(
    plane: ControlPlane, cache: GrantCache
) -> None:
    issued = plane.issue_grant("alice", {"k8s": "seed"}, actor="t")
    authenticate(cache, issued.token)
    authenticate(cache, issued.token)
    assert cache.take_used() == {issued.grant.id}
    assert cache.take_used() == set()


def test_a_binding_whose_policy_cannot_compile_denies_rather_than_opens(
    plane: ControlPlane, cache: GrantCache, store: CountingStore
) -> None:
    token = plane.issue_grant("alice", {"k8s": "seed"}, actor="t").token
    store.add_policy_version(
        "seed", '{"version": "1", "default": "alow"}', actor="t"
    )  # bypassing validation
    principal = authenticate(cache, token)
    assert principal is not None
    assert principal.bindings["k8s"].policy == "seed"
    assert principal.bindings["k8s"].compiled is None
