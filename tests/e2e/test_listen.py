"""``subscriptions/listen`` end to end: the official SDK client in 2026-07-28 mode listening
through ``mcpwall serve`` to the fixture server, over stdio (``fx``) and Streamable HTTP
(``fh``).

The gateway keeps a listen of its own open to each 2026-07-28 upstream while agents listen,
so a change the upstream announces (the fixture's ``add_tool``, ``touch``) reaches the agent,
on the aggregate ``/mcp`` too, by the ``mcpwall://`` URI the agent subscribed with; a new
policy version is announced by the gateway itself; a revoked grant's stream ends; a gateway
stopping ends its streams gracefully.
"""

from __future__ import annotations

import sys
import uuid

import anyio
import pytest
from mcp.client.subscriptions import ResourceUpdated, SubscriptionLost, ToolsListChanged

from tests.e2e.conftest import ALLOW_ALL, FIXTURE_UPSTREAMS, FixtureSetup
from tests.e2e.harness import MODERN, Gateway, agent, text_of, tool_names
from tests.fixtures.servers import FIXTURE_SERVER, RECORD_ENV, fixture_http_server

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

TIMEOUT = 30.0  # no test waits longer than this for the gateway


def new_tag() -> str:
    return uuid.uuid4().hex[:10]


@pytest.mark.parametrize("transport", list(FIXTURE_UPSTREAMS))
async def test_an_upstream_tool_list_change_reaches_a_listening_agent(
    fixture_gateway: FixtureSetup, transport: str
) -> None:
    upstream = FIXTURE_UPSTREAMS[transport]
    url = fixture_gateway.gateway.url(upstream)
    added = f"heard_{new_tag()}"
    with anyio.fail_after(TIMEOUT):
        async with agent(url, fixture_gateway.tokens["agent"], MODERN) as client:
            async with client.listen(tools_list_changed=True, prompts_list_changed=True) as sub:
                assert sub.honored.tools_list_changed is True
                await client.call_tool("add_tool", {"name": added})
                event = await anext(sub)
            listed = tool_names((await client.list_tools()).tools)
    assert isinstance(event, ToolsListChanged)
    # Not there when the upstream was pinned: withheld (pinning enforce, the default).
    assert added not in listed


@pytest.mark.parametrize("transport", list(FIXTURE_UPSTREAMS))
async def test_a_resource_update_reaches_an_agent_listening_on_the_aggregate(
    fixture_gateway: FixtureSetup, transport: str
) -> None:
    upstream = FIXTURE_UPSTREAMS[transport]
    uri = f"mcpwall://{upstream}/fixture://static"
    with anyio.fail_after(TIMEOUT):
        async with (
            agent(fixture_gateway.gateway.url(), fixture_gateway.tokens["agent"], MODERN) as client,
            # A raw URI names no upstream: it is left out of what the gateway honours.
            client.listen(resource_subscriptions=[uri, "fixture://static"]) as sub,
        ):
            honoured = sub.honored.resource_subscriptions
            touched = await client.call_tool(f"{upstream}__touch", {"uri": "fixture://static"})
            event = await anext(sub)
    assert honoured == [uri]
    assert text_of(touched) == "touched fixture://static"
    assert event == ResourceUpdated(uri)  # the URI the agent subscribed with


async def test_a_new_policy_version_reaches_a_listening_agent(
    fixture_gateway: FixtureSetup,
) -> None:
    gateway = fixture_gateway.gateway
    tag = new_tag()
    gateway.set_policy(f"listening-{tag}", ALLOW_ALL)
    token = gateway.issue(f"listener-{tag}", {"fh": f"listening-{tag}"})
    with anyio.fail_after(TIMEOUT):
        async with agent(gateway.url("fh"), token, MODERN) as client:
            async with client.listen(tools_list_changed=True) as sub:
                gateway.set_policy(f"listening-{tag}", {**ALLOW_ALL, "hide": ["echo"]})
                event = await anext(sub)
            listed = tool_names((await client.list_tools()).tools)
    assert isinstance(event, ToolsListChanged)
    assert "echo" not in listed


async def test_revoking_the_grant_ends_its_listen_stream(fixture_gateway: FixtureSetup) -> None:
    gateway = fixture_gateway.gateway
    tag = new_tag()
    token = gateway.issue(f"listener-{tag}", {"fh": "seed"})
    with anyio.fail_after(TIMEOUT):
        async with (
            agent(gateway.url("fh"), token, MODERN) as client,
            client.listen(tools_list_changed=True) as sub,
        ):
            gateway.revoke(f"listener-{tag}")
            with pytest.raises(SubscriptionLost):
                await anext(sub)


async def test_a_stopping_gateway_ends_listen_streams_gracefully(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    home = tmp_path_factory.mktemp("listen-gateway")
    with fixture_http_server("http", home / "fh.record.jsonl") as url:
        gateway = Gateway(home)
        tokens = gateway.apply(
            {
                "upstreams": {
                    "fh": {"url": url},
                    "fx": {"command": [sys.executable, str(FIXTURE_SERVER), "stdio"],
                           "env": {RECORD_ENV: str(home / "fx.record.jsonl")}},
                },
                "policies": {"open": ALLOW_ALL},
                "grants": [{"label": "agent", "bind": {"fh": "open", "fx": "open"}}],
            }
        )  # fmt: skip
        gateway.start()
        ended: list[object] = []
        try:
            with anyio.fail_after(TIMEOUT):
                async with (
                    agent(gateway.url(), tokens["agent"], MODERN) as client,
                    client.listen(tools_list_changed=True) as sub,
                    anyio.create_task_group() as group,
                ):
                    group.start_soon(anyio.to_thread.run_sync, gateway.stop_cleanly)
                    ended += [event async for event in sub]  # ends without an error
        finally:
            if gateway.process is not None:
                gateway.stop()
    assert ended == []
