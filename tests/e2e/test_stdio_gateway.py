"""``mcpwall stdio --upstream fx``, spawned the way a desktop agent spawns its servers: the
grant token in ``MCPWALL_TOKEN``, MCP on stdin and stdout, in front of the fixture server.

The same policy holds as over HTTP, and stdout carries MCP and nothing else — mcpwall's own
messages and the upstream's stderr go to stderr.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import anyio
import pytest
from mcp.shared.exceptions import MCPError

from tests.e2e.conftest import FixtureSetup
from tests.e2e.harness import MCPWALL, MODES, Mode, all_tool_names, stdio_agent, text_of

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

TIMEOUT = 30.0
PROD_DENIAL = "[POLICY DENIED] Namespace is outside the allowed non-production set."


def home_env(setup: FixtureSetup) -> dict[str, str]:
    return {"MCPWALL_HOME": str(setup.gateway.home)}


@pytest.mark.parametrize("mode", MODES)
async def test_the_sdk_client_over_mcpwall_stdio_meets_the_same_policy(
    fixture_gateway: FixtureSetup, mode: Mode
) -> None:
    tag = uuid.uuid4().hex[:10]
    pod = f"checkout-{tag}"
    record = fixture_gateway.record("fx")
    client = stdio_agent("fx", fixture_gateway.tokens["desktop"], home_env(fixture_gateway), mode)
    with anyio.fail_after(TIMEOUT):
        async with client:
            listed = await all_tool_names(client)
            denied = await client.call_tool(
                "delete_pod", {"name": pod, "namespace": "payments-prod"}
            )
            allowed = await client.call_tool("delete_pod", {"name": pod, "namespace": "staging"})
            with pytest.raises(MCPError) as hidden:
                await client.call_tool("get_secret", {"name": pod})
    assert "delete_pod" in listed
    assert {"get_secret", "delete_namespace"}.isdisjoint(listed)
    assert denied.is_error
    assert text_of(denied) == PROD_DENIAL
    assert text_of(allowed) == f"deleted pod {pod} in namespace staging"
    assert (hidden.value.code, hidden.value.message) == (-32602, "Unknown tool: get_secret")
    reached = [event for event in record.events() if pod in json.dumps(event)]
    assert reached == [
        {"event": "call", "tool": "delete_pod", "arguments": {"name": pod, "namespace": "staging"}}
    ]


async def test_stdout_carries_mcp_and_nothing_else(fixture_gateway: FixtureSetup) -> None:
    tag = uuid.uuid4().hex[:10]
    env = {**fixture_gateway.gateway.env, "MCPWALL_TOKEN": fixture_gateway.tokens["desktop"]}
    process = await asyncio.create_subprocess_exec(
        MCPWALL, "stdio", "--upstream", "fx", env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdin is not None
    assert process.stdout is not None
    lines: list[bytes] = []

    async def ask(request_id: int, method: str, params: dict[str, Any]) -> dict[str, Any]:
        assert process.stdin is not None
        assert process.stdout is not None
        message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        process.stdin.write(json.dumps(message).encode() + b"\n")
        await process.stdin.drain()
        while True:  # notifications may come first; every line must be MCP
            line = await process.stdout.readline()
            lines.append(line)
            answer = json.loads(line)
            if answer.get("id") == request_id:
                assert isinstance(answer, dict)
                return answer

    hello = {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"},
    }
    with anyio.fail_after(TIMEOUT):
        await ask(1, "initialize", hello)
        process.stdin.write(b'{"jsonrpc": "2.0", "method": "notifications/initialized"}\n')
        await ask(2, "tools/list", {})
        written = await ask(
            3, "tools/call", {"name": "stderr", "arguments": {"message": f"to stderr {tag}"}}
        )
        denied = await ask(
            4,
            "tools/call",
            {"name": "delete_pod", "arguments": {"name": tag, "namespace": "payments-prod"}},
        )
        process.stdin.close()  # the agent quits: mcpwall ends the upstream and exits
        rest, errors = await process.communicate()
    lines += rest.splitlines(keepends=True)

    assert process.returncode == 0
    assert written["result"]["content"][0]["text"] == "written"
    assert denied["result"]["isError"] is True
    assert all(line.endswith(b"\n") for line in lines)
    assert all(json.loads(line)["jsonrpc"] == "2.0" for line in lines if line.strip())
    assert f"to stderr {tag}".encode() in errors  # the upstream's stderr went to our stderr
    assert f"to stderr {tag}".encode() not in b"".join(lines)  # and not to stdout
