"""Readiness as a load balancer and a container runtime meet it: ``/readyz`` of a real
``mcpwall serve``, ``mcpwall healthcheck`` against it, and a start on a database that is not
there.

- a healthy gateway answers 200 with every check, and ``healthcheck`` exits 0;
- with a policy that has limits and its counters on a private ``redis-server`` the test
  stops, ``/readyz`` answers 503 naming the counters (``/healthz`` stays 200) and
  ``healthcheck`` exits 1 naming them; once Redis is back, 200 and 0 again;
- on a private PostgreSQL cluster the test stops, with no grace (``MCPWALL_STORE_GRACE=0``),
  ``/readyz`` answers 503 naming the store, and 200 once it is started again
  (``test_store_outage.py`` has the grace and what calls meet);
- ``healthcheck`` with nothing listening exits 1;
- ``mcpwall serve`` on a PostgreSQL URL where nothing listens exits non-zero with one message:
  the URL with its password masked, what failed, what to check; no traceback.
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import CLI_TIMEOUT, MCPWALL, Gateway
from tests.fixtures.postgres_server import PrivatePostgres
from tests.fixtures.redis_server import PrivateRedis, private_redis, redis_server_binary
from tests.fixtures.servers import LOOPBACK, free_port, poll

LIMITED = {
    "version": "1",
    "default": "allow",
    "tools": {"delete_pod": {"limits": [{"counter": "d", "max": 5, "window": "hour"}]}},
}
BACK_WITHIN = 15.0  # seconds for a bounded poll: the answer is cached for one


def readyz(gateway: Gateway, path: str = "/readyz") -> tuple[int, dict[str, Any]]:
    url = f"http://{LOOPBACK}:{gateway.port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def healthcheck(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MCPWALL, "healthcheck", *args],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )


def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def readyz_url(gateway: Gateway) -> str:
    return f"http://{LOOPBACK}:{gateway.port}/readyz"


def test_a_healthy_gateway_is_ready(tmp_path: Path) -> None:
    gateway = Gateway(home(tmp_path))
    gateway.start()
    try:
        status, body = readyz(gateway)
        checked = healthcheck("--url", readyz_url(gateway))
    finally:
        gateway.stop_cleanly()
    assert status == 200
    assert body == {
        "ready": True,
        "checks": {
            "store": {"ok": True, "detail": "reachable"},
            "grants": {"ok": True, "detail": "loaded"},
            "counters": {"ok": True, "detail": "not needed: no stored policy has limits"},
        },
    }
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("ready")


def test_counters_lost_and_back(tmp_path: Path, private_redis_server: PrivateRedis) -> None:
    gateway = Gateway(home(tmp_path), {"MCPWALL_REDIS_URL": private_redis_server.url})
    gateway.set_policy("limited", LIMITED)
    gateway.start()
    try:
        status, body = readyz(gateway)
        assert (status, body["checks"]["counters"]) == (200, {"ok": True, "detail": "reachable"})

        private_redis_server.stop()
        down = poll(lambda: _unready(gateway), BACK_WITHIN)
        assert down is not None, "/readyz never said the counters were gone"
        assert not down["checks"]["counters"]["ok"]
        assert down["checks"]["counters"]["detail"].startswith(
            f"rate-limit counters at {private_redis_server.url} are unavailable"
        )
        assert down["checks"]["store"]["ok"]
        assert readyz(gateway, "/healthz")[0] == 200  # alive, only not ready
        checked = healthcheck("--url", readyz_url(gateway))
        assert checked.returncode == 1
        assert "  counters: rate-limit counters at redis://" in checked.stderr

        binary = redis_server_binary()
        assert binary is not None
        with private_redis(binary, tmp_path, private_redis_server.port):
            back = poll(lambda: True if readyz(gateway)[0] == 200 else None, BACK_WITHIN)
            assert back, "/readyz never said ready again"
            assert healthcheck("--url", readyz_url(gateway)).returncode == 0
    finally:
        gateway.stop_cleanly()


def test_store_lost_and_back(tmp_path: Path, private_postgres_server: PrivatePostgres) -> None:
    settings = {"MCPWALL_DATABASE_URL": private_postgres_server.url, "MCPWALL_STORE_GRACE": "0"}
    gateway = Gateway(home(tmp_path), settings)
    gateway.start()
    try:
        assert readyz(gateway)[0] == 200

        private_postgres_server.stop()
        down = poll(lambda: _unready(gateway), BACK_WITHIN)
        assert down is not None, "/readyz never said the store was gone"
        store = down["checks"]["store"]
        assert not store["ok"]
        assert store["detail"].startswith(f"database {private_postgres_server.url} is unavailable")
        assert readyz(gateway, "/healthz")[0] == 200  # alive, only not ready
        checked = healthcheck("--url", readyz_url(gateway))
        assert checked.returncode == 1
        assert "  store: database postgresql://" in checked.stderr

        private_postgres_server.start()
        back = poll(lambda: True if readyz(gateway)[0] == 200 else None, BACK_WITHIN)
        assert back, "/readyz never said ready again"
    finally:
        gateway.stop_cleanly()  # exit 0, no traceback: the outage ended nothing for good


def _unready(gateway: Gateway) -> dict[str, Any] | None:
    status, body = readyz(gateway)
    return body if status == 503 else None


def test_healthcheck_with_nothing_listening() -> None:
    url = f"http://{LOOPBACK}:{free_port()}/readyz"
    checked = healthcheck("--url", url)
    assert checked.returncode == 1
    assert checked.stderr.startswith(f"not ready: nothing answered at {url}")


def test_serve_on_a_database_that_is_not_there(tmp_path: Path) -> None:
    port = free_port()  # nothing listens on it
    url = f"postgresql://mcpwall:hunter2@{LOOPBACK}:{port}/mcpwall?sslpassword=hunter3"
    gateway = Gateway(home(tmp_path), {"MCPWALL_DATABASE_URL": url})
    done = subprocess.run(
        [MCPWALL, "serve", "--port", str(gateway.port), "--admin-port", str(gateway.admin_port)],
        env=gateway.env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "Traceback" not in output
    assert "hunter2" not in output
    assert "hunter3" not in output
    shown = f"postgresql://mcpwall:***@{LOOPBACK}:{port}/mcpwall?sslpassword=***"
    assert f"error: database {shown} is unavailable: " in output
    assert "Connection refused" in output
    assert "Check that the database server is running" in output
    assert "MCPWALL_DATABASE_URL" in output
    assert output.count("error:") == 1


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/readyz", "not a url"])
def test_healthcheck_refuses_what_is_not_http(url: str) -> None:
    checked = healthcheck("--url", url)
    assert checked.returncode == 2
    assert "is not an http:// or https:// URL" in checked.stderr
