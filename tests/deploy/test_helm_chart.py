"""The Helm chart, rendered and linted offline by Helm's own engine (``helm-python-sdk``), every
rendered object checked against Kubernetes' schemas for 1.30–1.37 (``kubernetes-validate
--strict``), and what it promises asserted on the output: replicas, probes, the restricted
security context, where each setting and secret comes from (secrets never in a ConfigMap, an
argument or a value), the migration Job, the disruption budget and the network policy. The
example installs' plain manifests are what the chart renders today."""

from __future__ import annotations

import base64
import json
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from mcpwall.cli.serve import serve
from mcpwall.gateway.readiness import CHECK_TIMEOUT_SECONDS
from tests.deploy.dockerfile import DOCKERFILE, of, stages
from tests.tools.scripts import load_tool

render_chart = load_tool("render_chart")
CHART = render_chart.CHART
KUBERNETES = [f"1.{minor}.0" for minor in range(30, 38)]
# Distinct values, so that each can be looked for in the output.
DATABASE_URL = "postgresql://mcpwall:db-password-7f3a@postgres.db.svc:5432/mcpwall"
REDIS_URL = "redis://:redis-password-91c2@redis.cache.svc:6379/0"
SECRET_KEY = base64.urlsafe_b64encode(bytes(range(32))).decode()
SECRETS = (DATABASE_URL, REDIS_URL, SECRET_KEY)
POSTGRES: dict[str, Any] = {
    "database": {"url": DATABASE_URL},
    "redis": {"url": REDIS_URL},
    "secretKey": SECRET_KEY,
}
PROFILES: dict[str, dict[str, Any]] = {
    "postgres-redis": POSTGRES,
    "existing-secret-autoscaled": {
        "existingSecret": "mine",
        "redisFromExistingSecret": True,
        "autoscaling": {"enabled": True},
        "networkPolicy": {"enabled": True},
    },
    "sqlite": {"replicaCount": 1},
    **{
        f"example-{name}": yaml.safe_load(
            (render_chart.EXAMPLES / f"values-{name}.yaml").read_text(encoding="utf-8")
        )
        for name in render_chart.NAMES
    },
}

Objects = dict[tuple[str, str], dict[str, Any]]


def rendered(values: dict[str, Any]) -> Objects:
    """The objects the chart renders with ``values``, by (kind, name)."""
    objects: Objects = {}
    for template, text in render_chart.render(values).items():
        if template.endswith("NOTES.txt"):
            continue
        for document in yaml.safe_load_all(text):
            if document is not None:
                key = (document["kind"], document["metadata"]["name"])
                assert key not in objects, f"{key} rendered twice"
                objects[key] = document
    return objects


def refused(values: dict[str, Any]) -> str:
    """The error the chart gives for ``values``, which it must refuse."""
    with pytest.raises(helm.HelmError) as raised:
        render_chart.render(values)
    return str(raised.value)


def kind(objects: Objects, wanted: str) -> list[dict[str, Any]]:
    return [document for (found, _), document in objects.items() if found == wanted]


def deployment(objects: Objects) -> dict[str, Any]:
    (found,) = kind(objects, "Deployment")
    return found


def container(objects: Objects) -> dict[str, Any]:
    (found,) = deployment(objects)["spec"]["template"]["spec"]["containers"]
    assert isinstance(found, dict)
    return found


def environment(entry: dict[str, Any]) -> dict[str, Any]:
    return {variable["name"]: variable for variable in entry["env"]}


def strings(value: Any) -> Iterator[str]:
    """Every string anywhere in ``value`` (keys and values)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(key)
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


# -- lint and schemas --------------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_helm_lint_strict_finds_no_warning_or_error(profile: str) -> None:
    report = helm.lint(str(CHART), PROFILES[profile], strict=True, namespace="mcpwall")
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert (problems, report["errors"]) == ([], [])


@pytest.mark.parametrize("profile", PROFILES)
def test_every_object_is_valid_for_kubernetes_1_30_to_1_37(profile: str) -> None:
    objects = rendered(PROFILES[profile])
    assert len(objects) >= 6
    for document in objects.values():
        for version in KUBERNETES:
            kubernetes_validate.validate(document, version, strict=True)


def test_the_schema_refuses_values_of_the_wrong_shape() -> None:
    assert "got string, want integer" in refused({**POSTGRES, "replicaCount": "three"})
    assert "additional properties 'replicas' not allowed" in refused({**POSTGRES, "replicas": 3})
    # A secret can't be put among the ConfigMap's settings.
    assert "MCPWALL_SECRET_KEY" in refused({**POSTGRES, "config": {"MCPWALL_SECRET_KEY": "x"}})
    assert "/secretKey" in refused({**POSTGRES, "secretKey": "too-short"})


# -- the Deployment ----------------------------------------------------------------------------


def test_three_replicas_of_serve_by_default_on_the_ports_the_image_exposes() -> None:
    objects = rendered(POSTGRES)
    assert deployment(objects)["spec"]["replicas"] == 3
    defaults = {p.name: p.default for p in serve.params if isinstance(p, click.Option)}
    _, final = stages(DOCKERFILE.read_text(encoding="utf-8"))
    assert of(final, "EXPOSE") == [f"{defaults['port']} {defaults['admin_port']}"]
    main = container(objects)
    ports = {port["name"]: port["containerPort"] for port in main["ports"]}
    assert ports == {"mcp": defaults["port"], "admin": defaults["admin_port"]}
    assert main["args"] == [
        "serve", "--host", "0.0.0.0",
        "--port", str(defaults["port"]), "--admin-port", str(defaults["admin_port"]),
    ]  # fmt: skip
    assert "command" not in main  # the image's entrypoint, mcpwall


def test_probes_liveness_on_healthz_readiness_on_readyz_with_room_for_a_slow_store() -> None:
    main = container(rendered(POSTGRES))
    liveness, readiness, startup = (
        main[f"{name}Probe"] for name in ("liveness", "readiness", "startup")
    )
    assert liveness["httpGet"] == {"path": "/healthz", "port": "mcp"}
    assert startup["httpGet"] == {"path": "/healthz", "port": "mcp"}
    assert readiness["httpGet"] == {"path": "/readyz", "port": "mcp"}
    # /readyz makes up to three queries in turn, each bounded: a slow store makes it answer
    # in up to three times that bound, and the probe must not time out before.
    assert readiness["timeoutSeconds"] > 3 * CHECK_TIMEOUT_SECONDS
    # Two failed probes take a replica out of the Service within about 20 s.
    assert (
        readiness["failureThreshold"] * max(readiness["periodSeconds"], readiness["timeoutSeconds"])
        <= 20
    )
    # Liveness never fails for a store outage (/healthz checks nothing else), but must not
    # kill a replica that is merely busy for one period either.
    assert liveness["failureThreshold"] * liveness["periodSeconds"] >= 30


def test_the_pod_runs_restricted_on_a_read_only_root_with_tmp_and_data_writable() -> None:
    objects = rendered(POSTGRES)
    pod = deployment(objects)["spec"]["template"]["spec"]
    main = container(objects)
    _, final = stages(DOCKERFILE.read_text(encoding="utf-8"))
    uid, gid = (int(part) for part in of(final, "USER")[0].split(":"))
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (uid, gid)
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = main["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    mounts = {mount["mountPath"]: mount["name"] for mount in main["volumeMounts"]}
    assert mounts == {"/tmp": "tmp", "/data": "data"}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert "emptyDir" in volumes["tmp"]
    assert "emptyDir" in volumes["data"]  # PostgreSQL: nothing of value is written there
    assert pod["automountServiceAccountToken"] is False
    (account,) = kind(objects, "ServiceAccount")
    assert account["automountServiceAccountToken"] is False
    assert main["resources"]["requests"]
    assert main["resources"]["limits"]["memory"]


def test_a_replica_leaves_the_service_before_it_stops_accepting() -> None:
    objects = rendered(POSTGRES)
    pod = deployment(objects)["spec"]["template"]["spec"]
    pause = container(objects)["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pause > 0
    # serve drains for up to 10 s after SIGTERM: the grace period covers both.
    assert pod["terminationGracePeriodSeconds"] >= pause + 10


# -- settings and secrets ----------------------------------------------------------------------


def test_secrets_come_from_the_secret_and_settings_from_the_configmap() -> None:
    objects = rendered(POSTGRES)
    name = deployment(objects)["metadata"]["name"]
    main = container(objects)
    env = environment(main)
    for variable, key in [
        ("MCPWALL_DATABASE_URL", "database-url"),
        ("MCPWALL_REDIS_URL", "redis-url"),
        ("MCPWALL_SECRET_KEY", "secret-key"),
    ]:
        assert env[variable]["valueFrom"] == {"secretKeyRef": {"name": name, "key": key}}
    assert env["MCPWALL_HOME"]["value"] == "/data"
    assert main["envFrom"] == [{"configMapRef": {"name": name}}]
    secret = objects[("Secret", name)]
    decoded = {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}
    assert decoded == {
        "database-url": DATABASE_URL,
        "redis-url": REDIS_URL,
        "secret-key": SECRET_KEY,
    }
    config = objects[("ConfigMap", name)]["data"]
    assert config["MCPWALL_LOG_RETENTION"] == "30d"
    assert not any(variable in config for variable in env if variable != "MCPWALL_HOME")


def test_no_secret_appears_outside_a_secret_even_encoded() -> None:
    for values in (POSTGRES, {**POSTGRES, "networkPolicy": {"enabled": True}}):
        objects = rendered(values)
        for (found, name), document in objects.items():
            if found == "Secret":
                continue
            text = json.dumps(document)
            for secret in SECRETS:
                encoded = base64.b64encode(secret.encode()).decode()
                assert secret not in text, f"{found} {name} holds a secret"
                assert encoded not in text, f"{found} {name} holds a secret, in base64"
                assert "password" not in text, f"{found} {name} holds a password"


def test_a_secret_key_read_from_a_file_keeps_no_newline() -> None:
    # helm install --set-file secretKey=secret.key: the file ends with a newline.
    objects = rendered({**POSTGRES, "secretKey": SECRET_KEY + "\n"})
    (secret,) = [doc for doc in kind(objects, "Secret") if "helm.sh/hook" not in str(doc)]
    assert base64.b64decode(secret["data"]["secret-key"]).decode() == SECRET_KEY


def test_an_existing_secret_is_used_and_none_is_rendered() -> None:
    objects = rendered(PROFILES["existing-secret-autoscaled"])
    assert kind(objects, "Secret") == []
    env = environment(container(objects))
    assert env["MCPWALL_SECRET_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "mine"
    assert env["MCPWALL_REDIS_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "mine",
        "key": "redis-url",
    }
    (job,) = kind(objects, "Job")
    (migrate,) = job["spec"]["template"]["spec"]["containers"]
    assert (
        environment(migrate)["MCPWALL_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "mine"
    )
    # Autoscaled: the HPA owns the replica count.
    assert "replicas" not in deployment(objects)["spec"]
    (scaler,) = kind(objects, "HorizontalPodAutoscaler")
    assert scaler["spec"]["scaleTargetRef"]["name"] == deployment(objects)["metadata"]["name"]


def test_a_changed_setting_or_secret_rolls_the_replicas() -> None:
    def annotations(values: dict[str, Any]) -> dict[str, str]:
        found = deployment(rendered(values))["spec"]["template"]["metadata"]["annotations"]
        assert isinstance(found, dict)
        return found

    before = annotations(POSTGRES)
    setting = annotations({**POSTGRES, "config": {"MCPWALL_LOG_RETENTION": "7d"}})
    secret = annotations({**POSTGRES, "redis": {"url": "redis://other:6379/0"}})
    assert setting["checksum/config"] != before["checksum/config"]
    assert setting["checksum/secret"] == before["checksum/secret"]
    assert secret["checksum/secret"] != before["checksum/secret"]


def test_postgresql_without_a_secret_key_is_refused() -> None:
    message = refused({"database": {"url": DATABASE_URL}})
    assert "secretKey is required with PostgreSQL" in message
    assert "db-password" not in message


def test_an_existing_secret_beside_secret_values_is_refused() -> None:
    assert "leave database.url, redis.url and secretKey empty" in refused(
        {"existingSecret": "mine", "secretKey": SECRET_KEY}
    )


# -- migrations --------------------------------------------------------------------------------


def test_migrations_run_as_a_pre_install_and_pre_upgrade_job_with_a_secret_of_its_own() -> None:
    objects = rendered(POSTGRES)
    (job,) = kind(objects, "Job")
    hooks = job["metadata"]["annotations"]
    assert hooks["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert "hook-succeeded" in hooks["helm.sh/hook-delete-policy"]
    pod = job["spec"]["template"]["spec"]
    (migrate,) = pod["containers"]
    assert migrate["args"] == ["migrate"]
    assert migrate["securityContext"] == container(objects)["securityContext"]
    assert pod["restartPolicy"] == "Never"
    # The release's Secret does not exist yet before install: the Job reads a hook's copy,
    # made before it (a lower weight).
    name = environment(migrate)["MCPWALL_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"]
    copy = objects[("Secret", name)]
    assert copy["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert int(copy["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        hooks["helm.sh/hook-weight"]
    )
    release_secret = objects[("Secret", deployment(objects)["metadata"]["name"])]
    assert copy["data"] == release_secret["data"]
    assert "helm.sh/hook" not in release_secret["metadata"].get("annotations", {})


def test_the_migration_job_can_be_turned_off() -> None:
    assert kind(rendered({**POSTGRES, "migrations": {"job": False}}), "Job") == []


# -- replicas, disruptions, network ------------------------------------------------------------


def test_several_replicas_get_a_disruption_budget() -> None:
    objects = rendered(POSTGRES)
    (budget,) = kind(objects, "PodDisruptionBudget")
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["selector"] == deployment(objects)["spec"]["selector"]
    assert deployment(objects)["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_sqlite_serves_one_replica_from_a_kept_volume_and_refuses_more() -> None:
    objects = rendered({"replicaCount": 1})
    spec = deployment(objects)["spec"]
    assert (spec["replicas"], spec["strategy"]) == (1, {"type": "Recreate"})
    (claim,) = kind(objects, "PersistentVolumeClaim")
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    volumes = {volume["name"]: volume for volume in spec["template"]["spec"]["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert "MCPWALL_DATABASE_URL" not in environment(container(objects))
    assert kind(objects, "Job") == []
    assert kind(objects, "PodDisruptionBudget") == []
    assert kind(objects, "Secret") == []
    assert "one replica alone" in refused({"replicaCount": 3})
    assert "needs PostgreSQL" in refused({"replicaCount": 1, "autoscaling": {"enabled": True}})


def test_services_for_agents_and_for_administrators() -> None:
    objects = rendered(POSTGRES)
    name = deployment(objects)["metadata"]["name"]
    data, admin = objects[("Service", name)], objects[("Service", f"{name}-admin")]
    assert data["spec"]["ports"] == [
        {"name": "mcp", "port": 8700, "targetPort": "mcp", "protocol": "TCP"}
    ]
    assert admin["spec"]["ports"] == [
        {"name": "admin", "port": 8701, "targetPort": "admin", "protocol": "TCP"}
    ]
    selector = deployment(objects)["spec"]["selector"]["matchLabels"]
    assert data["spec"]["selector"] == admin["spec"]["selector"] == selector
    # A legacy session lives in one replica: its agent stays there.
    assert data["spec"]["sessionAffinity"] == "ClientIP"


def test_the_network_policy_is_opt_in_and_opens_the_admin_port_only_to_whom_it_names() -> None:
    assert kind(rendered(POSTGRES), "NetworkPolicy") == []
    closed = rendered({**POSTGRES, "networkPolicy": {"enabled": True}})
    (policy,) = kind(closed, "NetworkPolicy")
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    assert policy["spec"]["ingress"] == [{"ports": [{"port": "mcp", "protocol": "TCP"}]}]
    peers = [{"namespaceSelector": {"matchLabels": {"team": "platform"}}}]
    opened = rendered(
        {**POSTGRES, "networkPolicy": {"enabled": True, "adminFrom": peers, "dataFrom": peers}}
    )
    (policy,) = kind(opened, "NetworkPolicy")
    assert policy["spec"]["ingress"] == [
        {"ports": [{"port": "mcp", "protocol": "TCP"}], "from": peers},
        {"ports": [{"port": "admin", "protocol": "TCP"}], "from": peers},
    ]


# -- the examples ------------------------------------------------------------------------------


def test_the_production_example_is_three_replicas_on_postgresql_and_redis() -> None:
    objects = rendered(PROFILES["example-production"])
    assert deployment(objects)["spec"]["replicas"] == 3
    env = environment(container(objects))
    assert {"MCPWALL_DATABASE_URL", "MCPWALL_REDIS_URL", "MCPWALL_SECRET_KEY"} <= set(env)
    assert kind(objects, "Secret") == []  # its secrets are in a Secret the operator made
    assert len(kind(objects, "NetworkPolicy")) == 1


@pytest.mark.parametrize("name", render_chart.NAMES)
def test_the_plain_manifests_are_what_the_chart_renders(name: str) -> None:
    path = render_chart.MANIFESTS / f"{name}.yaml"
    assert path.read_text(encoding="utf-8") == render_chart.manifests(name), (
        f"{path} is out of date: run make manifests"
    )
    documents = [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]
    assert {doc["kind"] for doc in documents} >= {"Deployment", "Service", "ConfigMap"}


def test_the_chart_version_and_app_version_follow_the_project() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    project = tomllib.loads((Path(render_chart.REPO) / "pyproject.toml").read_text())["project"]
    assert chart["appVersion"] == project["version"]
    assert container(rendered(POSTGRES))["image"] == f"mcpwall:{project['version']}"
