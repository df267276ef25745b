"""A smoke test with the official Inspector CLI (``@modelcontextprotocol/inspector`` 2.12.0, on
Node 22 from the npm registry) against ``mcpwall serve``, bearer token in a header.

The Inspector exits 0 on success and 5 on a tool error (``isError: true``), so a policy
denial shows as exit code 5 (research/mcp-protocol.md §4.2).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import FixtureSetup, Node

pytestmark = pytest.mark.e2e

TIMEOUT = 60.0
ERAS = pytest.mark.parametrize("era", ["legacy", "modern"])
TOOL_ERROR = 5  # the Inspector CLI's exit code for isError (and for a tool it can't find)


def inspect(
    inspector: Node, setup: FixtureSetup, scratch: Path, era: str, *options: str
) -> subprocess.CompletedProcess[str]:
    """``inspector --cli`` against ``/mcp/fx`` with the ``agent`` grant's token."""
    command = inspector.command("--cli", "--transport", "http")
    command += ["--server-url", setup.gateway.url("fx"), "--protocol-era", era]
    command += ["--header", f"Authorization: Bearer {setup.tokens['agent']}"]
    command += [*options, "--format", "json"]
    # It keeps a catalog under HOME (or MCP_STORAGE_DIR): give it a scratch one.
    node_bin = str(Path(inspector.node).parent)
    env = {**os.environ, "HOME": str(scratch), "MCP_STORAGE_DIR": str(scratch)}
    env["PATH"] = f"{node_bin}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


@ERAS
def test_inspector_lists_the_tools_the_policy_leaves_visible(
    inspector: Node, fixture_gateway: FixtureSetup, tmp_path: Path, era: str
) -> None:
    done = inspect(inspector, fixture_gateway, tmp_path, era, "--method", "tools/list")
    assert done.returncode == 0, done.stderr
    names = [tool["name"] for tool in json.loads(done.stdout)["result"]["tools"]]
    assert "delete_pod" in names
    assert {"get_secret", "delete_namespace"}.isdisjoint(names)


@ERAS
def test_inspector_sees_a_denied_call_as_a_tool_error(
    inspector: Node, fixture_gateway: FixtureSetup, tmp_path: Path, era: str
) -> None:
    arguments = json.dumps({"name": "checkout-7d9f", "namespace": "payments-prod"})
    done = inspect(
        inspector, fixture_gateway, tmp_path, era,
        "--method", "tools/call", "--tool-name", "delete_pod", "--tool-args-json", arguments,
    )  # fmt: skip
    assert done.returncode == TOOL_ERROR, done.stdout + done.stderr
    assert "[POLICY DENIED] Namespace is outside the allowed non-production set." in (
        done.stdout + done.stderr
    )
