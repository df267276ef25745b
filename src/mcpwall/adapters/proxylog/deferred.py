"""The proxy log's table opened on first use: ``mcpwall stdio`` answers its agent's first
requests before it loads the SQL store (issue 16 §3); their records wait in the batching
sink's queue meanwhile, as records wait there for any writer, and reach the table in order."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from mcpwall.core.logquery import LogFilter, StoredRecord, SummaryRow, TimelineRow
from mcpwall.core.proxylog import ProxyLogRecord
from mcpwall.ports.logsink import LogReader, LogWriter


class LogTable(LogWriter, LogReader, Protocol):
    """What the proxy log's table is: written in batches, and read."""


class DeferredLog:
    """A ``LogWriter`` and ``LogReader`` that opens the table ``open_table`` makes at its first
    use (from whichever thread: the batching sink writes from worker threads), and is it."""

    def __init__(self, open_table: Callable[[], LogTable]) -> None:
        self._open = open_table
        self._table: LogTable | None = None
        self._lock = threading.Lock()

    @property
    def opened(self) -> bool:
        return self._table is not None

    def _opened(self) -> LogTable:
        with self._lock:
            if self._table is None:
                self._table = self._open()
            return self._table

    def write_batch(self, records: Sequence[ProxyLogRecord]) -> None:
        self._opened().write_batch(records)

    def close(self) -> None:
        with self._lock:
            if self._table is not None:  # never opened: nothing to close
                self._table.close()

    def read(self, query: LogFilter) -> list[StoredRecord]:
        return self._opened().read(query)

    def summary(self, since: datetime) -> list[SummaryRow]:
        return self._opened().summary(since)

    def prune(self, before: datetime) -> int:
        return self._opened().prune(before)

    def timeline(self, since: datetime, until: datetime, bucket_seconds: int) -> list[TimelineRow]:
        return self._opened().timeline(since, until, bucket_seconds)

    def top_denied(self, since: datetime, field: str, limit: int) -> list[tuple[str, int]]:
        return self._opened().top_denied(since, field, limit)

    def outcomes(self, since: datetime) -> dict[tuple[str, str], int]:
        return self._opened().outcomes(since)
