"""The stdio gateway, in process: one agent's session on a pair of byte streams."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from mcpwall.gateway.stdio import StdioGateway
from tests.gateway.conftest import Wired

pytestmark = pytest.mark.anyio


async def converse(wired: Wired, lines: list[bytes], token: str | None = None) -> list[Any]:
    """Feed ``lines`` to a stdio gateway, close stdin, and return every line it wrote."""
    http = wired.gateway
    gateway = StdioGateway(http.grants, http.pipeline, http.pool, "k8s", token or wired.token)
    reader = asyncio.StreamReader()
    for line in lines:
        reader.feed_data(line + b"\n")
    reader.feed_eof()
    written: list[bytes] = []

    async def write(data: bytes) -> None:
        written.append(data)

    await gateway.serve(reader, write)
    assert all(chunk.endswith(b"\n") and chunk.count(b"\n") == 1 for chunk in written)
    return [json.loads(chunk) for chunk in written]


def request(request_id: int, method: str, params: dict[str, object] | None = None) -> bytes:
    body: dict[str, object] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        body["params"] = params
    return json.dumps(body).encode()


INITIALIZE = request(0, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {}})


async def test_a_stdio_session_enforces_the_policy(wired: Wired) -> None:
    answers = await converse(
        wired,
        [
            INITIALIZE,
            request(1, "tools/call", {"name": "delete_pod", "arguments": {"namespace": "prod"}}),
            request(2, "tools/call", {"name": "get_secret", "arguments": {}}),
            b"{not json",
            request(3, "tools/call", {"name": "delete_pod", "arguments": {"namespace": "dev"}}),
        ],
    )
    by_id = {answer.get("id"): answer for answer in answers}
    assert by_id[0]["result"]["protocolVersion"] == "2025-06-18"
    assert by_id[1]["result"]["isError"] is True
    assert by_id[2]["error"]["message"] == "Unknown tool: get_secret"
    assert by_id[None]["error"]["code"] == -32700
    assert by_id[3]["result"].get("isError") is None
    assert [c["params"]["arguments"] for c in wired.connector.calls()] == [{"namespace": "dev"}]


async def test_a_revoked_token_is_refused_on_the_next_request(wired: Wired) -> None:
    wired.plane.store.revoke_grant("alice", actor="t")
    [answer] = await converse(wired, [INITIALIZE])
    assert answer["error"]["code"] == -32600
    assert "revoked" in answer["error"]["message"]
    assert wired.connector.sessions == []
