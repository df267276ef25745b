"""The legacy HTTP+SSE session against the SDK fixture server's ``/sse`` transport."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from mcpwall.adapters.upstream import ChannelSession, connect_sse
from mcpwall.core.errors import UpstreamTimeout, UpstreamUnavailable
from mcpwall.core.registry import UpstreamKind
from tests.adapters.upstream.conftest import (
    OFFER,
    TIMEOUT,
    Inbox,
    call,
    http_upstream,
    tool_text,
)
from tests.adapters.upstream.scripted import scripted_server, sse_body
from tests.fixtures.servers import Record, free_port

pytestmark = pytest.mark.anyio


@pytest.fixture
async def session(
    sse_server: tuple[str, Record], unsolicited: Inbox
) -> AsyncIterator[ChannelSession]:
    opened = await connect_sse(http_upstream(sse_server[0], UpstreamKind.SSE), OFFER, unsolicited)
    yield opened
    await opened.aclose()


@pytest.fixture
def record(sse_server: tuple[str, Record]) -> Record:
    return sse_server[1]


async def test_it_opens_a_legacy_session(session: ChannelSession) -> None:
    assert session.negotiated.era == "legacy"
    assert session.negotiated.protocol_version == "2025-11-25"
    echoed = await session.request("tools/call", call("echo", message="over sse"), timeout=TIMEOUT)
    assert tool_text(echoed) == "over sse"
    asked = await session.request("tools/call", call("request_id"), timeout=TIMEOUT)
    assert json.loads(tool_text(asked)) == asked["id"]
    assert asked["id"] == echoed["id"] + 1  # type: ignore[operator]


async def test_posts_carry_the_registry_credentials_only(session: ChannelSession) -> None:
    seen = json.loads(
        tool_text(await session.request("tools/call", call("headers"), timeout=TIMEOUT))
    )
    assert seen["x-upstream-key"] == "from-the-registry"
    assert "authorization" not in seen


async def test_progress_and_list_changed_are_routed(
    session: ChannelSession, unsolicited: Inbox
) -> None:
    related = Inbox()
    params = {**call("progress", steps=1), "_meta": {"progressToken": "p"}}
    await session.request("tools/call", params, related=related, timeout=TIMEOUT)
    assert related.methods() == ["notifications/progress"]
    assert related.messages[0]["params"]["progressToken"] == "p"  # type: ignore[index]
    await session.request("tools/call", call("add_tool", name="sse_added"), timeout=TIMEOUT)
    await unsolicited.wait_for("notifications/tools/list_changed")


async def test_sampling_is_relayed_and_answered(session: ChannelSession) -> None:
    related = Inbox()
    asking = asyncio.ensure_future(
        session.request("tools/call", call("sample", prompt="?"), related=related, timeout=TIMEOUT)
    )
    ask = await related.wait_for("sampling/createMessage")
    answer = {"role": "assistant", "content": {"type": "text", "text": "yes"}, "model": "m"}
    request_id = ask["id"]
    assert isinstance(request_id, int | str)
    await session.respond(request_id, {"result": answer})
    assert tool_text(await asking) == "sampled: yes"


async def test_a_timeout_sends_notifications_cancelled(
    session: ChannelSession, record: Record
) -> None:
    with pytest.raises(UpstreamTimeout):
        await session.request("tools/call", call("slow", tag="sse-timeout"), timeout=0.5)
    await record.wait_for(lambda e: e == {"event": "slow cancelled", "tag": "sse-timeout"})
    await record.wait_for(lambda e: e.get("method") == "notifications/cancelled")


async def test_an_unreachable_url_is_unavailable() -> None:
    url = f"http://127.0.0.1:{free_port()}/sse"
    with pytest.raises(UpstreamUnavailable, match=f"cannot connect to {url}"):
        await connect_sse(http_upstream(url, UpstreamKind.SSE), OFFER, Inbox())


async def test_an_endpoint_on_another_origin_is_refused() -> None:
    async def stream(
        method: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        events = [("endpoint", "http://attacker.example/messages")]
        return 200, {"Content-Type": "text/event-stream"}, sse_body(events)

    async with scripted_server(stream) as url:
        with pytest.raises(UpstreamUnavailable, match="another origin"):
            await connect_sse(http_upstream(url, UpstreamKind.SSE), OFFER, Inbox())


async def test_a_stream_that_is_not_one_is_unavailable() -> None:
    async def page(
        method: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        return 200, {"Content-Type": "text/html"}, b"<html>hello</html>"

    async with scripted_server(page) as url:
        with pytest.raises(UpstreamUnavailable, match="expected an event stream"):
            await connect_sse(http_upstream(url, UpstreamKind.SSE), OFFER, Inbox())
