"""The official SDK client, in both eras, through ``mcpwall serve`` to
``@modelcontextprotocol/server-everything`` 2026.8.31 from the npm registry, over stdio and over
Streamable HTTP.

server-everything is a legacy-only server (TypeScript SDK 1.x, 2025-11-25), like most real
servers: the gateway opens a legacy session with it whatever the agent's era. Its HTTP mode
calls ``listen(PORT)``, which binds every interface; here it runs with a preload that makes
it bind 127.0.0.1 only, and the test checks that it did before using it.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from tests.e2e.conftest import Node
from tests.e2e.harness import LEGACY, MODERN, MODES, Gateway, Mode, agent, all_tool_names, text_of
from tests.fixtures.npm import node_environment
from tests.fixtures.servers import LOOPBACK, free_port, listening_addresses, wait_listening

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.anyio,
    pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning"),
]

TIMEOUT = 30.0
UPSTREAMS = {"stdio": "everything", "http": "everything-http"}
TRANSPORTS = pytest.mark.parametrize("transport", list(UPSTREAMS))
BOTH_MODES = pytest.mark.parametrize("mode", MODES)
POLICY = {
    "version": "1",
    "default": "allow",
    "hide": ["get-env"],  # it dumps the server's environment
    "tools": {
        "echo": {
            "deny_if": [
                {
                    "conditions": [{"path": "args.message", "op": "contains", "value": "secret"}],
                    "on_deny": "No secrets in echoes.",
                }
            ]
        }
    },
}
# Registered by server-everything only for a client that declared the capability.
ASKING_TOOLS = ("trigger-sampling-request", "trigger-elicitation-request")


@dataclass(frozen=True)
class Everything:
    gateway: Gateway
    token: str


@pytest.fixture(scope="module")
def everything(
    server_everything: Node, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Everything]:
    home = tmp_path_factory.mktemp("everything")
    port = free_port()
    env = {**os.environ, **node_environment({"PORT": str(port)})}
    command = server_everything.command("streamableHttp")
    with subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    ) as http_server:
        try:
            wait_listening(port, http_server)
            assert listening_addresses(port) == {LOOPBACK}  # never offered to the network
            gateway = Gateway(home)
            tokens = gateway.apply(
                {
                    "upstreams": {
                        "everything": {"command": server_everything.command("stdio")},
                        "everything-http": {"url": f"http://{LOOPBACK}:{port}/mcp"},
                    },
                    "policies": {"everything-guard": POLICY},
                    "grants": [
                        {
                            "label": "agent",
                            "bind": dict.fromkeys(UPSTREAMS.values(), "everything-guard"),
                        }
                    ],
                }
            )
            gateway.start()
            try:
                yield Everything(gateway, tokens["agent"])
            finally:
                gateway.stop_cleanly()
        finally:
            http_server.terminate()
            http_server.wait(timeout=10)


class Callbacks:
    """Sampling and elicitation callbacks that remember what they were asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def sampling(
        self, context: object, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        content = params.messages[0].content
        self.asked.append(content.text if isinstance(content, types.TextContent) else "?")
        reply = types.TextContent(type="text", text="sampled by the agent")
        return types.CreateMessageResult(role="assistant", content=reply, model="test-model")

    async def elicitation(
        self, context: object, params: types.ElicitRequestParams
    ) -> types.ElicitResult:
        self.asked.append(params.message)
        return types.ElicitResult(action="accept", content={"name": "Ada", "integer": 7})

    def options(self) -> dict[str, Any]:
        return {"sampling_callback": self.sampling, "elicitation_callback": self.elicitation}


def connect(
    setup: Everything, transport: str, mode: Mode, **options: Any
) -> AbstractAsyncContextManager[Client]:
    return agent(setup.gateway.url(UPSTREAMS[transport]), setup.token, mode, **options)


@TRANSPORTS
@BOTH_MODES
async def test_the_policy_holds_in_front_of_server_everything(
    everything: Everything, transport: str, mode: Mode
) -> None:
    with anyio.fail_after(TIMEOUT):
        async with connect(everything, transport, mode, **Callbacks().options()) as client:
            listed = await all_tool_names(client)
            echoed = await client.call_tool("echo", {"message": "hello"})
            denied = await client.call_tool("echo", {"message": "my secret"})
            with pytest.raises(MCPError) as hidden:
                await client.call_tool("get-env", {})
    assert "echo" in listed
    assert "get-env" not in listed
    assert text_of(echoed) == "Echo: hello"
    assert denied.is_error
    assert text_of(denied) == "[POLICY DENIED] No secrets in echoes."
    assert (hidden.value.code, hidden.value.message) == (-32602, "Unknown tool: get-env")
    if mode == LEGACY:  # the gateway declared the agent's sampling and elicitation upstream
        assert [name for name in ASKING_TOOLS if name in listed] == list(ASKING_TOOLS)


@TRANSPORTS
@BOTH_MODES
async def test_resources_and_prompts_are_relayed(
    everything: Everything, transport: str, mode: Mode
) -> None:
    with anyio.fail_after(TIMEOUT):
        async with connect(everything, transport, mode) as client:
            resources = await client.list_resources()
            templates = await client.list_resource_templates()
            dynamic = await client.read_resource("demo://resource/dynamic/text/3")
            prompts = await client.list_prompts()
            prompt = await client.get_prompt("args-prompt", {"city": "Lyon"})
    assert all(str(r.uri).startswith("demo://resource/") for r in resources.resources)
    assert resources.resources
    uris = [t.uri_template for t in templates.resource_templates]
    assert "demo://resource/dynamic/text/{resourceId}" in uris
    texts = [c.text for c in dynamic.contents if isinstance(c, types.TextResourceContents)]
    assert len(texts) == 1
    assert texts[0].startswith("Resource 3: This is a plaintext resource")
    assert {"simple-prompt", "args-prompt"} <= {p.name for p in prompts.prompts}
    message = prompt.messages[0].content
    assert isinstance(message, types.TextContent)
    assert message.text == "What's weather in Lyon?"


@TRANSPORTS
@BOTH_MODES
async def test_progress_notifications_are_relayed(
    everything: Everything, transport: str, mode: Mode
) -> None:
    seen: list[tuple[float, float | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total))

    arguments = {"duration": 0.3, "steps": 3}
    with anyio.fail_after(TIMEOUT):
        async with connect(everything, transport, mode) as client:
            result = await client.call_tool(
                "trigger-long-running-operation", arguments, progress_callback=on_progress
            )
    assert "Long running operation completed" in text_of(result)
    assert seen == [(1.0, 3.0), (2.0, 3.0), (3.0, 3.0)]


@TRANSPORTS
async def test_sampling_and_elicitation_requests_reach_a_legacy_agents_callbacks(
    everything: Everything, transport: str
) -> None:
    tag = uuid.uuid4().hex[:10]
    callbacks = Callbacks()
    with anyio.fail_after(TIMEOUT):
        async with connect(everything, transport, LEGACY, **callbacks.options()) as client:
            sampled = await client.call_tool("trigger-sampling-request", {"prompt": tag})
            elicited = await client.call_tool("trigger-elicitation-request", {})
    assert callbacks.asked == [
        f"Resource trigger-sampling-request context: {tag}",
        "Please provide inputs for the following fields:",
    ]
    assert "sampled by the agent" in text_of(sampled)  # the agent's answer went back up
    texts = [item.text for item in elicited.content if isinstance(item, types.TextContent)]
    assert texts[1] == "User inputs:\n- Name: Ada\n- Favorite Integer: 7"  # the agent's answer


@TRANSPORTS
async def test_a_2026_agent_is_never_asked_anything_mid_call(
    everything: Everything, transport: str
) -> None:
    # 2026-07-28 has no server→client requests, so the gateway must not pass one on to a modern
    # agent: it declares no sampling to this legacy-only upstream on its behalf, so the tool
    # that would ask is not offered (an unknown tool). Its callback is never invoked.
    callbacks = Callbacks()
    with anyio.fail_after(TIMEOUT):
        async with connect(everything, transport, MODERN, **callbacks.options()) as client:
            try:
                result = await client.call_tool("trigger-sampling-request", {"prompt": "hi"})
                failed = result.is_error
            except MCPError as error:
                failed = error.code == -32602  # an unknown tool
    assert failed
    assert callbacks.asked == []


@TRANSPORTS
async def test_a_2026_agent_is_not_offered_tools_that_would_ask_it_mid_call(
    everything: Everything, transport: str
) -> None:
    with anyio.fail_after(TIMEOUT):
        async with connect(everything, transport, MODERN, **Callbacks().options()) as client:
            listed = await all_tool_names(client)
    assert [name for name in ASKING_TOOLS if name in listed] == []


@TRANSPORTS
async def test_log_messages_and_resource_updates_reach_a_legacy_agent(
    everything: Everything, transport: str
) -> None:
    # Both of server-everything's simulations send one message at once, then one every 5 s.
    logged = anyio.Event()
    updated: list[str] = []
    arrived = anyio.Event()

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logged.set()

    async def on_message(message: object) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            updated.append(str(message.params.uri))
            arrived.set()

    uri = "demo://resource/dynamic/text/1"
    options: dict[str, Any] = {"logging_callback": on_log, "message_handler": on_message}
    with anyio.fail_after(TIMEOUT):
        async with connect(everything, transport, LEGACY, **options) as client:
            await client.set_logging_level("debug")
            await client.call_tool("toggle-simulated-logging", {})
            await client.subscribe_resource(uri)
            await client.call_tool("toggle-subscriber-updates", {})
            with anyio.fail_after(8):
                await logged.wait()
                await arrived.wait()
            await client.call_tool("toggle-subscriber-updates", {})
            await client.call_tool("toggle-simulated-logging", {})
            await client.unsubscribe_resource(uri)
    assert set(updated) == {uri}
