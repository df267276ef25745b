"""``/api/logs``, ``/api/logs/summary`` and ``/metrics``: what the CLI shows, for viewers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from mcpwall.adapters.proxylog.metrics import ProxyMetrics
from mcpwall.admin import create_admin_app
from mcpwall.control import ControlPlane
from mcpwall.core.errors import StoreUnavailable
from mcpwall.core.logquery import record_json, summarize, summary_json
from mcpwall.core.registry import Role
from mcpwall.ports.clock import FakeClock
from mcpwall.ports.logsink import MemorySink
from mcpwall.ports.memory_store import MemoryStore
from tests.adapters.proxylog.records import START, generated, record

LOG = generated(300)
NOW = START + timedelta(days=14)


@pytest.fixture
def client() -> Iterator[tuple[TestClient, dict[str, str]]]:
    clock = FakeClock(NOW)
    control = ControlPlane(MemoryStore(clock), clock)
    sink = MemorySink()
    sink.write_batch(LOG)
    metrics = ProxyMetrics(lambda upstream, tool: True)
    metrics.write_batch(LOG)
    app = create_admin_app(control, proxy_log=sink, metrics=metrics)
    viewer = control.create_admin_token(Role.VIEWER, actor="test").token
    with TestClient(app) as made:
        yield made, {"Authorization": f"Bearer {viewer}"}


def test_pages_of_rows_newest_first(client: tuple[TestClient, dict[str, str]]) -> None:
    http, auth = client
    first = http.get("/api/logs", params={"limit": 100}, headers=auth).json()
    assert [r["id"] for r in first["records"]] == list(range(300, 200, -1))
    assert first["records"][0] == record_json(LOG[-1], 300)
    second = http.get("/api/logs", params={"before": first["next_before"]}, headers=auth).json()
    assert second["records"][0]["id"] == 200
    last = http.get("/api/logs", params={"before": 50, "limit": 100}, headers=auth).json()
    assert len(last["records"]) == 49
    assert last["next_before"] is None


def test_filters(client: tuple[TestClient, dict[str, str]]) -> None:
    http, auth = client
    params = {
        "since": "3d",
        "decision": "deny",
        "upstream": "k8s",
        "grant": "alice",
        "limit": "1000",
    }
    found = http.get("/api/logs", params=params, headers=auth).json()["records"]
    expected = [
        r for r in LOG
        if r.at >= NOW - timedelta(days=3) and r.decision == "deny" and r.upstream == "k8s"
        and r.grant_label == "alice"
    ]  # fmt: skip
    assert [r["request_id"] for r in found] == [r.request_id for r in reversed(expected)]
    assert found


def test_the_summary(client: tuple[TestClient, dict[str, str]]) -> None:
    http, auth = client
    answer = http.get("/api/logs/summary", headers=auth).json()
    since = NOW - timedelta(days=7)
    assert answer == {
        "since": since.isoformat(timespec="microseconds"),
        "rows": [summary_json(row) for row in summarize(LOG, since)],
    }


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/logs", {"since": "0d"}),
        ("/api/logs", {"since": "7 days"}),
        ("/api/logs", {"decision": "maybe"}),
        ("/api/logs", {"tool": ""}),
        ("/api/logs", {"upstream": "Not A Name"}),
        ("/api/logs", {"limit": "0"}),
        ("/api/logs", {"level": "debug"}),
        ("/api/logs/summary", {"since": "99999d"}),
    ],
)
def test_bad_queries_are_422(
    client: tuple[TestClient, dict[str, str]], path: str, params: dict[str, str]
) -> None:
    http, auth = client
    answer = http.get(path, params=params, headers=auth)
    assert answer.status_code == 422, answer.text


def test_metrics_need_a_token(client: tuple[TestClient, dict[str, str]]) -> None:
    http, auth = client
    assert http.get("/metrics").status_code == 401
    answer = http.get("/metrics", headers=auth)
    assert answer.status_code == 200
    assert "mcpwall_decisions_total{" in answer.text


def test_metrics_stay_readable_by_a_known_token_while_the_store_is_lost() -> None:
    clock = FakeClock(NOW)
    store = MemoryStore(clock)
    control = ControlPlane(store, clock)
    metrics = ProxyMetrics(lambda upstream, tool: True)
    lost: list[float | None] = [None]
    metrics.watch_store(lambda: lost[0])
    app = create_admin_app(control, proxy_log=MemorySink(), metrics=metrics)
    known = control.create_admin_token(Role.VIEWER, actor="test").token
    unseen = control.create_admin_token(Role.VIEWER, actor="test").token

    def unavailable(token_hash: str) -> None:
        raise StoreUnavailable("postgresql://db.example/mcpwall", "Connection refused")

    with TestClient(app) as http:
        before = http.get("/metrics", headers={"Authorization": f"Bearer {known}"})
        store.find_admin_token_by_token_hash = unavailable  # type: ignore[method-assign]
        lost[0] = 42.0
        during = http.get("/metrics", headers={"Authorization": f"Bearer {known}"})
        refused = http.get("/metrics", headers={"Authorization": f"Bearer {unseen}"})
    assert "mcpwall_store_up 1.0" in before.text
    assert during.status_code == 200
    assert "mcpwall_store_up 0.0" in during.text
    assert "mcpwall_store_lost_seconds 42.0" in during.text
    assert refused.status_code == 503


def test_a_rule_as_long_as_the_log_keeps_one_filters() -> None:
    """A policy's pointer under a long tool name runs past 256 characters; every rule the
    log keeps (up to MAX_RULE_BYTES) is a filter the API takes."""
    clock = FakeClock(NOW)
    control = ControlPlane(MemoryStore(clock), clock)
    sink = MemorySink()
    long_rule = "/tools/" + "t" * 600 + "/require/0/conditions/0"
    sink.write_batch([record(1, rule=long_rule), record(2)])
    app = create_admin_app(control, proxy_log=sink)
    viewer = control.create_admin_token(Role.VIEWER, actor="test").token
    with TestClient(app) as http:
        auth = {"Authorization": f"Bearer {viewer}"}
        found = http.get("/api/logs", params={"rule": long_rule}, headers=auth)
        assert found.status_code == 200, found.text
        assert [r["rule"] for r in found.json()["records"]] == [long_rule]
        too_long = http.get("/api/logs", params={"rule": "x" * 1201}, headers=auth)
        assert too_long.status_code == 422
