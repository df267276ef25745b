"""Which legacy sessions have ended, as this replica knows it: a cached view of the store's.

A DELETE on any replica records the session's key in the store
(:class:`~mcpwall.ports.ended_sessions.EndedSessionStore`). Each replica keeps the keys of
ended sessions in memory and asks the store only for those ended since it last asked, at most
once every ``check_every`` seconds (``MCPWALL_SESSION_END_CHECK``, default 1 s), on the first
request after that time has passed: so a session ended on one replica is refused by every
other within that time, and the requests of a single replica cost no store round trip.

A replica about to carry on a session it has not served yet asks the store first, whatever the
time (once per session and replica): a stale answer there would revive an ended session. If
the store can't answer then, the session is refused (fail closed); a replica already serving a
session keeps to what it knew while the store is away.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from typing import Final

from mcpwall.core.errors import StoreError
from mcpwall.ports.clock import Clock
from mcpwall.ports.ended_sessions import EndedSessionStore

log = logging.getLogger("mcpwall.gateway")

END_CHECK_SETTING: Final = "MCPWALL_SESSION_END_CHECK"
END_CHECK_SECONDS: Final = 1.0


class EndedSessions:
    """The keys of ended sessions, kept in step with the store."""

    def __init__(
        self, store: EndedSessionStore, clock: Clock, *, check_every: float = END_CHECK_SECONDS
    ) -> None:
        self._store = store
        self._clock = clock
        self.check_every = check_every
        self._ended: dict[str, datetime] = {}
        self._cursor = 0
        self._next_check = 0.0
        self._lock = asyncio.Lock()

    async def is_ended(self, key: str, *, fresh: bool = False) -> bool:
        """Whether session ``key`` has ended; ``fresh`` asks the store now (else at most
        once every ``check_every`` seconds). :class:`StoreError` only when ``fresh``."""
        try:
            await self._refresh(fresh=fresh)
        except StoreError as error:
            if fresh:
                raise
            log.warning("reading ended sessions failed, serving on what is known: %s", error)
        return key in self._ended

    async def end(self, key: str, expires_at: datetime) -> None:
        """Record that ``key`` ended, here at once and in the store for the others."""
        self._ended[key] = expires_at
        await asyncio.to_thread(self._store.end_session, key, expires_at)

    def __len__(self) -> int:
        return len(self._ended)

    async def _refresh(self, *, fresh: bool) -> None:
        if not fresh and time.monotonic() < self._next_check:
            return
        async with self._lock:
            if not fresh and time.monotonic() < self._next_check:
                return  # read meanwhile, by the request this one waited for
            self._next_check = time.monotonic() + self.check_every
            found = await asyncio.to_thread(self._store.ended_sessions, self._cursor)
            self._ended.update(found.keys)
            self._cursor = found.cursor
            now = self._clock.now()
            for key in [key for key, expires in self._ended.items() if expires <= now]:
                del self._ended[key]  # refused for its expiry anyway
