"""Whether this replica can serve agents now: the checks behind ``/readyz``.

Three checks, each cheap and bounded by :data:`CHECK_TIMEOUT_SECONDS`:

- ``store``: the database answers a trivial query (its revision), in a worker thread so the
  event loop never waits on it. A database that does not answer leaves the replica ready
  for as long as its grant cache serves without it (``MCPWALL_STORE_GRACE``; the detail says
  for how much longer), then not: every replica shares the database, so all of them would
  leave the load balancer at once, and the grace exists to ride out a short outage.
- ``grants``: the grant cache has completed its first load from the store (``mcpwall serve``
  loads it before it listens), so a token can be checked.
- ``counters``: the rate-limit counter store answers a ping, when limits need it: some stored
  policy has limits and they fail closed. Without limits, or with
  ``MCPWALL_LIMITS_FAIL_OPEN=1``, a counter store that is down refuses no call, so it must not
  take the replica out of the load balancer (every replica shares it: all would go at once).
  Whether any policy has limits is worked out again only when the store's revision moves.

The answer is kept for :data:`CACHE_SECONDS`, and concurrent probes share one check, so a
load balancer polling hard does not turn into database load. Details name what failed and why
(a URL with its password masked), never a secret.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import Protocol, TypeVar

from mcpwall.core.errors import LimitsUnavailable, MCPWallError, StoreUnavailable
from mcpwall.core.policy import compile_text
from mcpwall.core.registry import PolicyVersion
from mcpwall.ports.counters import CounterStore
from mcpwall.ports.downstream import Check, Readiness

log = logging.getLogger("mcpwall.gateway")

CACHE_SECONDS = 1.0
CHECK_TIMEOUT_SECONDS = 2.0

T = TypeVar("T")


class PolicySource(Protocol):
    """What readiness reads of the store: its revision, and the current policies."""

    def revision(self) -> int: ...

    def list_policies(self) -> list[PolicyVersion]: ...


class GrantsLoaded(Protocol):
    grace: float

    @property
    def loaded(self) -> bool:
        """Whether the grant cache has completed its first load."""
        ...

    def lost_for(self) -> float | None:
        """Seconds since the grant cache lost the store; None while it reaches it."""
        ...


class ReadinessProbe:
    """The checks of ``/readyz`` over ``store``, ``grants`` and ``counters``."""

    def __init__(
        self,
        store: PolicySource,
        grants: GrantsLoaded,
        counters: CounterStore,
        *,
        limits_fail_open: bool = False,
        timeout: float = CHECK_TIMEOUT_SECONDS,
        cache_seconds: float = CACHE_SECONDS,
    ) -> None:
        self._store = store
        self._grants = grants
        self._counters = counters
        self._fail_open = limits_fail_open
        self._timeout = timeout
        self._cache_seconds = cache_seconds
        self._lock = asyncio.Lock()
        self._last: Readiness | None = None
        self._fresh_until = float("-inf")
        self._revision: int | None = None
        self._limits_in_use: bool | None = None  # unknown until the store was read once

    async def readiness(self) -> Readiness:
        """The checks' answer, at most :data:`CACHE_SECONDS` old."""
        async with self._lock:  # probes arriving during a check wait for its answer
            if self._last is None or time.monotonic() >= self._fresh_until:
                self._last = await self._check()
                self._fresh_until = time.monotonic() + self._cache_seconds
            return self._last

    async def _check(self) -> Readiness:
        store = await self._check_store()
        grants = (
            Check(True, "loaded")
            if self._grants.loaded
            else Check(False, "not loaded from the store yet")
        )
        return Readiness(
            {"store": store, "grants": grants, "counters": await self._check_counters()}
        )

    async def _check_store(self) -> Check:
        try:
            revision = await self._bounded(asyncio.to_thread(self._store.revision))
            if revision != self._revision:
                self._limits_in_use = await self._bounded(asyncio.to_thread(self._any_limits))
                self._revision = revision
        except StoreUnavailable as error:
            return self._store_down(str(error))
        except TimeoutError:
            return self._store_down(f"the database gave no answer within {self._timeout:g} s")
        except Exception as error:  # noqa: BLE001 (readiness answers whatever the store raised)
            log.warning("readiness: the store check failed: %s", type(error).__name__)
            return self._store_down(f"the database could not be read ({type(error).__name__})")
        return Check(True, "reachable")

    def _store_down(self, detail: str) -> Check:
        """The store did not answer: ready while the grant cache serves within its grace."""
        lost_for = self._grants.lost_for() or 0.0  # None: its heartbeat has yet to notice
        grace = self._grants.grace
        if lost_for < grace:
            left = grace - lost_for
            return Check(True, f"{detail}; serving cached grants for {left:.0f} s more at most")
        return Check(
            False, f"{detail}; lost for {lost_for:.0f} s, past MCPWALL_STORE_GRACE ({grace:g} s)"
        )

    async def _check_counters(self) -> Check:
        if self._fail_open:
            return Check(True, "not needed: limits fail open (MCPWALL_LIMITS_FAIL_OPEN=1)")
        if self._limits_in_use is False:
            return Check(True, "not needed: no stored policy has limits")
        try:
            await self._bounded(self._counters.ping())
        except LimitsUnavailable as error:
            return Check(False, str(error))
        except TimeoutError:
            return Check(False, f"the counter store gave no answer within {self._timeout:g} s")
        except Exception as error:  # noqa: BLE001 (as for the store)
            log.warning("readiness: the counters check failed: %s", type(error).__name__)
            return Check(False, f"the counter store could not be used ({type(error).__name__})")
        return Check(True, "reachable")

    async def _bounded(self, work: Awaitable[T]) -> T:
        async with asyncio.timeout(self._timeout):
            return await work

    def _any_limits(self) -> bool:
        """Whether any stored policy's current version has limits (in a worker thread)."""
        for stored in self._store.list_policies():
            try:
                policy = compile_text(stored.text, name=stored.name, version=stored.version)
            except MCPWallError:
                continue  # its bindings deny every call: it counts nothing
            if policy.all_tools_limits or any(rules.limits for rules in policy.tools.values()):
                return True
        return False
