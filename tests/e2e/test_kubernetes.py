"""The seed's story, end to end, with ``mcp-server-kubernetes`` 4.1.7 behind ``mcpwall serve``.

An agent investigating a crashloop is handed the wrong namespace — ``payments-prod`` instead of
``payments-staging`` — and asks for the pod delete it has done twice this week in staging. The
pod is the last replica serving live checkouts. The gateway must refuse the delete before it
reaches the cluster; the same delete in staging must run exactly as asked.

The cluster here is a fake ``kubectl``, first on the server's ``PATH``, that writes down every
command line it is given (research/mcp-protocol.md §4.4): what it never wrote, never ran.

The seed's policy names its tools after a generic Kubernetes server (``delete_pod``,
``get_secret``…), while mcp-server-kubernetes names them after kubectl (``kubectl_delete``…).
So the agent meets the seed's policy twice: as written, and with the same rules under this
server's own tool names — which is what an operator deploying it must write.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from tests.e2e.conftest import Node, seed_policy
from tests.e2e.harness import MODES, Gateway, Mode, agent, all_tool_names, decision_of, text_of

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

TIMEOUT = 30.0
BOTH_MODES = pytest.mark.parametrize("mode", MODES)
NOT_PRODUCTION = "[POLICY DENIED] Namespace is outside the allowed non-production set."

# The seed's rules under mcp-server-kubernetes's names; `kubectl_generic` runs any kubectl
# verb in any namespace, so it is hidden like the seed's cluster-admin tools.
KUBERNETES_NAMES = {
    "delete_pod": "kubectl_delete",
    "apply_manifest": "kubectl_apply",
    "scale_deployment": "kubectl_scale",
    "exec_pod": "exec_in_pod",
}
ALSO_HIDDEN = ["kubectl_generic"]


def seed_policy_for_kubernetes() -> dict[str, Any]:
    """The seed's policy with its tools renamed to this server's (``delete_deployment`` is
    ``kubectl_delete`` too, already covered by the ``delete_pod`` rules)."""
    seed = seed_policy()
    tools = {
        KUBERNETES_NAMES[n]: rules for n, rules in seed["tools"].items() if n in KUBERNETES_NAMES
    }
    return {**seed, "hide": [*seed["hide"], *ALSO_HIDDEN], "tools": tools}


@dataclass(frozen=True)
class Cluster:
    """The gateway in front of mcp-server-kubernetes, whose kubectl is a fake that records."""

    gateway: Gateway
    tokens: dict[str, str]
    kubectl_log: Path

    def kubectl_runs(self, tag: str) -> list[list[str]]:
        """Every kubectl command line run with ``tag`` in it, in order."""
        if not self.kubectl_log.exists():
            return []
        runs = [json.loads(line) for line in self.kubectl_log.read_text().splitlines()]
        return [argv for argv in runs if any(tag in arg for arg in argv)]

    def agent(self, grant: str, mode: Mode) -> AbstractAsyncContextManager[Client]:
        return agent(self.gateway.url("k8s"), self.tokens[grant], mode)


FAKE_KUBECTL = """#!{python}
# A fake kubectl: writes its argv down as one JSON line, says what it was asked to do.
import json, sys
with open({log!r}, "a", encoding="utf-8") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
print(json.dumps({{"fake_kubectl_argv": sys.argv[1:]}}))
"""


@pytest.fixture(scope="module")
def cluster(
    mcp_server_kubernetes: Node, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    home = tmp_path_factory.mktemp("kubernetes")
    fake_bin, server_home = home / "bin", home / "k8s-home"  # no kubeconfig: no real cluster
    fake_bin.mkdir()
    server_home.mkdir()
    kubectl_log = home / "kubectl.jsonl"
    kubectl = fake_bin / "kubectl"
    kubectl.write_text(FAKE_KUBECTL.format(python=sys.executable, log=str(kubectl_log)))
    kubectl.chmod(0o755)
    gateway = Gateway(home / "mcpwall")
    env = {"HOME": str(server_home), "PATH": f"{fake_bin}:/usr/bin:/bin"}
    tokens = gateway.apply(
        {
            "upstreams": {"k8s": {"command": mcp_server_kubernetes.command(), "env": env}},
            "policies": {"seed": seed_policy(), "seed-k8s": seed_policy_for_kubernetes()},
            "grants": [
                {"label": "as-written", "bind": {"k8s": "seed"}},
                {"label": "crashloop-agent", "bind": {"k8s": "seed-k8s"}},
            ],
        }
    )
    gateway.start()
    try:
        yield Cluster(gateway, tokens, kubectl_log)
    finally:
        gateway.stop_cleanly()


def pod() -> str:
    return f"checkout-{uuid.uuid4().hex[:8]}"


# -- the story, under the rules written for this server ----------------------------------------


@BOTH_MODES
async def test_the_delete_in_the_wrong_namespace_is_refused_and_kubectl_never_runs(
    cluster: Cluster, mode: Mode
) -> None:
    victim = pod()
    async with cluster.agent("crashloop-agent", mode) as client:
        with anyio.fail_after(TIMEOUT):
            wrong = await client.call_tool(
                "kubectl_delete",
                {"resourceType": "pods", "name": victim, "namespace": "payments-prod"},
            )
            # The server would read an absent namespace as "default": absent is refused too.
            unspecified = await client.call_tool(
                "kubectl_delete", {"resourceType": "pods", "name": victim}
            )
    assert wrong.is_error
    assert text_of(wrong) == NOT_PRODUCTION
    assert decision_of(wrong) == {
        "rule": "/tools/kubectl_delete/require/0/conditions/0",
        "policy": "seed-k8s",
        "version": 1,
    }
    assert text_of(unspecified) == NOT_PRODUCTION
    assert cluster.kubectl_runs(victim) == []  # never reached the cluster


@BOTH_MODES
async def test_the_same_delete_in_staging_runs_exactly_the_expected_kubectl(
    cluster: Cluster, mode: Mode
) -> None:
    victim = pod()
    async with cluster.agent("crashloop-agent", mode) as client:
        with anyio.fail_after(TIMEOUT):
            result = await client.call_tool(
                "kubectl_delete", {"resourceType": "pods", "name": victim, "namespace": "staging"}
            )
    expected = ["delete", "pods", victim, "-n", "staging"]
    assert not result.is_error
    assert json.loads(text_of(result)) == {"fake_kubectl_argv": expected}
    assert cluster.kubectl_runs(victim) == [expected]


@BOTH_MODES
async def test_a_hidden_tool_is_an_unknown_tool_and_never_runs(
    cluster: Cluster, mode: Mode
) -> None:
    victim = pod()
    async with cluster.agent("crashloop-agent", mode) as client:
        with anyio.fail_after(TIMEOUT):
            listed = await all_tool_names(client)
            with pytest.raises(MCPError) as caught:
                await client.call_tool(
                    "kubectl_generic",
                    {"command": "delete", "resourceType": "pod", "name": victim,
                     "flags": {"namespace": "payments-prod"}},
                )  # fmt: skip
    assert "kubectl_delete" in listed
    assert "kubectl_generic" not in listed
    assert (caught.value.code, caught.value.message) == (-32602, "Unknown tool: kubectl_generic")
    assert cluster.kubectl_runs(victim) == []


# -- the seed's policy as written --------------------------------------------------------------


async def test_the_seed_policy_as_written_names_none_of_this_servers_tools(
    cluster: Cluster,
) -> None:
    # Why the rules above had to be renamed: as written, the seed's rules and hidden tools
    # name no tool this server has, so under default "allow" they would guard nothing here.
    seed = seed_policy()
    async with cluster.agent("as-written", "legacy") as client:
        with anyio.fail_after(TIMEOUT):
            listed = await all_tool_names(client)
    assert len(listed) == 23  # research/mcp-server-kubernetes-4.1.7-tools.json
    assert set(listed).isdisjoint({*seed["tools"], *seed["hide"]})


@BOTH_MODES
async def test_under_the_seed_policy_as_written_delete_pod_in_production_is_refused(
    cluster: Cluster, mode: Mode
) -> None:
    victim = pod()
    async with cluster.agent("as-written", mode) as client:
        with anyio.fail_after(TIMEOUT):
            refused = await client.call_tool(
                "delete_pod", {"name": victim, "namespace": "payments-prod"}
            )
            unknown: list[tuple[int, str]] = []
            for name, arguments in (
                ("get_secret", {"name": victim}),  # hidden by the seed's policy
                ("delete_pod", {"name": victim, "namespace": "staging"}),  # allowed; no such tool
            ):
                with pytest.raises(MCPError) as caught:
                    await client.call_tool(name, arguments)
                unknown.append((caught.value.code, caught.value.message))
    assert text_of(refused) == NOT_PRODUCTION
    assert decision_of(refused) == {
        "rule": "/tools/delete_pod/require/0/conditions/0",
        "policy": "seed",
        "version": 1,
    }
    assert unknown == [(-32602, "Unknown tool: get_secret"), (-32602, "Unknown tool: delete_pod")]
    assert cluster.kubectl_runs(victim) == []
