"""The grant cache: no query per request, and never a stale answer after a change."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from mcpwall.control import ControlPlane
from mcpwall.core.errors import StoreLost, StoreUnavailable
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


# -- the store lost ----------------------------------------------------------------------------------

DB = "postgresql://mcpwall:***@db.example/mcpwall"
GRACE = 300.0


class LosableStore(CountingStore):
    """A memory store whose reads fail while ``down`` (writes still go through: another
    replica that can reach the database), and that counts revision reads."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock)
        self.down = False
        self.revisions = 0
        self.policy_failures = 0  # get_policy calls left to fail

    def _read(self) -> None:
        if self.down:
            raise StoreUnavailable(DB, "Connection refused")

    def revision(self) -> int:
        self.revisions += 1
        self._read()
        return super().revision()

    def find_grant_by_token_hash(self, token_hash: str) -> Any:
        self._read()
        return super().find_grant_by_token_hash(token_hash)

    def get_policy(self, name: str, version: int | None = None) -> Any:
        self._read()
        if self.policy_failures:
            self.policy_failures -= 1
            raise StoreUnavailable(DB, "server closed the connection unexpectedly")
        return super().get_policy(name, version)


class ListenerSignal:
    """Like the PostgreSQL signal: the revision while connected, a new number on every call
    while not (so a cache asks the store)."""

    def __init__(self, store: LosableStore) -> None:
        self.store = store
        self.moving = 0

    def generation(self) -> int:
        if self.store.down:
            self.moving -= 1
            return self.moving
        return MemoryStore.revision(self.store)

    def close(self) -> None:
        return None


@pytest.fixture
def losable(clock: FakeClock) -> LosableStore:
    return LosableStore(clock)


@pytest.fixture
def lossy(losable: LosableStore, clock: FakeClock) -> tuple[ControlPlane, GrantCache]:
    plane = ControlPlane(losable, clock)
    losable.add_upstream(Upstream.stdio("k8s", "npx"), actor="t")
    plane.set_policy("seed", SEED, actor="t")
    return plane, GrantCache(losable, ListenerSignal(losable), clock, grace=GRACE, url=DB)


def test_a_lost_store_serves_the_cached_grants_for_the_grace_then_refuses(
    lossy: tuple[ControlPlane, GrantCache], losable: LosableStore, clock: FakeClock
) -> None:
    plane, cache = lossy
    token = plane.issue_grant("alice", {"k8s": "seed"}, actor="t").token
    assert authenticate(cache, token) is not None
    losable.down = True
    assert authenticate(cache, token) is not None  # the read that found it lost
    reads = losable.revisions
    clock.advance(GRACE - 1)
    for _ in range(20):
        principal = authenticate(cache, token)
        assert principal is not None
        assert principal.bindings["k8s"].compiled is not None
    assert losable.revisions == reads  # no store round trip on the request path meanwhile
    assert cache.lost_for() == GRACE - 1
    clock.advance(1)
    with pytest.raises(StoreLost) as refused:
        authenticate(cache, token)
    assert str(refused.value) == (
        f"database {DB} is unavailable: Connection refused (for 300 s, longer than"
        " MCPWALL_STORE_GRACE, 300 s: calls are refused until it is back)"
    )
    losable.down = False
    asyncio.run(cache.confirm())  # the heartbeat finds it back
    assert cache.outage is None
    assert authenticate(cache, token) is not None


def test_a_token_not_cached_is_refused_without_asking_a_lost_store(
    lossy: tuple[ControlPlane, GrantCache], losable: LosableStore
) -> None:
    plane, cache = lossy
    seen = plane.issue_grant("alice", {"k8s": "seed"}, actor="t").token
    unseen = plane.issue_grant("bob", {"k8s": "seed"}, actor="t").token
    assert authenticate(cache, seen) is not None
    losable.down = True
    asyncio.run(cache.confirm())
    losable.lookups = 0
    with pytest.raises(StoreUnavailable) as refused:
        authenticate(cache, unseen)
    assert not isinstance(refused.value, StoreLost)
    assert losable.lookups == 0


def test_a_grant_revoked_before_the_outage_stays_refused(
    lossy: tuple[ControlPlane, GrantCache], losable: LosableStore, clock: FakeClock
) -> None:
    plane, cache = lossy
    token = plane.issue_grant("alice", {"k8s": "seed"}, actor="t").token
    assert authenticate(cache, token) is not None
    plane.store.revoke_grant("alice", actor="t")
    assert authenticate(cache, token) is None
    losable.down = True
    clock.advance(GRACE / 2)
    assert authenticate(cache, token) is None  # the cache holds only what it read


def test_a_grant_revoked_during_the_outage_is_refused_once_the_store_is_back(
    lossy: tuple[ControlPlane, GrantCache], losable: LosableStore
) -> None:
    plane, cache = lossy
    token = plane.issue_grant("alice", {"k8s": "seed"}, actor="t").token
    assert authenticate(cache, token) is not None
    losable.down = True
    asyncio.run(cache.confirm())
    plane.store.revoke_grant("alice", actor="t")  # through a replica that reaches the store
    assert authenticate(cache, token) is not None  # this one can't know yet (documented)
    losable.down = False
    asyncio.run(cache.confirm())
    assert authenticate(cache, token) is None


def test_a_policy_read_that_failed_is_not_remembered_as_a_broken_policy(
    lossy: tuple[ControlPlane, GrantCache], losable: LosableStore
) -> None:
    plane, cache = lossy
    token = plane.issue_grant("alice", {"k8s": "seed"}, actor="t").token
    losable.policy_failures = 1  # the connection drops between the grant and its policy
    with pytest.raises(StoreUnavailable):
        authenticate(cache, token)
    asyncio.run(cache.confirm())
    principal = authenticate(cache, token)
    assert principal is not None
    assert principal.bindings["k8s"].compiled is not None  # not "(no policy)" for ever


def test_a_heartbeat_without_an_answer_loses_the_store_and_is_not_doubled(
    lossy: tuple[ControlPlane, GrantCache], losable: LosableStore
) -> None:
    _, cache = lossy
    release = threading.Event()
    started: list[int] = []

    def hanging() -> int:
        started.append(1)
        assert release.wait(timeout=30)
        return 1

    losable.revision = hanging  # type: ignore[method-assign]

    async def beats() -> None:
        try:
            await cache.confirm(timeout=0.01)
            await cache.confirm(timeout=0.01)
        finally:
            release.set()  # before the loop's end waits for its worker threads

    asyncio.run(beats())
    assert cache.outage is not None
    assert str(cache.outage) == f"database {DB} is unavailable: no answer within 0.01 s"
    assert len(started) == 1  # the second beat waited on the first read


def test_the_grace_counts_from_the_first_failure_and_zero_refuses_at_once(
    losable: LosableStore, clock: FakeClock
) -> None:
    plane = ControlPlane(losable, clock)
    losable.add_upstream(Upstream.stdio("k8s", "npx"), actor="t")
    plane.set_policy("seed", SEED, actor="t")
    cache = GrantCache(losable, ListenerSignal(losable), clock, grace=0.0, url=DB)
    token = plane.issue_grant("alice", {"k8s": "seed"}, actor="t").token
    assert authenticate(cache, token) is not None
    losable.down = True
    with pytest.raises(StoreLost):
        authenticate(cache, token)


def test_a_heartbeat_cancelled_as_its_read_answers_ends_cancelled(
    cache: GrantCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``serve`` stops its bookkeeping by cancelling it, at whatever moment SIGTERM comes.
    A cancel that landed in the few turns of the event loop between the store's answer and
    the heartbeat resuming was lost on Python 3.11 (``asyncio.wait_for`` returned the answer
    instead: its known race), and the bookkeeping loop, and ``serve``, ran on for ever."""

    async def beats() -> list[str]:
        loop = asyncio.get_running_loop()
        ended: list[str] = []
        for turns in range(8):
            answer: asyncio.Future[int] = loop.create_future()
            monkeypatch.setattr(asyncio, "to_thread", lambda *_, answer=answer: answer)
            beat = asyncio.ensure_future(cache.confirm())
            await asyncio.sleep(0)  # the beat waits for its read, which answers now
            answer.set_result(1)
            for _ in range(turns):
                await asyncio.sleep(0)
            if beat.done():
                break  # from here on the beat ends before it is cancelled
            beat.cancel()
            try:
                await beat
            except asyncio.CancelledError:
                ended.append("cancelled")
            else:
                ended.append(f"went on after a cancel {turns} turns after the answer")
        return ended

    ended = asyncio.run(beats())
    assert ended, "every beat ended before its cancel: nothing was tested"
    assert set(ended) == {"cancelled"}, ended
