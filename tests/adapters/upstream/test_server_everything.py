"""Against the real ``@modelcontextprotocol/server-everything`` (TypeScript SDK 1.x, legacy era
only) from the npm registry: over stdio, Streamable HTTP and legacy SSE, on 127.0.0.1 only.

Skipped with the reason when Node or npm is missing; a failure under ``CI=true``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from mcpwall.adapters.upstream import Connector
from mcpwall.core.registry import Upstream, UpstreamKind
from mcpwall.ports.upstream import UpstreamSession
from tests.adapters.upstream.conftest import OFFER, TIMEOUT, Inbox, call, tool_text
from tests.fixtures.npm import SERVER_EVERYTHING, node_environment, require_package
from tests.fixtures.servers import free_port, listening_addresses, wait_listening

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def entry() -> Path:
    return require_package(SERVER_EVERYTHING)


@pytest.fixture(scope="module")
def http_url(entry: Path) -> Iterator[str]:
    yield from _serve(entry, "streamableHttp", "/mcp")


@pytest.fixture(scope="module")
def sse_url(entry: Path) -> Iterator[str]:
    yield from _serve(entry, "sse", "/sse")


def _serve(entry: Path, transport: str, path: str) -> Iterator[str]:
    """Run server-everything over ``transport`` on a free loopback port; yield its URL."""
    port = free_port()
    env = node_environment({"PORT": str(port), "PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    with subprocess.Popen(
        ["node", str(entry), transport],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as server:
        try:
            wait_listening(port, server)
            # It calls listen(PORT), all interfaces; the preload must have made that loopback.
            assert listening_addresses(port) == {"127.0.0.1"}
            yield f"http://127.0.0.1:{port}{path}"
        finally:
            server.terminate()
            server.wait(timeout=10)


@pytest.fixture(params=["stdio", "http", "sse"])
def upstream(request: pytest.FixtureRequest, entry: Path) -> Upstream:
    if request.param == "stdio":
        return Upstream.stdio("everything", "node", (str(entry), "stdio"))
    if request.param == "http":
        return Upstream.remote("everything", request.getfixturevalue("http_url"))
    url = request.getfixturevalue("sse_url")
    return Upstream.remote("everything", url, kind=UpstreamKind.SSE)


@pytest.fixture
async def session(upstream: Upstream) -> AsyncIterator[UpstreamSession]:
    opened = await Connector().connect(upstream, OFFER, Inbox())
    yield opened
    await opened.aclose()


async def test_it_negotiates_the_legacy_era(session: UpstreamSession) -> None:
    # The probe is refused (TypeScript SDK 1.x knows no server/discover): initialize it is.
    assert session.negotiated.era == "legacy"
    assert session.negotiated.protocol_version == "2025-11-25"
    assert "tools" in session.negotiated.capabilities


async def test_tools_follow_the_declared_capabilities_and_echo(session: UpstreamSession) -> None:
    listed = await session.request("tools/list", None, timeout=TIMEOUT)
    names = [tool["name"] for tool in listed["result"]["tools"]]  # type: ignore[index]
    assert {"echo", "trigger-sampling-request", "trigger-elicitation-request"} <= set(names)
    assert "get-roots-list" not in names  # roots were not declared
    echoed = await session.request("tools/call", call("echo", message="hi"), timeout=TIMEOUT)
    assert tool_text(echoed) == "Echo: hi"


async def test_progress_is_related_to_its_request(session: UpstreamSession) -> None:
    related = Inbox()
    params = {
        **call("trigger-long-running-operation", duration=0.2, steps=2),
        "_meta": {"progressToken": "agent-7"},
    }
    await session.request("tools/call", params, related=related, timeout=TIMEOUT)
    progress = [m for m in related.messages if m.get("method") == "notifications/progress"]
    assert [m["params"]["progressToken"] for m in progress] == ["agent-7", "agent-7"]  # type: ignore[index]


async def test_sampling_is_relayed_and_answered(session: UpstreamSession) -> None:
    related = Inbox()
    params = call("trigger-sampling-request", prompt="capital of France?", maxTokens=5)
    asking = asyncio.ensure_future(
        session.request("tools/call", params, related=related, timeout=TIMEOUT)
    )
    ask = await related.wait_for("sampling/createMessage")
    request_id = ask["id"]
    assert isinstance(request_id, int | str)
    answer = {"role": "assistant", "content": {"type": "text", "text": "Paris"}, "model": "m"}
    await session.respond(request_id, {"result": answer})
    assert "Paris" in str((await asking)["result"])


async def test_elicitation_is_relayed_and_answered(session: UpstreamSession) -> None:
    related = Inbox()
    asking = asyncio.ensure_future(
        session.request(
            "tools/call", call("trigger-elicitation-request"), related=related, timeout=TIMEOUT
        )
    )
    ask = await related.wait_for("elicitation/create")
    request_id = ask["id"]
    assert isinstance(request_id, int | str)
    await session.respond(request_id, {"result": {"action": "decline"}})
    assert "declined" in tool_text(await asking)


async def test_resources_and_prompts(session: UpstreamSession) -> None:
    resources = await session.request("resources/list", None, timeout=TIMEOUT)
    first = resources["result"]["resources"][0]  # type: ignore[index]
    read = await session.request("resources/read", {"uri": first["uri"]}, timeout=TIMEOUT)
    assert read["result"]["contents"][0]["uri"] == first["uri"]  # type: ignore[index]
    prompts = await session.request("prompts/list", None, timeout=TIMEOUT)
    assert "simple-prompt" in [p["name"] for p in prompts["result"]["prompts"]]  # type: ignore[index]
    got = await session.request("prompts/get", {"name": "simple-prompt"}, timeout=TIMEOUT)
    assert got["result"]["messages"]  # type: ignore[index]
