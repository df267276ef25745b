"""Where records go besides the table: JSON lines (file and stream), Prometheus metrics with
bounded labels, and OpenTelemetry spans with the MCP conventions; never an argument value."""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from mcpwall.adapters.proxylog import open_proxy_log, retention
from mcpwall.adapters.proxylog.jsonlines import JsonLinesFile, JsonLinesStream
from mcpwall.adapters.proxylog.metrics import UNKNOWN, ProxyMetrics
from mcpwall.adapters.proxylog.tracing import SpanWriter, tracer_from_environment
from mcpwall.core.errors import InvalidValue
from mcpwall.core.logquery import record_json
from mcpwall.ports.clock import FakeClock
from mcpwall.ports.memory_store import MemoryStore
from tests.adapters.proxylog.records import record


def test_the_file_gets_one_json_object_a_line_and_follows_rotation(tmp_path: Path) -> None:
    path = tmp_path / "proxy.jsonl"
    sink = JsonLinesFile(path)
    sink.write_batch([record(1), record(2)])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.rename(tmp_path / "proxy.jsonl.1")  # logrotate
    sink.write_batch([record(3)])
    sink.close()
    old = (tmp_path / "proxy.jsonl.1").read_text().splitlines()
    assert [json.loads(line) for line in old] == [record_json(record(1)), record_json(record(2))]
    assert [json.loads(line)["request_id"] for line in path.read_text().splitlines()] == ["3"]


def test_the_stream_writes_json_lines() -> None:
    buffer = io.BytesIO()
    JsonLinesStream(buffer).write_batch([record(5)])
    assert json.loads(buffer.getvalue()) == record_json(record(5))


def test_metrics_count_decisions_and_bound_tool_labels() -> None:
    metrics = ProxyMetrics(lambda upstream, tool: (upstream, tool) == ("k8s", "delete_pod"))
    metrics.write_batch(
        [
            record(1, tool="delete_pod", rule="(hidden)"),
            record(2, tool="made-up-tool-name-from-an-agent", rule="(default deny)"),
            record(3, decision="allow", rule="(allowed)"),
            record(4, method="evil/" + "x" * 50),
        ]
    )
    text = metrics.exposition().decode()
    assert (
        'mcpwall_decisions_total{decision="deny",rule="(hidden)",tool="delete_pod",upstream="k8s"} 1.0'
        in text
    )
    assert f'tool="{UNKNOWN}"' in text
    assert "made-up-tool-name" not in text
    assert 'method="_other"' in text
    assert "evil/" not in text
    assert 'mcpwall_upstream_up{upstream="k8s"} 1.0' in text
    assert "mcpwall_decision_duration_seconds_bucket" in text


def test_spans_follow_the_mcp_conventions_and_carry_keys_only() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    writer = SpanWriter(provider.get_tracer("test"), provider)
    writer.write_batch([record(1, decision="allow", rule="(allowed)"), record(2)])
    writer.close()
    spans = exporter.get_finished_spans()
    server = [s for s in spans if s.kind == SpanKind.SERVER]
    client = [s for s in spans if s.kind == SpanKind.CLIENT]
    assert [s.name for s in server] == ["tools/call delete_pod"] * 2
    assert len(client) == 1
    assert client[0].parent is not None
    attributes = dict(server[1].attributes or {})
    assert attributes["mcp.method.name"] == "tools/call"
    assert attributes["gen_ai.tool.name"] == "delete_pod"
    assert attributes["mcpwall.rule"] == "(hidden)"
    assert tuple(attributes["mcpwall.argument_keys"]) == ("name", "namespace")  # type: ignore[arg-type]
    assert server[0].end_time is not None
    assert server[0].start_time is not None
    assert server[0].end_time - server[0].start_time == 1_600_000  # total_ms, in ns


def test_tracing_is_off_unless_an_endpoint_is_configured() -> None:
    assert tracer_from_environment({}) is None
    configured = tracer_from_environment({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"})
    assert isinstance(configured, SpanWriter)
    configured.close()
    disabled = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_SDK_DISABLED": "true"}
    assert tracer_from_environment(disabled) is None


def test_the_environment_chooses_the_destinations(tmp_path: Path) -> None:
    environ = {"MCPWALL_LOG_FILE": str(tmp_path / "siem.jsonl"), "MCPWALL_LOG_STDOUT": "1"}
    log = open_proxy_log(
        MemoryStore(FakeClock()), environ, clock=FakeClock(), known_tool=lambda u, t: False,
        console=io.BytesIO(),
    )  # fmt: skip
    kinds = [type(writer).__name__ for writer in log.sink.writers]
    # The database last of the local ones: while it is lost, the others stay current.
    assert kinds == ["JsonLinesFile", "JsonLinesStream", "ProxyMetrics", "MemorySink"]
    assert log.sink.capacity == 10_000


def test_the_buffer_is_set_and_checked() -> None:
    def opened(text: str) -> int:
        log = open_proxy_log(
            MemoryStore(FakeClock()), {"MCPWALL_LOG_BUFFER": text}, clock=FakeClock(),
            known_tool=lambda u, t: False,
        )  # fmt: skip
        assert log.sink.batch_size <= log.sink.capacity
        return log.sink.capacity

    assert opened("50") == 50
    assert opened("200000") == 200_000
    for bad in ("0", "-5", "lots", "1e3", "2000000"):
        with pytest.raises(InvalidValue, match="MCPWALL_LOG_BUFFER"):
            opened(bad)


@pytest.mark.parametrize(
    ("text", "days"), [(None, 30), ("7d", 7), ("2w", 14), ("off", None), (" ", 30)]
)
def test_retention(text: str | None, days: int | None) -> None:
    environ = {} if text is None else {"MCPWALL_LOG_RETENTION": text}
    kept = retention(environ)
    assert (kept.days if kept is not None else None) == days


def test_a_bad_retention_or_switch_is_refused() -> None:
    with pytest.raises(InvalidValue, match="MCPWALL_LOG_RETENTION"):
        retention({"MCPWALL_LOG_RETENTION": "forever"})
    with pytest.raises(InvalidValue, match="MCPWALL_LOG_STDOUT"):
        open_proxy_log(
            MemoryStore(FakeClock()), {"MCPWALL_LOG_STDOUT": "maybe"}, clock=FakeClock(),
            known_tool=lambda u, t: False,
        )  # fmt: skip
