"""What a grant may hold open, in process: legacy sessions, listen streams and stdio upstream
processes. Each refusal says which cap, its value and when to retry (HTTP 429 for the grant's
own cap, 503 for the gateway's, with ``Retry-After``), leaves one proxy-log row, and holds
nobody else back."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from mcpwall.gateway import sessions
from mcpwall.gateway.listening import OpenStreams
from mcpwall.gateway.processes import ProcessSlots
from mcpwall.gateway.sessions import SessionTable
from mcpwall.ports.upstream import ClientOffer
from tests.gateway.conftest import Wired
from tests.gateway.test_http import (
    LEGACY_ACCEPT,
    bearer,
    initialize,
    legacy,
    modern_body,
    modern_headers,
)
from tests.gateway.test_listening import listen_exchange, next_message
from tests.gateway.test_stdio import INITIALIZE, LISTEN_ENVELOPE, Conversation, request

pytestmark = pytest.mark.anyio

OVER_CAPACITY = "(over capacity)"
NO_WAIT = 0.01  # how long an opener waits for a process here: the tests that wait, wait in vain


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


# -- stdio upstream processes ------------------------------------------------------------------


async def test_an_initialize_finding_no_process_free_is_refused_and_keeps_no_session(
    wired: Wired,
) -> None:
    pool = wired.gateway.pool
    pool.processes = ProcessSlots(2, 1, wait=NO_WAIT)
    async with wired.client() as client:
        await initialize(client, "/mcp/k8s", wired.token)  # "k8s" is a stdio upstream
        response = await refused_initialize(client, "/mcp/k8s", wired.token)
    assert response.status_code == 429
    error = error_of(response)
    assert error["data"]["cap"] == "MCPWALL_STDIO_PROCESSES_PER_GRANT"
    assert "(MCPWALL_STDIO_PROCESSES_PER_GRANT=1)" in error["message"]
    assert "retry-after" in response.headers
    assert (len(wired.gateway.sessions), pool.processes.running) == (1, 1)
    assert len(wired.connector.sessions) == 1  # nothing was spawned for the refused one
    assert capacity_rows(wired) == [("alice", "initialize", "k8s", "deny", "not_forwarded")]


async def test_a_modern_call_finding_no_process_free_is_503_with_retry_after(
    wired: Wired,
) -> None:
    pool = wired.gateway.pool
    pool.processes = ProcessSlots(2, 1, wait=NO_WAIT)
    others = [wired.plane.issue_grant(label, {"k8s": "seed"}, actor="t").token
              for label in ("bob", "carol")]  # fmt: skip
    async with wired.client() as client:
        for token in others:
            await initialize(client, "/mcp/k8s", token)
        call = modern_body("tools/call", {"name": "list_pods", "arguments": {}})
        headers = modern_headers(wired.token, "tools/call", "list_pods")
        response = await client.post("/mcp/k8s", json=call, headers=headers)
    assert response.status_code == 503
    assert "retry-after" in response.headers
    assert error_of(response)["data"]["cap"] == "MCPWALL_STDIO_PROCESSES"
    assert capacity_rows(wired) == [("alice", "tools/call", "k8s", "deny", "not_forwarded")]
    [row] = [r for r in wired.sink.records if r.rule == OVER_CAPACITY]
    assert row.tool == "list_pods"
    assert wired.connector.calls() == []


async def test_a_call_in_a_legacy_session_finding_no_process_free_is_429_with_retry_after(
    wired: Wired,
) -> None:
    pool = wired.gateway.pool
    pool.processes = ProcessSlots(2, 1, wait=NO_WAIT)
    other = wired.plane.issue_grant("bob", {"k8s": "seed"}, actor="t").token
    call: dict[str, object] = {"name": "list_pods", "arguments": {"namespace": "dev"}}
    async with wired.client() as client:
        session = await initialize(client, "/mcp/k8s", wired.token)
        theirs = await initialize(client, "/mcp/k8s", other)
        # Alice's process crashed and has not exited yet: it still counts against her share.
        wired.connector.sessions[0].closed = True
        response = await client.post(
            "/mcp/k8s",
            json={"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": call},
            headers=bearer(wired.token) | LEGACY_ACCEPT | {"mcp-session-id": session},
        )
        called = await legacy(client, "/mcp/k8s", other, theirs, "tools/call", call)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "5"  # no process of hers to wait for: a timeout
    assert response.json()["id"] == 7
    error = error_of(response)
    assert error["code"] == 429
    assert error["data"]["cap"] == "MCPWALL_STDIO_PROCESSES_PER_GRANT"
    assert "result" in called  # Bob is served meanwhile
    assert capacity_rows(wired) == [("alice", "tools/call", "k8s", "deny", "not_forwarded")]
    [row] = [r for r in wired.sink.records if r.rule == OVER_CAPACITY]
    assert (row.tool, row.message) == ("list_pods", error["message"])
    assert len(wired.connector.calls()) == 1  # Bob's


async def test_a_stdio_initialize_finding_no_process_free_is_refused_and_recorded(
    wired: Wired,
) -> None:
    pool = wired.gateway.pool
    pool.processes = ProcessSlots(2, 1, wait=NO_WAIT)
    for owner in ("grant:bob", "grant:carol"):
        await pool.session(owner, "k8s", ClientOffer())
    talk = Conversation(wired)
    talk.send(INITIALIZE)
    refused = await talk.next()
    assert refused["error"]["code"] == 503
    assert refused["error"]["data"]["cap"] == "MCPWALL_STDIO_PROCESSES"
    await pool.close_owner("grant:bob")  # a process given back: the agent may try again
    talk.send(INITIALIZE)
    assert "result" in await talk.next()
    await talk.close()
    assert capacity_rows(wired) == [("alice", "initialize", "k8s", "deny", "not_forwarded")]


# -- listen streams ----------------------------------------------------------------------------


async def test_a_grant_past_its_listen_cap_gets_429_until_it_closes_one(wired: Wired) -> None:
    wired.gateway.listens = OpenStreams(2)
    gateway = wired.gateway
    streams = []
    for number in range(2):
        opened = await gateway.handle(listen_exchange(wired.token, {}, request_id=number))
        assert opened.stream is not None
        streams.append(opened.stream)
    refused = await gateway.handle(listen_exchange(wired.token, {}, request_id="third"))
    assert refused.status == 429
    assert ("retry-after", "10") in refused.headers
    body = orjson.loads(refused.body)
    assert body["id"] == "third"
    assert body["error"]["data"] == {
        "cap": "MCPWALL_LISTENS_PER_GRANT",
        "limit": 2,
        "retry_after_s": 10,
    }
    other = wired.plane.issue_grant("bob", {"k8s": "seed"}, actor="t").token
    theirs = await gateway.handle(listen_exchange(other, {}))
    assert theirs.status == 200
    await streams[0].aclose()  # type: ignore[attr-defined]
    again = await gateway.handle(listen_exchange(wired.token, {}, request_id="again"))
    assert again.status == 200
    assert again.stream is not None
    await next_message(again.stream)
    for stream in (streams[1], theirs.stream, again.stream):
        await stream.aclose()  # type: ignore[union-attr]
    assert capacity_rows(wired) == [
        ("alice", "subscriptions/listen", "k8s", "deny", "not_forwarded")
    ]
    assert len(gateway.listens) == 0


async def test_a_listen_refused_for_its_filter_frees_its_place(wired: Wired) -> None:
    wired.gateway.listens = OpenStreams(1)
    bad = await wired.gateway.handle(listen_exchange(wired.token, {"toolsListChanged": "yes"}))
    assert bad.status == 400
    good = await wired.gateway.handle(listen_exchange(wired.token, {}))
    assert good.status == 200
    assert good.stream is not None
    await good.stream.aclose()  # type: ignore[attr-defined]


async def test_a_stdio_listen_past_the_cap_gets_a_json_rpc_error(wired: Wired) -> None:
    talk = Conversation(wired)
    talk.gateway.listens = OpenStreams(1)
    asked = {"notifications": {"toolsListChanged": True}, "_meta": LISTEN_ENVELOPE}
    talk.send(request(1, "subscriptions/listen", asked))
    assert (await talk.next())["method"] == "notifications/subscriptions/acknowledged"
    talk.send(request(2, "subscriptions/listen", asked))
    refused = await talk.next()
    assert refused["id"] == 2
    assert refused["error"]["code"] == 429
    assert refused["error"]["data"]["cap"] == "MCPWALL_LISTENS_PER_GRANT"
    assert "(MCPWALL_LISTENS_PER_GRANT=1): close one" in refused["error"]["message"]
    await talk.close()
    assert capacity_rows(wired) == [
        ("alice", "subscriptions/listen", "k8s", "deny", "not_forwarded")
    ]
