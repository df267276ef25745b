"""deploy/examples/kubernetes-upstream: mcp-server-kubernetes as a stdio upstream inside
mcpwall's pod, as the pod's own least-privilege ServiceAccount (the seed's "first wall").

The image recipe passes hadolint and pins the server at the version its policy was written
for; the config the image carries applies (with that policy) as laid out in the image; the
RBAC grants reading and deleting pods in the policy's non-production namespaces and nothing
anywhere else; the kubeconfig names the context the policy requires and holds no secret; every
object is valid for Kubernetes 1.30-1.37, and names what the chart's example renders."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner

from mcpwall.cli import cli
from tests.deploy.dockerfile import DOCKERFILE, global_args, instructions, of, stages
from tests.tools.scripts import load_tool

render_chart = load_tool("render_chart")
REPO = render_chart.REPO
EXAMPLE = REPO / "deploy" / "examples" / "kubernetes-upstream"
RECIPE = EXAMPLE / "Dockerfile"
HADOLINT = Path(sys.executable).with_name("hadolint")
KUBERNETES = [f"1.{minor}.0" for minor in range(30, 38)]
POLICY = yaml.safe_load((REPO / "examples/mcp-server-kubernetes/policy.yaml").read_text())
SERVER_CONFIG = yaml.safe_load((REPO / "examples/mcp-server-kubernetes/mcpwall.yaml").read_text())
# The namespaces the policy lets changes into (its &nonprod-namespace rule), and the context.
NONPROD = POLICY["tools"]["kubectl_delete"]["require"][0]["conditions"][0]["value"]
CONTEXT = POLICY["tools"]["kubectl_delete"]["require"][1]["conditions"][0]["value"]
READ = {"get", "list", "watch"}
TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount"


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def example_objects() -> dict[tuple[str, str], dict[str, Any]]:
    objects = {}
    for template, text in render_chart.render(
        render_chart.example_values("kubernetes-upstream")
    ).items():
        if not template.endswith("NOTES.txt"):
            for doc in yaml.safe_load_all(text):
                if doc:
                    objects[(doc["kind"], doc["metadata"]["name"])] = doc
    return objects


def pod_spec() -> dict[str, Any]:
    (deployment,) = [doc for (k, _), doc in example_objects().items() if k == "Deployment"]
    spec = deployment["spec"]["template"]["spec"]
    assert isinstance(spec, dict)
    return spec


# -- the image ---------------------------------------------------------------------------------


def test_hadolint_finds_nothing() -> None:
    done = subprocess.run(
        [str(HADOLINT), "--no-color", "--failure-threshold", "info", str(RECIPE)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_the_image_adds_the_pinned_server_and_kubectl_to_mcpwalls_and_runs_as_its_user() -> None:
    text = RECIPE.read_text(encoding="utf-8")
    (stage,) = stages(text)
    assert of(stage, "FROM") == ["${MCPWALL_IMAGE}"]
    args = dict(arg.split("=", 1) for arg in of(stage, "ARG"))
    # The version examples/mcp-server-kubernetes/policy.yaml was written for.
    pinned = shlex.split(SERVER_CONFIG["upstreams"]["kubernetes"]["command"])[-1]
    assert pinned == f"mcp-server-kubernetes@{args['MCP_SERVER_KUBERNETES_VERSION']}"
    kubectl = re.fullmatch(r"v1\.(\d+)\.\d+", args["KUBECTL_VERSION"])
    assert kubectl is not None
    assert 30 <= int(kubectl[1]) <= 37
    (run,) = of(stage, "RUN")
    assert 'npm install --global --omit=dev "mcp-server-kubernetes@${' in run
    assert "sha256sum --check" in run  # kubectl checked against the published checksum
    # Back to mcpwall's own non-root user, the last word.
    (_, final) = stages(DOCKERFILE.read_text(encoding="utf-8"))
    assert instructions(text)[-1].arguments == of(final, "USER")[0]
    assert global_args(text)["MCPWALL_IMAGE"].startswith("mcpwall:")


def test_the_config_the_image_carries_applies_with_its_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (stage,) = stages(RECIPE.read_text(encoding="utf-8"))
    for copy in of(stage, "COPY"):  # the image's layout, from the repository's root
        source, target = copy.split()
        placed = tmp_path / "image" / target.lstrip("/")
        placed.parent.mkdir(parents=True, exist_ok=True)
        placed.write_bytes((REPO / source).read_bytes())
    config = tmp_path / "image/etc/mcpwall/kubernetes/mcpwall.yaml"
    for variable in ("MCPWALL_DATABASE_URL", "MCPWALL_SECRET_KEY", "MCPWALL_REDIS_URL"):
        monkeypatch.delenv(variable, raising=False)
        monkeypatch.delenv(f"{variable}_FILE", raising=False)
    monkeypatch.setenv("MCPWALL_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(cli, ["apply", "-f", str(config)])
    assert result.exit_code == 0, result.output
    listed = CliRunner().invoke(cli, ["upstream", "list", "--json"])
    (upstream,) = json.loads(listed.output)
    assert upstream["name"] == "kubernetes"
    assert upstream["command"] == "mcp-server-kubernetes"  # installed, not fetched by npx
    # The kubeconfig the chart's example mounts, from the ConfigMap kubeconfig.yaml makes.
    env = yaml.safe_load(config.read_text())["upstreams"]["kubernetes"]["env"]
    spec = pod_spec()
    (mount,) = [m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "kubeconfig"]
    assert env["KUBECONFIG"] == f"{mount['mountPath']}/config"
    assert env["KUBECACHEDIR"].startswith("/tmp/")  # the root filesystem is read-only
    (volume,) = [v for v in spec["volumes"] if v["name"] == "kubeconfig"]
    (configmap,) = documents(EXAMPLE / "kubeconfig.yaml")
    assert volume["configMap"]["name"] == configmap["metadata"]["name"]
    assert "config" in configmap["data"]


# -- the first wall ----------------------------------------------------------------------------


def test_rbac_reads_and_deletes_pods_in_the_nonprod_namespaces_and_nowhere_else() -> None:
    objects = documents(EXAMPLE / "rbac.yaml")
    assert {doc["kind"] for doc in objects} == {"Role", "RoleBinding"}  # nothing cluster-wide
    roles = {doc["metadata"]["namespace"]: doc for doc in objects if doc["kind"] == "Role"}
    bindings = {
        doc["metadata"]["namespace"]: doc for doc in objects if doc["kind"] == "RoleBinding"
    }
    assert sorted(roles) == sorted(bindings) == sorted(NONPROD) == ["dev", "sandbox", "staging"]
    for namespace, role in roles.items():
        deletes = []
        for rule in role["rules"]:
            assert "*" not in json.dumps(rule), f"{namespace}: a wildcard"
            assert "secrets" not in rule["resources"]
            if set(rule["verbs"]) <= READ:
                continue
            deletes.append(rule)
        # The one change: deleting pods (the seed's delete_pod), nothing else.
        assert deletes == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["delete"]}]
        readable = {resource for rule in role["rules"] for resource in rule["resources"]}
        assert {"pods", "pods/log", "events", "deployments", "replicasets"} <= readable
        binding = bindings[namespace]
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": role["metadata"]["name"],
        }
    # Bound to the ServiceAccount the chart's example runs its pod as, whose token it mounts.
    spec = pod_spec()
    account = {"kind": "ServiceAccount", "name": spec["serviceAccountName"], "namespace": "mcpwall"}
    assert all(binding["subjects"] == [account] for binding in bindings.values())
    assert spec["automountServiceAccountToken"] is True
    assert ("ServiceAccount", spec["serviceAccountName"]) in example_objects()


def test_the_kubeconfig_names_the_policys_context_and_holds_no_secret() -> None:
    (configmap,) = documents(EXAMPLE / "kubeconfig.yaml")
    kubeconfig = yaml.safe_load(configmap["data"]["config"])
    assert kubeconfig["current-context"] == CONTEXT == "nonprod"
    (context,) = kubeconfig["contexts"]
    assert context["name"] == CONTEXT
    assert context["context"]["namespace"] in NONPROD
    (user,) = kubeconfig["users"]
    assert user["user"] == {"tokenFile": f"{TOKEN}/token"}  # the pod's token, read at each call
    (cluster,) = kubeconfig["clusters"]
    assert cluster["cluster"]["certificate-authority"] == f"{TOKEN}/ca.crt"
    assert cluster["cluster"]["server"] == "https://kubernetes.default.svc"


@pytest.mark.parametrize("name", ["rbac.yaml", "kubeconfig.yaml"])
def test_every_object_is_valid_for_kubernetes_1_30_to_1_37(name: str) -> None:
    for document in documents(EXAMPLE / name):
        for version in KUBERNETES:
            kubernetes_validate.validate(document, version, strict=True)
