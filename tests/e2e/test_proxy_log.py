"""The proxy log end to end: a real ``mcpwall serve`` in front of the fixture server (stdio),
writing to its database, a SIEM file, stdout and an OTLP collector (a loopback HTTP server
of the test's own).

- The canary test: random secrets go into tool arguments, and the grant tokens are secrets
  too; none of them may be found in any file under ``MCPWALL_HOME``, in the process's
  output, in ``/metrics`` or in the exported spans — while the rows themselves are there,
  with the right rule pointers.
- A graceful stop under load loses no row: every request answered before SIGTERM is in the
  log after it.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import seed_policy
from tests.e2e.harness import LEGACY, Gateway, agent
from tests.fixtures.servers import FIXTURE_SERVER, LOOPBACK, RECORD_ENV, Record
from tests.gateway.test_http import modern_body, modern_headers

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]


class Collector:
    """An OTLP/HTTP endpoint that keeps every request body it is sent."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                bodies.append(self.rfile.read(length))
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.url = f"http://{LOOPBACK}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def received(self) -> bytes:
        return b"".join(self.bodies)


@pytest.fixture
def collector() -> Iterator[Collector]:
    made = Collector()
    made.thread.start()
    yield made
    made.server.shutdown()
    made.server.server_close()


def configure(gateway: Gateway, record: Record) -> dict[str, str]:
    return gateway.apply(
        {
            "upstreams": {
                "fx": {
                    "command": [sys.executable, str(FIXTURE_SERVER), "stdio"],
                    "env": {RECORD_ENV: str(record.path)},
                }
            },
            "policies": {
                "seed": seed_policy(),
                "seed-shadow": {**seed_policy(), "mode": "shadow"},
            },
            "grants": [
                {"label": "agent", "bind": {"fx": "seed"}},
                {"label": "shadow", "bind": {"fx": "seed-shadow"}},
            ],
        }
    )


def rows(gateway: Gateway, *args: str) -> list[dict[str, Any]]:
    output = gateway.cli("logs", "--json", "--limit", "1000", *args)
    return [json.loads(line) for line in output.splitlines()]


async def test_no_secret_leaks_anywhere_and_every_decision_is_logged(
    tmp_path: Path, collector: Collector
) -> None:
    home = tmp_path / "home"
    record = Record(tmp_path / "fx.record.jsonl")  # the upstream may see values: not in home
    siem = home / "siem.jsonl"
    gateway = Gateway(
        home,
        {
            "MCPWALL_LOG_FILE": str(siem),
            "MCPWALL_LOG_STDOUT": "1",
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
            "OTEL_SERVICE_NAME": "mcpwall-canary",
        },
    )
    tokens = configure(gateway, record)
    canaries = {name: f"canary-{name}-{secrets.token_hex(12)}" for name in
                ("allowed", "denied", "hidden", "shadowed", "listed", "unknown")}  # fmt: skip
    gateway.start()
    try:
        async with agent(gateway.url("fx"), tokens["agent"], LEGACY) as client:
            await client.list_tools()
            allowed = await client.call_tool(
                "delete_pod", {"namespace": "staging", "name": canaries["allowed"]}
            )
            assert not allowed.is_error
            denied = await client.call_tool(
                "delete_pod", {"namespace": "prod", "name": canaries["denied"]}
            )
            assert denied.is_error
            with pytest.raises(Exception, match="Unknown tool"):
                await client.call_tool("delete_namespace", {"name": canaries["hidden"]})
            with pytest.raises(Exception, match="Unknown tool"):
                await client.call_tool("no_such_tool", {"secret": canaries["unknown"]})
        async with agent(gateway.url("fx"), tokens["shadow"], LEGACY) as client:
            shadowed = await client.call_tool(
                "delete_pod", {"namespace": "prod", "name": canaries["shadowed"]}
            )
            assert not shadowed.is_error  # shadow mode: logged, not refused
        await record.wait_for(lambda e: canaries["shadowed"] in json.dumps(e))
        viewer = json.loads(gateway.cli("admin", "token", "create", "--role", "viewer", "--json"))
        metrics = await _metrics(gateway, viewer["token"])
        pages = await _dashboard_pages(gateway, viewer["token"])
    finally:
        assert gateway.stop() == 0, gateway.log

    # The rows are there, with the rule that decided each call.
    calls = [r for r in rows(gateway) if r["method"] == "tools/call"]
    decided = [(r["grant_label"], r["tool"], r["decision"], r["rule"], r["outcome"]) for r in calls]
    assert decided == [
        ("agent", "delete_pod", "allow", "(allowed)", "ok"),
        (
            "agent",
            "delete_pod",
            "deny",
            "/tools/delete_pod/require/0/conditions/0",
            "not_forwarded",
        ),
        ("agent", "delete_namespace", "deny", "(hidden)", "not_forwarded"),
        ("agent", "no_such_tool", "deny", "(unknown tool)", "not_forwarded"),
        ("shadow", "delete_pod", "would_deny", "/tools/delete_pod/require/0/conditions/0", "ok"),
    ]
    assert all(r["argument_keys"] in (["name", "namespace"], ["name"], ["secret"]) for r in calls)
    siem_rows = [json.loads(line) for line in siem.read_text().splitlines()]
    assert [r["rule"] for r in siem_rows if r["method"] == "tools/call"] == [d[3] for d in decided]
    assert (
        'mcpwall_decisions_total{decision="deny",rule="(hidden)",tool="delete_namespace"' in metrics
    )
    assert 'tool="_unknown"' in metrics  # no_such_tool was never listed by the upstream
    assert b"tools/call delete_pod" in collector.received  # spans were exported
    assert b"mcpwall-canary" in collector.received

    # …and no secret is anywhere.
    assert any(canaries["allowed"] in json.dumps(e) for e in record.events())  # it was sent
    secrets_sent = [*canaries.values(), tokens["agent"], tokens["shadow"], viewer["token"]]
    places = {str(p): p.read_bytes() for p in home.rglob("*") if p.is_file()}
    places |= {"process output": gateway.log.encode(), "/metrics": metrics.encode()}
    places |= {"exported spans": collector.received}
    places |= {f"dashboard {path}": content for path, content in pages.items()}
    assert "serve.log" in " ".join(places)
    assert str(siem) in places
    for secret in secrets_sent:
        for place, content in places.items():
            assert secret.encode() not in content, f"{secret} found in {place}"


DASHBOARD_PAGES = (
    "/", "/logs", "/logs?decision=deny", "/tail", "/logs/export?format=jsonl",
    "/logs/export?format=csv", "/audit", "/policies", "/grants", "/upstreams", "/upstreams/fx",
    "/admin-tokens",
)  # fmt: skip


async def _dashboard_pages(gateway: Gateway, token: str) -> dict[str, bytes]:
    """Every dashboard page a viewer can open, and each proxy-log row in full, as served."""
    origin = f"http://{LOOPBACK}:{gateway.admin_port}"
    pages: dict[str, bytes] = {}
    async with httpx.AsyncClient(base_url=origin, timeout=30) as browser:
        login = await browser.post("/login", data={"token": token}, headers={"Origin": origin})
        assert login.status_code == 303
        pages["login answer"] = str(login.headers).encode() + login.content
        for path in DASHBOARD_PAGES:
            answer = await browser.get(path)
            pages[path] = answer.content
        assert pages["/logs"].count(b'<tr id="row-') >= 5
        for row_id in {int(n) for n in re.findall(rb'<tr id="row-(\d+)"', pages["/logs"])}:
            pages[f"/logs/{row_id}"] = (await browser.get(f"/logs/{row_id}")).content
    return pages


async def _metrics(gateway: Gateway, token: str) -> str:
    url = f"http://{LOOPBACK}:{gateway.admin_port}/metrics"
    async with httpx.AsyncClient() as http:
        refused = await http.get(url)
        assert refused.status_code == 401
        answer = await http.get(url, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return answer.text


async def test_a_graceful_stop_under_load_loses_no_row(tmp_path: Path) -> None:
    gateway = Gateway(tmp_path / "home")
    tokens = configure(gateway, Record(tmp_path / "fx.record.jsonl"))
    gateway.start()
    answered: list[str] = []
    enough = asyncio.Event()
    total, stop_after = 600, 150

    async def call(http: httpx.AsyncClient, n: int) -> None:
        request_id = f"load-{n}"
        body = modern_body("tools/call", {"name": "delete_pod",
                                          "arguments": {"namespace": "prod", "name": "p"}}, request_id)  # fmt: skip
        headers = modern_headers(tokens["agent"], "tools/call", "delete_pod")
        try:
            response = await http.post(gateway.url("fx"), json=body, headers=headers)
        except httpx.TransportError:
            return  # the server had stopped accepting: never answered, never logged
        if response.status_code == 200:
            answered.append(request_id)
            if len(answered) >= stop_after:
                enough.set()

    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        calls = [asyncio.create_task(call(http, n)) for n in range(total)]
        await enough.wait()
        stopped = asyncio.create_task(asyncio.to_thread(gateway.stop))
        await asyncio.gather(*calls)
        assert await stopped == 0, gateway.log
    logged = {r["request_id"] for r in rows(gateway, "--decision", "deny")}
    assert len(answered) >= stop_after
    missing = set(answered) - logged
    assert not missing, f"{len(missing)} answered requests have no row"
