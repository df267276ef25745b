"""The data plane over HTTP, in process: authentication, both eras, policy, limits, logs."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anyio
import httpx
import pytest

from mcpwall.core.errors import StoreUnavailable
from mcpwall.core.registry import Upstream
from mcpwall.gateway.grants import Principal
from mcpwall.gateway.http import END_OF_STREAM
from mcpwall.ports.downstream import HttpExchange
from mcpwall.ports.upstream import Message, Receiver
from tests.conftest import until_cancelled
from tests.gateway.conftest import FakeSession, Wired, answer_tool_calls

pytestmark = pytest.mark.anyio

LEGACY_ACCEPT = {"accept": "application/json, text/event-stream"}
MODERN = "2026-07-28"


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def initialize(
    client: httpx.AsyncClient, path: str, token: str, capabilities: dict[str, object] | None = None
) -> str:
    body = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": capabilities or {}, "clientInfo": {"name": "t"}}}  # fmt: skip
    response = await client.post(path, json=body, headers=bearer(token) | LEGACY_ACCEPT)
    assert response.status_code == 200, response.text
    assert response.json()["result"]["protocolVersion"] == "2025-11-25"
    return response.headers["mcp-session-id"]


async def legacy(
    client: httpx.AsyncClient,
    path: str,
    token: str,
    session: str,
    method: str,
    params: dict[str, object] | None = None,
    request_id: object = 1,
) -> Any:
    body: dict[str, object] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        body["params"] = params
    headers = (
        bearer(token)
        | LEGACY_ACCEPT
        | {"mcp-session-id": session, "mcp-protocol-version": "2025-11-25"}
    )
    response = await client.post(path, json=body, headers=headers)
    assert response.status_code == 200, response.text
    if response.headers["content-type"].startswith("text/event-stream"):
        lines = response.text.splitlines()
        return [json.loads(line[6:]) for line in lines if line.startswith("data: ")]
    return response.json()


def modern_body(
    method: str, params: dict[str, object] | None = None, request_id: object = 7
) -> dict[str, object]:
    envelope = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": method,
        "params": {**(params or {}), "_meta": envelope},
    }


def modern_headers(token: str, method: str, name: str | None = None) -> dict[str, str]:
    headers = bearer(token) | {
        "mcp-protocol-version": MODERN,
        "mcp-method": method,
        "accept": "application/json",
    }
    if name is not None:
        headers["mcp-name"] = name
    return headers


# -- authentication ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization", [None, "Bearer", "Basic abc", "Bearer mcpw_" + "A" * 43, "Bearer nonsense"]
)
async def test_missing_or_unknown_tokens_get_401_and_nothing_is_forwarded(
    wired: Wired, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"authorization": authorization}
    async with wired.client() as client:
        response = await client.post(
            "/mcp/k8s", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers=headers
        )
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert wired.connector.sessions == []


async def test_a_request_is_authenticated_once(
    wired: Wired, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens: list[str] = []
    authenticate = wired.gateway.grants.authenticate

    async def counted(token: str) -> Principal | None:
        tokens.append(token)
        return await authenticate(token)

    monkeypatch.setattr(wired.gateway.grants, "authenticate", counted)
    async with wired.client() as client:
        await initialize(client, "/mcp/k8s", wired.token)
    assert tokens == [wired.token]


async def test_a_revoked_grant_is_refused_on_the_next_request(wired: Wired) -> None:
    async with wired.client() as client:
        session = await initialize(client, "/mcp/k8s", wired.token)
        wired.plane.store.revoke_grant("alice", actor="t")
        response = await client.post("/mcp/k8s", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                                     headers=bearer(wired.token) | {"mcp-session-id": session})  # fmt: skip
    assert response.status_code == 401


LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
LOST = StoreUnavailable("postgresql://db.example/mcpwall", "Connection refused")


async def test_a_lost_store_serves_cached_grants_refuses_unseen_ones_then_all(
    wired: Wired,
) -> None:
    async with wired.client() as client:
        session = await initialize(client, "/mcp/k8s", wired.token)
        headers = bearer(wired.token) | {"mcp-session-id": session}
        wired.gateway.grants.lose(LOST)
        served = await client.post("/mcp/k8s", json=LIST, headers=headers | LEGACY_ACCEPT)
        assert served.status_code == 200  # within the grace: as read before
        unseen = wired.plane.issue_grant("bob", {"k8s": "seed"}, actor="t").token
        refused = await client.post("/mcp/k8s", json=LIST, headers=bearer(unseen))
        wired.gateway.grants.grace = 0.0  # past it
        rows = len(wired.sink.records)
        closed = await client.post("/mcp/k8s", json=LIST, headers=headers)
    assert (refused.status_code, refused.headers["retry-after"]) == (503, "5")
    assert refused.json()["error"]["message"] == (
        "the gateway can't check this grant now: its database is unreachable"
    )
    assert (closed.status_code, closed.headers["retry-after"]) == (503, "5")
    assert closed.json()["error"]["message"] == (
        "the gateway can't check grants: its database has been unreachable for too long"
    )
    assert len(wired.sink.records) == rows  # not served: no row


async def test_a_full_proxy_log_refuses_requests_rather_than_hold_them(wired: Wired) -> None:
    full = True
    wired.gateway.log_full = lambda: full
    async with wired.client() as client:
        refused = await client.post("/mcp/k8s", json=LIST, headers=bearer(wired.token))
        reached = list(wired.connector.sessions)
        full = False
        served = await initialize(client, "/mcp/k8s", wired.token)
    assert (refused.status_code, refused.headers["retry-after"]) == (503, "5")
    assert refused.json()["error"]["message"] == (
        "the gateway's proxy log is full (its rows can't be written now): retry later"
    )
    assert reached == []  # refused before anything was forwarded
    assert served  # and served again once there is room


async def test_an_upstream_without_a_binding_is_403(wired: Wired) -> None:
    wired.plane.store.add_upstream(
        Upstream.stdio("db", "x"),
        actor="t",
    )
    async with wired.client() as client:
        response = await client.post(
            "/mcp/db",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers=bearer(wired.token),
        )
    assert response.status_code == 403


# -- legacy sessions -----------------------------------------------------------------------------------


async def test_legacy_list_hides_hidden_tools_in_upstream_order(wired: Wired) -> None:
    async with wired.client() as client:
        session = await initialize(client, "/mcp/k8s", wired.token)
        listing = await legacy(client, "/mcp/k8s", wired.token, session, "tools/list")
    names = [tool["name"] for tool in listing["result"]["tools"]]
    assert names == ["list_pods", "delete_pod", "apply_manifest", "exec_pod"]


async def test_the_seed_story_a_production_delete_never_reaches_the_upstream(wired: Wired) -> None:
    async with wired.client() as client:
        session = await initialize(client, "/mcp/k8s", wired.token)
        denied = await legacy(client, "/mcp/k8s", wired.token, session, "tools/call",
                              {"name": "delete_pod", "arguments": {"namespace": "payments-prod", "name": "checkout-1"}}, "req-1")  # fmt: skip
        allowed = await legacy(client, "/mcp/k8s", wired.token, session, "tools/call",
                               {"name": "delete_pod", "arguments": {"namespace": "payments-staging", "name": "x"}}, 2)  # fmt: skip
        staging = await legacy(client, "/mcp/k8s", wired.token, session, "tools/call",
                               {"name": "delete_pod", "arguments": {"namespace": "staging", "name": "web-1"}}, 3)  # fmt: skip
    assert denied["id"] == "req-1"
    assert denied["result"]["isError"] is True
    assert denied["result"]["content"] == [
        {
            "type": "text",
            "text": "[POLICY DENIED] Namespace is outside the allowed non-production set.",
        }
    ]
    assert denied["result"]["_meta"]["io.mcpwall/decision"] == {
        "rule": "/tools/delete_pod/require/0/conditions/0",
        "policy": "seed",
        "version": 1,
    }
    assert allowed["result"]["isError"] is True  # payments-staging is not in the allowlist either
    assert staging["id"] == 3
    assert json.loads(staging["result"]["content"][0]["text"]) == {
        "upstream": "k8s",
        "arguments": {"namespace": "staging", "name": "web-1"},
    }
    forwarded = wired.connector.calls()
    assert [call["params"]["arguments"] for call in forwarded] == [
        {"namespace": "staging", "name": "web-1"}
    ]


async def test_hidden_and_near_miss_names_are_unknown_tools(wired: Wired) -> None:
    async with wired.client() as client:
        session = await initialize(client, "/mcp/k8s", wired.token)
        for name in ("get_secret", "Get_Secret", " get_secret", "no_such_tool"):
            answer = await legacy(
                client,
                "/mcp/k8s",
                wired.token,
                session,
                "tools/call",
                {"name": name, "arguments": {}},
            )
            assert answer["error"] == {"code": -32602, "message": f"Unknown tool: {name}"}, name
    assert wired.connector.calls() == []


async def test_every_request_is_logged_with_argument_keys_never_values(wired: Wired) -> None:
    async with wired.client() as client:
        session = await initialize(client, "/mcp/k8s", wired.token)
        await legacy(client, "/mcp/k8s", wired.token, session, "tools/call",
                     {"name": "delete_pod", "arguments": {"namespace": "prod", "name": "canary-secret-42"}})  # fmt: skip
    [record] = [r for r in wired.sink.records if r.method == "tools/call"]
    assert (record.decision, record.rule, record.grant_label, record.upstream, record.tool) == (
        "deny",
        "/tools/delete_pod/require/0/conditions/0",
        "alice",
        "k8s",
        "delete_pod",
    )
    assert record.argument_keys == ("name", "namespace")
    assert "canary-secret-42" not in repr(wired.sink.records)


async def test_limits_allow_exactly_max_then_deny_with_retry_after(wired: Wired) -> None:
    async with wired.client() as client:
        session = await initialize(client, "/mcp/k8s", wired.token)
        answers = [
            await legacy(
                client,
                "/mcp/k8s",
                wired.token,
                session,
                "tools/call",
                {"name": "delete_pod", "arguments": {"namespace": "dev", "name": f"p{i}"}},
                i,
            )
            for i in range(7)
        ]
    allowed = [a for a in answers if not a["result"].get("isError")]
    denied = [a for a in answers if a["result"].get("isError")]
    assert len(allowed) == 5
    assert len(denied) == 2
    meta = denied[0]["result"]["_meta"]["io.mcpwall/decision"]
    assert meta["rule"] == "/tools/delete_pod/limits/0"
    assert meta["retry_after_s"] > 0
    assert (
        denied[0]["result"]["content"][0]["text"]
        == "[POLICY DENIED] Pod deletion limit exceeded for this grant."
    )
    assert len(wired.connector.calls()) == 5


async def test_progress_arrives_on_the_request_stream(wired: Wired) -> None:
    async with wired.client() as client:
        session = await initialize(client, "/mcp/k8s", wired.token)
        events = await legacy(client, "/mcp/k8s", wired.token, session, "tools/call",
                              {"name": "exec_pod", "arguments": {"namespace": "dev"}}, 9)  # fmt: skip
    assert [e.get("method") for e in events] == ["notifications/progress", None]
    assert events[-1]["id"] == 9


async def test_other_methods_are_relayed_and_ping_is_answered_here(wired: Wired) -> None:
    async with wired.client() as client:
        session = await initialize(client, "/mcp/k8s", wired.token)
        ping = await legacy(client, "/mcp/k8s", wired.token, session, "ping")
        resources = await legacy(
            client, "/mcp/k8s", wired.token, session, "resources/list", {}, "r"
        )
        custom = await legacy(
            client, "/mcp/k8s", wired.token, session, "x-vendor/thing", {"a": 1}, 5
        )
    assert ping == {"jsonrpc": "2.0", "id": 1, "result": {}}
    assert resources == {"jsonrpc": "2.0", "id": "r", "result": {"relayed": "resources/list"}}
    assert custom["result"] == {"relayed": "x-vendor/thing"}


async def test_a_session_belongs_to_its_grant(wired: Wired) -> None:
    other = wired.plane.issue_grant("bob", {"k8s": "seed"}, actor="t").token
    async with wired.client() as client:
        session = await initialize(client, "/mcp/k8s", wired.token)
        response = await client.post("/mcp/k8s", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                                     headers=bearer(other) | {"mcp-session-id": session})  # fmt: skip
    assert response.status_code == 404


async def test_delete_ends_the_session_and_its_upstream_sessions(wired: Wired) -> None:
    async with wired.client() as client:
        session = await initialize(client, "/mcp/k8s", wired.token)
        response = await client.delete(
            "/mcp/k8s", headers=bearer(wired.token) | {"mcp-session-id": session}
        )
        assert response.status_code == 200
        again = await client.post("/mcp/k8s", json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                                  headers=bearer(wired.token) | {"mcp-session-id": session})  # fmt: skip
    assert again.status_code == 404
    assert all(s.closed for s in wired.connector.sessions)


# -- bad input ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (
            b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "delete_pod", "arguments": {"namespace": "dev", "namespace": "prod"}}}',
            -32600,
        ),
        (b"{nope", -32700),
        (b"\xff\xfe", -32700),
        (b'[{"jsonrpc": "2.0", "id": 1, "method": "ping"}]', -32600),
        (b'{"jsonrpc": "2.0", "id": null, "method": "ping"}', -32600),
        (b'{"jsonrpc": "1.0", "id": 1, "method": "ping"}', -32600),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call"}', -32602),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": 5}}', -32602),
        (
            b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "delete_pod", "arguments": [1]}}',
            -32602,
        ),
    ],
)
async def test_bad_input_gets_a_clear_error_and_is_never_forwarded(
    wired: Wired, body: bytes, code: int
) -> None:
    async with wired.client() as client:
        session = await initialize(client, "/mcp/k8s", wired.token)
        headers = (
            bearer(wired.token)
            | LEGACY_ACCEPT
            | {"mcp-session-id": session, "content-type": "application/json"}
        )
        response = await client.post("/mcp/k8s", content=body, headers=headers)
        assert response.json()["error"]["code"] == code
        still = await legacy(
            client, "/mcp/k8s", wired.token, session, "ping"
        )  # the gateway keeps serving
    assert still["result"] == {}
    assert wired.connector.calls() == []


async def test_an_oversized_body_is_413(wired: Wired) -> None:
    async with wired.client() as client:
        response = await client.post(
            "/mcp/k8s", content=b"x" * (4 * 1024 * 1024 + 1), headers=bearer(wired.token)
        )
    assert response.status_code == 413


# -- 2026-07-28 -------------------------------------------------------------------------------------------


async def test_modern_discover_list_and_call(wired: Wired) -> None:
    async with wired.client() as client:
        discover = await client.post(
            "/mcp/k8s",
            json=modern_body("server/discover"),
            headers=modern_headers(wired.token, "server/discover"),
        )
        listing = await client.post(
            "/mcp/k8s",
            json=modern_body("tools/list"),
            headers=modern_headers(wired.token, "tools/list"),
        )
        call = await client.post("/mcp/k8s", json=modern_body("tools/call", {"name": "delete_pod", "arguments": {"namespace": "prod"}}),
                                 headers=modern_headers(wired.token, "tools/call", "delete_pod"))  # fmt: skip
    assert discover.status_code == 200
    result = discover.json()["result"]
    assert MODERN in result["supportedVersions"]
    assert result["cacheScope"] == "private"
    assert "tools" in result["capabilities"]
    listed = listing.json()["result"]
    assert (listed["resultType"], listed["cacheScope"]) == ("complete", "private")
    assert "get_secret" not in [t["name"] for t in listed["tools"]]
    denied = call.json()["result"]
    assert denied["isError"] is True
    assert denied["resultType"] == "complete"


async def test_modern_header_mismatch_is_refused(wired: Wired) -> None:
    async with wired.client() as client:
        response = await client.post("/mcp/k8s", json=modern_body("tools/call", {"name": "delete_pod", "arguments": {}}),
                                     headers=modern_headers(wired.token, "tools/call", "list_pods"))  # fmt: skip
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32020
    assert wired.connector.calls() == []


async def test_modern_get_and_delete_are_405(wired: Wired) -> None:
    async with wired.client() as client:
        for method in ("GET", "DELETE"):
            response = await client.request(
                method, "/mcp/k8s", headers=bearer(wired.token) | {"mcp-protocol-version": MODERN}
            )
            assert response.status_code == 405


# -- the aggregate endpoint -------------------------------------------------------------------------------


async def test_aggregate_lists_every_bound_upstream_namespaced_and_routes_calls(
    wired: Wired,
) -> None:
    async with wired.client() as client:
        session = await initialize(client, "/mcp", wired.token)
        listing = await legacy(client, "/mcp", wired.token, session, "tools/list")
        names = [t["name"] for t in listing["result"]["tools"]]
        cursor = listing["result"].get("nextCursor")
        while cursor:
            page = await legacy(
                client, "/mcp", wired.token, session, "tools/list", {"cursor": cursor}
            )
            names += [t["name"] for t in page["result"]["tools"]]
            cursor = page["result"].get("nextCursor")
        call = await legacy(client, "/mcp", wired.token, session, "tools/call",
                            {"name": "docs__search", "arguments": {"q": "x"}})  # fmt: skip
        hidden = await legacy(
            client,
            "/mcp",
            wired.token,
            session,
            "tools/call",
            {"name": "k8s__get_secret", "arguments": {}},
        )
    assert names == [
        "docs__search",
        "docs__read_page",
        "k8s__list_pods",
        "k8s__delete_pod",
        "k8s__apply_manifest",
        "k8s__exec_pod",
    ]
    assert json.loads(call["result"]["content"][0]["text"])["upstream"] == "docs"
    assert wired.connector.calls()[0]["params"]["name"] == "search"
    assert hidden["error"]["message"] == "Unknown tool: k8s__get_secret"


async def test_a_forged_cursor_is_refused(wired: Wired) -> None:
    async with wired.client() as client:
        session = await initialize(client, "/mcp", wired.token)
        answer = await legacy(
            client,
            "/mcp",
            wired.token,
            session,
            "tools/list",
            {"cursor": "eyJ1cHN0cmVhbSI6Ims4cyJ9.AAAA"},
        )
    assert answer["error"]["code"] == -32602


async def test_a_policy_change_is_announced_to_open_sessions(wired: Wired) -> None:
    async with wired.client() as client:
        session_id = await initialize(client, "/mcp/k8s", wired.token)
    [session] = wired.gateway.sessions.all()
    assert session.id == session_id
    session.streaming = True  # as if its GET stream were open
    await wired.gateway.announce_changes()
    assert session.outbox.empty()  # nothing changed since it was opened
    wired.plane.set_policy("seed", '{"version": "1", "default": "deny"}', actor="t")
    wired.gateway.grants.refresh()
    await wired.gateway.announce_changes()
    assert json.loads(session.outbox.get_nowait()) == {
        "jsonrpc": "2.0",
        "method": "notifications/tools/list_changed",
    }


async def test_a_revoked_grant_sessions_end_with_their_get_streams(wired: Wired) -> None:
    other = wired.plane.issue_grant("bob", {"k8s": "seed"}, actor="t").token
    async with wired.client() as client:
        revoked = await initialize(client, "/mcp/k8s", wired.token)
        kept = await initialize(client, "/mcp/k8s", other)
    await wired.gateway.announce_changes()
    sessions = {session.id: session for session in wired.gateway.sessions.all()}
    assert set(sessions) == {revoked, kept}
    assert [upstream.closed for upstream in wired.connector.sessions] == [False, False]

    wired.plane.store.revoke_grant("alice", actor="t")  # on any replica: the store changed
    wired.gateway.grants.refresh()
    await wired.gateway.announce_changes()

    assert [session.id for session in wired.gateway.sessions.all()] == [kept]
    assert [upstream.closed for upstream in wired.connector.sessions] == [True, False]
    assert sessions[revoked].outbox.get_nowait() == END_OF_STREAM  # its GET stream ends
    assert sessions[kept].outbox.empty()


async def test_sessions_are_checked_again_when_the_store_could_not_say(
    wired: Wired, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with wired.client() as client:
        await initialize(client, "/mcp/k8s", wired.token)
    await wired.gateway.announce_changes()
    wired.plane.store.revoke_grant("alice", actor="t")
    wired.gateway.grants.refresh()
    checked = wired.gateway.grants.active_grants

    async def unavailable(grant_ids: object) -> set[str]:
        raise StoreUnavailable("postgresql://db.internal/mcpwall", "connection refused")

    monkeypatch.setattr(wired.gateway.grants, "active_grants", unavailable)
    await wired.gateway.announce_changes()  # the store can't say: nothing ended, no error
    assert len(wired.gateway.sessions.all()) == 1
    monkeypatch.setattr(wired.gateway.grants, "active_grants", checked)
    await wired.gateway.announce_changes()  # the same change, seen again
    assert wired.gateway.sessions.all() == []


async def test_an_ended_session_ends_its_get_stream(wired: Wired) -> None:
    async with wired.client() as client:
        session_id = await initialize(client, "/mcp/k8s", wired.token)
        headers = {"authorization": f"Bearer {wired.token}", "mcp-session-id": session_id}
        get = HttpExchange("GET", "k8s", headers)
        reply = await wired.gateway.handle(get)
        assert (reply.status, reply.stream is not None) == (200, True)
        assert reply.stream is not None
        [session] = wired.gateway.sessions.all()
        await session.push({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
        ended = await client.delete("/mcp/k8s", headers=headers)
        assert ended.status_code == 200
        with anyio.fail_after(10):
            received = [chunk async for chunk in reply.stream]  # what was queued, then the end
    assert [json.loads(chunk)["method"] for chunk in received] == [
        "notifications/tools/list_changed"
    ]


# -- answering in the request's task, pushing SSE as it comes ------------------------------------------


SSE_ACCEPT = {"accept": "application/json, text/event-stream"}


def list_pods_call(request_id: int = 7) -> dict[str, object]:
    return modern_body("tools/call", {"name": "list_pods", "arguments": {}}, request_id)


def sse_events(text: str) -> list[Any]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


async def test_an_sse_capable_request_the_upstream_says_nothing_about_is_plain_json_inline(
    wired: Wired, monkeypatch: pytest.MonkeyPatch
) -> None:
    relay = FakeSession.request
    seen: list[tuple[asyncio.Task[Any] | None, int]] = []

    async def watched(self: FakeSession, method: str, params: Any, **options: Any) -> Message:
        seen.append((asyncio.current_task(), len(asyncio.all_tasks())))
        return await relay(self, method, params, **options)

    async with wired.client() as client:
        await client.post("/mcp/k8s", json=list_pods_call(6),
                          headers=modern_headers(wired.token, "tools/call", "list_pods") | SSE_ACCEPT)  # fmt: skip
        monkeypatch.setattr(FakeSession, "request", watched)
        tasks = len(asyncio.all_tasks())
        response = await client.post("/mcp/k8s", json=list_pods_call(),
                                     headers=modern_headers(wired.token, "tools/call", "list_pods") | SSE_ACCEPT)  # fmt: skip
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json()["id"] == 7
    # httpx's ASGI transport runs the app in this task: so did the upstream request, and no
    # task was made for it.
    assert seen == [(asyncio.current_task(), tasks)]


async def test_progress_delivered_by_another_task_reaches_the_agent_before_the_response(
    wired: Wired, monkeypatch: pytest.MonkeyPatch
) -> None:

    async def reporting(related: Receiver | None) -> Message:
        assert related is not None
        answer: asyncio.Future[Message] = asyncio.get_running_loop().create_future()

        async def reader() -> None:  # as a stdio upstream's reader task delivers
            for step in (1, 2, 3):
                await related({"jsonrpc": "2.0", "method": "notifications/progress",
                               "params": {"progressToken": 1, "progress": step}})  # fmt: skip
            answer.set_result({"result": {"content": []}})

        delivering = asyncio.ensure_future(reader())
        try:
            return await answer
        finally:
            await delivering

    answer_tool_calls(monkeypatch, reporting)
    async with wired.client() as client:
        response = await client.post("/mcp/k8s", json=list_pods_call(),
                                     headers=modern_headers(wired.token, "tools/call", "list_pods") | SSE_ACCEPT)  # fmt: skip
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    events = sse_events(response.text)
    assert [e.get("params", {}).get("progress") for e in events] == [1, 2, 3, None]
    assert events[-1]["id"] == 7
    assert events[-1]["result"]["content"] == []


async def test_the_agent_closing_the_stream_cancels_the_request_upstream(
    wired: Wired, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mcpwall.adapters.downstream.http.WATCH_AFTER_SECONDS", 0)
    cancelled = asyncio.Event()

    async def stuck(related: Receiver | None) -> Message:
        assert related is not None
        await related({"jsonrpc": "2.0", "method": "notifications/progress",
                       "params": {"progressToken": 1, "progress": 1}})  # fmt: skip
        await until_cancelled(cancelled)

    answer_tool_calls(monkeypatch, stuck)
    body = json.dumps(list_pods_call()).encode()
    headers = (
        modern_headers(wired.token, "tools/call", "list_pods") | SSE_ACCEPT | {"host": "127.0.0.1"}
    )
    streaming = asyncio.Event()
    sent: list[dict[str, Any]] = []
    inbound = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, object]:
        if inbound:
            return inbound.pop(0)
        await streaming.wait()  # the agent hangs up once its stream has begun
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)
        streaming.set()

    scope = {"type": "http", "path": "/mcp/k8s", "method": "POST",
             "headers": [(k.encode(), v.encode()) for k, v in headers.items()]}  # fmt: skip
    with anyio.fail_after(5):
        await wired.app(scope, receive, send)
    assert cancelled.is_set()
    assert sent[0]["status"] == 200
    assert (b"content-type", b"text/event-stream") in sent[0]["headers"]
    assert [json.loads(m["body"].split(b"data: ")[1])["method"] for m in sent[1:]] == [
        "notifications/progress"
    ]  # and no response, nor an end: nobody is left to read it


async def test_a_legacy_request_the_agent_cancels_is_cancelled_upstream_and_gets_202(
    wired: Wired, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def stuck(related: Receiver | None) -> Message:
        started.set()
        await until_cancelled(cancelled)

    answer_tool_calls(monkeypatch, stuck)
    async with wired.client() as client:
        session = await initialize(client, "/mcp/k8s", wired.token)
        headers = bearer(wired.token) | LEGACY_ACCEPT | {"mcp-session-id": session}
        call = {"jsonrpc": "2.0", "id": 9, "method": "tools/call",
                "params": {"name": "list_pods", "arguments": {}}}  # fmt: skip
        calling = asyncio.ensure_future(client.post("/mcp/k8s", json=call, headers=headers))
        await started.wait()
        cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 9}}
        assert (await client.post("/mcp/k8s", json=cancel, headers=headers)).status_code == 202
        with anyio.fail_after(5):
            response = await calling
    assert cancelled.is_set()
    assert response.status_code == 202
    assert wired.gateway.sessions.all()[0].in_flight == {}
