"""What running the official conformance suite through the gateway showed it must do.

Each test is one behaviour the suite checks (``make conformance`` runs the suite itself):
a 2026-07-28 answer's HTTP status follows its JSON-RPC error, relayed or the gateway's own;
a 2026-07-28 request's own client capabilities travel with it upstream; and
a legacy session takes any legacy ``MCP-Protocol-Version`` header, as the SDKs' servers do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import pytest

from mcpwall.core.mcp import CLIENT_CAPABILITIES_KEY, PROTOCOL_VERSION_KEY
from mcpwall.ports.upstream import Message, Receiver
from tests.gateway.conftest import FakeSession, Wired, answer_requests
from tests.gateway.test_http import MODERN, bearer, initialize, modern_headers

pytestmark = pytest.mark.anyio


def modern_call(
    method: str, params: dict[str, object], capabilities: dict[str, object] | None = None
) -> dict[str, object]:
    meta = {PROTOCOL_VERSION_KEY: MODERN, CLIENT_CAPABILITIES_KEY: capabilities or {}}
    return {"jsonrpc": "2.0", "id": 3, "method": method, "params": {**params, "_meta": meta}}


async def post(wired: Wired, body: dict[str, object], name: str | None = None) -> httpx.Response:
    method = str(body["method"])
    async with wired.client() as client:
        return await client.post(
            "/mcp/k8s", json=body, headers=modern_headers(wired.token, method, name)
        )


async def test_a_modern_refusal_by_the_gateway_has_the_status_its_error_calls_for(
    wired: Wired,
) -> None:
    hidden = await post(wired, modern_call("tools/call", {"name": "get_secret"}), "get_secret")
    assert hidden.status_code == 400
    assert hidden.json()["error"]["code"] == -32602
    assert hidden.json()["id"] == 3


async def test_a_relayed_modern_error_has_the_status_its_code_calls_for(
    wired: Wired, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refusing(
        _session: FakeSession,
        _method: str,
        _params: Mapping[str, object] | None,
        _related: Receiver | None,
    ) -> Message:
        return {"error": {"code": -32601, "message": "Method not found"}}

    answer_requests(monkeypatch, {"vendor/unknown"}, refusing)
    unknown = await post(wired, modern_call("vendor/unknown", {}))
    relayed = await post(wired, modern_call("resources/list", {}))
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, -32601)
    assert relayed.status_code == 200
    assert relayed.json()["result"]["relayed"] == "resources/list"


async def test_a_modern_request_carries_its_own_client_capabilities_upstream(
    wired: Wired,
) -> None:
    declared: dict[str, object] = {
        "sampling": {},
        "elicitation": {"form": {}},
        "experimental": {"x": {}},
    }
    first = await post(
        wired, modern_call("tools/call", {"name": "list_pods", "arguments": {}}), "list_pods"
    )
    second = await post(
        wired,
        modern_call("tools/call", {"name": "list_pods", "arguments": {}}, declared),
        "list_pods",
    )
    assert (first.status_code, second.status_code) == (200, 200)
    metas: list[Any] = [call["params"]["_meta"] for call in wired.connector.calls()]
    # Only what the gateway can relay is declared (no experimental), per request, not per
    # upstream session: both calls went through the one session of this grant.
    assert [meta[CLIENT_CAPABILITIES_KEY] for meta in metas] == [
        {},
        {"sampling": {}, "elicitation": {"form": {}}},
    ]
    assert len(wired.connector.sessions) == 1
    assert all(PROTOCOL_VERSION_KEY not in meta for meta in metas)


async def test_a_legacy_session_takes_any_legacy_protocol_version_header(wired: Wired) -> None:
    async with wired.client() as client:
        session = await initialize(client, "/mcp/k8s", wired.token)
        headers = bearer(wired.token) | {
            "accept": "application/json, text/event-stream",
            "mcp-session-id": session,
            "mcp-protocol-version": "2025-03-26",
        }
        body = {"jsonrpc": "2.0", "id": 4, "method": "tools/list", "params": {}}
        response = await client.post("/mcp/k8s", json=body, headers=headers)
    assert response.status_code == 200
    assert "get_secret" not in [tool["name"] for tool in response.json()["result"]["tools"]]
