"""OpenTelemetry spans, one per agent request, made from the proxy log's records.

Off unless configured: :func:`tracer_from_environment` gives a tracer only when an OTLP
endpoint is set (``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``;
the exporter reads the rest of the standard ``OTEL_*`` variables itself).

Spans carry the MCP semantic conventions (``mcp.method.name``, ``gen_ai.tool.name``,
``gen_ai.operation.name``, ``jsonrpc.request.id``, ``error.type``) and the decision
(``mcpwall.*``). They are built from the record, after the fact, with the request's own start
and end times: so a span can say no more than a row does — argument keys, never values —
and tracing adds nothing to the request path. A forwarded ``tools/call`` gets a client child
span for the upstream's part. (The agent's trace context is not joined: the span is a root.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from mcpwall.adapters.proxylog import TRACES_ENDPOINT_VARIABLES
from mcpwall.core.errors import MCPWallError
from mcpwall.core.proxylog import ProxyLogRecord

ENDPOINT_VARIABLES = TRACES_ENDPOINT_VARIABLES
INSTRUMENTATION = "mcpwall"
FAILED = {"protocol_error", "unreachable", "timeout", "cancelled"}


class SpanWriter:
    """A ``LogWriter`` that turns each record into a span of ``tracer``."""

    def __init__(self, tracer: Tracer, shutdown: object = None) -> None:
        self.tracer = tracer
        self._shutdown = shutdown  # a TracerProvider to flush and stop on close

    def write_batch(self, records: Sequence[ProxyLogRecord]) -> None:
        for record in records:
            self.emit(record)

    def close(self) -> None:
        shutdown = getattr(self._shutdown, "shutdown", None)
        if callable(shutdown):
            shutdown()

    def emit(self, record: ProxyLogRecord) -> None:
        end = _nanoseconds(record.at.timestamp())
        start = end - _nanoseconds(record.total_ms / 1000)
        span = self.tracer.start_span(
            _name(record), kind=SpanKind.SERVER, start_time=start, attributes=attributes(record)
        )
        if record.outcome in FAILED:
            span.set_status(Status(StatusCode.ERROR, record.outcome))
        if record.outcome != "not_forwarded" and record.upstream_ms > 0:
            self._upstream_span(record, span, start + _nanoseconds(record.decision_ms / 1000))
        span.end(end_time=end)

    def _upstream_span(self, record: ProxyLogRecord, parent: trace.Span, start: int) -> None:
        context = trace.set_span_in_context(parent)
        child = self.tracer.start_span(
            _name(record),
            context=context,
            kind=SpanKind.CLIENT,
            start_time=start,
            attributes={
                "mcp.method.name": record.method,
                "gen_ai.tool.name": record.tool,
                "mcpwall.upstream": record.upstream,
            },
        )
        child.end(end_time=start + _nanoseconds(record.upstream_ms / 1000))


def attributes(record: ProxyLogRecord) -> dict[str, str | int | float | bool | Sequence[str]]:
    """The span attributes of a record: what the row says, in semantic-convention names."""
    values: dict[str, str | int | float | bool | Sequence[str]] = {
        "mcp.method.name": record.method,
        "jsonrpc.request.id": record.request_id,
        "mcpwall.upstream": record.upstream,
        "mcpwall.grant.id": record.grant_id,
        "mcpwall.grant.label": record.grant_label,
        "mcpwall.outcome": record.outcome,
    }
    if record.method == "tools/call":
        values |= {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": record.tool,
            "mcpwall.policy.name": record.policy,
            "mcpwall.policy.version": record.policy_version,
            "mcpwall.decision": record.decision,
            "mcpwall.rule": record.rule,
            "mcpwall.argument_keys": list(record.argument_keys),
            "mcpwall.fail_open": record.fail_open,
            "mcpwall.pin": record.pin,
        }
    if record.outcome in FAILED or record.outcome == "tool_error":
        values["error.type"] = record.outcome
    return values


def tracer_from_environment(environ: Mapping[str, str]) -> SpanWriter | None:
    """A span writer exporting over OTLP if an endpoint is configured, else None."""
    if not any(environ.get(name) for name in ENDPOINT_VARIABLES):
        return None
    if environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        raise MCPWallError(
            "an OTLP endpoint is set, but tracing support is not installed; install it with: "
            "pip install 'mcpwall[otel]'"
        ) from None
    service = environ.get("OTEL_SERVICE_NAME") or "mcpwall"
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return SpanWriter(provider.get_tracer(INSTRUMENTATION), provider)


def _name(record: ProxyLogRecord) -> str:
    # MCP conventions: "{mcp.method.name} {target}", the target being the tool for a call.
    return f"{record.method} {record.tool}" if record.tool else record.method


def _nanoseconds(seconds: float) -> int:
    return round(seconds * 1e9)
