"""The seed's manifest rule, end to end, in front of the real ``mcp-server-kubernetes`` 4.1.7.

The seed says: apply manifests only in non-production namespaces, and never a Namespace, a
ClusterRole or a ClusterRoleBinding. This server's ``kubectl_apply`` takes the manifest as YAML
text, so the rule is written with ``|yaml_all`` (tests/core/policy/cases/kubernetes-manifests.*):
every document's ``metadata.namespace`` in the allowlist, no document of those kinds.

The cluster is a fake ``kubectl`` first on the server's ``PATH`` that writes down each command line
and the manifest file it was given: what it never wrote, never ran. The gateway's own home is
searched at the end for the canaries the manifests carry: decoded values never reach its logs.
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

from tests.e2e.conftest import REPO, Node
from tests.e2e.harness import MODES, Gateway, Mode, agent, decision_of, text_of

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

TIMEOUT = 30.0
BOTH_MODES = pytest.mark.parametrize("mode", MODES)
POLICY = REPO / "tests" / "core" / "policy" / "cases" / "kubernetes-manifests.policy.json"
CANARY = f"canary-{uuid.uuid4().hex}"  # in every manifest's labels: never in the gateway's home

# A fake kubectl: writes its argv and the manifest it was pointed at (-f) as one JSON line. The
# server deletes its temporary manifest afterwards, so the contents are read now.
FAKE_KUBECTL = """#!{python}
import json, sys
argv = sys.argv[1:]
manifest = None
if "-f" in argv:
    with open(argv[argv.index("-f") + 1], encoding="utf-8") as file:
        manifest = file.read()
with open({log!r}, "a", encoding="utf-8") as log:
    log.write(json.dumps({{"argv": argv, "manifest": manifest}}) + "\\n")
print(json.dumps({{"fake_kubectl_argv": argv}}))
"""


@dataclass(frozen=True)
class Cluster:
    gateway: Gateway
    token: str
    kubectl_log: Path

    def runs_with(self, tag: str) -> list[dict[str, Any]]:
        """Every kubectl run whose manifest holds ``tag``, in order."""
        if not self.kubectl_log.exists():
            return []
        runs = [json.loads(line) for line in self.kubectl_log.read_text().splitlines()]
        return [run for run in runs if tag in (run["manifest"] or "")]

    def agent(self, mode: Mode) -> AbstractAsyncContextManager[Client]:
        return agent(self.gateway.url("k8s"), self.token, mode)


@pytest.fixture(scope="module")
def cluster(
    mcp_server_kubernetes: Node, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("kubernetes-manifests")
    fake_bin, server_home, home = root / "bin", root / "k8s-home", root / "mcpwall"
    fake_bin.mkdir()
    server_home.mkdir()
    kubectl_log = root / "kubectl.jsonl"
    kubectl = fake_bin / "kubectl"
    kubectl.write_text(FAKE_KUBECTL.format(python=sys.executable, log=str(kubectl_log)))
    kubectl.chmod(0o755)
    gateway = Gateway(home)
    env = {"HOME": str(server_home), "PATH": f"{fake_bin}:/usr/bin:/bin"}
    tokens = gateway.apply(
        {
            "upstreams": {"k8s": {"command": mcp_server_kubernetes.command(), "env": env}},
            "policies": {"manifests": json.loads(POLICY.read_text(encoding="utf-8"))},
            "grants": [{"label": "deployer", "bind": {"k8s": "manifests"}}],
        }
    )
    gateway.start()
    try:
        yield Cluster(gateway, tokens["deployer"], kubectl_log)
    finally:
        gateway.stop_cleanly()
    leaks = [
        path for path in home.rglob("*") if path.is_file() and CANARY.encode() in path.read_bytes()
    ]
    assert leaks == [], f"decoded values reached the gateway's files: {leaks}"


def document(kind: str, namespace: str, tag: str) -> str:
    return (
        f"apiVersion: v1\nkind: {kind}\n"
        f"metadata:\n  name: {tag}\n  namespace: {namespace}\n"
        f"  labels: {{canary: {CANARY}}}\n"
    )


def tag() -> str:
    return f"checkout-{uuid.uuid4().hex[:8]}"


async def apply(cluster: Cluster, mode: Mode, arguments: dict[str, Any]) -> Any:
    async with cluster.agent(mode) as client:
        with anyio.fail_after(TIMEOUT):
            return await client.call_tool("kubectl_apply", arguments)


@BOTH_MODES
async def test_a_manifest_with_one_document_in_production_is_refused_and_kubectl_never_runs(
    cluster: Cluster, mode: Mode
) -> None:
    name = tag()
    manifest = document("ConfigMap", "staging", name) + "---\n"
    manifest += document("ConfigMap", "payments-prod", name)
    result = await apply(cluster, mode, {"namespace": "staging", "manifest": manifest})
    assert result.is_error
    assert text_of(result) == (
        "[POLICY DENIED] Every document of the manifest must set metadata.namespace to dev, "
        "staging or sandbox."
    )
    assert decision_of(result) == {
        "rule": "/tools/kubectl_apply/require/2/conditions/0",
        "policy": "manifests",
        "version": 1,
    }
    assert cluster.runs_with(name) == []


@BOTH_MODES
async def test_a_cluster_role_in_staging_is_refused(cluster: Cluster, mode: Mode) -> None:
    name = tag()
    manifest = document("ClusterRole", "staging", name) + "rules: []\n"
    result = await apply(cluster, mode, {"namespace": "staging", "manifest": manifest})
    assert text_of(result) == (
        "[POLICY DENIED] Manifest applies are limited to non-production namespaced resources."
    )
    assert decision_of(result) == {
        "rule": "/tools/kubectl_apply/require/3/conditions/0",
        "policy": "manifests",
        "version": 1,
    }
    assert cluster.runs_with(name) == []


@BOTH_MODES
async def test_a_malformed_manifest_is_refused_with_its_reason(
    cluster: Cluster, mode: Mode
) -> None:
    name = tag()
    # The second namespace would win in a reader that keeps the last of two keys.
    manifest = document("ConfigMap", "staging", name) + "  namespace: payments-prod\n"
    result = await apply(cluster, mode, {"namespace": "staging", "manifest": manifest})
    assert text_of(result) == (
        '[POLICY DENIED] argument "manifest" could not be read as YAML: '
        'duplicate key "namespace" at line 7'
    )
    assert decision_of(result) == {
        "rule": "/tools/kubectl_apply/require/2/conditions/0",
        "policy": "manifests",
        "version": 1,
    }
    assert cluster.runs_with(name) == []


@BOTH_MODES
async def test_a_clean_staging_manifest_is_applied_once_exactly_as_sent(
    cluster: Cluster, mode: Mode
) -> None:
    name = tag()
    manifest = document("ConfigMap", "staging", name) + "---\n"
    manifest += document("Service", "staging", name) + "spec:\n  ports: [{port: 80}]\n"
    result = await apply(cluster, mode, {"namespace": "staging", "manifest": manifest})
    assert not result.is_error, text_of(result)
    [run] = cluster.runs_with(name)
    assert run["manifest"] == manifest
    argv = run["argv"]
    assert argv[0] == "apply"
    assert argv[argv.index("-n") + 1] == "staging"
    assert json.loads(text_of(result)) == {"fake_kubectl_argv": argv}
