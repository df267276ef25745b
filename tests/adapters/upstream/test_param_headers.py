"""Mcp-Param-* headers on the upstream leg: what a 2026-07-28 session learns of its upstream's
tools, and the headers its ``tools/call`` requests carry — against a fake lister, scripted
servers, and the SDK fixture server (which refuses a call without them)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Mapping

import httpx
import pytest

from mcpwall.adapters.upstream import StreamableHttpSession, connect_streamable_http
from mcpwall.adapters.upstream.param_headers import ToolHeaders
from mcpwall.core.errors import UpstreamClosed, UpstreamUnavailable
from mcpwall.ports.upstream import Message
from tests.adapters.upstream.conftest import OFFER, TIMEOUT, Inbox, call, http_upstream, tool_text
from tests.adapters.upstream.scripted import Reply, Seen, recording_server, rpc, sse_body
from tests.fixtures.servers import Record

pytestmark = pytest.mark.anyio

LOG = logging.getLogger("test")
JSON = {"Content-Type": "application/json"}
REGION_SCHEMA = {
    "type": "object",
    "properties": {
        "region": {"type": "string", "x-mcp-header": "Region"},
        "shard": {"type": "integer", "x-mcp-header": "Shard"},
    },
}


def tool(name: str, schema: Mapping[str, object] | None = None) -> dict[str, object]:
    return {"name": name, "inputSchema": dict(schema or {"type": "object"})}


class Lister:
    """A fake upstream's tools/list, page by page; counts the pages asked for and can hold
    them until released."""

    def __init__(self, pages: list[list[dict[str, object]]]) -> None:
        self.pages = pages
        self.asked: list[str | None] = []
        self.released = asyncio.Event()
        self.released.set()

    async def __call__(self, cursor: str | None) -> Message:
        self.asked.append(cursor)
        await self.released.wait()
        index = 0 if cursor is None else int(cursor)
        result: dict[str, object] = {"tools": self.pages[index]}
        if index + 1 < len(self.pages):
            result["nextCursor"] = str(index + 1)
        return {"result": result}


# -- what a session knows of its tools -----------------------------------------------------------


async def test_headers_come_from_what_listings_taught_without_asking_again() -> None:
    headers = ToolHeaders(LOG)
    headers.learn({"tools": [tool("regional", REGION_SCHEMA), tool("plain")]})
    lister = Lister([])
    sent = await headers.for_call(call("regional", region="eu", shard=3, query="q"), lister)
    assert sent == {"Mcp-Param-Region": "eu", "Mcp-Param-Shard": "3"}
    assert await headers.for_call(call("plain", region="eu"), lister) == {}
    assert lister.asked == []


async def test_an_unseen_tool_is_looked_for_in_every_page_once() -> None:
    lister = Lister([[tool("a")], [tool("b")], [tool("regional", REGION_SCHEMA)]])
    headers = ToolHeaders(LOG)
    assert await headers.for_call(call("regional", region="ü"), lister) == {
        "Mcp-Param-Region": "=?base64?w7w=?="
    }
    assert lister.asked == [None, "1", "2"]
    await headers.for_call(call("regional", region="eu"), lister)
    await headers.for_call(call("b"), lister)
    assert lister.asked == [None, "1", "2"]  # all learnt from that one walk


async def test_a_tool_no_listing_has_costs_one_walk_not_one_per_call() -> None:
    lister = Lister([[tool("a")]])
    headers = ToolHeaders(LOG)
    for _ in range(3):
        assert await headers.for_call(call("missing", region="eu"), lister) == {}
    assert lister.asked == [None]


async def test_concurrent_calls_wait_for_one_walk() -> None:
    lister = Lister([[tool("regional", REGION_SCHEMA)], [tool("other", REGION_SCHEMA)]])
    lister.released.clear()
    headers = ToolHeaders(LOG)
    calls = [
        asyncio.ensure_future(headers.for_call(call(name, region=f"r{i}"), lister))
        for i, name in enumerate(["regional", "other", "regional", "unknown", "other"])
    ]
    while not lister.asked:
        await asyncio.sleep(0)
    lister.released.set()
    sent = await asyncio.gather(*calls)
    assert lister.asked == [None, "1"]
    assert [h.get("Mcp-Param-Region") for h in sent] == ["r0", "r1", "r2", None, "r4"]


async def test_a_list_change_makes_the_next_call_list_again() -> None:
    lister = Lister([[tool("regional", REGION_SCHEMA)]])
    headers = ToolHeaders(LOG)
    await headers.for_call(call("regional", region="eu"), lister)
    lister.pages = [[tool("regional", {"properties": {"zone": REGION_SCHEMA["properties"]}})]]
    headers.forget()
    assert await headers.for_call(call("regional", region="eu"), lister) == {}
    assert lister.asked == [None, None]


async def test_refresh_lists_again_for_a_known_tool() -> None:
    lister = Lister([[tool("regional", REGION_SCHEMA)]])
    headers = ToolHeaders(LOG)
    headers.learn({"tools": [tool("regional")]})
    assert await headers.for_call(call("regional", region="eu"), lister) == {}
    refreshed = await headers.for_call(call("regional", region="eu"), lister, refresh=True)
    assert refreshed == {"Mcp-Param-Region": "eu"}


async def test_a_failed_listing_sends_no_headers_and_learns_nothing() -> None:
    failing = True

    async def lister(cursor: str | None) -> Message:
        if failing:
            raise UpstreamUnavailable("fixture", "it is down")
        return {"result": {"tools": [tool("regional", REGION_SCHEMA)]}}

    headers = ToolHeaders(LOG)
    assert await headers.for_call(call("regional", region="eu"), lister) == {}
    failing = False
    assert await headers.for_call(call("regional", region="eu"), lister) == {
        "Mcp-Param-Region": "eu"
    }


async def test_a_closed_session_is_not_hidden() -> None:
    async def lister(cursor: str | None) -> Message:
        raise UpstreamClosed("fixture", "it went away")

    with pytest.raises(UpstreamClosed):
        await ToolHeaders(LOG).for_call(call("regional", region="eu"), lister)


async def test_an_error_answer_or_a_cursor_loop_ends_the_walk() -> None:
    async def refusing(cursor: str | None) -> Message:
        return {"error": {"code": -32601, "message": "Method not found"}}

    assert await ToolHeaders(LOG).for_call(call("regional", region="eu"), refusing) == {}
    asked: list[str | None] = []

    async def looping(cursor: str | None) -> Message:
        asked.append(cursor)
        return {"result": {"tools": [tool(f"t{len(asked)}")], "nextCursor": "again"}}

    assert await ToolHeaders(LOG).for_call(call("regional", region="eu"), looping) == {}
    assert asked == [None, "again"]


async def test_a_tool_with_invalid_annotations_gets_no_headers() -> None:
    headers = ToolHeaders(LOG)
    invalid = {"properties": {"region": {"type": "number", "x-mcp-header": "Region"}}}
    headers.learn({"tools": [tool("regional", invalid)]})
    assert await headers.for_call(call("regional", region=1.5), Lister([])) == {}


async def test_memory_is_bounded_the_oldest_tools_making_room() -> None:
    headers = ToolHeaders(LOG, max_tools=3)
    headers.learn({"tools": [tool(f"t{i}", REGION_SCHEMA) for i in range(5)]})
    lister = Lister([[tool("t0", REGION_SCHEMA)]])
    assert await headers.for_call(call("t4", region="eu"), lister) == {"Mcp-Param-Region": "eu"}
    assert lister.asked == []
    assert await headers.for_call(call("t0", region="eu"), lister) == {"Mcp-Param-Region": "eu"}
    assert lister.asked == [None]  # t0 had made room, so it was listed again


# -- a session against a scripted 2026-07-28 server ----------------------------------------------


class ModernServer:
    """A 2026-07-28 server whose tools can change; it refuses (-32020) a call whose
    Mcp-Param-Region header is not the ``region`` argument while its schema declares it."""

    def __init__(self, tools: list[dict[str, object]]) -> None:
        self.tools = tools
        self.refuse = False  # refuse every call (-32020), whatever its headers
        self.on_call_stream: list[str] = []  # notifications to send before a call's answer

    async def __call__(self, method: str, headers: dict[str, str], body: bytes) -> Reply:
        message = json.loads(body)
        if "id" not in message:
            return 202, {}, b""
        answer = self._answer(message, headers)
        if message["method"] == "tools/call" and self.on_call_stream:
            events = [("message", data) for data in self.on_call_stream]
            self.on_call_stream = []
            stream = sse_body([*events, ("message", answer[2].decode())])
            return 200, {"Content-Type": "text/event-stream"}, stream
        return answer

    def _answer(self, message: dict[str, object], headers: dict[str, str]) -> Reply:
        method, request_id = message["method"], message["id"]
        if method == "server/discover":
            result = {"supportedVersions": ["2026-07-28"], "capabilities": {"tools": {}}}
            return 200, JSON, rpc(request_id, result).encode()
        if method == "tools/list":
            return 200, JSON, rpc(request_id, {"tools": self.tools}).encode()
        params = message["params"]
        assert isinstance(params, dict)
        declared = "x-mcp-header" in json.dumps(self.tools)
        mirrored = headers.get("mcp-param-region") == params["arguments"].get("region")
        if self.refuse or (declared and not mirrored):
            error = {"code": -32020, "message": "Mcp-Param-Region header mismatch"}
            body = json.dumps({"jsonrpc": "2.0", "id": request_id, "error": error})
            return 400, JSON, body.encode()
        return 200, JSON, rpc(request_id, {"content": [{"type": "text", "text": "ok"}]}).encode()


@pytest.fixture
async def scripted() -> AsyncIterator[tuple[StreamableHttpSession, ModernServer, Seen]]:
    server = ModernServer([tool("regional", REGION_SCHEMA)])
    async with recording_server(server) as (url, seen):
        session = await connect_streamable_http(http_upstream(url), OFFER, Inbox())
        try:
            assert session.negotiated.era == "modern"
            yield session, server, seen
        finally:
            await session.aclose()


def posted(seen: Seen, method: str) -> list[dict[str, str]]:
    """The headers of each POST of ``method``."""
    return [
        headers
        for verb, headers, body in seen.requests
        if verb == "POST" and json.loads(body).get("method") == method
    ]


async def test_a_call_carries_the_headers_of_the_tools_schema(
    scripted: tuple[StreamableHttpSession, ModernServer, Seen],
) -> None:
    session, _, seen = scripted
    params = call("regional", region="us-west1", shard=42.0, query="SELECT 1")
    answer = await session.request("tools/call", params, timeout=TIMEOUT)
    assert tool_text(answer) == "ok"
    [sent] = posted(seen, "tools/call")
    assert (sent["mcp-param-region"], sent["mcp-param-shard"]) == ("us-west1", "42")
    assert "mcp-param-query" not in sent
    assert len(posted(seen, "tools/list")) == 1  # the session had not seen the tool


async def test_listings_others_asked_for_teach_the_session(
    scripted: tuple[StreamableHttpSession, ModernServer, Seen],
) -> None:
    session, _, seen = scripted
    await session.request("tools/list", None, timeout=TIMEOUT)
    await session.request("tools/call", call("regional", region="eu"), timeout=TIMEOUT)
    await session.request("tools/call", call("regional"), timeout=TIMEOUT)
    assert len(posted(seen, "tools/list")) == 1
    first, second = posted(seen, "tools/call")
    assert first["mcp-param-region"] == "eu"
    assert "mcp-param-region" not in second  # no value, no header


async def test_a_refused_call_is_sent_again_once_with_the_headers_of_the_new_schema(
    scripted: tuple[StreamableHttpSession, ModernServer, Seen],
) -> None:
    session, server, seen = scripted
    server.tools = [tool("regional")]
    await session.request("tools/list", None, timeout=TIMEOUT)  # the session learns: no headers
    server.tools = [tool("regional", REGION_SCHEMA)]  # changed, and nobody said so
    answer = await session.request("tools/call", call("regional", region="eu"), timeout=TIMEOUT)
    assert tool_text(answer) == "ok"
    first, again = posted(seen, "tools/call")
    assert "mcp-param-region" not in first
    assert again["mcp-param-region"] == "eu"


async def test_a_refusal_the_schema_does_not_explain_is_the_answer(
    scripted: tuple[StreamableHttpSession, ModernServer, Seen],
) -> None:
    session, server, seen = scripted
    server.refuse = True
    answer = await session.request("tools/call", call("regional", region="eu"), timeout=TIMEOUT)
    assert answer["error"] == {"code": -32020, "message": "Mcp-Param-Region header mismatch"}
    assert len(posted(seen, "tools/call")) == 1  # the same headers again would fail again
    assert len(posted(seen, "tools/list")) == 2  # the first look, and the one after the refusal


async def test_a_list_change_on_a_stream_makes_the_session_list_again(
    scripted: tuple[StreamableHttpSession, ModernServer, Seen],
) -> None:
    session, server, seen = scripted
    await session.request("tools/call", call("regional", region="eu"), timeout=TIMEOUT)
    server.on_call_stream = [
        json.dumps({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
    ]
    await session.request("tools/call", call("regional", region="eu"), timeout=TIMEOUT)
    assert len(posted(seen, "tools/list")) == 1
    server.tools = [tool("regional")]
    await session.request("tools/call", call("regional", region="eu"), timeout=TIMEOUT)
    assert len(posted(seen, "tools/list")) == 2
    assert "mcp-param-region" not in posted(seen, "tools/call")[-1]


async def test_concurrent_calls_of_an_unseen_tool_list_once(
    scripted: tuple[StreamableHttpSession, ModernServer, Seen],
) -> None:
    session, _, seen = scripted
    answers = await asyncio.gather(
        *(
            session.request("tools/call", call("regional", region=f"r{i}"), timeout=TIMEOUT)
            for i in range(8)
        )
    )
    assert [tool_text(answer) for answer in answers] == ["ok"] * 8
    assert len(posted(seen, "tools/list")) == 1
    assert sorted(h["mcp-param-region"] for h in posted(seen, "tools/call")) == [
        f"r{i}" for i in range(8)
    ]


# -- against the SDK's own server ---------------------------------------------------------------


async def test_the_sdk_server_refuses_a_call_without_the_header(
    http_server: tuple[str, Record],
) -> None:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {
            "name": "regional",
            "arguments": {"region": "eu"},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
            },
        },
    }
    headers = {
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": "2026-07-28",
        "mcp-method": "tools/call",
        "mcp-name": "regional",
    }
    async with httpx.AsyncClient() as client:
        refused = await client.post(http_server[0], json=body, headers=headers)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == -32020


@pytest.mark.parametrize("region", ["eu-west-1", "Zürich ", "=?base64?x?="])
async def test_the_sdk_server_takes_a_call_with_the_headers_a_modern_session_sends(
    http_server: tuple[str, Record], region: str
) -> None:
    session = await connect_streamable_http(http_upstream(http_server[0]), OFFER, Inbox())
    try:
        assert session.negotiated.era == "modern"
        params = call("regional", region=region, shard=7, query="q")
        answer = await session.request("tools/call", params, timeout=TIMEOUT)
    finally:
        await session.aclose()
    assert tool_text(answer) == f"q in {region} on shard 7"


async def test_a_legacy_session_calls_without_them(http_server: tuple[str, Record]) -> None:
    upstream = http_upstream(http_server[0])
    session = await connect_streamable_http(upstream, OFFER, Inbox(), mode="legacy")
    try:
        answer = await session.request("tools/call", call("regional", region="eu"), timeout=TIMEOUT)
    finally:
        await session.aclose()
    assert tool_text(answer) == " in eu on shard 0"
