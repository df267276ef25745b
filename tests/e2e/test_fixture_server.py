"""The official SDK client, in both eras, through ``mcpwall serve`` to the project's fixture
server over stdio (``fx``) and over Streamable HTTP (``fh``), under the seed's policy.

Every claim about what reached the upstream is read from the fixture's record file: the
fixture writes down each ``tools/call`` it receives, with its arguments exactly as received.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from tests.e2e.conftest import ALLOW_ALL, FIXTURE_UPSTREAMS, FixtureSetup, seed_policy
from tests.e2e.harness import (
    LEGACY,
    MODERN,
    MODES,
    Mode,
    agent,
    all_tool_names,
    decision_of,
    text_of,
    tool_names,
)
from tests.fixtures.servers import Record

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.anyio,
    # Sampling, logging and subscriptions are deprecated in 2026-07-28, and the SDK says so.
    pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning"),
]

TIMEOUT = 30.0  # no test waits longer than this for the gateway
HIDDEN = frozenset(seed_policy()["hide"])
PROD_DENIAL = "[POLICY DENIED] Namespace is outside the allowed non-production set."
NAMESPACE_RULE = "/tools/delete_pod/require/0/conditions/0"

TRANSPORTS = pytest.mark.parametrize("transport", list(FIXTURE_UPSTREAMS))
BOTH_MODES = pytest.mark.parametrize("mode", MODES)
# A legacy agent gets a legacy upstream session even from this dual-era fixture, so what only
# the legacy era has (server→client requests, logging levels, subscriptions, list_changed)
# reaches it; a 2026-07-28 agent gets none of those, by the protocol.
LEGACY_NEEDS_A_LEGACY_LEG = pytest.mark.parametrize("mode", [LEGACY, MODERN])


def new_tag() -> str:
    return uuid.uuid4().hex[:10]


def connect(
    setup: FixtureSetup, transport: str, mode: Mode, grant: str = "agent", **options: Any
) -> AbstractAsyncContextManager[Client]:
    """The SDK client on ``/mcp/fx`` or ``/mcp/fh`` with ``grant``'s token."""
    url = setup.gateway.url(FIXTURE_UPSTREAMS[transport])
    return agent(url, setup.tokens[grant], mode, **options)


def calls(record: Record, tool: str, tag: str) -> list[object]:
    """The arguments of every call of ``tool`` that reached the upstream mentioning ``tag``."""
    return [
        event["arguments"]
        for event in record.events()
        if event.get("event") == "call" and event.get("tool") == tool and tag in json.dumps(event)
    ]


def mentions(record: Record, tag: str) -> list[dict[str, Any]]:
    return [event for event in record.events() if tag in json.dumps(event)]


# -- tools/list and tools/call under the policy ------------------------------------------------


@TRANSPORTS
@BOTH_MODES
async def test_tools_list_drops_hidden_tools_and_keeps_the_upstream_order(
    fixture_gateway: FixtureSetup, transport: str, mode: Mode
) -> None:
    with anyio.fail_after(TIMEOUT):
        async with connect(fixture_gateway, transport, mode) as client:
            listing = await client.list_tools()
            listed = await all_tool_names(client)
    baseline = fixture_gateway.baseline
    assert HIDDEN & set(baseline) == {"get_secret", "delete_namespace"}  # they exist upstream
    assert HIDDEN.isdisjoint(listed)
    # Tools other tests add at run time come after these; the upstream's own keep its order.
    assert [name for name in listed if name in baseline] == [
        name for name in baseline if name not in HIDDEN
    ]
    if mode == MODERN:
        assert listing.cache_scope == "private"  # a per-grant list (2026-07-28 caching)


@TRANSPORTS
@BOTH_MODES
async def test_an_allowed_call_reaches_the_upstream_with_the_arguments_evaluated_and_a_denied_one_never_does(
    fixture_gateway: FixtureSetup, transport: str, mode: Mode
) -> None:
    tag = new_tag()
    pod = f"checkout-{tag}"
    tricky = f'{tag} ü 🚀 "quoted" \\ back\nslash \u2028 {2**60}'
    record = fixture_gateway.record(FIXTURE_UPSTREAMS[transport])
    with anyio.fail_after(TIMEOUT):
        async with connect(fixture_gateway, transport, mode) as client:
            denied = await client.call_tool(
                "delete_pod", {"name": pod, "namespace": "payments-prod"}
            )
            allowed = await client.call_tool("delete_pod", {"name": pod, "namespace": "staging"})
            echoed = await client.call_tool("echo", {"message": tricky})

    assert denied.is_error
    assert text_of(denied) == PROD_DENIAL
    assert decision_of(denied) == {"rule": NAMESPACE_RULE, "policy": "seed", "version": 1}
    assert not allowed.is_error
    assert text_of(allowed) == f"deleted pod {pod} in namespace staging"
    assert text_of(echoed) == tricky
    # The upstream saw the allowed call, exactly as evaluated, and never the denied one.
    assert calls(record, "delete_pod", tag) == [{"name": pod, "namespace": "staging"}]
    assert calls(record, "echo", tag) == [{"message": tricky}]


@TRANSPORTS
@BOTH_MODES
async def test_hidden_tools_and_names_that_differ_only_by_case_or_spaces_are_unknown_tools(
    fixture_gateway: FixtureSetup, transport: str, mode: Mode
) -> None:
    tag = new_tag()
    names = ["get_secret", "delete_namespace", "Get_Secret", "DELETE_NAMESPACE", " get_secret"]
    names += ["get_secret ", "get_secret\t", "Echo", "no_such_tool"]
    record = fixture_gateway.record(FIXTURE_UPSTREAMS[transport])
    refused: list[tuple[int, str]] = []
    with anyio.fail_after(TIMEOUT):
        async with connect(fixture_gateway, transport, mode) as client:
            for name in names:
                with pytest.raises(MCPError) as caught:
                    await client.call_tool(name, {"name": tag, "namespace": "staging"})
                refused.append((caught.value.code, caught.value.message))
            await client.call_tool("echo", {"message": tag})  # one that does reach it, after

    assert refused == [(-32602, f"Unknown tool: {name}") for name in names]
    assert [event.get("tool") for event in mentions(record, tag)] == ["echo"]


@TRANSPORTS
@BOTH_MODES
async def test_shadow_mode_forwards_what_it_would_deny_and_the_upstream_sees_it(
    fixture_gateway: FixtureSetup, transport: str, mode: Mode
) -> None:
    pod = f"checkout-{new_tag()}"
    record = fixture_gateway.record(FIXTURE_UPSTREAMS[transport])
    with anyio.fail_after(TIMEOUT):
        async with connect(fixture_gateway, transport, mode, grant="shadow") as client:
            result = await client.call_tool(
                "delete_pod", {"name": pod, "namespace": "payments-prod"}
            )
    assert not result.is_error
    assert text_of(result) == f"deleted pod {pod} in namespace payments-prod"
    assert calls(record, "delete_pod", pod) == [{"name": pod, "namespace": "payments-prod"}]


# -- notifications and server→client requests --------------------------------------------------


@TRANSPORTS
@BOTH_MODES
async def test_progress_notifications_reach_the_agent(
    fixture_gateway: FixtureSetup, transport: str, mode: Mode
) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    with anyio.fail_after(TIMEOUT):
        async with connect(fixture_gateway, transport, mode) as client:
            result = await client.call_tool("progress", {"steps": 3}, progress_callback=on_progress)
    assert text_of(result) == "3 steps done"
    assert seen == [(float(n), 3.0, f"step {n} of 3") for n in (1, 2, 3)]


@TRANSPORTS
@LEGACY_NEEDS_A_LEGACY_LEG
async def test_log_notifications_reach_the_agent(
    fixture_gateway: FixtureSetup, transport: str, mode: Mode
) -> None:
    tag = new_tag()
    logged: list[tuple[str, str | None, object]] = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logged.append((params.level, params.logger, params.data))

    # A 2026-07-28 agent opts in per request (``_meta`` logLevel); the gateway passes it on.
    options: dict[str, Any] = {"logging_callback": on_log, "log_level": "info"}
    with anyio.fail_after(TIMEOUT):
        async with connect(fixture_gateway, transport, mode, **options) as client:
            await client.call_tool("log", {"message": tag, "level": "warning"})
    assert logged == [("warning", "fixture", tag)]


class Callbacks:
    """An agent's sampling and elicitation callbacks, remembering what they were asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    async def sampling(
        self, context: object, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        content = params.messages[0].content
        prompt = content.text if isinstance(content, types.TextContent) else "?"
        self.asked.append(("sampling", prompt))
        reply = types.TextContent(type="text", text=f"answer to {prompt}")
        return types.CreateMessageResult(role="assistant", content=reply, model="test-model")

    async def elicitation(
        self, context: object, params: types.ElicitRequestParams
    ) -> types.ElicitResult:
        self.asked.append(("elicitation", params.message))
        return types.ElicitResult(action="accept", content={"answer": f"yes to {params.message}"})

    def options(self) -> dict[str, Any]:
        return {"sampling_callback": self.sampling, "elicitation_callback": self.elicitation}


@TRANSPORTS
@pytest.mark.parametrize("mode", [LEGACY])
async def test_sampling_and_elicitation_requests_reach_a_legacy_agents_callbacks(
    fixture_gateway: FixtureSetup, transport: str, mode: Mode
) -> None:
    tag = new_tag()
    callbacks = Callbacks()
    with anyio.fail_after(TIMEOUT):
        async with connect(fixture_gateway, transport, mode, **callbacks.options()) as client:
            sampled = await client.call_tool("sample", {"prompt": tag})
            elicited = await client.call_tool("elicit", {"question": f"{tag}?"})
    assert text_of(sampled) == f"sampled: answer to {tag}"
    assert text_of(elicited) == f"elicited: yes to {tag}?"
    assert callbacks.asked == [("sampling", tag), ("elicitation", f"{tag}?")]


@TRANSPORTS
async def test_a_2026_agent_is_never_sent_sampling_or_elicitation_requests(
    fixture_gateway: FixtureSetup, transport: str
) -> None:
    # 2026-07-28 has no server→client requests (it has InputRequiredResult instead), so nothing
    # can ask a modern agent mid-call. This fixture, asked to sample or elicit on such a call,
    # fails it with a JSON-RPC error naming the request it could not send; the error comes back
    # to the agent, and the agent's callbacks are never invoked.
    tag = new_tag()
    callbacks = Callbacks()
    refused: list[str] = []
    with anyio.fail_after(TIMEOUT):
        async with connect(fixture_gateway, transport, MODERN, **callbacks.options()) as client:
            for tool, arguments in (("sample", {"prompt": tag}), ("elicit", {"question": tag})):
                with pytest.raises(MCPError) as caught:
                    await client.call_tool(tool, arguments)
                refused.append(caught.value.message)
    assert callbacks.asked == []
    assert "'sampling/createMessage'" in refused[0]
    assert "'elicitation/create'" in refused[1]
    record = fixture_gateway.record(FIXTURE_UPSTREAMS[transport])
    assert calls(record, "sample", tag) == [{"prompt": tag}]  # the calls themselves went through
    assert calls(record, "elicit", tag) == [{"question": tag}]


# -- resources and prompts ---------------------------------------------------------------------


@TRANSPORTS
@BOTH_MODES
async def test_resources_and_prompts_are_relayed(
    fixture_gateway: FixtureSetup, transport: str, mode: Mode
) -> None:
    tag = new_tag()
    with anyio.fail_after(TIMEOUT):
        async with connect(fixture_gateway, transport, mode) as client:
            resources = await client.list_resources()
            static = await client.read_resource("fixture://static")
            templates = await client.list_resource_templates()
            item = await client.read_resource(f"fixture://items/{tag}")
            prompts = await client.list_prompts()
            prompt = await client.get_prompt("greet", {"name": tag})
    assert [str(resource.uri) for resource in resources.resources] == ["fixture://static"]
    assert _texts(static) == ["static content"]
    assert [t.uri_template for t in templates.resource_templates] == ["fixture://items/{item}"]
    assert _texts(item) == [f"item {tag}"]
    assert [p.name for p in prompts.prompts] == ["greet"]
    message = prompt.messages[0].content
    assert isinstance(message, types.TextContent)
    assert message.text == f"Say hello to {tag}."


def _texts(result: types.ReadResourceResult) -> list[str]:
    return [c.text for c in result.contents if isinstance(c, types.TextResourceContents)]


@TRANSPORTS
@pytest.mark.parametrize("mode", [LEGACY])
async def test_a_legacy_agent_subscribes_to_a_resource_and_hears_of_its_updates(
    fixture_gateway: FixtureSetup, transport: str, mode: Mode
) -> None:
    updated = anyio.Event()

    async def on_message(message: object) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            updated.set()

    with anyio.fail_after(TIMEOUT):
        async with connect(fixture_gateway, transport, mode, message_handler=on_message) as client:
            await client.subscribe_resource("fixture://static")
            touched = await client.call_tool("touch", {"uri": "fixture://static"})
            with anyio.fail_after(3):
                await updated.wait()
            await client.unsubscribe_resource("fixture://static")
    assert text_of(touched) == "touched fixture://static"


@TRANSPORTS
async def test_a_2026_agent_cannot_subscribe_to_resources(
    fixture_gateway: FixtureSetup, transport: str
) -> None:
    # resources/subscribe was removed in 2026-07-28 (subscriptions/listen replaces it).
    with anyio.fail_after(TIMEOUT):
        async with connect(fixture_gateway, transport, MODERN) as client:
            with pytest.raises(MCPError) as caught:
                await client.subscribe_resource("fixture://static")
    assert caught.value.code == -32601


# -- the aggregate endpoint --------------------------------------------------------------------


@BOTH_MODES
async def test_the_aggregate_endpoint_namespaces_the_tools_of_every_bound_upstream(
    fixture_gateway: FixtureSetup, mode: Mode
) -> None:
    tag = new_tag()
    setup = fixture_gateway
    with anyio.fail_after(TIMEOUT):
        async with agent(setup.gateway.url(), setup.tokens["agent"], mode) as client:
            listed = await all_tool_names(client)
            via_fh = await client.call_tool("fh__echo", {"message": f"fh {tag}"})
            via_fx = await client.call_tool("fx__echo", {"message": f"fx {tag}"})
            denied = await client.call_tool(
                "fx__delete_pod", {"name": tag, "namespace": "payments-prod"}
            )
            unknown: list[str] = []
            for name in ("fx__get_secret", "get_secret", "fx__Get_Secret", "nowhere__echo"):
                with pytest.raises(MCPError) as caught:
                    await client.call_tool(name, {"name": tag})
                unknown.append(caught.value.message)

    visible = [name for name in setup.baseline if name not in HIDDEN]
    upstream_own = [name for name in listed if name.split("__", 1)[-1] in setup.baseline]
    assert upstream_own == [f"fh__{n}" for n in visible] + [f"fx__{n}" for n in visible]
    assert all(name.startswith(("fh__", "fx__")) for name in listed)
    assert (text_of(via_fh), text_of(via_fx)) == (f"fh {tag}", f"fx {tag}")
    assert text_of(denied) == PROD_DENIAL
    assert unknown == [
        f"Unknown tool: {n}"
        for n in ("fx__get_secret", "get_secret", "fx__Get_Secret", "nowhere__echo")
    ]
    # Each call reached its own upstream, under the upstream's own tool name; nothing else did.
    assert [e.get("arguments") for e in mentions(setup.record("fh"), tag)] == [
        {"message": f"fh {tag}"}
    ]
    assert [e.get("arguments") for e in mentions(setup.record("fx"), tag)] == [
        {"message": f"fx {tag}"}
    ]


# -- request ids -------------------------------------------------------------------------------

# Ids an agent may pick, and that must come back exactly: a string stays a string (even one
# that looks like a number), a number stays that number (even past 2**53).
AGENT_IDS: list[str | int] = ["call-ü-1", "7", 7, 0, -12, 2**53 + 1, "", "id with spaces"]
JSON_ONLY = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


@TRANSPORTS
@BOTH_MODES
async def test_request_ids_map_back_exactly(
    fixture_gateway: FixtureSetup, transport: str, mode: Mode
) -> None:
    setup = fixture_gateway
    url = setup.gateway.url(FIXTURE_UPSTREAMS[transport])
    auth = {"authorization": f"Bearer {setup.tokens['agent']}"}
    with anyio.fail_after(TIMEOUT):
        async with raw_session(url, auth, mode) as post:
            answers = [await post(request_id, "request_id", {}) for request_id in AGENT_IDS]

    assert [answer["id"] for answer in answers] == AGENT_IDS
    assert [type(answer["id"]) for answer in answers] == [type(i) for i in AGENT_IDS]
    # The upstream saw ids the gateway minted, not the agent's: they were mapped, both ways.
    seen_upstream = [json.loads(answer["result"]["content"][0]["text"]) for answer in answers]
    assert all(type(seen) is int for seen in seen_upstream)
    assert len(set(seen_upstream)) == len(AGENT_IDS)


Post = Any  # async (request_id, tool, arguments) -> the JSON-RPC response as a dict


@asynccontextmanager
async def raw_session(url: str, auth: dict[str, str], mode: Mode) -> AsyncIterator[Post]:
    """Plain JSON-RPC over HTTP, to choose request ids the SDK would not."""
    async with httpx2.AsyncClient(headers={**JSON_ONLY, **auth}, timeout=TIMEOUT) as http:
        headers: dict[str, str] = {}
        if mode == LEGACY:
            headers = await _initialize(http, url)
        envelope = {
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": {},
        }

        async def post(request_id: str | int, tool: str, arguments: dict[str, Any]) -> Any:
            params: dict[str, Any] = {"name": tool, "arguments": arguments}
            extra = dict(headers)
            if mode == MODERN:
                params["_meta"] = envelope
                extra.update(
                    {"mcp-protocol-version": MODERN, "mcp-method": "tools/call", "mcp-name": tool}
                )
            body = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}
            return _answer(await http.post(url, json=body, headers=extra))

        yield post
        if "mcp-session-id" in headers:
            await http.delete(url, headers=headers)


async def _initialize(http: httpx2.AsyncClient, url: str) -> dict[str, str]:
    hello = {
        "jsonrpc": "2.0", "id": "hello", "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
    }  # fmt: skip
    answer = await http.post(url, json=hello)
    assert answer.status_code == 200, answer.text
    headers = {
        "mcp-session-id": answer.headers["mcp-session-id"],
        "mcp-protocol-version": "2025-11-25",
    }
    done = await http.post(
        url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers
    )
    assert done.status_code == 202
    return headers


def _answer(response: httpx2.Response) -> Any:
    """The JSON-RPC response in a JSON body or in the last ``data:`` line of an SSE body."""
    assert response.status_code == 200, response.text
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        data = [line[5:] for line in response.text.splitlines() if line.startswith("data:")]
        return json.loads(data[-1])
    return response.json()


# -- a changing upstream, a changing store -----------------------------------------------------


@TRANSPORTS
@pytest.mark.parametrize("mode", [LEGACY])
async def test_an_upstream_tools_list_changed_reaches_a_legacy_agent(
    fixture_gateway: FixtureSetup, transport: str, mode: Mode
) -> None:
    """The upstream's own announcement reaches the agent; the tool it added was not there
    when the upstream was pinned, so (pinning ``enforce``, the default) it is withheld."""
    added = f"added_{new_tag()}"
    changed = anyio.Event()

    async def on_message(message: object) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            changed.set()

    with anyio.fail_after(TIMEOUT):
        async with connect(fixture_gateway, transport, mode, message_handler=on_message) as client:
            before = tool_names((await client.list_tools()).tools)
            await client.call_tool("add_tool", {"name": added})
            with anyio.fail_after(2):
                await changed.wait()
            listed = tool_names((await client.list_tools()).tools)
            with pytest.raises(MCPError) as caught:
                await client.call_tool(added, {})
    assert listed == before
    assert caught.value.message == f"Unknown tool: {added}"


async def test_a_revoked_grant_is_refused_from_its_next_request_without_a_restart(
    fixture_gateway: FixtureSetup,
) -> None:
    gateway = fixture_gateway.gateway
    tag = new_tag()
    token = fixture_gateway.tokens["revocable"]
    process = gateway.process
    with anyio.fail_after(TIMEOUT):
        async with AsyncExitStack() as stack:
            clients = [
                await stack.enter_async_context(agent(gateway.url("fh"), token, mode))
                for mode in MODES
            ]
            before = [
                await client.call_tool("echo", {"message": f"before {tag}"}) for client in clients
            ]
            gateway.revoke("revocable")
            for client in clients:
                with pytest.raises(MCPError):  # the SDK's way of saying it got a 401
                    await client.call_tool("echo", {"message": f"after {tag}"})
        # What an agent gets on the wire: 401 with a Bearer challenge, nothing forwarded.
        async with httpx2.AsyncClient(headers=JSON_ONLY, timeout=TIMEOUT) as http:
            ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
            probe = await http.post(
                gateway.url("fh"), json=ping, headers={"authorization": f"Bearer {token}"}
            )
    assert [text_of(result) for result in before] == [f"before {tag}"] * 2
    assert probe.status_code == 401
    assert probe.headers["www-authenticate"].startswith("Bearer")
    reached = [event["arguments"] for event in mentions(fixture_gateway.record("fh"), tag)]
    assert reached == [{"message": f"before {tag}"}] * 2
    assert gateway.process is process
    assert process is not None
    assert process.poll() is None  # no restart


async def test_a_new_policy_version_decides_the_next_call_without_a_restart(
    fixture_gateway: FixtureSetup,
) -> None:
    gateway = fixture_gateway.gateway
    tag = new_tag()
    token = fixture_gateway.tokens["changing"]
    echo_off = {"deny_if": [{"conditions": [], "on_deny": "Echo is switched off."}]}
    announced = anyio.Event()  # a legacy session hears that its tool list changed

    async def on_message(message: object) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            announced.set()

    url = gateway.url("fh")
    with anyio.fail_after(TIMEOUT):
        async with AsyncExitStack() as stack:
            legacy = await stack.enter_async_context(
                agent(url, token, LEGACY, message_handler=on_message)
            )
            modern = await stack.enter_async_context(agent(url, token, MODERN))
            clients = [legacy, modern]
            first = [
                await client.call_tool("echo", {"message": f"first {tag}"}) for client in clients
            ]
            gateway.set_policy(
                "changing", {**ALLOW_ALL, "hide": ["env"], "tools": {"echo": echo_off}}
            )
            second = [
                await client.call_tool("echo", {"message": f"second {tag}"}) for client in clients
            ]
            with anyio.fail_after(10):
                await announced.wait()
            listed = [await all_tool_names(client) for client in clients]
    assert [text_of(result) for result in first] == [f"first {tag}"] * 2
    assert [text_of(result) for result in second] == ["[POLICY DENIED] Echo is switched off."] * 2
    assert [decision_of(result) for result in second] == [
        {"rule": "/tools/echo/deny_if/0", "policy": "changing", "version": 2}
    ] * 2
    assert ["env" in names for names in listed] == [False, False]
    reached = [event["arguments"] for event in mentions(fixture_gateway.record("fh"), tag)]
    assert reached == [{"message": f"first {tag}"}] * 2


# -- cancellation, timeouts, crashes -----------------------------------------------------------


def slow_cancelled(tag: str) -> Any:
    return lambda event: event == {"event": "slow cancelled", "tag": tag}


@TRANSPORTS
@BOTH_MODES
async def test_a_call_the_agent_gives_up_on_is_cancelled_upstream(
    fixture_gateway: FixtureSetup, transport: str, mode: Mode
) -> None:
    # Legacy: the SDK sends notifications/cancelled; 2026-07-28: it closes the request's stream.
    tag = new_tag()
    record = fixture_gateway.record(FIXTURE_UPSTREAMS[transport])
    with anyio.fail_after(TIMEOUT):
        async with connect(fixture_gateway, transport, mode) as client:
            with pytest.raises(MCPError):
                await client.call_tool("slow", {"seconds": 60, "tag": tag}, read_timeout_seconds=1)
            await record.wait_for(slow_cancelled(tag))
            after = await client.call_tool("echo", {"message": tag})  # the session goes on
    assert text_of(after) == tag


@TRANSPORTS
async def test_a_call_over_the_upstream_timeout_is_cancelled_upstream(
    fixture_gateway: FixtureSetup, transport: str
) -> None:
    tag = new_tag()
    record = fixture_gateway.record(FIXTURE_UPSTREAMS[transport])
    with anyio.fail_after(TIMEOUT):
        # Bounded by TIMEOUT (30 s), under the tool's 60 s: the gateway's timeout ended it.
        async with connect(fixture_gateway, transport, MODERN) as client:
            with pytest.raises(MCPError) as caught:
                await client.call_tool("slow", {"seconds": 60, "tag": tag})
            await record.wait_for(slow_cancelled(tag))
    assert caught.value.code == -32603
    assert FIXTURE_UPSTREAMS[transport] in caught.value.message


@BOTH_MODES
async def test_a_crashed_stdio_upstream_is_restarted_on_the_next_request(
    fixture_gateway: FixtureSetup, mode: Mode
) -> None:
    tag = new_tag()
    with anyio.fail_after(TIMEOUT):
        async with connect(fixture_gateway, "stdio", mode) as client:
            with pytest.raises(MCPError) as crashed:
                await client.call_tool("crash", {"code": 3})
            after = await client.call_tool("echo", {"message": tag})
    assert crashed.value.code == -32603
    assert "exited with code 3" in crashed.value.message
    assert text_of(after) == tag
    assert calls(fixture_gateway.record("fx"), "echo", tag) == [{"message": tag}]
