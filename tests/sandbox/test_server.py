"""The sandbox's MCP server, in process, through the official SDK client: the seed's tool
names, schemas an agent can fill in, state that really changes, refusals as tool errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from mcp import Client
from mcp_types import CallToolResult, TextContent

from mcpwall.sandbox.scenario import crashloop_cluster
from mcpwall.sandbox.server import build_server

pytestmark = pytest.mark.anyio

SEED_TOOLS = {
    "delete_pod", "apply_manifest", "scale_deployment", "delete_deployment", "exec_pod",
    "get_pod_logs", "list_pods",
}  # fmt: skip
SEED_HIDDEN = {"delete_namespace", "get_secret", "apply_cluster_role", "delete_cluster_role"}
READS = {"list_namespaces", "list_pods", "list_deployments", "list_objects", "get_secret"}


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    async with Client(build_server(crashloop_cluster()), mode="legacy") as connected:
        yield connected


def text(result: CallToolResult) -> str:
    first = result.content[0]
    assert isinstance(first, TextContent)
    return first.text


async def pods(client: Client, namespace: str) -> list[dict[str, Any]]:
    result = await client.call_tool("list_pods", {"namespace": namespace})
    assert result.structured_content is not None
    listed: list[dict[str, Any]] = result.structured_content["pods"]
    return listed


async def test_it_offers_the_seeds_tools_including_the_ones_the_seed_hides(client: Client) -> None:
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) >= SEED_TOOLS | SEED_HIDDEN
    assert {name for name, tool in tools.items() if tool.output_schema is not None} == READS
    apply = tools["apply_manifest"].input_schema
    assert set(apply["required"]) == {"namespace", "kind", "name", "manifest"}
    assert set(tools["delete_pod"].input_schema["required"]) == {"namespace", "name"}
    assert tools["delete_pod"].annotations is not None
    assert tools["delete_pod"].annotations.destructive_hint is True


async def test_it_says_it_is_a_sandbox(client: Client) -> None:
    assert client.server_info is not None
    assert "Nothing it does touches a real cluster" in (client.server_info.description or "")
    assert "pretend Kubernetes cluster" in (client.instructions or "")


async def test_a_deleted_pod_is_gone_and_its_deployment_starts_another(client: Client) -> None:
    before = await pods(client, "staging")
    broken = next(pod for pod in before if pod["status"] == "CrashLoopBackOff")
    result = await client.call_tool("delete_pod", {"namespace": "staging", "name": broken["name"]})
    after = await pods(client, "staging")
    assert not result.is_error
    assert text(result).startswith(f'pod "{broken["name"]}" deleted from namespace "staging"')
    assert broken["name"] not in [pod["name"] for pod in after]
    assert len(after) == len(before)
    assert {pod["status"] for pod in after} == {"Running"}


async def test_scaling_and_applying_change_what_is_listed(client: Client) -> None:
    await client.call_tool("scale_deployment", {"namespace": "dev", "name": "web", "replicas": 5})
    manifest = "kind: ConfigMap\nmetadata: {name: flags}\ndata: {beta: 'on'}\n"
    applied = await client.call_tool(
        "apply_manifest",
        {"namespace": "staging", "kind": "ConfigMap", "name": "flags", "manifest": manifest},
    )
    listed = await client.call_tool("list_objects", {"kind": "ConfigMap", "namespace": "staging"})
    deployments = await client.call_tool("list_deployments", {"namespace": "dev"})
    assert text(applied) == "configmap/flags created"
    assert listed.structured_content == {
        "objects": [{"kind": "ConfigMap", "namespace": "staging", "name": "flags"}]
    }
    assert deployments.structured_content is not None
    web = next(d for d in deployments.structured_content["deployments"] if d["name"] == "web")
    assert (web["replicas"], web["ready"]) == (5, 5)


async def test_logs_and_exec_answer_plausibly(client: Client) -> None:
    staging = await pods(client, "staging")
    broken = next(pod for pod in staging if pod["status"] == "CrashLoopBackOff")
    healthy = next(pod for pod in staging if pod["status"] == "Running")
    crash = await client.call_tool(
        "get_pod_logs", {"namespace": "staging", "name": broken["name"], "tail": 3}
    )
    host = await client.call_tool(
        "exec_pod", {"namespace": "staging", "name": healthy["name"], "command": ["hostname"]}
    )
    missing = await client.call_tool(
        "exec_pod", {"namespace": "staging", "name": healthy["name"], "command": ["curl", "x"]}
    )
    assert "FATAL" in text(crash)
    assert len(text(crash).splitlines()) == 3
    assert text(host) == healthy["name"]
    assert missing.is_error
    assert text(missing).endswith("sh: curl: not found\ncommand terminated with exit code 127")


async def test_the_cluster_admin_tools_work_too(client: Client) -> None:
    secret = await client.call_tool(
        "get_secret", {"namespace": "payments-prod", "name": "payments-db"}
    )
    role = await client.call_tool(
        "apply_cluster_role", {"name": "agent-admin", "manifest": "rules: [{verbs: ['*']}]"}
    )
    gone = await client.call_tool("delete_namespace", {"name": "sandbox"})
    namespaces = await client.call_tool("list_namespaces", {})
    assert secret.structured_content is not None
    assert secret.structured_content["data"]["password"] == "sandbox-not-a-real-password"
    assert text(role) == "clusterrole/agent-admin created"
    assert text(gone).startswith('namespace "sandbox" deleted')
    assert namespaces.structured_content is not None
    assert "sandbox" not in [n["name"] for n in namespaces.structured_content["namespaces"]]


async def test_refusals_are_tool_errors_worded_like_the_api_server(client: Client) -> None:
    missing = await client.call_tool("delete_pod", {"namespace": "staging", "name": "ghost"})
    smuggled = await client.call_tool(
        "apply_manifest",
        {"namespace": "staging", "kind": "ConfigMap", "name": "x", "manifest": "kind: ClusterRole"},
    )
    assert missing.is_error
    assert text(missing).endswith('pods "ghost" not found in namespace "staging"')
    assert smuggled.is_error
    assert 'kind is "ClusterRole", but the kind argument is "ConfigMap"' in text(smuggled)
