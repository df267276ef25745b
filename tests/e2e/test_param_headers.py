"""Mcp-Param-* headers end to end: the official SDK client in 2026-07-28 mode, through
``mcpwall serve``, to the fixture server over Streamable HTTP (``fh``), whose ``regional`` tool
marks ``region`` and ``shard`` with ``x-mcp-header``. The SDK's server refuses a call of it
without the matching headers, so a call that succeeds proves the gateway sent them upstream;
an agent that sends a header other than its arguments is refused at the gateway (400, -32020),
nothing reaches the upstream, and the proxy log says why — without the values.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client

from tests.e2e.conftest import FixtureSetup
from tests.e2e.harness import MODERN, Gateway, agent, text_of
from tests.e2e.test_fixture_server import TIMEOUT, calls, mentions, new_tag
from tests.fixtures.servers import poll

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

UPSTREAM = "fh"


async def listed_schema(client: Client, name: str) -> dict[str, Any]:
    """``name``'s inputSchema, as the gateway lists it (which also lets the SDK client learn
    which of its parameters travel in headers)."""
    cursor: str | None = None
    while True:
        page = await client.list_tools(cursor=cursor)
        for tool in page.tools:
            if tool.name == name:
                schema: dict[str, Any] = tool.input_schema
                return schema
        cursor = page.next_cursor
        assert cursor is not None, f"{name} is not listed"


@pytest.mark.parametrize("endpoint", [UPSTREAM, None], ids=["per-upstream", "aggregate"])
async def test_a_2026_agent_calls_a_tool_whose_parameters_travel_in_headers(
    fixture_gateway: FixtureSetup, endpoint: str | None
) -> None:
    tag = new_tag()
    name = "regional" if endpoint else f"{UPSTREAM}__regional"
    arguments = {"region": f"Zürich {tag} ", "shard": 2, "query": tag}
    url = fixture_gateway.gateway.url(endpoint)
    with anyio.fail_after(TIMEOUT):
        async with agent(url, fixture_gateway.tokens["agent"], MODERN) as client:
            schema = await listed_schema(client, name)
            result = await client.call_tool(name, arguments)
    assert schema["properties"]["region"]["x-mcp-header"] == "Region"
    assert not result.is_error, result
    assert text_of(result) == f"{tag} in Zürich {tag}  on shard 2"
    assert calls(fixture_gateway.record(UPSTREAM), "regional", tag) == [arguments]


async def test_a_mismatched_header_is_refused_at_the_gateway_and_logged_without_values(
    fixture_gateway: FixtureSetup,
) -> None:
    tag = new_tag()
    gateway, token = fixture_gateway.gateway, fixture_gateway.tokens["agent"]
    record = fixture_gateway.record(UPSTREAM)
    body = {
        "jsonrpc": "2.0",
        "id": 41,
        "method": "tools/call",
        "params": {
            "name": "regional",
            "arguments": {"region": f"eu-{tag}", "query": tag},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": MODERN,
                "io.modelcontextprotocol/clientCapabilities": {},
            },
        },
    }
    headers = {
        "authorization": f"Bearer {token}",
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": MODERN,
        "mcp-method": "tools/call",
        "mcp-name": "regional",
        "mcp-param-region": f"us-{tag}",  # the body says eu-…: a router would go elsewhere
    }
    with anyio.fail_after(TIMEOUT):
        async with httpx2.AsyncClient(timeout=TIMEOUT) as http:
            refused = await http.post(gateway.url(UPSTREAM), json=body, headers=headers)
        # A call that does get through, after: had the refused one been forwarded, the
        # fixture would have recorded it first.
        async with agent(gateway.url(UPSTREAM), token, MODERN) as client:
            await listed_schema(client, "regional")
            await client.call_tool("regional", {"region": "after", "query": f"after-{tag}"})

    assert refused.status_code == 400
    error = refused.json()["error"]
    assert (refused.json()["id"], error["code"]) == (41, -32020)
    assert error["message"].startswith("the Mcp-Param-Region header does not match")
    assert [event["arguments"]["query"] for event in mentions(record, tag)] == [f"after-{tag}"]

    row = _row(gateway, "(header mismatch)")
    assert (row["upstream"], row["decision"], row["outcome"]) == (UPSTREAM, "deny", "not_forwarded")
    assert row["argument_keys"] == ["query", "region"]
    assert tag not in json.dumps(row)


def _row(gateway: Gateway, rule: str) -> dict[str, Any]:
    """The newest proxy-log row of a ``regional`` call with ``rule``, once it is written
    (rows are written in batches, off the request's path)."""

    def found() -> dict[str, Any] | None:
        output = gateway.cli("logs", "--json", "--tool", "regional", "--decision", "deny")
        rows = [json.loads(line) for line in output.splitlines()]
        return next((row for row in reversed(rows) if row["rule"] == rule), None)

    row = poll(found, TIMEOUT, interval=0.2)
    assert row is not None, f"no {rule} row was logged"
    return row
