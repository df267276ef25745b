"""The Streamable HTTP session against the SDK fixture server, both eras, on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from mcpwall.adapters.upstream import StreamableHttpSession, connect_streamable_http
from mcpwall.core.errors import UpstreamClosed, UpstreamTimeout, UpstreamUnavailable
from mcpwall.core.mcp.envelope import LOG_LEVEL_KEY
from mcpwall.core.registry import Upstream
from tests.adapters.upstream.conftest import (
    OFFER,
    TIMEOUT,
    Inbox,
    call,
    http_upstream,
    tool_text,
)
from tests.fixtures.servers import Record, free_port

pytestmark = pytest.mark.anyio


@pytest.fixture
async def legacy(
    http_server: tuple[str, Record], unsolicited: Inbox
) -> AsyncIterator[StreamableHttpSession]:
    session = await connect_streamable_http(
        http_upstream(http_server[0]), OFFER, unsolicited, mode="legacy"
    )
    yield session
    await session.aclose()


@pytest.fixture
async def modern(
    http_server: tuple[str, Record], unsolicited: Inbox
) -> AsyncIterator[StreamableHttpSession]:
    session = await connect_streamable_http(http_upstream(http_server[0]), OFFER, unsolicited)
    yield session
    await session.aclose()


@pytest.fixture(params=["legacy", "modern"])
def session(request: pytest.FixtureRequest) -> StreamableHttpSession:
    """A session of each era."""
    opened: StreamableHttpSession = request.getfixturevalue(request.param)
    return opened


@pytest.fixture
def record(http_server: tuple[str, Record]) -> Record:
    return http_server[1]


async def headers_seen(session: StreamableHttpSession) -> dict[str, str]:
    seen: dict[str, str] = json.loads(
        tool_text(await session.request("tools/call", call("headers"), timeout=TIMEOUT))
    )
    return seen


async def test_auto_finds_the_modern_era_of_a_dual_era_server(
    modern: StreamableHttpSession,
) -> None:
    assert modern.negotiated.era == "modern"
    assert modern.negotiated.protocol_version == "2026-07-28"
    assert modern.session_id is None
    echoed = await modern.request("tools/call", call("echo", message="hi"), timeout=TIMEOUT)
    assert tool_text(echoed) == "hi"


async def test_legacy_opens_a_session(legacy: StreamableHttpSession, record: Record) -> None:
    assert legacy.negotiated.era == "legacy"
    assert legacy.negotiated.protocol_version == "2025-11-25"
    assert legacy.session_id
    echoed = await legacy.request("tools/call", call("echo", message="hi"), timeout=TIMEOUT)
    assert tool_text(echoed) == "hi"


async def test_modern_requests_carry_the_mirrored_headers(modern: StreamableHttpSession) -> None:
    seen = await headers_seen(modern)
    assert seen["mcp-protocol-version"] == "2026-07-28"
    assert seen["mcp-method"] == "tools/call"
    assert seen["mcp-name"] == "headers"
    assert "mcp-session-id" not in seen


async def test_legacy_requests_carry_the_session_and_version(
    legacy: StreamableHttpSession,
) -> None:
    seen = await headers_seen(legacy)
    assert seen["mcp-protocol-version"] == "2025-11-25"
    assert seen["mcp-session-id"] == legacy.session_id
    assert "mcp-method" not in seen


async def test_only_the_registry_credentials_are_sent(session: StreamableHttpSession) -> None:
    seen = await headers_seen(session)
    assert seen["x-upstream-key"] == "from-the-registry"
    assert "authorization" not in seen
    assert "cookie" not in seen


async def test_a_registered_authorization_is_the_upstreams_own(
    http_server: tuple[str, Record],
) -> None:
    credentials = {"Authorization": "Bearer upstream-own-token"}
    upstream = Upstream.remote("fixture", http_server[0], headers=credentials)
    session = await connect_streamable_http(upstream, OFFER, Inbox())
    try:
        assert (await headers_seen(session))["authorization"] == "Bearer upstream-own-token"
    finally:
        await session.aclose()


async def test_request_ids_are_the_sessions_own_and_exact(session: StreamableHttpSession) -> None:
    # Listed first: a modern session lists the tools of a call it has not seen (Mcp-Param-*).
    await session.request("tools/list", None, timeout=TIMEOUT)
    first = await session.request("tools/call", call("request_id"), timeout=TIMEOUT)
    second = await session.request("tools/call", call("request_id"), timeout=TIMEOUT)
    assert json.loads(tool_text(first)) == first["id"]
    assert json.loads(tool_text(second)) == second["id"]
    assert type(first["id"]) is int
    assert second["id"] == first["id"] + 1


async def test_progress_rides_the_request_stream_with_the_callers_token(
    session: StreamableHttpSession, unsolicited: Inbox
) -> None:
    related = Inbox()
    params = {**call("progress", steps=2), "_meta": {"progressToken": 42}}
    response = await session.request("tools/call", params, related=related, timeout=TIMEOUT)
    assert tool_text(response) == "2 steps done"
    assert [m["params"]["progressToken"] for m in related.messages] == [42, 42]  # type: ignore[index]
    assert [m["params"]["progress"] for m in related.messages] == [1, 2]  # type: ignore[index]
    assert unsolicited.messages == []


async def test_log_messages_ride_the_request_stream(legacy: StreamableHttpSession) -> None:
    related = Inbox()
    await legacy.request(
        "tools/call", call("log", message="careful"), related=related, timeout=TIMEOUT
    )
    assert related.methods() == ["notifications/message"]


async def test_a_modern_request_keeps_its_log_level_opt_in(modern: StreamableHttpSession) -> None:
    related = Inbox()
    params = {**call("log", message="careful"), "_meta": {LOG_LEVEL_KEY: "info"}}
    await modern.request("tools/call", params, related=related, timeout=TIMEOUT)
    assert related.methods() == ["notifications/message"]


async def test_sampling_rides_the_request_stream_and_is_answered(
    legacy: StreamableHttpSession,
) -> None:
    related = Inbox()
    asking = asyncio.ensure_future(
        legacy.request("tools/call", call("sample", prompt="hi?"), related=related, timeout=TIMEOUT)
    )
    ask = await related.wait_for("sampling/createMessage")
    answer = {"role": "assistant", "content": {"type": "text", "text": "hello"}, "model": "m"}
    request_id = ask["id"]
    assert isinstance(request_id, int | str)
    await legacy.respond(request_id, {"result": answer})
    assert tool_text(await asking) == "sampled: hello"


async def test_elicitation_rides_the_request_stream_and_is_answered(
    legacy: StreamableHttpSession,
) -> None:
    related = Inbox()
    params = call("elicit", question="Proceed?")
    asking = asyncio.ensure_future(
        legacy.request("tools/call", params, related=related, timeout=TIMEOUT)
    )
    ask = await related.wait_for("elicitation/create")
    request_id = ask["id"]
    assert isinstance(request_id, int | str)
    await legacy.respond(request_id, {"result": {"action": "decline"}})
    assert tool_text(await asking) == "elicitation decline"


async def test_list_changed_arrives_unsolicited_on_the_get_stream(
    legacy: StreamableHttpSession, unsolicited: Inbox
) -> None:
    related = Inbox()
    params = call("add_tool", name="added_over_http")
    await legacy.request("tools/call", params, related=related, timeout=TIMEOUT)
    await unsolicited.wait_for("notifications/tools/list_changed")
    assert related.messages == []


async def test_a_legacy_timeout_sends_notifications_cancelled(
    legacy: StreamableHttpSession, record: Record
) -> None:
    with pytest.raises(UpstreamTimeout, match="cancelled upstream"):
        await legacy.request("tools/call", call("slow", tag="legacy-timeout"), timeout=0.5)
    await record.wait_for(lambda e: e == {"event": "slow cancelled", "tag": "legacy-timeout"})
    echoed = await legacy.request("tools/call", call("echo", message="next"), timeout=TIMEOUT)
    cancelled_id = echoed["id"] - 1  # type: ignore[operator]
    await record.wait_for(
        lambda e: (
            e.get("method") == "notifications/cancelled"
            and e["params"]["requestId"] == cancelled_id
        )
    )


async def test_a_modern_timeout_closes_the_stream_and_nothing_more(
    modern: StreamableHttpSession, record: Record
) -> None:
    def notices() -> int:
        return sum(e.get("method") == "notifications/cancelled" for e in record.events())

    before = notices()
    with pytest.raises(UpstreamTimeout):
        await modern.request("tools/call", call("slow", tag="modern-timeout"), timeout=0.5)
    # The closed stream alone is the cancellation (2026-07-28 §Cancellation).
    await record.wait_for(lambda e: e == {"event": "slow cancelled", "tag": "modern-timeout"})
    await modern.request("tools/call", call("echo", message="next"), timeout=TIMEOUT)
    assert notices() == before


async def test_a_cancelled_caller_cancels_upstream(
    session: StreamableHttpSession, record: Record
) -> None:
    tag = f"caller-{session.negotiated.era}"
    calling = asyncio.ensure_future(
        session.request("tools/call", call("slow", tag=tag), timeout=TIMEOUT)
    )
    await record.wait_for(lambda e: e == {"event": "slow started", "tag": tag})
    calling.cancel()
    with pytest.raises(asyncio.CancelledError):
        await calling
    await record.wait_for(lambda e: e == {"event": "slow cancelled", "tag": tag})


async def test_json_answers_work_in_both_eras(json_http_server: tuple[str, Record]) -> None:
    for mode in ("legacy", "auto"):
        session = await connect_streamable_http(
            http_upstream(json_http_server[0]), OFFER, Inbox(), mode=mode
        )
        try:
            echoed = await session.request(
                "tools/call", call("echo", message=mode), timeout=TIMEOUT
            )
            assert tool_text(echoed) == mode
        finally:
            await session.aclose()


async def test_closing_deletes_the_legacy_session(http_server: tuple[str, Record]) -> None:
    url = http_server[0]
    session = await connect_streamable_http(http_upstream(url), OFFER, Inbox(), mode="legacy")
    session_id = session.session_id
    assert session_id is not None
    await session.aclose()
    assert session.closed
    async with (
        aiohttp.ClientSession() as client,
        client.post(
            url,
            data=b"{}",
            headers={
                "Mcp-Session-Id": session_id,
                "MCP-Protocol-Version": "2025-11-25",
                "Content-Type": "application/json",
                "Accept": "application/json, text/event-stream",
            },
        ) as response,
    ):
        assert response.status == 404


async def test_a_session_the_upstream_ended_is_closed(
    legacy: StreamableHttpSession, http_server: tuple[str, Record]
) -> None:
    session_id = legacy.session_id
    assert session_id is not None
    headers = {"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"}
    async with aiohttp.ClientSession() as client, client.delete(http_server[0], headers=headers):
        pass
    with pytest.raises(UpstreamClosed, match="the upstream ended the session"):
        await legacy.request("tools/call", call("echo", message="x"), timeout=TIMEOUT)
    assert legacy.closed
    assert "HTTP 404" in await legacy.wait_closed()


async def test_an_unreachable_url_is_unavailable_with_the_reason() -> None:
    url = f"http://127.0.0.1:{free_port()}/mcp"
    with pytest.raises(UpstreamUnavailable) as caught:
        await connect_streamable_http(http_upstream(url), OFFER, Inbox())
    assert str(caught.value).startswith(f'upstream "fixture": cannot connect to {url}: ')
