"""``apply_manifest``'s manifests: read as YAML or JSON, and refused when they disagree with
the arguments a policy decided on."""

from __future__ import annotations

import pytest

from mcpwall.core.errors import SandboxError
from mcpwall.sandbox.manifests import read_manifest

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: staging}
spec:
  replicas: 3
  template:
    spec:
      containers: [{name: web, image: "registry.sandbox.local/web:2.0.0"}]
"""


def test_a_deployment_manifest_gives_its_replicas_and_image() -> None:
    manifest = read_manifest(DEPLOYMENT, kind="Deployment", name="web", namespace="staging")
    assert (manifest.replicas(), manifest.image()) == (3, "registry.sandbox.local/web:2.0.0")


def test_a_pods_image_and_json_manifests() -> None:
    text = '{"kind": "Pod", "spec": {"containers": [{"image": "busybox:1.36"}]}}'
    assert read_manifest(text, kind="Pod", name="p", namespace="dev").image() == "busybox:1.36"


def test_fields_the_manifest_leaves_out_come_from_the_arguments() -> None:
    manifest = read_manifest("data: {a: b}", kind="ConfigMap", name="flags", namespace="dev")
    assert (manifest.kind, manifest.name, manifest.namespace) == ("ConfigMap", "flags", "dev")
    assert manifest.replicas() == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: ClusterRole", 'kind is "ClusterRole", but the kind argument is "ConfigMap"'),
        ("metadata: {name: other}", 'metadata.name is "other", but the name argument is "flags"'),
        (
            "metadata: {namespace: payments-prod}",
            'metadata.namespace is "payments-prod", but the namespace argument is "staging"',
        ),
    ],
)
def test_a_manifest_that_disagrees_with_its_arguments_is_refused(text: str, message: str) -> None:
    with pytest.raises(SandboxError, match=message):
        read_manifest(text, kind="ConfigMap", name="flags", namespace="staging")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "the manifest: expected an object, found array"),
        ("a: [", "neither JSON nor valid YAML"),
        ("metadata: 3", "metadata: expected an object, found number"),
    ],
)
def test_what_is_not_one_object_is_refused(text: str, message: str) -> None:
    with pytest.raises(SandboxError, match=message):
        read_manifest(text, kind="ConfigMap", name="flags", namespace="staging")


def test_a_deployment_without_an_image_or_with_odd_replicas_is_refused() -> None:
    manifest = read_manifest("spec: {replicas: two}", kind="Deployment", name="w", namespace="dev")
    with pytest.raises(SandboxError, match=r'spec\.replicas is "two", expected an integer'):
        manifest.replicas()
    with pytest.raises(SandboxError, match=r"spec\.template\.spec\.containers\.0\.image"):
        manifest.image()
