"""The ``LogSink`` port: where proxy-log records go, off the hot path.

``write`` must not block the request that produced the record: a durable sink queues it and
writes in batches; ``close`` flushes everything queued (a graceful stop loses no row).
"""

from __future__ import annotations

from collections import deque
from typing import Protocol

from mcpwall.core.proxylog import ProxyLogRecord


class LogSink(Protocol):
    def write(self, record: ProxyLogRecord) -> None:
        """Queue one record; never raises for a full queue silently dropping it."""
        ...

    async def aclose(self) -> None:
        """Flush every queued record, then stop."""
        ...


class MemorySink:
    """Keeps the newest ``limit`` records in memory (all of them when ``limit`` is None): the
    fake tests use, and the sink of a gateway with no durable proxy log configured."""

    def __init__(self, limit: int | None = None) -> None:
        self.records: deque[ProxyLogRecord] = deque(maxlen=limit)

    def write(self, record: ProxyLogRecord) -> None:
        self.records.append(record)

    async def aclose(self) -> None:
        return None
