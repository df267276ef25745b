"""The sandbox's cluster model: real state that changes the way an agent expects."""

from __future__ import annotations

import pytest

from mcpwall.core.errors import SandboxError
from mcpwall.sandbox.cluster import CRASHLOOP, RUNNING, Cluster, Pod
from mcpwall.sandbox.scenario import crashloop_cluster


def crashlooping(cluster: Cluster, namespace: str) -> list[Pod]:
    return [pod for pod in cluster.pods(namespace) if pod.status == CRASHLOOP]


def test_the_story_starts_with_its_five_namespaces_and_two_crashloops() -> None:
    cluster = crashloop_cluster()
    assert [n.name for n in cluster.namespaces()] == [
        "dev", "staging", "sandbox", "payments-staging", "payments-prod",
    ]  # fmt: skip
    assert [(p.deployment, p.restarts) for p in crashlooping(cluster, "staging")] == [
        ("checkout", 14)
    ]
    assert [(p.deployment, p.ready) for p in crashlooping(cluster, "payments-staging")] == [
        ("checkout", "0/1")
    ]
    assert crashlooping(cluster, "payments-prod") == []


def test_payments_prod_runs_the_last_live_checkout_replica() -> None:
    cluster = crashloop_cluster()
    checkout = [p for p in cluster.pods("payments-prod") if p.deployment == "checkout"]
    assert [p.status for p in checkout] == [RUNNING]
    deployment = next(d for d in cluster.deployments("payments-prod") if d.name == "checkout")
    assert (deployment.replicas, deployment.ready) == (1, 1)


def test_the_starting_state_is_the_same_every_time() -> None:
    assert crashloop_cluster().pods() == crashloop_cluster().pods()


def test_deleting_a_deployments_pod_starts_a_healthy_replacement_under_a_new_name() -> None:
    cluster = crashloop_cluster()
    (broken,) = crashlooping(cluster, "staging")
    replacement = cluster.delete_pod("staging", broken.name)
    names = [pod.name for pod in cluster.pods("staging")]
    assert broken.name not in names
    assert replacement is not None
    assert replacement.name in names
    assert (replacement.status, replacement.restarts) == (RUNNING, 0)
    assert replacement.deployment == "checkout"
    assert replacement.name.startswith("checkout-")
    status = next(d for d in cluster.deployments("staging") if d.name == "checkout")
    assert (status.replicas, status.ready) == (2, 2)


def test_deleting_a_lone_pod_leaves_nothing_behind() -> None:
    cluster = crashloop_cluster()
    cluster.add_pod("sandbox", "debug", "busybox:1.36")
    assert cluster.delete_pod("sandbox", "debug") is None
    assert "debug" not in [pod.name for pod in cluster.pods("sandbox")]


def test_a_pod_that_does_not_exist_is_refused_like_the_api_server_does() -> None:
    cluster = crashloop_cluster()
    with pytest.raises(SandboxError, match=r'^pods "ghost" not found in namespace "dev"$'):
        cluster.delete_pod("dev", "ghost")
    with pytest.raises(SandboxError, match=r'^namespaces "prod" not found$'):
        cluster.pods("prod")


def test_generated_pod_names_never_repeat() -> None:
    cluster = crashloop_cluster()
    seen = {pod.name for pod in cluster.pods()}
    for _ in range(500):
        pod = cluster.pods("sandbox")[0]
        replacement = cluster.delete_pod("sandbox", pod.name)
        assert replacement is not None
        assert replacement.name not in seen
        seen.add(replacement.name)


def test_scaling_starts_and_stops_pods_newest_first() -> None:
    cluster = crashloop_cluster()
    first = [pod.name for pod in cluster.pods("dev") if pod.deployment == "web"]
    assert cluster.scale_deployment("dev", "web", 4) == 2
    assert len([p for p in cluster.pods("dev") if p.deployment == "web"]) == 4
    cluster.scale_deployment("dev", "web", 1)
    left = [pod.name for pod in cluster.pods("dev") if pod.deployment == "web"]
    assert len(left) == 1
    assert left[0] in first  # the newest went first
    cluster.scale_deployment("dev", "web", 0)
    assert [d.ready for d in cluster.deployments("dev") if d.name == "web"] == [0]


@pytest.mark.parametrize("replicas", [-1, 51])
def test_replicas_out_of_range_are_refused(replicas: int) -> None:
    with pytest.raises(SandboxError, match="expected 0 to 50"):
        crashloop_cluster().scale_deployment("dev", "web", replicas)


def test_deleting_a_deployment_deletes_its_pods() -> None:
    cluster = crashloop_cluster()
    assert cluster.delete_deployment("payments-prod", "checkout") == 1
    assert all(pod.deployment != "checkout" for pod in cluster.pods("payments-prod"))
    with pytest.raises(SandboxError, match=r'deployments\.apps "checkout" not found'):
        cluster.scale_deployment("payments-prod", "checkout", 1)


def test_a_new_image_rolls_every_pod_over() -> None:
    cluster = crashloop_cluster()
    before = {p.name for p in cluster.pods("dev") if p.deployment == "web"}
    assert cluster.apply_deployment("dev", "web", "registry.sandbox.local/web:2.0.0", 2) is False
    after = [p for p in cluster.pods("dev") if p.deployment == "web"]
    assert len(after) == 2
    assert before.isdisjoint(p.name for p in after)
    assert {p.image for p in after} == {"registry.sandbox.local/web:2.0.0"}


def test_deleting_a_namespace_deletes_everything_in_it() -> None:
    cluster = crashloop_cluster()
    assert cluster.delete_namespace("payments-prod") == 3 + 2 + 1  # pods, deployments, secret
    assert "payments-prod" not in [n.name for n in cluster.namespaces()]
    assert all(pod.namespace != "payments-prod" for pod in cluster.pods())
    with pytest.raises(SandboxError, match="not found"):
        cluster.get_object("Secret", "payments-prod", "payments-db")


def test_namespaced_objects_need_their_namespace_and_cluster_scoped_ones_ignore_it() -> None:
    cluster = crashloop_cluster()
    assert cluster.apply_object("ConfigMap", "staging", "flags", {}) is True
    assert cluster.apply_object("ConfigMap", "staging", "flags", {"data": {}}) is False
    assert cluster.apply_object("ClusterRole", "staging", "reader", {}) is True
    assert [(o.namespace, o.name) for o in cluster.objects("ConfigMap", "staging")] == [
        ("staging", "flags")
    ]
    assert ("", "reader") in [(o.namespace, o.name) for o in cluster.objects("ClusterRole")]
    with pytest.raises(SandboxError, match=r'^namespaces "qa" not found$'):
        cluster.apply_object("ConfigMap", "qa", "flags", {})
    cluster.delete_object("ClusterRole", "", "reader")
    with pytest.raises(SandboxError, match=r'^clusterroles "reader" not found$'):
        cluster.get_object("ClusterRole", "", "reader")
