"""``examples/seed`` as its README tells a user to run it: ``mcpwall apply -f`` its
``mcpwall.yaml``, then ``mcpwall stdio --upstream k8s``, which starts ``mcpwall sandbox`` from
the ``PATH``; the official SDK client is the agent. What the README promises happens."""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest
from mcp import Client

from tests.e2e.harness import LEGACY, MCPWALL, Gateway, decision_of, stdio_agent, text_of

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

TIMEOUT = 30.0
SEED = Path(__file__).resolve().parents[2] / "examples" / "seed"
HIDDEN = {"delete_namespace", "get_secret", "apply_cluster_role", "delete_cluster_role"}
NAMESPACE_RULE = "/tools/delete_pod/require/0/conditions/0"


async def pod_names(client: Client, namespace: str) -> list[str]:
    result = await client.call_tool("list_pods", {"namespace": namespace})
    assert result.structured_content is not None
    return [pod["name"] for pod in result.structured_content["pods"]]


async def test_the_seed_example_walls_the_sandbox_as_its_readme_says(tmp_path: Path) -> None:
    # The gateway finds `mcpwall sandbox` on its PATH: this environment's mcpwall.
    path = os.pathsep.join([str(Path(MCPWALL).parent), os.environ.get("PATH", "")])
    gateway = Gateway(tmp_path / "home", {"PATH": path})
    gateway.home.mkdir()
    output = gateway.cli("apply", "-f", str(SEED / "mcpwall.yaml"))
    [token] = [line.split(": ")[1] for line in output.splitlines() if line.startswith("token ")]

    with anyio.fail_after(TIMEOUT):
        async with stdio_agent("k8s", token, gateway.env, LEGACY) as agent:
            listed = {tool.name for tool in (await agent.list_tools()).tools}
            prod_pod = (await pod_names(agent, "payments-prod"))[0]
            refused = await agent.call_tool(
                "delete_pod", {"namespace": "payments-prod", "name": prod_pod}
            )
            staging_pod = (await pod_names(agent, "staging"))[0]
            deleted = await agent.call_tool(
                "delete_pod", {"namespace": "staging", "name": staging_pod}
            )
            # The gateway reads the kind argument; the sandbox refuses the manifest's other kind.
            mismatched = await agent.call_tool(
                "apply_manifest",
                {
                    "namespace": "staging",
                    "kind": "ConfigMap",
                    "name": "agent-admin",
                    "manifest": "kind: ClusterRole\nmetadata: {name: agent-admin}\n",
                },
            )
            prod_after = await pod_names(agent, "payments-prod")
            staging_after = await pod_names(agent, "staging")

    assert not listed & HIDDEN
    assert {"delete_pod", "apply_manifest", "list_pods"} <= listed
    assert refused.is_error
    assert (
        text_of(refused) == "[POLICY DENIED] Namespace is outside the allowed non-production set."
    )
    assert decision_of(refused) == {"rule": NAMESPACE_RULE, "policy": "seed", "version": 1}
    assert prod_pod in prod_after
    assert not deleted.is_error, text_of(deleted)
    assert staging_pod not in staging_after
    assert mismatched.is_error
    assert 'kind is "ClusterRole", but the kind argument is "ConfigMap"' in text_of(mismatched)
