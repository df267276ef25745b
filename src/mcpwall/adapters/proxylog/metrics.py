"""Prometheus metrics, counted from the proxy log's records (served at ``/metrics``).

Counting from the records keeps the request path untouched and means a label can only carry
what a record carries: never an argument value, never a token. Label values are bounded:

- ``upstream``: a registered upstream (the gateway routes to nothing else);
- ``tool``: a name some upstream listed (:data:`UNKNOWN` otherwise: an agent can send any
  name, and every name would be a new time series);
- ``method``: an MCP method (:data:`OTHER` otherwise);
- ``decision``, ``outcome``, ``pin``: closed sets; ``rule``: a pointer into a stored policy,
  or one of the fixed rules such as ``(hidden)``.
"""

from __future__ import annotations

from collections import Counter as Counter_
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from mcpwall.core.proxylog import ProxyLogRecord

UNKNOWN = "_unknown"
OTHER = "_other"
CONTENT_TYPE = CONTENT_TYPE_LATEST

METHODS = frozenset(
    {
        "initialize", "ping", "server/discover", "tools/list", "tools/call", "resources/list",
        "resources/templates/list", "resources/read", "resources/subscribe",
        "resources/unsubscribe", "prompts/list", "prompts/get", "completion/complete",
        "logging/setLevel", "tasks/get", "tasks/list", "tasks/result", "tasks/cancel",
    }
)  # fmt: skip

# Decisions take microseconds, calls to upstreams milliseconds to minutes.
DECISION_BUCKETS = (1e-6, 2e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 1e-2)
CALL_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60
)  # fmt: skip

# What a row's outcome says of its upstream, for mcpwall_upstream_up: it answered, or it did
# not; a cancelled or unforwarded request says nothing either way.
ANSWERED = frozenset({"ok", "tool_error", "protocol_error"})
NO_ANSWER = frozenset({"unreachable", "timeout"})

KnownTool = Callable[[str, str], bool]
"""Whether ``(upstream, tool)`` is a tool that upstream listed."""

_Metric = TypeVar("_Metric", Counter, Gauge, Histogram)


class _Children(Generic[_Metric]):
    """A metric's children by their label values, each looked up once: ``labels()`` takes a
    lock and checks its values on every call, several times per record (label values are
    bounded, see above, and no child is ever removed)."""

    __slots__ = ("_children", "_metric")

    def __init__(self, metric: _Metric) -> None:
        self._metric: _Metric = metric
        self._children: dict[tuple[str, ...], _Metric] = {}

    def __call__(self, *values: str) -> _Metric:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._metric.labels(*values)
        return child


class ProxyMetrics:
    """The gateway's metrics in a registry of their own; a ``LogWriter`` of the proxy log."""

    def __init__(self, known_tool: KnownTool = lambda _upstream, _tool: False) -> None:
        self.known_tool = known_tool
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter(
            "mcpwall_requests", "Agent requests, by upstream, MCP method and upstream outcome.",
            ["upstream", "method", "outcome"], registry=registry,
        )  # fmt: skip
        self.decisions = Counter(
            "mcpwall_decisions", "Policy decisions on tools/call, by the rule that decided.",
            ["upstream", "tool", "decision", "rule"], registry=registry,
        )  # fmt: skip
        self.decision_seconds = Histogram(
            "mcpwall_decision_duration_seconds", "Time to decide a tools/call (policy, limits).",
            ["upstream"], buckets=DECISION_BUCKETS, registry=registry,
        )  # fmt: skip
        self.upstream_seconds = Histogram(
            "mcpwall_upstream_duration_seconds", "Time the upstream took to answer a tools/call.",
            ["upstream", "tool"], buckets=CALL_BUCKETS, registry=registry,
        )  # fmt: skip
        self.total_seconds = Histogram(
            "mcpwall_request_duration_seconds", "Time to answer a tools/call, end to end.",
            ["upstream", "decision"], buckets=CALL_BUCKETS, registry=registry,
        )  # fmt: skip
        self.upstream_up = Gauge(
            "mcpwall_upstream_up",
            "1 if the upstream answered the last request forwarded to it, 0 if it was unreachable.",
            ["upstream"], registry=registry,
        )  # fmt: skip
        self.pin_marks = Counter(
            "mcpwall_tool_pin_mismatches",
            "tools/list and tools/call requests that met a tool not pinned as it is listed, by "
            "method and how it stood (changed, new, suspicious, unreadable); withheld or not.",
            ["upstream", "method", "pin"], registry=registry,
        )  # fmt: skip
        self.log_queued = Gauge(
            "mcpwall_proxy_log_queued", "Proxy-log records waiting to be written.",
            registry=registry,
        )  # fmt: skip
        self.store_up = Gauge(
            "mcpwall_store_up",
            "1 while the data plane reads its database, 0 while it serves without it.",
            registry=registry,
        )  # fmt: skip
        self._requests = _Children(self.requests)
        self._decisions = _Children(self.decisions)
        self._decision_seconds = _Children(self.decision_seconds)
        self._upstream_seconds = _Children(self.upstream_seconds)
        self._total_seconds = _Children(self.total_seconds)
        self._upstream_up = _Children(self.upstream_up)
        self._pin_marks = _Children(self.pin_marks)
        self.store_lost_seconds = Gauge(
            "mcpwall_store_lost_seconds",
            "Seconds since the data plane lost its database (0 while it reads it).",
            registry=registry,
        )  # fmt: skip

    def watch_queue(self, queued: Callable[[], int]) -> None:
        """Report ``queued()`` as the proxy log's queue depth."""
        self.log_queued.set_function(lambda: float(queued()))

    def watch_store(self, lost_for: Callable[[], float | None]) -> None:
        """Report whether the store is lost, and for how long: ``lost_for()`` is the seconds
        since it was, None while it is reachable."""
        self.store_up.set_function(lambda: 1.0 if lost_for() is None else 0.0)
        self.store_lost_seconds.set_function(lambda: lost_for() or 0.0)

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return generate_latest(self.registry)

    # -- LogWriter ---------------------------------------------------------------------------------

    def write_batch(self, records: Sequence[ProxyLogRecord]) -> None:
        # Counted per batch: one increment per series, not per record.
        requests: Counter_[tuple[str, str, str]] = Counter_()
        decisions: Counter_[tuple[str, str, str, str]] = Counter_()
        marks: Counter_[tuple[str, str, str]] = Counter_()
        for record in records:
            requests[record.upstream, _method(record.method), record.outcome] += 1
            if record.pin:
                marks[record.upstream, _method(record.method), record.pin] += 1
            if record.outcome in NO_ANSWER:
                self._upstream_up(record.upstream).set(0)
            elif record.outcome in ANSWERED:
                self._upstream_up(record.upstream).set(1)
            if record.method == "tools/call" and record.decision:
                tool = self._tool(record)
                decisions[record.upstream, tool, record.decision, record.rule] += 1
                self._timings(record, tool)
        for series, count in requests.items():
            self._requests(*series).inc(count)
        for labels, count in decisions.items():
            self._decisions(*labels).inc(count)
        for marked, count in marks.items():
            self._pin_marks(*marked).inc(count)

    def close(self) -> None:
        return None

    def _tool(self, record: ProxyLogRecord) -> str:
        return record.tool if self.known_tool(record.upstream, record.tool) else UNKNOWN

    def _timings(self, record: ProxyLogRecord, tool: str) -> None:
        upstream = record.upstream
        self._decision_seconds(upstream).observe(record.decision_ms / 1000)
        self._total_seconds(upstream, record.decision).observe(record.total_ms / 1000)
        if record.outcome != "not_forwarded":
            self._upstream_seconds(upstream, tool).observe(record.upstream_ms / 1000)


def _method(method: str) -> str:
    return method if method in METHODS else OTHER
