"""Carrying on a legacy Streamable HTTP session that another process opened: the same
upstream session, no second handshake; let go of without ending it, or ended for both."""

from __future__ import annotations

import json

import anyio
import pytest

from mcpwall.adapters.upstream import connect_streamable_http
from mcpwall.adapters.upstream.streamable_http import attach_streamable_http
from mcpwall.core.errors import UpstreamClosed
from mcpwall.core.registry import Upstream
from mcpwall.ports.upstream import Resumption
from tests.adapters.upstream.conftest import OFFER, TIMEOUT, Inbox, http_upstream, tool_text
from tests.fixtures.servers import Record

pytestmark = pytest.mark.anyio


async def upstream_session_id(session: object) -> str:
    response = await session.request(  # type: ignore[attr-defined]
        "tools/call", {"name": "headers", "arguments": {}}, timeout=TIMEOUT
    )
    found = json.loads(tool_text(response))["mcp-session-id"]
    assert isinstance(found, str)
    return found


def initialized(record: Record) -> int:
    return sum(1 for e in record.events() if e.get("method") == "notifications/initialized")


async def handshakes_after(record: Record, before: int) -> int:
    """The number of ``initialized`` notifications recorded, once it exceeds ``before``."""
    with anyio.fail_after(10):
        while (count := initialized(record)) <= before:
            await anyio.sleep(0.02)
    return count


async def test_a_resumed_session_is_the_same_upstream_session(
    http_server: tuple[str, Record], unsolicited: Inbox
) -> None:
    url, record = http_server
    upstream: Upstream = http_upstream(url)
    before = initialized(record)
    first = await connect_streamable_http(upstream, OFFER, unsolicited, mode="legacy")
    # The server records the notification after answering it: wait until it has.
    handshakes = await handshakes_after(record, before)
    resumption = first.resumption()
    assert isinstance(resumption, Resumption)
    assert resumption.session_id == first.session_id
    assert (
        resumption.capabilities["tools"] == {"listChanged": True}
        or "tools" in resumption.capabilities
    )
    second = await attach_streamable_http(upstream, OFFER, Inbox(), resumption)
    try:
        assert not second.closed
        assert await upstream_session_id(second) == await upstream_session_id(first)
        assert initialized(record) == handshakes  # no second initialize
        # Let go of here: the upstream session lives on for the other.
        await second.detach()
        assert await upstream_session_id(first) == resumption.session_id
        # Ended (DELETE) by one: the other hears 404 and is over.
        third = await attach_streamable_http(upstream, OFFER, Inbox(), resumption, listen=False)
        await third.aclose()
        with pytest.raises(UpstreamClosed):
            await upstream_session_id(first)
    finally:
        await second.aclose()
        await first.aclose()


async def test_a_session_the_upstream_forgot_comes_back_closed(
    http_server: tuple[str, Record], unsolicited: Inbox
) -> None:
    gone = Resumption("0" * 32, "2025-11-25", {"tools": {}})
    session = await attach_streamable_http(http_upstream(http_server[0]), OFFER, unsolicited, gone)
    try:
        assert session.closed
    finally:
        await session.aclose()
