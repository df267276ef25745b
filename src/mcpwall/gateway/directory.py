"""Upstream definitions as last read, so sessions still open while the store is lost.

The pool reads an upstream's definition (its command or URL, its credentials) from the store
each time it opens a session: a new legacy session, a grant's first 2026-07-28 call, a stdio
server restarted after a crash or an idle stop. While the grant cache serves through a lost
store (:mod:`mcpwall.gateway.grants`), the definition read last serves too, for the same
grace, and the store is not asked on the way (it may take seconds to fail each time). An
upstream never read before can't be opened until the store is back.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from mcpwall.core.errors import NotFound, StoreUnavailable
from mcpwall.core.registry import Upstream
from mcpwall.gateway.grants import GrantCache


class UpstreamSource(Protocol):
    def get_upstream(self, name: str) -> Upstream: ...


class UpstreamDirectory:
    """``lookup(name)`` for :class:`~mcpwall.gateway.upstreams.UpstreamPool`, remembering
    what it read for while ``grants`` says the store is lost."""

    def __init__(self, store: UpstreamSource, grants: GrantCache) -> None:
        self._store = store
        self._grants = grants
        self._known: dict[str, Upstream] = {}

    async def lookup(self, name: str) -> Upstream:
        """The definition of upstream ``name``: from the store, or as last read while the
        store is lost (:class:`StoreUnavailable` for one never read, and past the grace)."""
        if self._grants.outage is None:
            try:
                found = await asyncio.to_thread(self._store.get_upstream, name)
            except NotFound:
                self._known.pop(name, None)
                raise
            except StoreUnavailable as error:
                self._grants.lose(error)
            else:
                self._known[name] = found
                return found
        self._grants.check_grace()
        known = self._known.get(name)
        if known is None:
            outage = self._grants.outage
            assert outage is not None  # lost above, or before
            raise outage
        return known
