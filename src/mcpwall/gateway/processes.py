"""How many stdio upstream processes may run at once: in all, and for any one grant.

A stdio upstream is a process the gateway spawns, tens of MiB each: one per legacy session
that uses it, and one per grant for that grant's 2026-07-28 requests, which share it. So a
process is counted here before it is spawned and given back once it has exited: at most
``limit`` run at once (``MCPWALL_STDIO_PROCESSES``), at most ``per_grant`` of them for one
grant (``MCPWALL_STDIO_PROCESSES_PER_GRANT``), below ``limit`` so that one grant never takes
them all.

Past either bound an opener waits its turn in a FIFO queue, at most ``wait`` seconds
(``MCPWALL_STDIO_PROCESS_WAIT``). A process given back goes to the first waiter whose grant is
under its share: a grant at its share does not hold up the others queued behind it. Who
waits in vain is refused by the pool, which knows what to say (``gateway/upstreams.py``).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Final

STDIO_PROCESSES = 32
# A quarter of the processes: four grants must be busy at once to take them all.
STDIO_PROCESSES_PER_GRANT = 8
STDIO_PROCESS_WAIT = 10.0
STDIO_PROCESSES_SETTING: Final = "MCPWALL_STDIO_PROCESSES"
STDIO_PROCESSES_PER_GRANT_SETTING: Final = "MCPWALL_STDIO_PROCESSES_PER_GRANT"
STDIO_PROCESS_WAIT_SETTING: Final = "MCPWALL_STDIO_PROCESS_WAIT"


class ProcessSlot:
    """One process counted against ``grant``: :meth:`release` it once the process has exited
    (releasing it again changes nothing)."""

    __slots__ = ("_slots", "grant", "released")

    def __init__(self, slots: ProcessSlots, grant: str) -> None:
        self._slots = slots
        self.grant = grant
        self.released = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self._slots._give_back(self.grant)


class _Waiter:
    __slots__ = ("grant", "granted")

    def __init__(self, grant: str) -> None:
        self.grant = grant
        self.granted: asyncio.Future[ProcessSlot] = asyncio.get_running_loop().create_future()


class ProcessSlots:
    """The stdio processes this gateway runs, counted in all and per grant."""

    def __init__(
        self,
        limit: int = STDIO_PROCESSES,
        per_grant: int = STDIO_PROCESSES_PER_GRANT,
        *,
        wait: float = STDIO_PROCESS_WAIT,
    ) -> None:
        self.limit = limit
        self.per_grant = per_grant
        self.wait = wait
        self._running = 0
        self._by_grant: dict[str, int] = {}
        self._queue: deque[_Waiter] = deque()

    @property
    def running(self) -> int:
        """How many processes run (or are being started) now."""
        return self._running

    @property
    def waiting(self) -> int:
        """How many openers wait for a process."""
        return len(self._queue)

    def running_for(self, grant: str) -> int:
        return self._by_grant.get(grant, 0)

    def at_share(self, grant: str) -> bool:
        """Whether ``grant`` runs as many processes as one grant may."""
        return self.running_for(grant) >= self.per_grant

    def take(self, grant: str) -> ProcessSlot | None:
        """A process for ``grant`` if one is free for it now, else None. (A waiter queued
        earlier is never passed over: a process given back goes at once to the first waiter
        it is free for, so one still free is free for none of them.)"""
        if self._running >= self.limit or self.at_share(grant):
            return None
        self._running += 1
        self._by_grant[grant] = self.running_for(grant) + 1
        return ProcessSlot(self, grant)

    async def acquire(self, grant: str) -> ProcessSlot | None:
        """A process for ``grant``: at once if one is free, else the first given back to it
        within ``wait`` seconds; None if none was."""
        slot = self.take(grant)
        if slot is not None:
            return slot
        waiter = _Waiter(grant)
        self._queue.append(waiter)
        try:
            await asyncio.wait((waiter.granted,), timeout=self.wait)
        except BaseException:  # cancelled: the agent went away, the gateway is stopping
            self._abandon(waiter)
            raise
        if waiter.granted.done():
            return waiter.granted.result()
        self._abandon(waiter)
        return None

    def _abandon(self, waiter: _Waiter) -> None:
        if waiter.granted.done():
            waiter.granted.result().release()  # given at the very moment it stopped waiting
        else:
            waiter.granted.cancel()
            self._queue.remove(waiter)

    def _give_back(self, grant: str) -> None:
        self._running -= 1
        left = self.running_for(grant) - 1
        if left:
            self._by_grant[grant] = left
        else:
            self._by_grant.pop(grant, None)
        for waiter in list(self._queue):
            slot = self.take(waiter.grant)
            if slot is None:
                if self._running >= self.limit:
                    break  # none left for anyone
                continue  # this waiter's grant is at its share: the next one may not be
            self._queue.remove(waiter)
            waiter.granted.set_result(slot)
