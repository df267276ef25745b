"""The Dockerfile passes hadolint and says what the image promises: Debian slim with the Python
pyproject.toml requires, two stages (the venv built, then copied), a fixed non-root user, the
serve ports exposed, ``mcpwall healthcheck`` as its health check, OCI labels, and a build
context of only what it copies. What it runs is proven by ``test_image_recipe.py``."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import click

from mcpwall.cli.serve import serve
from tests.deploy.dockerfile import (
    DOCKERFILE,
    DOCKERIGNORE,
    REPO,
    environment,
    exec_form,
    global_args,
    healthcheck,
    of,
    stages,
)

HADOLINT = Path(sys.executable).with_name("hadolint")
TEXT = DOCKERFILE.read_text(encoding="utf-8")
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_hadolint_finds_nothing() -> None:
    done = subprocess.run(
        [str(HADOLINT), "--no-color", "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_the_base_is_debian_slim_with_the_python_pyproject_requires() -> None:
    image = global_args(TEXT)["PYTHON_IMAGE"]
    minimum = re.fullmatch(r">=(\d+\.\d+)", PROJECT["requires-python"])
    assert minimum is not None
    assert re.fullmatch(rf"python:{re.escape(minimum[1])}-slim-(bookworm|trixie)", image), image
    build, final = stages(TEXT)
    assert of(build, "FROM") == ["${PYTHON_IMAGE} AS build"]
    assert of(final, "FROM") == ["${PYTHON_IMAGE}"]


def test_the_venv_is_built_by_the_shared_recipe_and_copied_alone() -> None:
    build, final = stages(TEXT)
    assert "build-venv.sh /src /opt/mcpwall" in of(build, "RUN")
    assert of(final, "COPY") == ["--from=build /opt/mcpwall /opt/mcpwall"]
    assert environment(final)["PATH"].startswith("/opt/mcpwall/bin:")


def test_it_runs_as_a_fixed_unprivileged_user_writing_only_to_data_and_tmp() -> None:
    _, final = stages(TEXT)
    (user,) = of(final, "USER")
    uid, gid = (int(part) for part in user.split(":"))
    assert uid >= 10000  # numeric, clear of any system account
    assert gid >= 10000
    env = environment(final)
    assert (env["MCPWALL_HOME"], env["HOME"], env["TMPDIR"]) == ("/data", "/data", "/tmp")
    assert of(final, "VOLUME") == ['["/data"]']
    (setup,) = of(final, "RUN")
    assert f"chown {uid}:{gid} /data" in setup
    assert "compileall" in setup  # the standard library's bytecode, made at build time


def test_it_exposes_the_ports_serve_listens_on_and_serves_beyond_loopback() -> None:
    defaults = {p.name: p.default for p in serve.params if isinstance(p, click.Option)}
    _, final = stages(TEXT)
    assert of(final, "EXPOSE") == [f"{defaults['port']} {defaults['admin_port']}"]
    (entrypoint,) = of(final, "ENTRYPOINT")
    (cmd,) = of(final, "CMD")
    command = exec_form(entrypoint) + exec_form(cmd)
    assert command == [
        "mcpwall", "serve", "--host", "0.0.0.0",
        "--port", str(defaults["port"]), "--admin-port", str(defaults["admin_port"]),
    ]  # fmt: skip


def test_the_health_check_is_mcpwall_healthcheck_within_its_own_timeout() -> None:
    from mcpwall.cli.healthcheck import DEFAULT_URL, TIMEOUT_SECONDS

    _, final = stages(TEXT)
    options, command = healthcheck(final)
    assert command == ["mcpwall", "healthcheck"]
    assert DEFAULT_URL.startswith("http://127.0.0.1:8700/")
    # Docker kills a check past its timeout: leave the command's own 5 s room to answer.
    assert float(options["timeout"].removesuffix("s")) > TIMEOUT_SECONDS


def test_oci_labels_name_the_image_and_its_version() -> None:
    _, final = stages(TEXT)
    (labels,) = of(final, "LABEL")
    found = dict(re.findall(r'(org\.opencontainers\.image\.[a-z]+)="([^"]*)"', labels))
    assert found["org.opencontainers.image.title"] == PROJECT["name"]
    assert found["org.opencontainers.image.description"] == PROJECT["description"]
    assert found["org.opencontainers.image.licenses"] == PROJECT["license"]
    assert found["org.opencontainers.image.version"] == "${VERSION}"
    assert found["org.opencontainers.image.revision"] == "${REVISION}"
    assert f"VERSION={PROJECT['version']}" in of(final, "ARG")


def test_the_build_context_is_only_what_the_dockerfile_copies() -> None:
    rules = [
        line for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]  # fmt: skip
    assert rules[0] == "*"  # everything excluded unless named: no .venv, no .git, no .mcpwall
    included = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    build, _ = stages(TEXT)
    copied = {
        source
        for arguments in of(build, "COPY")
        for source in arguments.split()[:-1]
        if not source.startswith("--")
    }
    assert {source.removeprefix("./").rstrip("/") for source in copied} == included
    assert {"**/__pycache__", "**/.mcpwall"} <= set(rules)
