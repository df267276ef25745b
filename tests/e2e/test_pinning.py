"""Tool-definition pinning end to end: a real ``mcpwall serve`` in front of an upstream whose
tool definitions change under the agents (``tests/fixtures/definitions_server.py`` reads them
from a file at every listing), agents on the official MCP client in both eras.

The upstream is pinned when ``apply -f`` adds it. Then it pulls the rug — a poisoned
description, a ``command`` argument added to a schema, a new tool, a zero-width character, a
tool gone — and every agent stops seeing those tools and cannot call them; an open legacy
session and a 2026-07-28 listen stream are told. ``mcpwall upstream tools`` shows what
changed, ``--diff`` how, and ``upstream accept --expect`` brings a tool back, to everyone.
With two replicas on PostgreSQL, an acceptance made through one replica's admin API is seen
by the other's agents.
"""

from __future__ import annotations

import json
import secrets
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.subscriptions import ToolsListChanged
from mcp.shared.exceptions import MCPError

from mcpwall.core.pins import DEFINITION_CHANGED_RULE, NOT_PINNED_RULE
from tests.e2e.conftest import ALLOW_ALL
from tests.e2e.harness import LEGACY, MODERN, Gateway, agent, text_of, tool_names
from tests.fixtures.definitions import DEFINITIONS_SERVER, POISON, TOOLS, Definitions

pytestmark = pytest.mark.anyio

TIMEOUT = 60.0  # no test waits longer than this for anything
NAMES = [tool["name"] for tool in TOOLS]
CHANGED = {
    "delete_pod": "changed",
    "get_pod_logs": "changed",
    "describe_pod": "suspicious",
    "exec": "new",
    "list_pods": "removed",
}
POD = {"namespace": "dev", "name": "web-1"}


def configure(gateway: Gateway, definitions: Definitions) -> str:
    """Add the upstream (pinned as it lists now), an allow-all policy and a grant; its token."""
    tokens = gateway.apply(
        {
            "upstreams": {
                "k8s": {
                    "command": [sys.executable, str(DEFINITIONS_SERVER)],
                    "env": definitions.env(),
                }
            },
            "policies": {"open": ALLOW_ALL},
            "grants": [{"label": "agent", "bind": {"k8s": "open"}}],
        }
    )
    return tokens["agent"]


def statuses(gateway: Gateway) -> dict[str, str]:
    review = json.loads(gateway.cli("upstream", "tools", "k8s", "--json"))
    return {tool["name"]: tool["status"] for tool in review["tools"]}


def rows(gateway: Gateway, rule: str) -> list[dict[str, Any]]:
    found = gateway.cli("logs", "--rule", rule, "--json", "--limit", "100")
    return [json.loads(line) for line in found.splitlines() if line.strip()]


class Told:
    """Counts the ``notifications/tools/list_changed`` a legacy agent hears."""

    def __init__(self) -> None:
        self.count = 0
        self._changed = anyio.Event()

    async def on_message(self, message: object) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            self.count += 1
            self._changed.set()

    async def wait(self) -> None:
        await self._changed.wait()
        self._changed = anyio.Event()


@asynccontextmanager
async def watched(url: str, token: str) -> AsyncIterator[tuple[Client, Told]]:
    """A legacy agent with its GET stream open, and what it is told."""
    told = Told()
    async with agent(url, token, LEGACY, message_handler=told.on_message) as client:
        yield client, told


async def listed(url: str, token: str, mode: str = LEGACY) -> list[str]:
    async with agent(url, token, mode) as client:  # type: ignore[arg-type]
        return tool_names((await client.list_tools()).tools)


@pytest.fixture
def definitions(tmp_path: Path) -> Definitions:
    return Definitions.create(tmp_path)


@pytest.fixture
def gateway(tmp_path: Path, definitions: Definitions) -> Iterator[tuple[Gateway, str]]:
    served = Gateway(tmp_path / "home")
    token = configure(served, definitions)
    served.start()
    try:
        yield served, token
    finally:
        served.stop()


async def test_a_rug_pull_is_withheld_until_a_person_accepts_it(
    gateway: tuple[Gateway, str], definitions: Definitions
) -> None:
    served, token = gateway
    url = served.url("k8s")
    assert set(statuses(served).values()) == {"pinned"}  # pinned when apply -f added it
    with anyio.fail_after(TIMEOUT):
        async with watched(url, token) as (watcher, told), agent(url, token, MODERN) as modern:
            assert tool_names((await watcher.list_tools()).tools) == NAMES
            async with modern.listen(tools_list_changed=True) as stream:
                definitions.rug_pull()
                # Another agent lists: the gateway sees the change, and tells everyone.
                assert await listed(url, token) == []
                await told.wait()
                heard = await anext(stream)
            assert isinstance(heard, ToolsListChanged)
            assert tool_names((await watcher.list_tools()).tools) == []
            assert tool_names((await modern.list_tools()).tools) == []
            with pytest.raises(MCPError) as changed:
                await watcher.call_tool("delete_pod", POD)
            with pytest.raises(MCPError) as new:
                await modern.call_tool("exec", {})
    assert changed.value.message == "Unknown tool: delete_pod"
    assert new.value.message == "Unknown tool: exec"
    refused = rows(served, DEFINITION_CHANGED_RULE)
    assert [(row["tool"], row["pin"], row["outcome"]) for row in refused] == [
        ("delete_pod", "changed", "not_forwarded")
    ]
    assert [row["pin"] for row in rows(served, NOT_PINNED_RULE)] == ["new"]
    assert statuses(served) == CHANGED

    diff = json.loads(served.cli("upstream", "tools", "k8s", "--diff", "delete_pod", "--json"))
    assert any(POISON in line for line in diff["lines"])
    live_hash = diff["live_hash"]
    with pytest.raises(AssertionError, match="changed"):
        served.cli("upstream", "accept", "k8s", "delete_pod", "--expect", "v1:" + "0" * 64)
    served.cli("upstream", "accept", "k8s", "delete_pod", "--expect", live_hash)

    with anyio.fail_after(TIMEOUT):
        async with watched(url, token) as (watcher, told):
            assert tool_names((await watcher.list_tools()).tools) == ["delete_pod"]
            done = await watcher.call_tool("delete_pod", POD)
            aggregate = await listed(served.url(), token, MODERN)
    assert text_of(done) == "delete_pod done"
    assert aggregate == ["k8s__delete_pod"]
    assert statuses(served)["delete_pod"] == "pinned"


async def test_an_open_session_is_told_when_a_tool_is_accepted(
    gateway: tuple[Gateway, str], definitions: Definitions
) -> None:
    served, token = gateway
    url = served.url("k8s")
    definitions.tools.append(
        {"name": "exec", "description": "Run.", "inputSchema": {"type": "object"}}
    )
    definitions.write()
    with anyio.fail_after(TIMEOUT):
        async with watched(url, token) as (watcher, told), agent(url, token, MODERN) as modern:
            assert "exec" not in tool_names((await watcher.list_tools()).tools)
            async with modern.listen(tools_list_changed=True) as stream:
                served.cli("upstream", "accept", "k8s", "exec")
                await told.wait()
                heard = await anext(stream)
            assert isinstance(heard, ToolsListChanged)
            assert tool_names((await watcher.list_tools()).tools) == [*NAMES, "exec"]
            assert text_of(await modern.call_tool("exec", {})) == "exec done"


async def test_pins_survive_a_restart_and_warn_mode_serves_and_marks(
    tmp_path: Path, definitions: Definitions
) -> None:
    served = Gateway(tmp_path / "home")
    token = configure(served, definitions)
    definitions.tool("delete_pod")["description"] = "Delete a pod, and its namespace."
    definitions.write()
    served.start()
    try:
        with anyio.fail_after(TIMEOUT):
            assert "delete_pod" not in await listed(served.url("k8s"), token)
        assert served.stop() == 0
        served.start()  # the pins are in the store: still withheld after a restart
        with anyio.fail_after(TIMEOUT):
            assert "delete_pod" not in await listed(served.url("k8s"), token)
        config = json.loads((served.home / "mcpwall.json").read_text())
        config["upstreams"]["k8s"]["pinning"] = "warn"
        del config["grants"]
        served.apply(config)
        with anyio.fail_after(TIMEOUT):
            async with agent(served.url("k8s"), token, MODERN) as client:
                names = tool_names((await client.list_tools()).tools)
                done = await client.call_tool("delete_pod", POD)
        assert "delete_pod" in names
        assert text_of(done) == "delete_pod done"
        marked = json.loads(served.cli("logs", "--tool", "delete_pod", "--json").splitlines()[0])
        assert (marked["decision"], marked["pin"], marked["outcome"]) == ("allow", "changed", "ok")
        viewer = served.cli("admin", "token", "create", "--role", "viewer", "--json")
        metrics = httpx.get(
            f"http://127.0.0.1:{served.admin_port}/metrics",
            headers={"authorization": f"Bearer {json.loads(viewer)['token']}"},
        ).text
        series = (
            'mcpwall_tool_pin_mismatches_total{method="tools/call",pin="changed",upstream="k8s"}'
        )
        assert f"{series} 1.0" in metrics
    finally:
        served.stop()


async def test_an_acceptance_through_one_replica_is_seen_by_the_other(
    tmp_path: Path, definitions: Definitions, postgres_url: str
) -> None:
    env = {"MCPWALL_DATABASE_URL": postgres_url, "MCPWALL_SECRET_KEY": secrets.token_urlsafe(32)}
    one, two = Gateway(tmp_path / "one", env), Gateway(tmp_path / "two", env)
    two.home.mkdir()
    token = configure(one, definitions)
    admin = json.loads(one.cli("admin", "token", "create", "--role", "admin", "--json"))["token"]
    definitions.rug_pull()
    one.start()
    two.start()
    try:
        with anyio.fail_after(TIMEOUT):
            async with watched(two.url("k8s"), token) as (watcher, told):
                assert tool_names((await watcher.list_tools()).tools) == []
                seen = httpx.get(
                    f"http://127.0.0.1:{one.admin_port}/api/upstreams/k8s/tools/delete_pod/diff",
                    headers={"authorization": f"Bearer {admin}"},
                    timeout=30,
                ).json()
                accepted = httpx.post(
                    f"http://127.0.0.1:{one.admin_port}/api/upstreams/k8s/accept",
                    json={"tools": ["delete_pod"], "expect": seen["live_hash"]},
                    headers={"authorization": f"Bearer {admin}"},
                    timeout=30,
                )
                assert accepted.status_code == 200, accepted.text
                await told.wait()  # told by replica two, which never handled the acceptance
                assert tool_names((await watcher.list_tools()).tools) == ["delete_pod"]
    finally:
        one.stop()
        two.stop()
