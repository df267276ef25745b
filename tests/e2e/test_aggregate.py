"""Prompts and resources on the aggregate ``/mcp``: the official SDK client, in both eras,
through ``mcpwall serve`` to the fixture server over stdio (``fx``) and Streamable HTTP
(``fh``). Both upstreams are the same server, so every prompt name and resource URI is
offered twice: the aggregate keeps them apart."""

from __future__ import annotations

import uuid
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError

from tests.e2e.conftest import FixtureSetup
from tests.e2e.harness import LEGACY, MODES, Mode, agent, text_of

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.anyio,
    # Subscriptions are deprecated in 2026-07-28, and the SDK says so.
    pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning"),
]

TIMEOUT = 30.0


async def _every_page(fetch: Any, key: str) -> list[Any]:
    """Every entry of a list, following ``nextCursor``."""
    entries: list[Any] = []
    cursor: str | None = None
    for _ in range(20):
        page = await fetch(cursor=cursor)
        entries += getattr(page, key)
        cursor = page.next_cursor
        if cursor is None:
            return entries
    raise AssertionError("still more pages after 20")


def _text(result: types.ReadResourceResult) -> tuple[str, str]:
    [content] = result.contents
    assert isinstance(content, types.TextResourceContents), content
    return content.uri, content.text


@pytest.mark.parametrize("mode", MODES)
async def test_the_aggregate_lists_reads_and_gets_across_both_upstreams(
    fixture_gateway: FixtureSetup, mode: Mode
) -> None:
    tag = uuid.uuid4().hex[:10]
    setup = fixture_gateway
    with anyio.fail_after(TIMEOUT):
        async with agent(setup.gateway.url(), setup.tokens["agent"], mode) as client:
            prompts = await _every_page(client.list_prompts, "prompts")
            resources = await _every_page(client.list_resources, "resources")
            templates = await _every_page(client.list_resource_templates, "resource_templates")
            statics = [await client.read_resource(r.uri) for r in resources]
            items = [
                await client.read_resource(f"mcpwall://{upstream}/fixture://items/{tag}")
                for upstream in ("fh", "fx")
            ]
            greetings = [
                await client.get_prompt(f"{upstream}__greet", {"name": f"{upstream} {tag}"})
                for upstream in ("fh", "fx")
            ]
            with pytest.raises(MCPError) as ambiguous:
                await client.read_resource("fixture://static")  # both list it: never a guess
            with pytest.raises(MCPError) as unknown:
                await client.get_prompt("greet", {"name": tag})

    assert [p.name for p in prompts] == ["fh__greet", "fx__greet"]
    assert [r.uri for r in resources] == [
        "mcpwall://fh/fixture://static",
        "mcpwall://fx/fixture://static",
    ]
    assert [t.uri_template for t in templates] == [
        "mcpwall://fh/fixture://items/{item}",
        "mcpwall://fx/fixture://items/{item}",
    ]
    assert [_text(read) for read in statics] == [
        ("mcpwall://fh/fixture://static", "static content"),
        ("mcpwall://fx/fixture://static", "static content"),
    ]
    assert [_text(read) for read in items] == [
        (f"mcpwall://fh/fixture://items/{tag}", f"item {tag}"),
        (f"mcpwall://fx/fixture://items/{tag}", f"item {tag}"),
    ]
    texts = [message.content for greeting in greetings for message in greeting.messages]
    assert [t.text for t in texts if isinstance(t, types.TextContent)] == [
        f"Say hello to fh {tag}.",
        f"Say hello to fx {tag}.",
    ]
    assert ambiguous.value.code == -32602
    assert "upstreams fh, fx all list it" in ambiguous.value.message
    assert unknown.value.message == "Unknown prompt: greet"


async def test_a_legacy_agent_hears_of_updates_to_what_it_subscribed_to_on_the_aggregate(
    fixture_gateway: FixtureSetup,
) -> None:
    setup = fixture_gateway
    uri = "mcpwall://fx/fixture://static"
    updates: list[str] = []
    updated = anyio.Event()

    async def on_message(message: object) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            updates.append(message.params.uri)
            updated.set()

    with anyio.fail_after(TIMEOUT):
        async with agent(
            setup.gateway.url(), setup.tokens["agent"], LEGACY, message_handler=on_message
        ) as client:
            await client.subscribe_resource(uri)
            touched = await client.call_tool("fx__touch", {"uri": "fixture://static"})
            with anyio.fail_after(3):
                await updated.wait()
            await client.unsubscribe_resource(uri)
    assert text_of(touched) == "touched fixture://static"
    assert updates == [uri]  # the URI the agent subscribed to, not the upstream's own
