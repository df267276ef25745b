"""Rate-limit counter stores: in the store's SQL database (the default) and on Redis.

Both implement :class:`~mcpwall.ports.counters.CounterStore` and count as
:class:`~mcpwall.core.windows.Ledger` does; ``mcpwall.wiring`` chooses between them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcpwall.adapters.counters.deferred import DeferredCounters

if TYPE_CHECKING:
    from mcpwall.adapters.counters.redis import RedisCounters
    from mcpwall.adapters.counters.sql import SQLCounters


def __getattr__(name: str) -> object:
    """Each on first use: the Redis client loads only where Redis is configured, SQLAlchemy
    only where the counters are opened (``mcpwall stdio`` answers first: issue 16 §3)."""
    if name == "RedisCounters":
        from mcpwall.adapters.counters.redis import RedisCounters

        return RedisCounters
    if name == "SQLCounters":
        from mcpwall.adapters.counters.sql import SQLCounters

        return SQLCounters
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DeferredCounters", "RedisCounters", "SQLCounters"]
