"""The proxy log's destinations, assembled from the environment (DESIGN §6).

Every record goes, in batches off the request path (:class:`BatchingSink`), to, in order:

- ``MCPWALL_LOG_FILE``, as JSON lines for a SIEM, if set;
- stdout, as JSON lines, with ``MCPWALL_LOG_STDOUT=1``;
- the Prometheus metrics (:class:`ProxyMetrics`), unless the process serves none (``mcpwall
  stdio`` has no HTTP endpoint to read them from, so it leaves the client library unloaded);
- the store's database (table ``proxy_log``; in memory for an in-memory store), pruned of
  rows older than ``MCPWALL_LOG_RETENTION`` (default 30d; ``off`` keeps every row);
- OpenTelemetry spans, if an OTLP endpoint is configured.

``MCPWALL_LOG_BUFFER`` (default 10,000) is how many records may wait to be written: while
the database is slow or lost they wait in memory, and once that many do, the gateway refuses
new requests (503) until they drain (``docs/operations.md``, "When the database is lost").
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from mcpwall.adapters.proxylog.batching import BATCH_SIZE, CAPACITY, BatchingSink
from mcpwall.adapters.proxylog.deferred import DeferredLog, LogTable
from mcpwall.adapters.proxylog.jsonlines import JsonLinesFile, JsonLinesStream
from mcpwall.adapters.store import is_sql_store
from mcpwall.adapters.store.starting import StartingStore
from mcpwall.core.durations import parse_duration
from mcpwall.core.errors import InvalidValue
from mcpwall.ports.clock import Clock
from mcpwall.ports.logsink import LogReader, LogWriter, MemorySink
from mcpwall.ports.store import Store

if TYPE_CHECKING:
    from mcpwall.adapters.proxylog.metrics import KnownTool, ProxyMetrics
    from mcpwall.adapters.store import SQLStore
    from mcpwall.adapters.store.proxy_log import SQLProxyLog


def __getattr__(name: str) -> object:
    """``ProxyMetrics`` on first use: the Prometheus client loads only where metrics are kept."""
    if name == "ProxyMetrics":
        from mcpwall.adapters.proxylog.metrics import ProxyMetrics

        return ProxyMetrics
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["BatchingSink", "ProxyLog", "ProxyMetrics", "open_proxy_log", "proxy_log_reader"]

# Where spans go, if anywhere (``tracing.py``): without either, OpenTelemetry is not loaded.
TRACES_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
FILE_VARIABLE = "MCPWALL_LOG_FILE"
STDOUT_VARIABLE = "MCPWALL_LOG_STDOUT"
RETENTION_VARIABLE = "MCPWALL_LOG_RETENTION"
BUFFER_VARIABLE = "MCPWALL_LOG_BUFFER"
MAX_BUFFER = 1_000_000
DEFAULT_RETENTION = "30d"
MEMORY_RECORDS_KEPT = 10_000


@dataclass
class ProxyLog:
    """Where the pipeline writes (``sink``), where readers ask (``reader``), and the metrics
    (None where none are kept)."""

    sink: BatchingSink
    reader: LogReader
    metrics: ProxyMetrics | None


def open_proxy_log(
    store: Store,
    environ: Mapping[str, str],
    *,
    clock: Clock,
    known_tool: KnownTool,
    console: BinaryIO | None = None,
    metrics: bool = True,
) -> ProxyLog:
    """The proxy log as the environment configures it. ``console`` is where
    ``MCPWALL_LOG_STDOUT`` writes (stdout; ``mcpwall stdio`` passes stderr); ``metrics``
    False keeps no Prometheus metrics (for a process that serves none)."""
    keep = retention(environ)
    table: LogTable
    if isinstance(store, StartingStore):  # the table opens with the SQL store, on first use
        table = DeferredLog(lambda: _table(store.full(), clock, keep))
    else:
        table = proxy_log_reader(store, clock, keep)
    # Local destinations first: a batch goes to each writer in turn and waits for the one
    # that fails, so while the database is lost the SIEM file and the metrics stay current.
    writers: list[LogWriter] = []
    path = environ.get(FILE_VARIABLE)
    if path:
        writers.append(JsonLinesFile(Path(path)))
    if _switch(environ, STDOUT_VARIABLE):
        writers.append(JsonLinesStream(console or sys.stdout.buffer))
    kept = None
    if metrics:
        from mcpwall.adapters.proxylog.metrics import ProxyMetrics

        kept = ProxyMetrics(known_tool)
        writers.append(kept)
    writers.append(table)
    spans = None
    if any(environ.get(name) for name in TRACES_ENDPOINT_VARIABLES):  # OpenTelemetry, on use
        from mcpwall.adapters.proxylog.tracing import tracer_from_environment

        spans = tracer_from_environment(environ)
    if spans is not None:
        writers.append(spans)
    capacity = buffer(environ)
    sink = BatchingSink(writers, capacity=capacity, batch_size=min(BATCH_SIZE, capacity))
    if kept is not None:
        kept.watch_queue(lambda: sink.waiting)
    return ProxyLog(sink, table, kept)


def proxy_log_reader(
    store: Store, clock: Clock, keep: timedelta | None = None
) -> SQLProxyLog | MemorySink:
    """The proxy log table of ``store`` (kept in memory for a store that is not SQL)."""
    if is_sql_store(store):
        return _table(store, clock, keep)
    return MemorySink(MEMORY_RECORDS_KEPT)


def _table(store: SQLStore, clock: Clock, keep: timedelta | None) -> SQLProxyLog:
    from mcpwall.adapters.store.proxy_log import SQLProxyLog  # SQLAlchemy, with the store

    return SQLProxyLog(store.engine, store.url, clock, keep)


def retention(environ: Mapping[str, str]) -> timedelta | None:
    """``MCPWALL_LOG_RETENTION``: how long rows are kept (default 30d; ``off``: for ever)."""
    text = environ.get(RETENTION_VARIABLE, "").strip() or DEFAULT_RETENTION
    if text.lower() == "off":
        return None
    try:
        return timedelta(seconds=parse_duration(text))
    except InvalidValue as error:
        raise InvalidValue(RETENTION_VARIABLE, text, f"{error.expected}, or off") from None


def buffer(environ: Mapping[str, str]) -> int:
    """``MCPWALL_LOG_BUFFER``: how many records may wait to be written (default 10,000)."""
    text = environ.get(BUFFER_VARIABLE, "").strip()
    if not text:
        return CAPACITY
    value = int(text) if text.isdigit() else 0
    if not 0 < value <= MAX_BUFFER:
        raise InvalidValue(BUFFER_VARIABLE, text, f"a whole number from 1 to {MAX_BUFFER:,}")
    return value


def _switch(environ: Mapping[str, str], name: str) -> bool:
    text = environ.get(name, "").strip().lower()
    if text in ("", "0", "false", "no", "off"):
        return False
    if text in ("1", "true", "yes", "on"):
        return True
    raise InvalidValue(name, text, "1 (on) or 0 (off)")
