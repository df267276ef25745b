"""``mcpwall serve``, end to end: the real command as a subprocess, driven over HTTP with httpx.

A token is made with the CLI, then an upstream, the seed policy and a grant go through the
admin API; SIGTERM stops the server, which exits cleanly.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

SEED_POLICY = Path(__file__).parents[1] / "core" / "policy" / "cases" / "seed.policy.json"
MCPWALL = [sys.executable, "-m", "mcpwall"]
READY_SECONDS = 30


def free_ports(count: int) -> list[int]:
    """Loopback ports nothing listens on, all different (held together while chosen)."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()


@pytest.fixture
def environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCPWALL_")}
    return env | {"MCPWALL_HOME": str(tmp_path / "home")}


def mcpwall(environment: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [*MCPWALL, *args], env=environment, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def server(environment: dict[str, str]) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``mcpwall serve`` on free loopback ports, once it answers; killed if a test leaves it."""
    port, admin_port = free_ports(2)
    process = subprocess.Popen(
        [*MCPWALL, "serve", "--port", str(port), "--admin-port", str(admin_port)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{admin_port}"
    try:
        wait_until_ready(process, base)
        yield process, base
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def wait_until_ready(process: subprocess.Popen[str], base: str) -> None:
    """Poll the document with short connection attempts until it answers (bounded)."""
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"mcpwall serve exited early:\n{process.communicate()[0]}")
        try:
            if httpx.get(f"{base}/api/openapi.json", timeout=0.5).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)  # refused at once while not listening: pace the next attempt
    pytest.fail(f"mcpwall serve did not answer at {base} within {READY_SECONDS} s")


def test_serve_takes_an_upstream_a_policy_and_a_grant_then_stops_on_sigterm(
    environment: dict[str, str], server: tuple[subprocess.Popen[str], str]
) -> None:
    process, base = server
    created = json.loads(mcpwall(environment, "admin", "token", "create", "--role", "admin",
                                 "--label", "ops", "--json"))  # fmt: skip
    headers = {"Authorization": f"Bearer {created['token']}"}
    with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
        upstream = {
            "name": "kubernetes",
            "command": "npx",
            "args": ["-y", "mcp-server-kubernetes"],
            "env": {"KUBECONFIG": "/secret/path"},
        }
        assert client.post("/api/upstreams", json=upstream).status_code == 201
        policy = client.put(
            "/api/policies/seed",
            content=SEED_POLICY.read_bytes(),
            headers={"Content-Type": "application/json"},
        )
        assert policy.status_code == 200, policy.text
        assert policy.json()["version"] == 1
        grant = {"label": "ci-runner", "bindings": {"kubernetes": "seed"}, "expires_in": 86400}
        issued = client.post("/api/grants", json=grant)
        assert issued.status_code == 201, issued.text
        assert issued.json()["token"].startswith("mcpw_")
        actors = {e["actor"] for e in client.get("/api/audit").json()["events"]}
        assert any(actor.startswith("admin:adm_") and actor.endswith(" (ops)") for actor in actors)

    # What the API did is in the store the CLI reads.
    listed = json.loads(mcpwall(environment, "grant", "list", "--json"))
    assert [g["label"] for g in listed] == ["ci-runner"]

    # The tokens were shown once, in the answers that made them, and are stored nowhere.
    home = Path(environment["MCPWALL_HOME"])
    for path in (p for p in home.rglob("*") if p.is_file()):
        content = path.read_bytes()
        assert created["token"].encode() not in content, path
        assert issued.json()["token"].encode() not in content, path

    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "Shutting down" in output
    assert created["token"] not in output
    assert issued.json()["token"] not in output


def test_serve_refuses_one_port_for_both_planes(environment: dict[str, str]) -> None:
    done = subprocess.run(
        [*MCPWALL, "serve", "--port", "8800", "--admin-port", "8800"],
        env=environment, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--admin-port" in done.stderr
    assert "must differ from --port" in done.stderr
