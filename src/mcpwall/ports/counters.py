"""The ``CounterStore`` port: reserve rate-limit budget for a call, all or none.

A call's limits are reserved together before it is forwarded, and given back if the upstream
produced no result (DESIGN §3). Every store counts as :class:`~mcpwall.core.windows.Ledger`
does; one contract suite (``tests/adapters/counters``) holds them to it. The in-memory store
here keeps one process's counters; the SQL store (``adapters/counters/sql.py``, the embedded
default) and the Redis store (``adapters/counters/redis.py``) are exact across processes.

A store that can't be reached raises :class:`~mcpwall.core.errors.LimitsUnavailable` from
``reserve``; the pipeline then refuses the call (fail closed) or, when configured, lets it
through unchecked and says so in the proxy log.

``usage`` reads how much of each budget is taken, reserving nothing: what the dashboard shows
as "3 / 5 per hour". It counts as :meth:`~mcpwall.core.windows.Ledger.count` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from mcpwall.core.windows import Budget, Ledger, Refusal

__all__ = ["Budget", "CounterStore", "MemoryCounters", "Refusal", "Reservation"]


@dataclass(frozen=True, slots=True)
class Reservation:
    """Budget taken for one call at ``at``; give it back with :meth:`CounterStore.release`.

    ``token`` is the store's own handle on what it recorded (row ids, a Redis member).
    """

    requests: tuple[Budget, ...]
    at: float
    token: object = field(default=None, compare=False)


class CounterStore(Protocol):
    async def reserve(self, requests: Sequence[Budget], now: float) -> Reservation | Refusal:
        """Take one unit of every request's budget at ``now``, or none if any is full.

        Raises :class:`~mcpwall.core.errors.LimitsUnavailable` when the store can't be used.
        """
        ...

    async def release(self, reservation: Reservation) -> None:
        """Give a reservation back (the upstream produced no result).

        Never raises for an unreachable store: the budget then stays taken, which errs on
        the side of the limit.
        """
        ...

    async def usage(self, requests: Sequence[Budget], now: float) -> list[int]:
        """How many calls each request's log holds in its window ending at ``now``, in order,
        taking nothing (a reading, for people; a call's check is :meth:`reserve`'s alone).

        Raises :class:`~mcpwall.core.errors.LimitsUnavailable` when the store can't be used.
        """
        ...

    async def ping(self) -> None:
        """Check cheaply that the store can be used now (``/readyz``), one round trip.

        Raises :class:`~mcpwall.core.errors.LimitsUnavailable` when it can't.
        """
        ...

    async def aclose(self) -> None:
        """Let go of connections; the store is not used after."""
        ...


class MemoryCounters:
    """Counters in this process's memory: the :class:`Ledger`, exact under concurrency.

    Nothing awaits between checking and recording, so concurrent calls on one event loop
    can't interleave there. A restart forgets everything: the fake that tests use, not a
    store to serve with.
    """

    def __init__(self) -> None:
        self.ledger = Ledger()

    async def reserve(self, requests: Sequence[Budget], now: float) -> Reservation | Refusal:
        refusal = self.ledger.reserve(requests, now)
        return refusal if refusal is not None else Reservation(tuple(requests), now)

    async def release(self, reservation: Reservation) -> None:
        self.ledger.release(reservation.requests, reservation.at)

    async def usage(self, requests: Sequence[Budget], now: float) -> list[int]:
        return [self.ledger.count(budget, now) for budget in requests]

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
