"""The Helm chart, rendered and linted offline by Helm's own engine (``helm-python-sdk``), every
rendered object checked against Kubernetes' schemas for 1.30–1.37 (``kubernetes-validate
--strict``), and what it promises asserted on the output: replicas, probes, the restricted
security context, where each setting and secret comes from (secrets never in a ConfigMap, an
argument or a value: mounted as files), the migration Job, the disruption budget, the network
policy and the ServiceMonitor. The example installs' plain manifests and the golden render of
each values profile (``charts/mcpwall/ci``) are what the chart renders today, byte for byte."""

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

from mcpwall.adapters.secrets import load_secret_key
from mcpwall.cli.serve import serve
from mcpwall.gateway.readiness import CHECK_TIMEOUT_SECONDS
from tests.deploy.dockerfile import DOCKERFILE, of, stages
from tests.tools.scripts import load_tool

render_chart = load_tool("render_chart")
CHART = render_chart.CHART
KUBERNETES = [f"1.{minor}.0" for minor in range(30, 38)]
# The profile with every secret as a value: distinct values, each looked for in the output.
POSTGRES: dict[str, Any] = render_chart.profile_values("postgres-redis")
DATABASE_URL = POSTGRES["database"]["url"]
REDIS_URL = POSTGRES["redis"]["url"]
SECRET_KEY = POSTGRES["secretKey"]
SECRETS = (DATABASE_URL, REDIS_URL, SECRET_KEY)
PROFILES: dict[str, dict[str, Any]] = {
    **{name: render_chart.profile_values(name) for name in render_chart.profiles()},
    **{f"example-{name}": render_chart.example_values(name) for name in render_chart.NAMES},
}
SECRETS_PATH = "/etc/mcpwall/secrets"
SECRET_FILES = {
    "MCPWALL_DATABASE_URL_FILE": f"{SECRETS_PATH}/database-url",
    "MCPWALL_SECRET_KEY_FILE": f"{SECRETS_PATH}/secret-key",
    "MCPWALL_REDIS_URL_FILE": f"{SECRETS_PATH}/redis-url",
}
# Kinds outside Kubernetes' own schemas (a CRD's), whose shape a test of their own checks.
CUSTOM = {"ServiceMonitor"}

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


def volumes(objects: Objects) -> dict[str, dict[str, Any]]:
    pod = deployment(objects)["spec"]["template"]["spec"]
    return {volume["name"]: volume for volume in pod["volumes"]}


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
    for (found, _), document in objects.items():
        if found in CUSTOM:
            continue
        for version in KUBERNETES:
            kubernetes_validate.validate(document, version, strict=True)


def test_the_schema_refuses_values_of_the_wrong_shape() -> None:
    assert "got string, want integer" in refused({**POSTGRES, "replicaCount": "three"})
    assert "additional properties 'replicas' not allowed" in refused({**POSTGRES, "replicas": 3})
    # A secret can't be put among the ConfigMap's settings.
    assert "MCPWALL_SECRET_KEY" in refused({**POSTGRES, "config": {"MCPWALL_SECRET_KEY": "x"}})
    assert "/secretKey" in refused({**POSTGRES, "secretKey": "too-short"})
    # Nor its file's path: the chart sets those.
    assert "MCPWALL_REDIS_URL_FILE" in refused(
        {**POSTGRES, "config": {"MCPWALL_REDIS_URL_FILE": "/x"}}
    )


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
    assert mounts == {"/tmp": "tmp", "/data": "data", SECRETS_PATH: "secrets"}
    found = volumes(objects)
    assert "emptyDir" in found["tmp"]
    assert "emptyDir" in found["data"]  # PostgreSQL: nothing of value is written there
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


def test_secrets_are_files_from_the_secret_and_settings_come_from_the_configmap() -> None:
    objects = rendered(POSTGRES)
    name = deployment(objects)["metadata"]["name"]
    main = container(objects)
    env = environment(main)
    # mcpwall is given each secret's path, never the secret.
    assert {variable: env[variable]["value"] for variable in SECRET_FILES} == SECRET_FILES
    assert env["MCPWALL_HOME"]["value"] == "/data"
    assert set(env) == {"MCPWALL_HOME", *SECRET_FILES}
    (mount,) = [m for m in main["volumeMounts"] if m["name"] == "secrets"]
    assert mount == {"name": "secrets", "mountPath": SECRETS_PATH, "readOnly": True}
    secret_volume = volumes(objects)["secrets"]["secret"]
    assert secret_volume["secretName"] == name
    # Readable by root and the pod's group alone (0440), which the container's user is in.
    assert secret_volume["defaultMode"] == 0o440
    pod = deployment(objects)["spec"]["template"]["spec"]
    assert pod["securityContext"]["fsGroup"] == main["securityContext"]["runAsGroup"]
    assert secret_volume["items"] == [
        {"key": "database-url", "path": "database-url"},
        {"key": "secret-key", "path": "secret-key"},
        {"key": "redis-url", "path": "redis-url"},
    ]
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


@pytest.mark.parametrize("profile", PROFILES)
def test_no_container_is_given_a_secret_in_its_environment_or_arguments(profile: str) -> None:
    for document in rendered(PROFILES[profile]).values():
        pod = document.get("spec", {}).get("template", {}).get("spec", {})
        for entry in pod.get("containers", []):
            for variable in entry.get("env", []):
                assert "valueFrom" not in variable, f"{variable['name']}: from an object"
                assert variable["name"] not in {
                    "MCPWALL_DATABASE_URL", "MCPWALL_REDIS_URL", "MCPWALL_SECRET_KEY",
                    "MCPWALL_TOKEN",
                }  # fmt: skip
            assert "secretRef" not in json.dumps(entry.get("envFrom", []))
            assert not set(strings(entry.get("args", []))) & set(SECRETS)


def test_the_files_the_chart_mounts_are_the_ones_mcpwall_reads(tmp_path: Path) -> None:
    # The Secret's items laid out as the kubelet would, at the paths the env names: mcpwall
    # reads its key from there (and makes no key file of its own).
    objects = rendered({"replicaCount": 1, "secretKey": SECRET_KEY + "\n"})
    (secret,) = kind(objects, "Secret")
    mounted = tmp_path / "secrets"
    mounted.mkdir()
    for item in volumes(objects)["secrets"]["secret"]["items"]:
        (mounted / item["path"]).write_bytes(base64.b64decode(secret["data"][item["key"]]))
    env = {
        name: variable["value"].replace(SECRETS_PATH, str(mounted))
        for name, variable in environment(container(objects)).items()
    }
    assert set(env) == {"MCPWALL_HOME", "MCPWALL_SECRET_KEY_FILE"}
    home = tmp_path / "home"
    key = load_secret_key(home, env)
    assert base64.urlsafe_b64encode(key.key).decode() == SECRET_KEY
    assert key.source.startswith("MCPWALL_SECRET_KEY_FILE")
    assert not home.exists()


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
    assert set(environment(container(objects))) == {"MCPWALL_HOME", *SECRET_FILES}
    secret_volume = volumes(objects)["secrets"]["secret"]
    assert secret_volume["secretName"] == "mine"
    assert {"key": "redis-url", "path": "redis-url"} in secret_volume["items"]
    renamed = rendered(
        {"existingSecret": "mine", "existingSecretKeys": {
            "databaseUrl": "url", "secretKey": "key", "redisUrl": "redis"}}
    )  # fmt: skip
    assert volumes(renamed)["secrets"]["secret"]["items"] == [
        {"key": "url", "path": "database-url"},
        {"key": "key", "path": "secret-key"},
    ]
    (job,) = kind(objects, "Job")
    pod = job["spec"]["template"]["spec"]
    (job_volume,) = [volume for volume in pod["volumes"] if volume["name"] == "secrets"]
    assert job_volume["secret"] == secret_volume
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
    assert environment(migrate) == environment(container(objects))
    # The release's Secret does not exist yet before install: the Job reads a hook's copy,
    # made before it (a lower weight).
    (files,) = [volume for volume in pod["volumes"] if volume["name"] == "secrets"]
    name = files["secret"]["secretName"]
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
    claimed = {volume["name"]: volume for volume in spec["template"]["spec"]["volumes"]}
    assert claimed["data"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert set(environment(container(objects))) == {"MCPWALL_HOME"}
    assert "secrets" not in claimed  # no secret to read: the key file is on the volume
    assert kind(objects, "Job") == []
    assert kind(objects, "PodDisruptionBudget") == []
    assert kind(objects, "Secret") == []
    assert "one replica alone" in refused({"replicaCount": 3})
    assert "needs PostgreSQL" in refused({"replicaCount": 1, "autoscaling": {"enabled": True}})


def test_services_for_agents_and_for_administrators_with_a_metrics_port() -> None:
    objects = rendered(POSTGRES)
    name = deployment(objects)["metadata"]["name"]
    data, admin = objects[("Service", name)], objects[("Service", f"{name}-admin")]
    assert data["spec"]["ports"] == [
        {"name": "mcp", "port": 8700, "targetPort": "mcp", "protocol": "TCP"}
    ]
    # /metrics is served by the admin listener (mcpwall has no listener for metrics alone):
    # the metrics port is that same container port, under the name scrapers look for.
    assert admin["spec"]["ports"] == [
        {"name": "admin", "port": 8701, "targetPort": "admin", "protocol": "TCP"},
        {"name": "metrics", "port": 9701, "targetPort": "admin", "protocol": "TCP"},
    ]
    selector = deployment(objects)["spec"]["selector"]["matchLabels"]
    assert data["spec"]["selector"] == admin["spec"]["selector"] == selector
    # A legacy session lives in one replica: its agent stays there.
    assert data["spec"]["sessionAffinity"] == "ClientIP"


def test_the_service_monitor_is_opt_in_and_scrapes_the_metrics_port_with_a_viewer_token() -> None:
    assert kind(rendered(POSTGRES), "ServiceMonitor") == []
    objects = rendered(PROFILES["existing-secret-autoscaled"])
    (monitor,) = kind(objects, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    spec = monitor["spec"]
    admin = objects[("Service", f"{deployment(objects)['metadata']['name']}-admin")]
    # It selects the admin Service alone (not the agents'), in the release's namespace.
    assert spec["selector"]["matchLabels"].items() <= admin["metadata"]["labels"].items()
    assert spec["selector"]["matchLabels"]["app.kubernetes.io/component"] == "admin"
    assert spec["namespaceSelector"] == {"matchNames": ["mcpwall"]}
    (endpoint,) = spec["endpoints"]
    assert endpoint["port"] in {port["name"] for port in admin["spec"]["ports"]}
    assert (endpoint["port"], endpoint["path"], endpoint["scheme"]) == (
        "metrics",
        "/metrics",
        "http",
    )
    assert endpoint["authorization"] == {
        "type": "Bearer",
        "credentials": {"name": "mcpwall-metrics-token", "key": "token"},
    }
    assert set(endpoint) == {"port", "path", "scheme", "interval", "scrapeTimeout", "authorization"}
    assert "needs serviceMonitor.tokenSecret.name" in refused(
        {**POSTGRES, "serviceMonitor": {"enabled": True}}
    )


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
    assert set(environment(container(objects))) == {"MCPWALL_HOME", *SECRET_FILES}
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


@pytest.mark.parametrize("profile", render_chart.profiles())
def test_the_golden_render_of_each_values_profile_is_what_the_chart_renders(profile: str) -> None:
    path = render_chart.GOLDEN / f"{profile}.yaml"
    assert path.read_text(encoding="utf-8") == render_chart.golden(profile), (
        f"{path} differs from what the chart renders: review the change, then make manifests"
    )


def test_every_golden_render_has_its_profile() -> None:
    assert (
        sorted(path.stem for path in render_chart.GOLDEN.glob("*.yaml")) == render_chart.profiles()
    )
    assert {"postgres-redis", "existing-secret-autoscaled", "sqlite"} <= set(
        render_chart.profiles()
    )


@pytest.mark.parametrize("profile", PROFILES)
def test_no_pod_gets_an_api_token_unless_a_stdio_upstream_needs_one(profile: str) -> None:
    objects = rendered(PROFILES[profile])
    wanted = PROFILES[profile].get("serviceAccount", {}).get("automountToken", False)
    assert wanted == (profile == "example-kubernetes-upstream")
    (account,) = kind(objects, "ServiceAccount")
    assert account["automountServiceAccountToken"] is wanted
    for document in objects.values():
        pod = document.get("spec", {}).get("template", {}).get("spec")
        if pod is not None:
            assert pod["automountServiceAccountToken"] is (wanted and document["kind"] != "Job")
