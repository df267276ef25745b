"""Rate-limit counter stores: in the store's SQL database (the default) and on Redis.

Both implement :class:`~mcpwall.ports.counters.CounterStore` and count as
:class:`~mcpwall.core.windows.Ledger` does; ``mcpwall.wiring`` chooses between them.
"""

from __future__ import annotations

from mcpwall.adapters.counters.redis import RedisCounters
from mcpwall.adapters.counters.sql import SQLCounters

__all__ = ["RedisCounters", "SQLCounters"]
