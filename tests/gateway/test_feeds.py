"""Upstream feeds: what the pool asks an upstream so that listen streams hear its changes.

A 2026-07-28 upstream gets one ``subscriptions/listen`` of its own per owner, for the union
of what the owner's streams want; a legacy upstream gets ``resources/subscribe`` for the
resources they want. The upstreams are the port's fakes, driven by a handler.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest

from mcpwall.core.mcp.subscriptions import Interest
from mcpwall.core.registry import Upstream
from mcpwall.gateway.upstreams import UpstreamPool
from mcpwall.ports.fake_upstream import LEGACY, FakeConnector, Related, error, result
from mcpwall.ports.upstream import ClientOffer, Message, Negotiated

pytestmark = pytest.mark.anyio

OWNER = "grant:grt_1"
WAIT = 5.0  # a bound on waiting for an event, never a pause
MODERN = Negotiated(
    "2026-07-28",
    "modern",
    {
        "tools": {"listChanged": True},
        "prompts": {"listChanged": True},
        "resources": {"subscribe": True},
    },
    {"name": "fake", "version": "1"},
)
TOOLS = Interest(tools=True)
PROMPTS = Interest(prompts=True)


@dataclass
class Upstream2026:
    """A 2026-07-28 upstream serving subscriptions/listen: it records each listen's filter,
    acknowledges it, and keeps it open until the gateway closes it (or :meth:`drop`)."""

    refuse: bool = False
    opened: list[object] = field(default_factory=list)
    closed: list[object] = field(default_factory=list)
    streams: list[Related] = field(default_factory=list)
    listening: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    _drop: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(
        self, method: str, params: Mapping[str, object] | None, related: Related
    ) -> Message:
        if method == "tools/list":
            return result({"tools": [{"name": "echo"}]})
        if method != "subscriptions/listen":
            return error(-32601, "Method not found")
        if self.refuse:
            return error(-32601, "Method not found")
        assert params is not None
        filter_ = params["notifications"]
        self.opened.append(filter_)
        self.streams.append(related)
        await related.notify("notifications/subscriptions/acknowledged", {"notifications": filter_})
        self.listening.set()
        try:
            await self._drop.wait()
            self._drop = asyncio.Event()
            return result({"resultType": "complete"})
        finally:
            self.closed.append(filter_)
            self.ended.set()

    def drop(self) -> None:
        """End the open listen from the upstream's side, as a restart would."""
        self._drop.set()


async def lookup(name: str) -> Upstream:
    return Upstream.stdio(name, "server")


def pool_of(connector: FakeConnector) -> UpstreamPool:
    return UpstreamPool(lookup, connector, timeout=WAIT)


async def nothing(message: Message) -> None:
    return None


async def test_a_modern_upstream_is_asked_to_listen_for_the_union_and_relisten_on_change() -> None:
    upstream = Upstream2026()
    pool = pool_of(FakeConnector(upstream, negotiated=MODERN))
    first = await pool.listen(OWNER, "k8s", ClientOffer(), nothing, TOOLS)
    await first.settled()
    assert upstream.opened == [{"toolsListChanged": True}]
    second = await pool.listen(OWNER, "k8s", ClientOffer(), nothing, PROMPTS)
    await second.settled()
    # The new listen is open before the old one is closed.
    assert upstream.opened[1] == {"toolsListChanged": True, "promptsListChanged": True}
    assert upstream.closed == [{"toolsListChanged": True}]
    await pool.aclose()


async def test_what_the_upstream_listen_carries_reaches_the_listeners() -> None:
    upstream = Upstream2026()
    pool = pool_of(FakeConnector(upstream, negotiated=MODERN))
    heard: list[Message] = []

    async def listener(message: Message) -> None:
        heard.append(message)

    lease = await pool.listen(OWNER, "k8s", ClientOffer(), listener, TOOLS)
    await lease.settled()
    await upstream.streams[0].notify("notifications/tools/list_changed", {"_meta": {"x": 1}})
    assert [message["method"] for message in heard] == ["notifications/tools/list_changed"]
    await pool.aclose()


async def test_the_upstream_listen_closes_when_the_last_listener_goes() -> None:
    upstream = Upstream2026()
    pool = pool_of(FakeConnector(upstream, negotiated=MODERN))
    one = await pool.listen(OWNER, "k8s", ClientOffer(), nothing, TOOLS)
    other = await pool.listen(OWNER, "k8s", ClientOffer(), nothing, TOOLS)
    await other.settled()
    one.release()
    assert upstream.closed == []  # the other still listens
    other.release()
    await asyncio.wait_for(upstream.ended.wait(), WAIT)
    assert upstream.closed == [{"toolsListChanged": True}]
    assert len(upstream.opened) == 1
    await pool.aclose()


async def test_a_dropped_upstream_listen_is_reopened_after_a_pause(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("mcpwall.gateway.feeds.BACKOFF", (0.01, 0.02))
    upstream = Upstream2026()
    pool = pool_of(FakeConnector(upstream, negotiated=MODERN))
    lease = await pool.listen(OWNER, "k8s", ClientOffer(), nothing, TOOLS)
    await lease.settled()
    upstream.listening.clear()
    upstream.drop()
    await asyncio.wait_for(upstream.listening.wait(), WAIT)
    assert upstream.opened == [{"toolsListChanged": True}, {"toolsListChanged": True}]
    await pool.aclose()


async def test_an_upstream_that_offers_nothing_asked_for_gets_no_listen() -> None:
    upstream = Upstream2026()
    bare = Negotiated("2026-07-28", "modern", {"tools": {}}, {"name": "fake", "version": "1"})
    pool = pool_of(FakeConnector(upstream, negotiated=bare))
    lease = await pool.listen(OWNER, "k8s", ClientOffer(), nothing, TOOLS)
    await lease.settled()
    assert upstream.opened == []
    await pool.aclose()


async def test_an_upstream_refusing_listen_settles_and_keeps_the_gateway_serving() -> None:
    upstream = Upstream2026(refuse=True)
    pool = pool_of(FakeConnector(upstream, negotiated=MODERN))
    lease = await pool.listen(OWNER, "k8s", ClientOffer(), nothing, TOOLS)
    await lease.settled()
    assert (await pool.tool_index(OWNER, "k8s", ClientOffer())).names == frozenset({"echo"})
    await pool.aclose()


async def test_resource_subscriptions_go_to_the_upstream_listen() -> None:
    upstream = Upstream2026()
    pool = pool_of(FakeConnector(upstream, negotiated=MODERN))
    lease = await pool.listen(
        OWNER, "k8s", ClientOffer(), nothing, Interest(uris=frozenset({"x://a"}))
    )
    await lease.settled()
    assert upstream.opened == [{"resourceSubscriptions": ["x://a"]}]
    await pool.aclose()


async def test_a_legacy_upstream_is_subscribed_to_wanted_resources_and_unsubscribed_after() -> None:
    asked: list[tuple[str, object]] = []

    async def legacy(method: str, params: Mapping[str, object] | None, related: Related) -> Message:
        asked.append((method, (params or {}).get("uri")))
        return result({})

    subscribing = Negotiated(
        "2025-11-25", "legacy", {"resources": {"subscribe": True}}, LEGACY.server_info
    )
    connector = FakeConnector(legacy, negotiated=subscribing)
    pool = pool_of(connector)
    one = await pool.listen(
        OWNER, "k8s", ClientOffer(), nothing, Interest(uris=frozenset({"x://a"}))
    )
    await one.settled()
    two = await pool.listen(
        OWNER, "k8s", ClientOffer(), nothing, Interest(uris=frozenset({"x://a", "x://b"}))
    )
    await two.settled()
    assert asked == [("resources/subscribe", "x://a"), ("resources/subscribe", "x://b")]
    two.release()
    await one.settled()
    assert asked[-1] == ("resources/unsubscribe", "x://b")
    await pool.aclose()
    assert asked[-1] == ("resources/unsubscribe", "x://a")
    assert not any(sent.method == "subscriptions/listen" for sent in connector.sessions[0].sent)
