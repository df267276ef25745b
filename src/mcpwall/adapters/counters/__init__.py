"""Rate-limit counter stores: in the store's SQL database (the default) and on Redis.

Both implement :class:`~mcpwall.ports.counters.CounterStore` and count as
:class:`~mcpwall.core.windows.Ledger` does; ``mcpwall.wiring`` chooses between them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcpwall.adapters.counters.sql import SQLCounters

if TYPE_CHECKING:
    from mcpwall.adapters.counters.redis import RedisCounters


def __getattr__(name: str) -> object:
    """``RedisCounters`` on first use: the Redis client loads only where Redis is configured."""
    if name == "RedisCounters":
        from mcpwall.adapters.counters.redis import RedisCounters

        return RedisCounters
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["RedisCounters", "SQLCounters"]
