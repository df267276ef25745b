"""What a grant may hold open, in process: legacy sessions. Each refusal says which cap, its
value and when to retry (HTTP 429 for the grant's own cap, 503 for the gateway's, with
``Retry-After``), leaves one proxy-log row, and holds nobody else back."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from mcpwall.gateway import sessions
from mcpwall.gateway.sessions import SessionTable
from tests.gateway.conftest import Wired
from tests.gateway.test_http import LEGACY_ACCEPT, bearer, initialize, legacy

pytestmark = pytest.mark.anyio

OVER_CAPACITY = "(over capacity)"


def hello(request_id: int = 0) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": request_id, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t"}}}  # fmt: skip


async def refused_initialize(client: httpx.AsyncClient, path: str, token: str) -> httpx.Response:
    response = await client.post(path, json=hello(5), headers=bearer(token) | LEGACY_ACCEPT)
    assert response.status_code in (429, 503), response.text
    assert "mcp-session-id" not in response.headers
    return response


def error_of(response: httpx.Response) -> Any:
    body = response.json()
    assert body["jsonrpc"] == "2.0"
    return body["error"]


def capacity_rows(wired: Wired) -> list[tuple[str, str, str, str, str]]:
    return [
        (r.grant_label, r.method, r.upstream, r.decision, r.outcome)
        for r in wired.sink.records
        if r.rule == OVER_CAPACITY
    ]


# -- legacy sessions -------------------------------------------------------------------------------


class Clock:
    """Stands in for the ``time`` module in ``mcpwall.gateway.sessions``: stopped."""

    def monotonic(self) -> float:
        return 1_000.0


async def test_a_grant_past_its_session_cap_gets_429_and_another_grant_is_served(
    wired: Wired, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sessions, "time", Clock())
    wired.gateway.sessions = SessionTable(per_grant=2, idle_seconds=600)
    other = wired.plane.issue_grant("bob", {"k8s": "seed"}, actor="t").token
    async with wired.client() as client:
        for _ in range(2):
            await initialize(client, "/mcp/docs", wired.token)
        response = await refused_initialize(client, "/mcp/docs", wired.token)
        theirs = await initialize(client, "/mcp/k8s", other)
        called = await legacy(client, "/mcp/k8s", other, theirs, "tools/call",
                              {"name": "list_pods", "arguments": {"namespace": "dev"}})  # fmt: skip
    assert response.status_code == 429
    assert response.headers["retry-after"] == "601"  # when the least recently used expires
    error = error_of(response)
    assert response.json()["id"] == 5
    assert error["code"] == 429
    assert error["data"] == {"cap": "MCPWALL_SESSIONS_PER_GRANT", "limit": 2, "retry_after_s": 601}
    assert error["message"].startswith("this grant has as many open sessions as one grant may")
    assert "result" in called
    assert capacity_rows(wired) == [("alice", "initialize", "docs", "deny", "not_forwarded")]


async def test_a_session_ended_makes_room_for_its_grant(wired: Wired) -> None:
    wired.gateway.sessions = SessionTable(per_grant=1)
    async with wired.client() as client:
        session = await initialize(client, "/mcp/docs", wired.token)
        await refused_initialize(client, "/mcp/docs", wired.token)
        ended = await client.delete(
            "/mcp/docs", headers=bearer(wired.token) | {"mcp-session-id": session}
        )
        assert ended.status_code == 200
        await initialize(client, "/mcp/docs", wired.token)


async def test_a_full_session_table_is_503(wired: Wired) -> None:
    wired.gateway.sessions = SessionTable(limit=2, per_grant=1)
    others = [wired.plane.issue_grant(label, {"docs": "open"}, actor="t").token
              for label in ("bob", "carol")]  # fmt: skip
    async with wired.client() as client:
        for token in others:
            await initialize(client, "/mcp/docs", token)
        response = await refused_initialize(client, "/mcp/docs", wired.token)
    assert response.status_code == 503
    assert error_of(response)["data"]["cap"] == "MCPWALL_MAX_SESSIONS"
    assert int(response.headers["retry-after"]) >= 1
