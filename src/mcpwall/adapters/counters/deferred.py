"""Counters opened on first use: ``mcpwall stdio`` answers its agent's first requests, which
count nothing, before it loads the SQL counters' driver (issue 16 §3)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mcpwall.core.errors import LimitsUnavailable, MCPWallError
from mcpwall.core.windows import Budget, Refusal
from mcpwall.ports.counters import CounterStore, Reservation


class DeferredCounters:
    """A ``CounterStore`` that opens the one ``open_counters`` makes at its first use, and is
    it from then on. One that can't be opened is :class:`LimitsUnavailable` (named ``shown``),
    as the counters would be that could not be used: the call is refused, or goes through
    marked where ``MCPWALL_LIMITS_FAIL_OPEN`` says so."""

    def __init__(self, open_counters: Callable[[], CounterStore], shown: str) -> None:
        self._open = open_counters
        self._shown = shown
        self._counters: CounterStore | None = None

    @property
    def opened(self) -> bool:
        return self._counters is not None

    def _opened(self) -> CounterStore:
        if self._counters is None:
            try:
                self._counters = self._open()
            except MCPWallError as error:  # the store could not be opened (nor the counters)
                raise LimitsUnavailable(self._shown, str(error)) from error
        return self._counters

    async def reserve(self, requests: Sequence[Budget], now: float) -> Reservation | Refusal:
        return await self._opened().reserve(requests, now)

    async def release(self, reservation: Reservation) -> None:
        await self._opened().release(reservation)

    async def usage(self, requests: Sequence[Budget], now: float) -> list[int]:
        return await self._opened().usage(requests, now)

    async def ping(self) -> None:
        await self._opened().ping()

    async def aclose(self) -> None:
        if self._counters is not None:  # never opened: nothing to close
            await self._counters.aclose()
