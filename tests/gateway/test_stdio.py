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


class Conversation:
    """A stdio gateway serving in the background: lines go in one at a time, and each line
    it writes can be awaited."""

    def __init__(self, wired: Wired, token: str | None = None) -> None:
        http = wired.gateway
        self.gateway = StdioGateway(
            http.grants, http.pipeline, http.pool, "k8s", token or wired.token
        )
        self.reader = asyncio.StreamReader()
        self.written: asyncio.Queue[Any] = asyncio.Queue()
        self.serving = asyncio.ensure_future(self.gateway.serve(self.reader, self._write))

    async def _write(self, data: bytes) -> None:
        await self.written.put(json.loads(data))

    def send(self, line: bytes) -> None:
        self.reader.feed_data(line + b"\n")

    async def next(self) -> Any:
        async with asyncio.timeout(5):
            return await self.written.get()

    async def close(self) -> None:
        self.reader.feed_eof()
        async with asyncio.timeout(5):
            await self.serving


LISTEN_ENVELOPE = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}
LISTEN = request(
    9,
    "subscriptions/listen",
    {"notifications": {"toolsListChanged": True}, "_meta": LISTEN_ENVELOPE},
)
SUBSCRIPTION = "io.modelcontextprotocol/subscriptionId"


async def test_a_stdio_listen_streams_changes_until_the_agent_cancels_it(wired: Wired) -> None:
    talk = Conversation(wired)
    talk.send(LISTEN)
    ack = await talk.next()
    assert ack["method"] == "notifications/subscriptions/acknowledged"
    assert ack["params"]["_meta"][SUBSCRIPTION] == 9
    upstream = wired.connector.sessions[0]
    assert upstream.on_unsolicited is not None
    await upstream.on_unsolicited({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
    changed = await talk.next()
    assert changed["method"] == "notifications/tools/list_changed"
    assert changed["params"]["_meta"][SUBSCRIPTION] == 9
    cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 9}}
    talk.send(json.dumps(cancel).encode())
    talk.send(request(10, "tools/list", {"_meta": LISTEN_ENVELOPE}))
    listed = await talk.next()  # no answer to the cancelled listen comes first
    assert listed["id"] == 10
    assert len(talk.gateway.listens) == 0
    await talk.close()


async def test_a_stdio_listen_of_a_revoked_grant_is_cancelled_by_the_gateway(
    wired: Wired,
) -> None:
    talk = Conversation(wired)
    talk.send(LISTEN)
    await talk.next()
    wired.plane.store.revoke_grant("alice", actor="t")
    wired.gateway.grants.refresh()
    await talk.gateway.listens.review(wired.gateway.grants)
    ended = await talk.next()
    assert ended["method"] == "notifications/cancelled"
    assert ended["params"]["requestId"] == 9
    await talk.close()
    assert len(talk.gateway.listens) == 0


async def test_a_stdio_listen_ends_when_the_agent_closes_stdin(wired: Wired) -> None:
    talk = Conversation(wired)
    talk.send(LISTEN)
    await talk.next()
    await talk.close()
    final = await talk.next()
    assert final["id"] == 9
    assert final["result"]["resultType"] == "complete"


async def test_a_stdio_listen_is_one_proxy_log_row(wired: Wired) -> None:
    talk = Conversation(wired)
    talk.send(LISTEN)
    await talk.next()
    talk.send(request(11, "subscriptions/listen", {"notifications": [], "_meta": LISTEN_ENVELOPE}))
    refused = await talk.next()
    await talk.close()
    assert refused["error"]["code"] == -32602
    rows = [(r.request_id, r.method, r.upstream, r.outcome) for r in wired.sink.records]
    assert rows == [
        ("9", "subscriptions/listen", "k8s", "ok"),
        ("11", "subscriptions/listen", "k8s", "not_forwarded"),
    ]
