"""The connector picks the transport from the upstream's kind and opens a negotiated session."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mcpwall.adapters.upstream import ChannelSession, Connector, StreamableHttpSession
from mcpwall.adapters.upstream.http_sse import SseWire
from mcpwall.adapters.upstream.stdio import StdioWire
from mcpwall.core.errors import UpstreamUnavailable
from mcpwall.core.registry import Upstream, UpstreamKind
from mcpwall.ports.upstream import UpstreamConnector, UpstreamSession
from tests.adapters.upstream.conftest import OFFER, TIMEOUT, Inbox, call, http_upstream, tool_text
from tests.fixtures.servers import Record

pytestmark = pytest.mark.anyio

CONNECTOR: UpstreamConnector = Connector()  # mypy checks it is one


async def echo(session: UpstreamSession) -> str:
    return tool_text(
        await session.request("tools/call", call("echo", message="hi"), timeout=TIMEOUT)
    )


async def test_stdio(stdio_upstream: Upstream) -> None:
    session = await CONNECTOR.connect(stdio_upstream, OFFER, Inbox())
    try:
        assert isinstance(session, ChannelSession)
        assert isinstance(session._wire, StdioWire)
        assert session.negotiated.era == "modern"  # auto: the fixture is dual-era
        assert await echo(session) == "hi"
    finally:
        await session.aclose()


async def test_streamable_http(http_server: tuple[str, Record]) -> None:
    session = await CONNECTOR.connect(http_upstream(http_server[0]), OFFER, Inbox())
    try:
        assert isinstance(session, StreamableHttpSession)
        assert await echo(session) == "hi"
    finally:
        await session.aclose()


async def test_legacy_sse_is_always_legacy(sse_server: tuple[str, Record]) -> None:
    upstream = http_upstream(sse_server[0], UpstreamKind.SSE)
    session = await CONNECTOR.connect(upstream, OFFER, Inbox())
    try:
        assert isinstance(session, ChannelSession)
        assert isinstance(session._wire, SseWire)
        assert session.negotiated.era == "legacy"
        assert await echo(session) == "hi"
    finally:
        await session.aclose()


async def test_the_mode_is_passed_on(stdio_upstream: Upstream) -> None:
    session = await Connector(mode="legacy").connect(stdio_upstream, OFFER, Inbox())
    try:
        assert session.negotiated.era == "legacy"
    finally:
        await session.aclose()


async def test_an_offer_for_a_legacy_agent_opens_a_legacy_session(stdio_upstream: Upstream) -> None:
    """A dual-era upstream would pick 2026-07-28, where nothing can be relayed to a legacy agent."""
    session = await CONNECTOR.connect(stdio_upstream, replace(OFFER, era="legacy"), Inbox())
    try:
        assert session.negotiated.era == "legacy"
        assert await echo(session) == "hi"
    finally:
        await session.aclose()


async def test_a_session_that_cannot_open_is_unavailable() -> None:
    upstream = Upstream.stdio("ghost", "/nonexistent/mcp-server")
    with pytest.raises(UpstreamUnavailable, match='cannot start "/nonexistent/mcp-server"'):
        await CONNECTOR.connect(upstream, OFFER, Inbox())
