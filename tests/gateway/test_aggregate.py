"""Prompts, resources, completion and logging levels on the aggregate ``/mcp`` endpoint,
in process.

Three fake upstreams are bound to one grant, in the endpoint's order: ``alpha`` (prompts,
resources and templates, listed one entry a page), ``beta`` (resources with subscriptions,
logging) and ``gamma`` (tools and logging). ``alpha`` and ``beta`` both list
``shared://readme``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest

from mcpwall.adapters.downstream.http import DownstreamApp
from mcpwall.control import ControlPlane
from mcpwall.core.errors import UpstreamUnavailable
from mcpwall.core.registry import Upstream
from mcpwall.gateway.http import HttpGateway
from mcpwall.ports.clock import FakeClock
from mcpwall.ports.logsink import MemorySink
from mcpwall.ports.memory_store import MemoryStore
from mcpwall.ports.upstream import ClientOffer, Message, Negotiated, Receiver
from tests.gateway.conftest import RecordingSession, asgi_client, wire_gateway
from tests.gateway.test_http import bearer, initialize, legacy, modern_body, modern_headers
from tests.gateway.test_listening import listen_exchange, next_message

pytestmark = pytest.mark.anyio

UPDATED = "notifications/resources/updated"
NAMES = ("alpha", "beta", "gamma")
LISTS = {
    "prompts/list": ("prompts", "name"),
    "resources/list": ("resources", "uri"),
    "resources/templates/list": ("resourceTemplates", "uriTemplate"),
}


@dataclass
class CatalogSession(RecordingSession):
    """An upstream with ``catalog`` (list method → the names or URIs it lists, in pages of
    ``page_size``); it answers reads, prompts and completions naming itself, and answers
    ``errors[method]`` instead when there is one."""

    name: str
    capabilities: dict[str, object]
    catalog: dict[str, list[str]]
    page_size: int = 100
    errors: dict[str, dict[str, object]] = field(default_factory=dict)
    calls: list[Message] = field(default_factory=list)
    on_unsolicited: Receiver | None = None
    closed: bool = False

    @property
    def negotiated(self) -> Negotiated:
        return Negotiated("2025-11-25", "legacy", self.capabilities, {"name": self.name})

    async def request(
        self,
        method: str,
        params: Mapping[str, object] | None,
        *,
        related: Receiver | None = None,
        timeout: float,
    ) -> Message:
        self.calls.append({"method": method, "params": params})
        if method in self.errors:
            return {"error": self.errors[method]}
        if method == "tools/list":
            return {"result": {"tools": []}}
        if method in LISTS:
            return {"result": self._page(method, params)}
        assert params is not None
        if method == "resources/read":
            uri = params["uri"]
            return {"result": {"contents": [{"uri": uri, "text": f"{self.name} read {uri}"}]}}
        if method == "prompts/get":
            text = f"{self.name} prompt {params['name']}"
            message = {"role": "user", "content": {"type": "text", "text": text}}
            return {"result": {"messages": [message]}}
        if method == "completion/complete":
            return {"result": {"completion": {"values": [self.name]}}}
        if method == "resources/subscribe" and related is not None:
            # An update sent while the subscription is in flight travels with it.
            updated = {"uri": params["uri"]}
            await related({"jsonrpc": "2.0", "method": UPDATED, "params": updated})
        return {"result": {}}

    def _page(self, method: str, params: Mapping[str, object] | None) -> dict[str, object]:
        key, member = LISTS[method]
        start = int(str((params or {}).get("cursor", "0")))
        entries = self.catalog.get(method, [])
        page: dict[str, object] = {
            key: [
                {member: value, "title": value} for value in entries[start : start + self.page_size]
            ]
        }
        if start + self.page_size < len(entries):
            page["nextCursor"] = str(start + self.page_size)
        return page


def _upstreams() -> dict[str, CatalogSession]:
    return {
        "alpha": CatalogSession(
            "alpha",
            {"prompts": {"listChanged": True}, "resources": {}, "completions": {}},
            {
                "prompts/list": ["greet", "review__twice"],
                "resources/list": ["alpha://one", "shared://readme"],
                "resources/templates/list": ["alpha://items/{item}"],
            },
            page_size=1,
        ),
        "beta": CatalogSession(
            "beta",
            {"resources": {"subscribe": True, "listChanged": True}, "logging": {}},
            {"resources/list": ["shared://readme", "beta://only"]},
            errors={"resources/templates/list": {"code": -32601, "message": "Method not found"}},
        ),
        "gamma": CatalogSession("gamma", {"tools": {}, "logging": {}}, {}),
    }


@dataclass
class CatalogConnector:
    upstreams: dict[str, CatalogSession]
    down: set[str] = field(default_factory=set)

    async def connect(
        self, upstream: Upstream, offer: ClientOffer, on_unsolicited: Receiver
    ) -> CatalogSession:
        if upstream.name in self.down:
            raise UpstreamUnavailable(upstream.name, "connection refused")
        session = self.upstreams[upstream.name]
        session.on_unsolicited = on_unsolicited
        return session

    def calls(self, upstream: str, method: str) -> list[Any]:
        return [c["params"] for c in self.upstreams[upstream].calls if c.get("method") == method]


@dataclass
class Catalog:
    connector: CatalogConnector
    sink: MemorySink
    gateway: HttpGateway
    app: DownstreamApp
    token: str
    narrow: str  # a grant bound to alpha alone

    def client(self) -> httpx.AsyncClient:
        return asgi_client(self.app)


@pytest.fixture
async def catalog() -> AsyncIterator[Catalog]:
    clock = FakeClock()
    store = MemoryStore(clock)
    plane = ControlPlane(store, clock)
    for name in ("alpha", "beta", "gamma"):
        store.add_upstream(Upstream.stdio(name, f"{name}-mcp"), actor="t")
    plane.set_policy("open", '{"version": "1", "default": "allow"}', actor="t")
    bindings = {"alpha": "open", "beta": "open", "gamma": "open"}
    token = plane.issue_grant("agent", bindings, actor="t").token
    narrow = plane.issue_grant("narrow", {"alpha": "open"}, actor="t").token
    connector = CatalogConnector(_upstreams())
    sink = MemorySink()
    gateway = wire_gateway(store, clock, connector, sink)
    yield Catalog(connector, sink, gateway, DownstreamApp(gateway), token, narrow)
    await gateway.pool.aclose()


class Agent:
    """A legacy session on ``/mcp``."""

    def __init__(self, client: httpx.AsyncClient, token: str, session: str) -> None:
        self.client, self.token, self.session = client, token, session

    async def ask(self, method: str, params: dict[str, object] | None = None) -> Any:
        return await legacy(self.client, "/mcp", self.token, self.session, method, params)

    async def walk(self, method: str) -> tuple[list[dict[str, Any]], list[str]]:
        """Every entry of a list, all pages; and the cursors it was handed."""
        key = LISTS[method][0]
        entries: list[dict[str, Any]] = []
        cursors: list[str] = []
        params: dict[str, object] = {}
        for _ in range(10):
            answer = await self.ask(method, params)
            entries += answer["result"][key]
            cursor = answer["result"].get("nextCursor")
            if cursor is None:
                return entries, cursors
            cursors.append(cursor)
            params = {"cursor": cursor}
        raise AssertionError(f"{method} still had pages after 10")


async def _agent(client: httpx.AsyncClient, token: str) -> Agent:
    return Agent(client, token, await initialize(client, "/mcp", token))


# -- capabilities ---------------------------------------------------------------------------------


async def test_the_aggregate_advertises_prompts_and_resources_when_an_upstream_has_them(
    catalog: Catalog,
) -> None:
    body = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t"}}}  # fmt: skip
    async with catalog.client() as client:
        answer = await client.post("/mcp", json=body, headers=bearer(catalog.token))
        discovered = await client.post(
            "/mcp",
            json=modern_body("server/discover"),
            headers=modern_headers(catalog.token, "server/discover"),
        )
    capabilities = answer.json()["result"]["capabilities"]
    assert capabilities["prompts"] == {"listChanged": True}
    assert capabilities["resources"] == {"subscribe": True, "listChanged": True}
    assert capabilities["completions"] == {}
    # 2026-07-28: the features too (their notifications are subscriptions/listen's business).
    modern = discovered.json()["result"]["capabilities"]
    assert isinstance(modern["prompts"], dict)
    # Updates are told on listen streams, by the mcpwall:// URIs that name their upstream.
    assert modern["resources"] == {"subscribe": True, "listChanged": True}


# -- lists ----------------------------------------------------------------------------------------


async def test_prompts_list_walks_every_upstream_offering_prompts_with_sealed_cursors(
    catalog: Catalog,
) -> None:
    async with catalog.client() as client:
        agent = await _agent(client, catalog.token)
        prompts, cursors = await agent.walk("prompts/list")
    assert [p["name"] for p in prompts] == ["alpha__greet", "alpha__review__twice"]
    assert [p["title"] for p in prompts] == ["greet", "review__twice"]
    assert len(cursors) == 1
    assert cursors[0] != "1"  # ours, not alpha's
    assert catalog.connector.calls("alpha", "prompts/list") == [None, {"cursor": "1"}]
    # beta and gamma offer no prompts: never asked.
    assert catalog.connector.calls("beta", "prompts/list") == []
    assert catalog.connector.calls("gamma", "prompts/list") == []


async def test_resources_of_every_upstream_get_distinct_gateway_uris_even_when_they_collide(
    catalog: Catalog,
) -> None:
    async with catalog.client() as client:
        agent = await _agent(client, catalog.token)
        resources, _ = await agent.walk("resources/list")
        templates, _ = await agent.walk("resources/templates/list")
        reads = [await agent.ask("resources/read", {"uri": r["uri"]}) for r in resources]
    assert [r["uri"] for r in resources] == [
        "mcpwall://alpha/alpha://one",
        "mcpwall://alpha/shared://readme",
        "mcpwall://beta/shared://readme",
        "mcpwall://beta/beta://only",
    ]
    # beta answers "method not found" for templates: it has none, and the list goes on.
    assert [t["uriTemplate"] for t in templates] == ["mcpwall://alpha/alpha://items/{item}"]
    assert [read["result"]["contents"][0] for read in reads] == [
        {"uri": "mcpwall://alpha/alpha://one", "text": "alpha read alpha://one"},
        {"uri": "mcpwall://alpha/shared://readme", "text": "alpha read shared://readme"},
        {"uri": "mcpwall://beta/shared://readme", "text": "beta read shared://readme"},
        {"uri": "mcpwall://beta/beta://only", "text": "beta read beta://only"},
    ]


async def test_a_cursor_serves_only_the_list_and_grant_it_was_made_for(catalog: Catalog) -> None:
    async with catalog.client() as client:
        agent = await _agent(client, catalog.token)
        narrow = await _agent(client, catalog.narrow)
        first = await agent.ask("resources/list")
        cursor = first["result"]["nextCursor"]
        other_list = await agent.ask("prompts/list", {"cursor": cursor})
        other_grant = await narrow.ask("resources/list", {"cursor": cursor})
        forged = await agent.ask("resources/list", {"cursor": cursor[:-2] + "AA"})
    assert [a["error"]["code"] for a in (other_list, other_grant, forged)] == [-32602] * 3


async def test_an_endpoint_without_prompts_answers_an_empty_list(catalog: Catalog) -> None:
    catalog.connector.upstreams["alpha"].capabilities = {"tools": {}}
    async with catalog.client() as client:
        agent = await _agent(client, catalog.narrow)
        answer = await agent.ask("prompts/list")
    assert answer["result"] == {"prompts": []}


async def test_an_upstream_that_fails_its_list_fails_that_request_naming_it(
    catalog: Catalog,
) -> None:
    catalog.connector.upstreams["beta"].errors["resources/list"] = {
        "code": -32603,
        "message": "disk on fire",
    }
    async with catalog.client() as client:
        agent = await _agent(client, catalog.token)
        first = await agent.ask("resources/list")
        second = await agent.ask("resources/list", {"cursor": first["result"]["nextCursor"]})
        third = await agent.ask("resources/list", {"cursor": second["result"]["nextCursor"]})
    assert first["result"]["resources"][0]["uri"] == "mcpwall://alpha/alpha://one"
    assert third["error"] == {"code": -32603, "message": 'upstream "beta": disk on fire'}


async def test_an_upstream_that_is_down_fails_its_page_not_the_pages_before_it(
    catalog: Catalog,
) -> None:
    catalog.connector.down.add("beta")
    async with catalog.client() as client:
        agent = await _agent(client, catalog.token)  # initialize serves without beta
        first = await agent.ask("resources/list")
        second = await agent.ask("resources/list", {"cursor": first["result"]["nextCursor"]})
        third = await agent.ask("resources/list", {"cursor": second["result"]["nextCursor"]})
    assert [first["result"]["resources"][0]["uri"], second["result"]["resources"][0]["uri"]] == [
        "mcpwall://alpha/alpha://one",
        "mcpwall://alpha/shared://readme",
    ]
    assert third["error"]["code"] == -32603
    assert 'upstream "beta"' in third["error"]["message"]
    rows = [r for r in catalog.sink.records if r.method == "resources/list"]
    assert [(r.upstream, r.outcome) for r in rows] == [
        ("alpha", "ok"),
        ("alpha", "ok"),
        ("beta", "unreachable"),
    ]


# -- requests naming a prompt or a resource -------------------------------------------------------


async def test_prompts_get_goes_to_the_upstream_its_name_says_under_its_own_name(
    catalog: Catalog,
) -> None:
    async with catalog.client() as client:
        agent = await _agent(client, catalog.token)
        got = await agent.ask("prompts/get", {"name": "alpha__review__twice", "arguments": {}})
        unknown = [
            await agent.ask("prompts/get", {"name": name})
            for name in ("greet", "nowhere__greet", "alpha_greet")
        ]
    assert got["result"]["messages"][0]["content"]["text"] == "alpha prompt review__twice"
    assert catalog.connector.calls("alpha", "prompts/get") == [
        {"name": "review__twice", "arguments": {}}
    ]
    assert [a["error"] for a in unknown] == [
        {"code": -32602, "message": f"Unknown prompt: {name}"}
        for name in ("greet", "nowhere__greet", "alpha_greet")
    ]


async def test_a_grant_reaches_only_its_own_upstreams_prompts_and_resources(
    catalog: Catalog,
) -> None:
    async with catalog.client() as client:
        narrow = await _agent(client, catalog.narrow)
        prompt = await narrow.ask("prompts/get", {"name": "beta__greet"})
        read = await narrow.ask("resources/read", {"uri": "mcpwall://beta/beta://only"})
    assert prompt["error"]["message"] == "Unknown prompt: beta__greet"
    assert read["error"]["message"] == "Unknown resource: mcpwall://beta/beta://only"
    assert catalog.connector.upstreams["beta"].calls == []


async def test_a_template_expansion_is_read_from_its_upstream(catalog: Catalog) -> None:
    async with catalog.client() as client:
        agent = await _agent(client, catalog.token)
        read = await agent.ask("resources/read", {"uri": "mcpwall://alpha/alpha://items/x%20y"})
    assert catalog.connector.calls("alpha", "resources/read") == [{"uri": "alpha://items/x%20y"}]
    assert read["result"]["contents"][0]["uri"] == "mcpwall://alpha/alpha://items/x%20y"


async def test_a_raw_uri_is_read_from_the_one_upstream_listing_it_and_never_guessed(
    catalog: Catalog,
) -> None:
    # As a resource link in a tool result would name it: the upstream's own URI.
    async with catalog.client() as client:
        agent = await _agent(client, catalog.token)
        only = await agent.ask("resources/read", {"uri": "beta://only"})
        shared = await agent.ask("resources/read", {"uri": "shared://readme"})
        missing = await agent.ask("resources/read", {"uri": "nowhere://x"})
        narrow = await _agent(client, catalog.narrow)
        single = await narrow.ask("resources/read", {"uri": "unlisted://x"})
    # Answered with the upstream's own URI, as asked.
    assert only["result"]["contents"][0] == {"uri": "beta://only", "text": "beta read beta://only"}
    assert shared["error"]["code"] == -32602
    assert "upstreams alpha, beta all list it" in shared["error"]["message"]
    assert "no upstream bound to this grant lists it" in missing["error"]["message"]
    # Alone with resources, alpha is the only upstream a raw URI can be meant for.
    assert single["result"]["contents"][0]["text"] == "alpha read unlisted://x"
    assert catalog.connector.calls("beta", "resources/read") == [{"uri": "beta://only"}]


async def test_completion_goes_to_the_upstream_of_the_prompt_or_template(
    catalog: Catalog,
) -> None:
    argument = {"name": "item", "value": "x"}
    async with catalog.client() as client:
        agent = await _agent(client, catalog.token)
        prompt = await agent.ask(
            "completion/complete",
            {"ref": {"type": "ref/prompt", "name": "alpha__greet"}, "argument": argument},
        )
        template = await agent.ask(
            "completion/complete",
            {"ref": {"type": "ref/resource", "uri": "alpha://items/{item}"}, "argument": argument},
        )
    assert prompt["result"]["completion"]["values"] == ["alpha"]
    assert template["result"]["completion"]["values"] == ["alpha"]
    assert [call["ref"] for call in catalog.connector.calls("alpha", "completion/complete")] == [
        {"type": "ref/prompt", "name": "greet"},
        {"type": "ref/resource", "uri": "alpha://items/{item}"},
    ]


async def test_subscriptions_are_routed_and_updates_name_the_uri_the_agent_subscribed_to(
    catalog: Catalog,
) -> None:
    uri = "mcpwall://beta/shared://readme"
    async with catalog.client() as client:
        agent = await _agent(client, catalog.token)
        subscribed = await agent.ask("resources/subscribe", {"uri": uri})
        raw = await agent.ask("resources/subscribe", {"uri": "shared://readme"})
        [session] = catalog.gateway.sessions.all()
        session.streaming = True  # as if its GET stream were open
        beta = catalog.connector.upstreams["beta"]
        assert beta.on_unsolicited is not None
        await beta.on_unsolicited(
            {"jsonrpc": "2.0", "method": UPDATED, "params": {"uri": "shared://readme"}}
        )
        await beta.on_unsolicited(
            {"jsonrpc": "2.0", "method": "notifications/resources/list_changed"}
        )
        unsubscribed = await agent.ask("resources/unsubscribe", {"uri": uri})
    update = {"jsonrpc": "2.0", "method": UPDATED, "params": {"uri": uri}}
    # The update that came with the subscription, on its stream, then its answer.
    assert subscribed == [update, {"jsonrpc": "2.0", "id": 1, "result": {}}]
    assert unsubscribed["result"] == {}
    assert raw["error"]["code"] == -32602
    assert catalog.connector.calls("beta", "resources/subscribe") == [{"uri": "shared://readme"}]
    pushed = [orjson.loads(session.outbox.get_nowait()) for _ in range(session.outbox.qsize())]
    assert pushed == [update, {"jsonrpc": "2.0", "method": "notifications/resources/list_changed"}]


async def test_other_methods_are_still_refused_on_the_aggregate(catalog: Catalog) -> None:
    async with catalog.client() as client:
        agent = await _agent(client, catalog.token)
        answer = await agent.ask("experimental/thing", {"level": "info"})
    assert answer["error"]["code"] == -32601
    assert "served on /mcp/UPSTREAM" in answer["error"]["message"]


# -- logging levels and the agent's notifications ------------------------------------------------


async def test_set_level_goes_to_every_upstream_offering_logging_as_one_row(
    catalog: Catalog,
) -> None:
    async with catalog.client() as client:
        agent = await _agent(client, catalog.token)
        answer = await agent.ask("logging/setLevel", {"level": "warning"})
    assert answer["result"] == {}
    assert catalog.connector.calls("alpha", "logging/setLevel") == []  # it offers no logging
    assert catalog.connector.calls("beta", "logging/setLevel") == [{"level": "warning"}]
    assert catalog.connector.calls("gamma", "logging/setLevel") == [{"level": "warning"}]
    rows = [
        (r.method, r.upstream, r.outcome) for r in catalog.sink.records if r.method != "initialize"
    ]
    assert rows == [("logging/setLevel", "", "ok")]


async def test_set_level_answers_the_first_refusal_naming_its_upstream(catalog: Catalog) -> None:
    refusal = {"code": -32602, "message": "no such level"}
    catalog.connector.upstreams["beta"].errors["logging/setLevel"] = refusal
    async with catalog.client() as client:
        agent = await _agent(client, catalog.token)
        answer = await agent.ask("logging/setLevel", {"level": "loud"})
    assert answer["error"] == {"code": -32602, "message": 'upstream "beta": no such level'}
    # The others were asked all the same.
    assert catalog.connector.calls("gamma", "logging/setLevel") == [{"level": "loud"}]
    rows = [
        (r.method, r.upstream, r.outcome) for r in catalog.sink.records if r.method != "initialize"
    ]
    assert rows == [("logging/setLevel", "beta", "protocol_error")]


@pytest.mark.parametrize(
    ("grant", "params", "code"),
    [("narrow", {"level": "info"}, -32601), ("token", {"level": 3}, -32602), ("token", {}, -32602)],
)
async def test_set_level_is_refused_when_nothing_could_take_it(
    catalog: Catalog, grant: str, params: dict[str, object], code: int
) -> None:
    async with catalog.client() as client:
        agent = await _agent(client, getattr(catalog, grant))
        answer = await agent.ask("logging/setLevel", params)
    assert answer["error"]["code"] == code
    assert all(catalog.connector.calls(name, "logging/setLevel") == [] for name in NAMES)
    rows = [
        (r.method, r.upstream, r.outcome) for r in catalog.sink.records if r.method != "initialize"
    ]
    assert rows == [("logging/setLevel", "", "not_forwarded")]


async def test_the_agents_notifications_go_to_every_upstream_its_session_has_open(
    catalog: Catalog,
) -> None:
    catalog.connector.down.add("gamma")  # so its session never opens
    async with catalog.client() as client:
        session = await initialize(client, "/mcp", catalog.token, {"roots": {"listChanged": True}})
        body = {"jsonrpc": "2.0", "method": "notifications/roots/list_changed"}
        headers = bearer(catalog.token) | {
            "mcp-session-id": session, "mcp-protocol-version": "2025-11-25"
        }  # fmt: skip
        response = await client.post("/mcp", json=body, headers=headers)
    assert response.status_code == 202
    told = {
        name: [c["notify"] for c in upstream.calls if "notify" in c]
        for name, upstream in catalog.connector.upstreams.items()
    }
    assert told == {
        "alpha": ["notifications/roots/list_changed"],
        "beta": ["notifications/roots/list_changed"],
        "gamma": [],
    }


# -- 2026-07-28 listen streams --------------------------------------------------------------------


async def test_a_listen_subscribes_each_gateway_uri_on_its_upstream_and_tells_it_back(
    catalog: Catalog,
) -> None:
    subscribed = "mcpwall://beta/shared://readme"
    asked = {
        "resourcesListChanged": True,
        "resourceSubscriptions": [
            subscribed,
            "mcpwall://alpha/alpha://one",  # alpha takes no subscriptions
            "shared://readme",  # a raw URI names no upstream
            "mcpwall://delta/delta://x",  # not bound to this grant
        ],
    }
    reply = await catalog.gateway.handle(listen_exchange(catalog.token, asked, upstream=None))
    assert reply.stream is not None
    ack = await next_message(reply.stream)
    # The subset honoured: only the URI an upstream of the grant can tell of.
    assert ack["params"]["notifications"] == {  # type: ignore[index]
        "resourcesListChanged": True,
        "resourceSubscriptions": [subscribed],
    }
    assert catalog.connector.calls("beta", "resources/subscribe") == [{"uri": "shared://readme"}]
    assert catalog.connector.calls("alpha", "resources/subscribe") == []
    for upstream, uri in [("alpha", "shared://readme"), ("beta", "beta://only"),
                          ("beta", "shared://readme")]:  # fmt: skip
        session = catalog.connector.upstreams[upstream]
        assert session.on_unsolicited is not None
        await session.on_unsolicited({"jsonrpc": "2.0", "method": UPDATED, "params": {"uri": uri}})
    update = await next_message(reply.stream)
    assert update["method"] == UPDATED
    assert update["params"] == {  # the URI the agent subscribed with, tagged
        "uri": subscribed,
        "_meta": {"io.modelcontextprotocol/subscriptionId": "listen-1"},
    }
    catalog.gateway.shutdown()
    assert "result" in await next_message(reply.stream)  # nothing else came between


async def test_a_listen_on_the_aggregate_is_one_proxy_log_row_without_its_filter(
    catalog: Catalog,
) -> None:
    asked = {"resourceSubscriptions": ["mcpwall://beta/secret-uri"]}
    reply = await catalog.gateway.handle(listen_exchange(catalog.token, asked, upstream=None))
    assert reply.stream is not None
    await reply.stream.aclose()  # type: ignore[attr-defined]
    rows = [
        (r.method, r.upstream, r.outcome, r.argument_keys)
        for r in catalog.sink.records
        if r.method != "initialize"
    ]
    assert rows == [("subscriptions/listen", "", "ok", ())]
    assert "secret-uri" not in repr(catalog.sink.records)


# -- 2026-07-28 and the proxy log -----------------------------------------------------------------


async def test_a_2026_agent_gets_private_uncached_lists_and_reads(catalog: Catalog) -> None:
    async with catalog.client() as client:
        listed = await client.post(
            "/mcp",
            json=modern_body("resources/list"),
            headers=modern_headers(catalog.token, "resources/list"),
        )
        uri = "mcpwall://beta/beta://only"
        read = await client.post(
            "/mcp",
            json=modern_body("resources/read", {"uri": uri}),
            headers=modern_headers(catalog.token, "resources/read", uri),
        )
        prompt = await client.post(
            "/mcp",
            json=modern_body("prompts/get", {"name": "alpha__greet"}),
            headers=modern_headers(catalog.token, "prompts/get", "alpha__greet"),
        )
    page, contents = listed.json()["result"], read.json()["result"]
    assert page["resources"][0]["uri"] == "mcpwall://alpha/alpha://one"
    assert (page["cacheScope"], page["ttlMs"], page["resultType"]) == ("private", 0, "complete")
    assert (contents["cacheScope"], contents["contents"][0]["uri"]) == ("private", uri)
    assert prompt.json()["result"]["messages"][0]["content"]["text"] == "alpha prompt greet"
    # The 2026 envelope stays at the gateway; the upstream gets its own URI.
    [sent] = catalog.connector.calls("beta", "resources/read")
    assert sent["uri"] == "beta://only"
    assert "io.modelcontextprotocol/protocolVersion" not in json.dumps(sent)


async def test_each_request_is_one_proxy_log_row_naming_its_upstream(catalog: Catalog) -> None:
    async with catalog.client() as client:
        agent = await _agent(client, catalog.token)
        await agent.ask("prompts/get", {"name": "alpha__greet", "arguments": {"k": "s3cr3t-value"}})
        await agent.ask("resources/read", {"uri": "mcpwall://beta/beta://only"})
        await agent.ask("prompts/get", {"name": "nowhere__greet"})
        await agent.ask("prompts/get", {"name": "greet"})
        await agent.ask("prompts/list")
    rows = [
        (r.method, r.upstream, r.outcome) for r in catalog.sink.records if r.method != "initialize"
    ]
    assert rows == [
        ("prompts/get", "alpha", "ok"),
        ("resources/read", "beta", "ok"),
        ("prompts/get", "", "not_forwarded"),
        ("prompts/get", "", "not_forwarded"),
        ("prompts/list", "alpha", "ok"),
    ]
    assert "s3cr3t-value" not in repr(catalog.sink.records)
