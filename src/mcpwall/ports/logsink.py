"""The proxy-log ports: where records go (``LogSink``, ``LogWriter``) and how they are read
back (``LogReader``), with the in-memory fake that tests use.

A ``LogSink`` takes one record per request from the pipeline. A durable one queues it and
hands batches to its ``LogWriter`` s off the event loop; with ``write_later`` it also builds
the record there, so that an answer on its way back to the agent does not wait for it.
``write`` is a coroutine so that a full queue can push back: the record is queued at once,
and the request waits for room only while the queue is over its bound, so rows are never
dropped and a slow database slows the gateway down instead of growing memory without limit.
``aclose`` writes everything queued (a graceful stop loses no row).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime
from itertools import islice
from typing import Protocol

from mcpwall.core.logquery import (
    LogFilter,
    StoredRecord,
    SummaryRow,
    TimelineRow,
    count_outcomes,
    summarize,
    timeline,
    top_denied,
)
from mcpwall.core.proxylog import ProxyLogRecord


class LogSink(Protocol):
    async def write(self, record: ProxyLogRecord) -> None:
        """Queue one record; wait only while the queue is full. Never drops it."""
        ...

    async def write_later(self, build: Callable[[], ProxyLogRecord]) -> None:
        """:meth:`write` the record ``build`` makes, made when it is written rather than now.
        ``build`` must hold no argument values (it is kept until then)."""
        ...

    async def aclose(self) -> None:
        """Write every queued record, then stop."""
        ...


class LogWriter(Protocol):
    """One destination of records (a table, a file, a stream, metrics, traces).

    Synchronous and called off the event loop, one batch at a time, never concurrently. A
    batch that raises is offered again, whole, so a writer must write all of it or none.
    """

    def write_batch(self, records: Sequence[ProxyLogRecord]) -> None: ...

    def close(self) -> None: ...


class LogReader(Protocol):
    """The proxy log as a table to ask (synchronous: callers run it off the event loop)."""

    def read(self, query: LogFilter) -> list[StoredRecord]:
        """Rows matching ``query``: newest first, or oldest first after ``query.after``."""
        ...

    def summary(self, since: datetime) -> list[SummaryRow]:
        """Decided calls since ``since`` counted by upstream, tool, decision and rule."""
        ...

    def prune(self, before: datetime) -> int:
        """Delete the rows older than ``before``; the number deleted."""
        ...

    def timeline(self, since: datetime, until: datetime, bucket_seconds: int) -> list[TimelineRow]:
        """Decided calls in [since, until) counted by time bucket and category
        (:func:`mcpwall.core.logquery.timeline` says exactly how)."""
        ...

    def top_denied(self, since: datetime, field: str, limit: int) -> list[tuple[str, int]]:
        """The tools or grant labels (``field``) of the most refused calls since ``since``."""
        ...

    def outcomes(self, since: datetime) -> dict[tuple[str, str], int]:
        """Requests since ``since`` counted by (upstream, outcome)."""
        ...


class MemorySink:
    """Keeps the newest ``limit`` records in memory (all of them when ``limit`` is None): the
    fake tests use, and the log of a gateway whose store is not a SQL database."""

    def __init__(self, limit: int | None = None) -> None:
        self._rows: deque[StoredRecord] = deque(maxlen=limit)
        self._next_id = 1

    @property
    def records(self) -> list[ProxyLogRecord]:
        return [row.record for row in self._rows]

    def append(self, record: ProxyLogRecord) -> None:
        self._rows.append(StoredRecord(self._next_id, record))
        self._next_id += 1

    async def write(self, record: ProxyLogRecord) -> None:
        self.append(record)

    async def write_later(self, build: Callable[[], ProxyLogRecord]) -> None:
        self.append(build())

    def write_batch(self, records: Sequence[ProxyLogRecord]) -> None:
        for record in records:
            self.append(record)

    async def aclose(self) -> None:
        return None

    def close(self) -> None:
        return None

    def read(self, query: LogFilter) -> list[StoredRecord]:
        rows = self._rows if query.after is not None else reversed(self._rows)
        found = (row for row in rows if query.matches(row.id, row.record))
        return list(islice(found, query.limit))

    def summary(self, since: datetime) -> list[SummaryRow]:
        return summarize(self.records, since)

    def timeline(self, since: datetime, until: datetime, bucket_seconds: int) -> list[TimelineRow]:
        return timeline(self.records, since, until, bucket_seconds)

    def top_denied(self, since: datetime, field: str, limit: int) -> list[tuple[str, int]]:
        return top_denied(self.records, since, field, limit)

    def outcomes(self, since: datetime) -> dict[tuple[str, str], int]:
        return count_outcomes(self.records, since)

    def prune(self, before: datetime) -> int:
        kept = [row for row in self._rows if row.record.at >= before]
        pruned = len(self._rows) - len(kept)
        self._rows = deque(kept, maxlen=self._rows.maxlen)
        return pruned
