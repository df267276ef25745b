"""The in-memory fake upstream (``mcpwall.ports.fake_upstream``) behaves like the real sessions
at the port: its own ids, related messages, server→client requests, timeouts, crashes.

(It lives in ``ports``; its tests sit here beside the real sessions they mirror.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from mcpwall.core.errors import UpstreamClosed, UpstreamTimeout, UpstreamUnavailable
from mcpwall.core.registry import Upstream
from mcpwall.ports.fake_upstream import FakeConnector, Related, Sent, error, result
from mcpwall.ports.upstream import ClientOffer, Message, UpstreamConnector, UpstreamSession
from tests.adapters.upstream.conftest import Inbox

pytestmark = pytest.mark.anyio

UPSTREAM = Upstream.stdio("fake", "unused")


async def handler(method: str, params: Mapping[str, object] | None, related: Related) -> Message:
    if method == "tools/call" and params is not None and params.get("name") == "slow":
        await asyncio.sleep(60)
    if method == "tools/call" and params is not None and params.get("name") == "sample":
        await related.notify("notifications/progress", {"progressToken": 1, "progress": 1})
        answer = await related.ask("sampling/createMessage", {"maxTokens": 5})
        return result({"content": [{"type": "text", "text": str(answer["result"])}]})
    if method == "tools/list":
        return result({"tools": [{"name": "sample"}]})
    return error(-32601, f"Method not found: {method}")


async def open_session(unsolicited: Inbox | None = None) -> UpstreamSession:
    connector: UpstreamConnector = FakeConnector(handler)
    return await connector.connect(UPSTREAM, ClientOffer(), unsolicited or Inbox())


async def test_answers_carry_the_sessions_own_ids() -> None:
    session = await open_session()
    first = await session.request("tools/list", None, timeout=1)
    second = await session.request("nope", {}, timeout=1)
    assert first == {"jsonrpc": "2.0", "id": 1, "result": {"tools": [{"name": "sample"}]}}
    assert second["id"] == 2
    assert second["error"] == {"code": -32601, "message": "Method not found: nope"}


async def test_related_messages_and_server_requests() -> None:
    session = await open_session()
    related = Inbox()
    calling = asyncio.ensure_future(
        session.request("tools/call", {"name": "sample"}, related=related, timeout=5)
    )
    ask = await related.wait_for("sampling/createMessage")
    assert related.methods()[0] == "notifications/progress"
    request_id = ask["id"]
    assert isinstance(request_id, int | str)
    await session.respond(request_id, {"result": {"text": "ok"}})
    answer = await calling
    assert answer["result"] == {"content": [{"type": "text", "text": "{'text': 'ok'}"}]}


async def test_a_timeout_cancels_the_handler() -> None:
    connector = FakeConnector(handler)
    session = await connector.connect(UPSTREAM, ClientOffer(), Inbox())
    with pytest.raises(UpstreamTimeout):
        await session.request("tools/call", {"name": "slow"}, timeout=0.05)
    assert session.cancelled == [1]


async def test_a_crash_fails_what_is_in_flight() -> None:
    connector = FakeConnector(handler)
    session = await connector.connect(UPSTREAM, ClientOffer(), Inbox())
    calling = asyncio.ensure_future(session.request("tools/call", {"name": "slow"}, timeout=5))
    await asyncio.sleep(0)  # let it start
    session.crash("the process exited with code 1")
    with pytest.raises(UpstreamClosed, match="exited with code 1"):
        await calling
    assert session.closed
    assert await session.wait_closed() == "the process exited with code 1"
    with pytest.raises(UpstreamClosed):
        await session.notify("notifications/roots/list_changed", None)


async def test_it_records_what_it_was_sent_and_pushes_unsolicited() -> None:
    unsolicited = Inbox()
    connector = FakeConnector(handler)
    session = await connector.connect(
        UPSTREAM, ClientOffer(capabilities={"roots": {}}), unsolicited
    )
    await session.notify("notifications/roots/list_changed", None)
    await session.push({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
    assert session.sent == [Sent("notifications/roots/list_changed", None)]
    assert unsolicited.methods() == ["notifications/tools/list_changed"]
    assert connector.offers[0].capabilities == {"roots": {}}


async def test_an_unavailable_upstream() -> None:
    connector = FakeConnector(handler, unavailable="cannot connect")
    with pytest.raises(UpstreamUnavailable, match="cannot connect"):
        await connector.connect(UPSTREAM, ClientOffer(), Inbox())
