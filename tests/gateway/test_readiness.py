"""The checks behind ``/readyz``, with fakes: store, grants loaded, counters where limits need
them; the answer cached for a second by the hand-moved clock (no sleeps, nothing timed)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from mcpwall.core.errors import LimitsUnavailable, StoreUnavailable
from mcpwall.core.registry import PolicyVersion
from mcpwall.core.windows import Budget, Refusal
from mcpwall.gateway import readiness
from mcpwall.gateway.readiness import ReadinessProbe
from mcpwall.ports.counters import Reservation
from mcpwall.ports.downstream import Check
from tests.conftest import HandClock, hand_clock

pytestmark = pytest.mark.anyio

DB_URL = "postgresql://mcpwall:***@db.example:5432/mcpwall"
LIMITED = {
    "version": "1",
    "default": "allow",
    "tools": {"delete_pod": {"limits": [{"counter": "d", "max": 5, "window": "hour"}]}},
}
UNLIMITED = {"version": "1", "default": "allow", "tools": {"delete_pod": {}}}
PAST_GRACE = "lost for 0 s, past MCPWALL_STORE_GRACE (0 s)"  # FakeGrants' grace is 0


def version(name: str, document: object) -> PolicyVersion:
    return PolicyVersion(name, 1, json.dumps(document), datetime(2026, 1, 1, tzinfo=UTC), "t")


@dataclass
class FakeStore:
    policies: list[PolicyVersion] = field(default_factory=list)
    revision_now: int = 1
    down: bool = False
    revisions_read: int = 0
    listings: int = 0

    def revision(self) -> int:
        self.revisions_read += 1
        if self.down:
            raise StoreUnavailable(DB_URL, "connection refused")
        return self.revision_now

    def list_policies(self) -> list[PolicyVersion]:
        self.listings += 1
        return list(self.policies)


@dataclass
class FakeGrants:
    loaded: bool = True
    grace: float = 0.0  # MCPWALL_STORE_GRACE: 0 refuses at once
    lost: float | None = None  # seconds since the store was lost

    def lost_for(self) -> float | None:
        return self.lost


class FakeCounters:
    def __init__(self) -> None:
        self.down = False
        self.hang = False
        self.pings = 0

    async def reserve(self, requests: Sequence[Budget], now: float) -> Reservation | Refusal:
        raise AssertionError("readiness reserves nothing")

    async def release(self, reservation: Reservation) -> None:
        raise AssertionError("readiness releases nothing")

    async def usage(self, requests: Sequence[Budget], now: float) -> list[int]:
        raise AssertionError("readiness reads no usage")

    async def ping(self) -> None:
        self.pings += 1
        if self.hang:
            await asyncio.Event().wait()
        if self.down:
            raise LimitsUnavailable("redis://:***@10.0.0.9:6379/0", "Connection refused")

    async def aclose(self) -> None:
        return None


@dataclass
class Rig:
    store: FakeStore
    grants: FakeGrants
    counters: FakeCounters
    clock: HandClock

    def probe(self, *, fail_open: bool = False, timeout: float = 2.0) -> ReadinessProbe:
        return ReadinessProbe(
            self.store,
            self.grants,
            self.counters,
            limits_fail_open=fail_open,
            timeout=timeout,
        )


@pytest.fixture
def rig(monkeypatch: pytest.MonkeyPatch) -> Rig:
    clock = hand_clock(monkeypatch, readiness)
    return Rig(FakeStore([version("open", UNLIMITED)]), FakeGrants(), FakeCounters(), clock)


async def test_ready_without_limits_does_not_ping_the_counters(rig: Rig) -> None:
    answer = await rig.probe().readiness()
    assert answer.ready
    assert answer.checks == {
        "store": Check(True, "reachable"),
        "grants": Check(True, "loaded"),
        "counters": Check(True, "not needed: no stored policy has limits"),
    }
    assert rig.counters.pings == 0


async def test_an_unreachable_store_is_named_with_its_url_masked(rig: Rig) -> None:
    rig.store.down = True
    answer = await rig.probe().readiness()
    assert not answer.ready
    store = answer.checks["store"]
    assert not store.ok
    assert store.detail == (f"database {DB_URL} is unavailable: connection refused; {PAST_GRACE}")
    assert answer.checks["grants"].ok


async def test_a_lost_store_leaves_the_replica_ready_within_the_grace(rig: Rig) -> None:
    rig.store.down = True
    rig.grants.grace, rig.grants.lost = 300.0, 120.0
    probe = rig.probe()
    answer = await probe.readiness()
    assert answer.ready  # every replica shares the store: none leaves the balancer for it
    assert answer.checks["store"] == Check(
        True,
        f"database {DB_URL} is unavailable: connection refused;"
        " serving cached grants for 180 s more at most",
    )
    rig.grants.lost = 300.0
    rig.clock.now += readiness.CACHE_SECONDS
    answer = await probe.readiness()
    assert not answer.ready
    assert answer.checks["store"].detail.endswith(
        "; lost for 300 s, past MCPWALL_STORE_GRACE (300 s)"
    )


async def test_grants_not_loaded_yet_is_not_ready(rig: Rig) -> None:
    rig.grants.loaded = False
    answer = await rig.probe().readiness()
    assert not answer.ready
    assert answer.checks["grants"] == Check(False, "not loaded from the store yet")


async def test_counters_are_checked_when_a_policy_has_limits(rig: Rig) -> None:
    rig.store.policies.append(version("limited", LIMITED))
    probe = rig.probe()
    assert (await probe.readiness()).ready
    assert rig.counters.pings == 1
    rig.counters.down = True
    rig.clock.now += readiness.CACHE_SECONDS
    answer = await probe.readiness()
    assert not answer.ready
    assert answer.checks["counters"] == Check(
        False,
        "rate-limit counters at redis://:***@10.0.0.9:6379/0 are unavailable: Connection refused",
    )
    assert answer.checks["store"].ok


async def test_counters_failing_open_are_not_needed(rig: Rig) -> None:
    rig.store.policies.append(version("limited", LIMITED))
    rig.counters.down = True
    answer = await rig.probe(fail_open=True).readiness()
    assert answer.ready
    assert answer.checks["counters"].detail.startswith("not needed: limits fail open")
    assert rig.counters.pings == 0


async def test_limits_are_looked_for_again_only_when_the_revision_moves(rig: Rig) -> None:
    probe = rig.probe()
    await probe.readiness()
    rig.store.policies.append(version("limited", LIMITED))  # not announced yet
    rig.clock.now += readiness.CACHE_SECONDS
    await probe.readiness()
    assert rig.store.listings == 1
    assert rig.counters.pings == 0
    rig.store.revision_now = 2
    rig.clock.now += readiness.CACHE_SECONDS
    await probe.readiness()
    assert rig.store.listings == 2
    assert rig.counters.pings == 1


async def test_the_answer_is_kept_for_a_second(rig: Rig) -> None:
    probe = rig.probe()
    first = await probe.readiness()
    rig.store.down = True
    rig.clock.now += readiness.CACHE_SECONDS - 0.001
    assert await probe.readiness() is first
    assert rig.store.revisions_read == 1
    rig.clock.now += 0.001
    assert not (await probe.readiness()).ready
    assert rig.store.revisions_read == 2
    rig.store.down = False
    rig.clock.now += readiness.CACHE_SECONDS
    assert (await probe.readiness()).ready  # back when the store is


async def test_concurrent_probes_share_one_check(rig: Rig) -> None:
    probe = rig.probe()
    answers = await asyncio.gather(*(probe.readiness() for _ in range(20)))
    assert all(answer is answers[0] for answer in answers)
    assert rig.store.revisions_read == 1


async def test_a_store_that_hangs_is_not_ready_after_the_timeout(rig: Rig) -> None:
    release = threading.Event()

    def hangs() -> int:
        release.wait(10)
        return 1

    rig.store.revision = hangs  # type: ignore[method-assign]
    try:
        answer = await rig.probe(timeout=0.01).readiness()
    finally:
        release.set()
    assert answer.checks["store"] == Check(
        False, "the database gave no answer within 0.01 s; " + PAST_GRACE
    )


async def test_counters_that_hang_are_not_ready_after_the_timeout(rig: Rig) -> None:
    rig.store.policies.append(version("limited", LIMITED))
    rig.counters.hang = True
    answer = await rig.probe(timeout=0.01).readiness()
    assert answer.checks["counters"] == Check(
        False, "the counter store gave no answer within 0.01 s"
    )
    assert answer.checks["store"].ok


async def test_an_unexpected_store_error_is_said_without_its_text(rig: Rig) -> None:
    def broken() -> int:
        raise RuntimeError("postgresql://mcpwall:hunter2@db/x")

    rig.store.revision = broken  # type: ignore[method-assign]
    answer = await rig.probe().readiness()
    assert answer.checks["store"] == Check(
        False, "the database could not be read (RuntimeError); " + PAST_GRACE
    )
    assert "hunter2" not in repr(answer)
