"""The ``CounterStore`` port: reserve rate-limit budget for a call, all or none.

A call's limits are reserved together before it is forwarded, and given back if the upstream
produced no result (DESIGN §3). The in-memory store here keeps one process's counters; the
persisted and Redis stores (exact across replicas) implement the same port.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from mcpwall.core.windows import CounterKey, live, retry_after


@dataclass(frozen=True, slots=True)
class Budget:
    """One limit to reserve: its key, its ``max`` and its window in seconds."""

    key: CounterKey
    maximum: int
    window: float


@dataclass(frozen=True, slots=True)
class Reservation:
    """Budget taken for one call at ``at``; give it back with :meth:`CounterStore.release`."""

    requests: tuple[Budget, ...]
    at: float
    token: object = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Refusal:
    """The first limit (in the order asked) that had no room, and when it will."""

    index: int
    retry_after_s: float


class CounterStore(Protocol):
    async def reserve(self, requests: Sequence[Budget], now: float) -> Reservation | Refusal:
        """Take one unit of every request's budget at ``now``, or none if any is full."""
        ...

    async def release(self, reservation: Reservation) -> None:
        """Give a reservation back (the upstream produced no result)."""
        ...


class MemoryCounters:
    """Counters in this process's memory, exact under concurrency (one lock)."""

    def __init__(self) -> None:
        self._times: dict[CounterKey, deque[float]] = {}
        self._lock = asyncio.Lock()

    async def reserve(self, requests: Sequence[Budget], now: float) -> Reservation | Refusal:
        async with self._lock:
            for index, request in enumerate(requests):
                times = self._window(request.key, now, request.window)
                wait = retry_after(times, now, request.window, request.maximum)
                if wait is not None:
                    return Refusal(index, wait)
            for request in requests:
                self._times[request.key].append(now)
            return Reservation(tuple(requests), now)

    async def release(self, reservation: Reservation) -> None:
        async with self._lock:
            for request in reservation.requests:
                times = self._times.get(request.key)
                if times is not None and reservation.at in times:
                    times.remove(reservation.at)

    def _window(self, key: CounterKey, now: float, window: float) -> deque[float]:
        times = self._times.setdefault(key, deque())
        for _ in range(live(times, now, window)):
            times.popleft()
        return times
