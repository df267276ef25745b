"""Streamable HTTP behaviour the SDK's servers don't show on demand, against scripted servers:
era fallback, resumed streams, refusals, and bodies that are not MCP."""

from __future__ import annotations

import json

import pytest

from mcpwall.adapters.upstream import connect_streamable_http
from mcpwall.core.errors import UpstreamProtocolError, UpstreamUnavailable
from tests.adapters.upstream.conftest import OFFER, TIMEOUT, Inbox, call, http_upstream
from tests.adapters.upstream.scripted import (
    Reply,
    Script,
    recording_server,
    rpc,
    scripted_server,
)

pytestmark = pytest.mark.anyio

JSON = {"Content-Type": "application/json"}
STREAM = {"Content-Type": "text/event-stream"}
INITIALIZED = {
    "protocolVersion": "2025-11-25",
    "capabilities": {"tools": {}},
    "serverInfo": {"name": "scripted", "version": "1"},
}


def legacy_server(on_call: Reply | None = None, on_resume: Reply | None = None) -> Script:
    """A legacy-only server: refuses the probe, opens session ``s1``, has no GET stream."""

    async def script(method: str, headers: dict[str, str], body: bytes) -> Reply:
        if method == "GET":
            if "last-event-id" in headers and on_resume is not None:
                return on_resume
            return 405, {}, b""
        if method == "DELETE":
            return 200, {}, b""
        message = json.loads(body)
        if message.get("method") == "server/discover":
            return 400, {"Content-Type": "text/plain"}, b"Bad Request: No valid session ID"
        if message.get("method") == "initialize":
            reply = rpc(message["id"], INITIALIZED).encode()
            return 200, {**JSON, "Mcp-Session-Id": "s1"}, reply
        if "id" not in message:
            return 202, {}, b""
        if on_call is not None:
            return on_call
        return 200, JSON, rpc(message["id"], {"content": []}).encode()

    return script


async def test_auto_falls_back_to_initialize_when_the_probe_is_refused() -> None:
    async with recording_server(legacy_server()) as (url, seen):
        session = await connect_streamable_http(http_upstream(url), OFFER, Inbox())
        try:
            assert session.negotiated.era == "legacy"
            assert session.session_id == "s1"
        finally:
            await session.aclose()
    _, probe_headers, probe = seen.requests[0]
    assert json.loads(probe)["method"] == "server/discover"
    assert probe_headers["mcp-method"] == "server/discover"
    assert probe_headers["mcp-protocol-version"] == "2026-07-28"
    meta = json.loads(probe)["params"]["_meta"]
    assert meta["io.modelcontextprotocol/clientCapabilities"] == OFFER.capabilities
    assert [m.get("method") for m in seen.bodies()[1:3]] == [
        "initialize",
        "notifications/initialized",
    ]
    assert seen.requests[-1][0] == "DELETE"
    assert seen.requests[-1][1]["mcp-session-id"] == "s1"


async def test_modern_mode_refuses_a_legacy_only_server() -> None:
    async with scripted_server(legacy_server()) as url:
        with pytest.raises(UpstreamUnavailable, match="HTTP 400"):
            await connect_streamable_http(http_upstream(url), OFFER, Inbox(), mode="modern")


async def test_a_stream_closed_early_is_resumed_from_its_last_event() -> None:
    primed = b"id: e1\nretry: 0\ndata: \n\n"  # a priming event, then the connection closes
    answer = rpc(2, {"content": [{"type": "text", "text": "resumed"}]})
    resumed = f"id: e2\nevent: message\ndata: {answer}\n\n".encode()
    script = legacy_server(on_call=(200, STREAM, primed), on_resume=(200, STREAM, resumed))
    async with recording_server(script) as (url, seen):
        session = await connect_streamable_http(http_upstream(url), OFFER, Inbox(), mode="legacy")
        try:
            response = await session.request("tools/call", call("echo"), timeout=TIMEOUT)
        finally:
            await session.aclose()
    assert response["result"] == {"content": [{"type": "text", "text": "resumed"}]}
    (resume,) = [h for m, h, _ in seen.requests if m == "GET" and "last-event-id" in h]
    assert resume["last-event-id"] == "e1"
    assert resume["mcp-session-id"] == "s1"


async def test_a_stream_that_ends_without_an_answer_or_an_id_fails_the_request() -> None:
    script = legacy_server(on_call=(200, STREAM, b": just a comment\n\n"))
    async with scripted_server(script) as url:
        session = await connect_streamable_http(http_upstream(url), OFFER, Inbox(), mode="legacy")
        try:
            with pytest.raises(UpstreamProtocolError, match="ended before its answer"):
                await session.request("tools/call", call("echo"), timeout=TIMEOUT)
        finally:
            await session.aclose()


async def test_refused_credentials_are_unavailable_with_a_hint() -> None:
    async def refuse(method: str, headers: dict[str, str], body: bytes) -> Reply:
        return 401, {"WWW-Authenticate": "Bearer"}, b""

    async with scripted_server(refuse) as url:
        with pytest.raises(
            UpstreamUnavailable, match="HTTP 401 Unauthorized \\(check the credentials"
        ):
            await connect_streamable_http(http_upstream(url), OFFER, Inbox())


async def test_redirects_are_not_followed() -> None:
    async def redirect(method: str, headers: dict[str, str], body: bytes) -> Reply:
        return 307, {"Location": "http://127.0.0.1:1/elsewhere"}, b""

    async with scripted_server(redirect) as url:
        with pytest.raises(UpstreamUnavailable, match="redirects are not followed"):
            await connect_streamable_http(http_upstream(url), OFFER, Inbox(), mode="legacy")


async def test_an_answer_that_is_not_mcp_is_a_protocol_error() -> None:
    script = legacy_server(on_call=(200, {"Content-Type": "text/html"}, b"<html></html>"))
    async with scripted_server(script) as url:
        session = await connect_streamable_http(http_upstream(url), OFFER, Inbox(), mode="legacy")
        try:
            with pytest.raises(UpstreamProtocolError, match="Content-Type text/html"):
                await session.request("tools/call", call("echo"), timeout=TIMEOUT)
        finally:
            await session.aclose()


async def test_garbage_on_a_stream_is_a_protocol_error() -> None:
    script = legacy_server(on_call=(200, STREAM, b"event: message\ndata: {not json\n\n"))
    async with scripted_server(script) as url:
        session = await connect_streamable_http(http_upstream(url), OFFER, Inbox(), mode="legacy")
        try:
            with pytest.raises(UpstreamProtocolError, match="not JSON"):
                await session.request("tools/call", call("echo"), timeout=TIMEOUT)
        finally:
            await session.aclose()


async def test_a_json_rpc_error_with_an_http_error_status_is_the_answer() -> None:
    async def modern(method: str, headers: dict[str, str], body: bytes) -> Reply:
        message = json.loads(body)
        if message["method"] == "server/discover":
            result = {"supportedVersions": ["2026-07-28"], "capabilities": {}}
            return 200, JSON, rpc(message["id"], result).encode()
        error = {"code": -32601, "message": "Method not found"}
        reply = json.dumps({"jsonrpc": "2.0", "id": message["id"], "error": error}).encode()
        return 404, JSON, reply

    async with scripted_server(modern) as url:
        session = await connect_streamable_http(http_upstream(url), OFFER, Inbox())
        try:
            assert session.negotiated.era == "modern"
            answer = await session.request("ping", None, timeout=TIMEOUT)
        finally:
            await session.aclose()
    assert answer["error"] == {"code": -32601, "message": "Method not found"}
