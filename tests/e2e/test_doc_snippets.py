"""The README's "Connecting agents" snippets work as written, against a real gateway.

Each snippet is read from the README itself, then given this test's gateway: its URL stands in
for ``http://127.0.0.1:8700/mcp/k8s``, the fixture upstream ``fx`` for ``k8s``, a grant's
token for ``mcpw_…``, this gateway's home for ``/home/me/.mcpwall``. The Claude Code command is
not run (the ``claude`` CLI is not installed here); its flags are the same as the Inspector's.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from tests.e2e.conftest import FixtureSetup, Node
from tests.e2e.harness import LEGACY, MCPWALL, tool_names

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

README = Path(__file__).resolve().parents[2] / "README.md"
DOCUMENTED_URL = "http://127.0.0.1:8700/mcp/k8s"
TOKEN = "mcpw_…"
TIMEOUT = 60.0
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 3)
    return text[start : end if end != -1 else None]


def blocks(kind: str) -> list[str]:
    return [m.group(2) for m in FENCE.finditer(section("Connecting agents")) if m.group(1) == kind]


def localized(text: str, setup: FixtureSetup, token: str) -> str:
    """A snippet as this test's reader would type it."""
    return text.replace(DOCUMENTED_URL, setup.gateway.url("fx")).replace(TOKEN, token)


def command(prefix: str) -> str:
    [found] = [
        line[2:]
        for block in blocks("console")
        for line in _joined(block)
        if line.startswith(f"$ {prefix}")
    ]
    return found


def _joined(block: str) -> list[str]:
    return block.replace("\\\n", " ").splitlines()


def test_the_readme_documents_each_agent() -> None:
    connecting = section("Connecting agents")
    for agent in (
        "Claude Code",
        "Claude Desktop",
        "Cursor",
        "VS Code",
        "MCP Inspector",
        "HTTP client",
    ):
        assert agent in connecting
    assert command("claude mcp add --transport http k8s").count(TOKEN) == 1


def test_the_curl_snippet_lists_the_tools_the_policy_leaves(fixture_gateway: FixtureSetup) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    line = localized(command("curl"), fixture_gateway, fixture_gateway.tokens["agent"])
    done = subprocess.run(
        ["bash", "-c", line], capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    names = [tool["name"] for tool in answer["result"]["tools"]]
    assert "delete_pod" in names
    assert "get_secret" not in names  # hidden by the seed's policy


async def test_the_stdio_config_runs_mcpwall_stdio(fixture_gateway: FixtureSetup) -> None:
    [config] = [json.loads(b) for b in blocks("json") if '"command": "mcpwall"' in b]
    server = config["mcpServers"]["k8s"]
    args = ["fx" if arg == "k8s" else arg for arg in server["args"]]
    env = {**fixture_gateway.gateway.env, **server["env"]}
    env["MCPWALL_TOKEN"] = fixture_gateway.tokens["desktop"]
    env["MCPWALL_HOME"] = str(fixture_gateway.gateway.home)
    assert server["command"] == "mcpwall"
    params = StdioServerParameters(command=MCPWALL, args=args, env=env)
    with anyio.fail_after(TIMEOUT):
        async with Client(params, mode=LEGACY, cache=None) as client:
            names = tool_names((await client.list_tools()).tools)
    assert "delete_pod" in names
    assert "get_secret" not in names


async def test_the_url_and_headers_config_connects(fixture_gateway: FixtureSetup) -> None:
    [config] = [json.loads(b) for b in blocks("json") if '"url"' in b]
    server = json.loads(
        localized(
            json.dumps(config["mcpServers"]["k8s"], ensure_ascii=False),
            fixture_gateway,
            fixture_gateway.tokens["agent"],
        )
    )
    with anyio.fail_after(TIMEOUT):
        async with httpx2.AsyncClient(headers=server["headers"], timeout=30.0) as http:
            transport = streamable_http_client(server["url"], http_client=http)
            async with Client(transport, mode=LEGACY, cache=None) as client:
                names = tool_names((await client.list_tools()).tools)
    assert "delete_pod" in names


def test_the_inspector_command_lists_the_tools(
    inspector: Node, fixture_gateway: FixtureSetup, tmp_path: Path
) -> None:
    line = localized(
        command("npx @modelcontextprotocol/inspector"),
        fixture_gateway,
        fixture_gateway.tokens["agent"],
    )
    words = _words(line)
    assert words[:2] == ["npx", "@modelcontextprotocol/inspector"]
    env = {**os.environ, "HOME": str(tmp_path), "MCP_STORAGE_DIR": str(tmp_path)}
    env["PATH"] = f"{Path(inspector.node).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        inspector.command(*words[2:], "--format", "json"), env=env, capture_output=True,
        text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    listed: Any = json.loads(done.stdout)
    assert "delete_pod" in [tool["name"] for tool in listed["result"]["tools"]]


def _words(line: str) -> list[str]:
    return shlex.split(line)
