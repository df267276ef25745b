"""The ``LogSink`` port: where proxy-log records go, off the hot path.

``write`` must not block the request that produced the record: a durable sink queues it and
writes in batches; ``close`` flushes everything queued (a graceful stop loses no row).
"""

from __future__ import annotations

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
    """Keeps records in a list: the fake tests use, and the sink until a durable one is set."""

    def __init__(self) -> None:
        self.records: list[ProxyLogRecord] = []

    def write(self, record: ProxyLogRecord) -> None:
        self.records.append(record)

    async def aclose(self) -> None:
        return None
