"""The upstream pool: sessions per owner, reopened when they die, listeners kept."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from mcpwall.core.registry import Upstream
from mcpwall.gateway.upstreams import UpstreamPool
from mcpwall.ports.fake_upstream import FakeConnector, Related, result
from mcpwall.ports.upstream import ClientOffer, Message

pytestmark = pytest.mark.anyio

LIST_CHANGED: Message = {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}


async def answer(method: str, params: Mapping[str, object] | None, related: Related) -> Message:
    return result({"tools": [{"name": "echo"}]} if method == "tools/list" else {})


async def lookup(name: str) -> Upstream:
    return Upstream.stdio(name, "server")


async def test_a_dead_session_is_reopened_and_its_listener_kept() -> None:
    connector = FakeConnector(answer)
    pool = UpstreamPool(lookup, connector, timeout=5.0)
    heard: list[Message] = []

    async def listener(message: Message) -> None:
        heard.append(message)

    first = await pool.session("session-1", "k8s", ClientOffer(), listener)
    await connector.sessions[0].push(LIST_CHANGED)
    connector.sessions[0].crash()
    second = await pool.session("session-1", "k8s", ClientOffer())  # no listener passed again
    assert second is not first
    assert len(connector.sessions) == 2
    await connector.sessions[1].push(LIST_CHANGED)
    assert heard == [LIST_CHANGED, LIST_CHANGED]
    await pool.close_owner("session-1")
    assert connector.sessions[1].closed


async def test_owners_get_sessions_of_their_own() -> None:
    connector = FakeConnector(answer)
    pool = UpstreamPool(lookup, connector, timeout=5.0)
    one = await pool.session("session-1", "k8s", ClientOffer())
    again = await pool.session("session-1", "k8s", ClientOffer())
    other = await pool.session("grant:grt_1", "k8s", ClientOffer())
    assert one is again
    assert other is not one
    assert (await pool.tool_index("session-1", "k8s", ClientOffer())).names == frozenset({"echo"})
    await pool.aclose()
