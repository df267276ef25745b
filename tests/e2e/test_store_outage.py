"""The database lost while ``mcpwall serve`` runs, on a private PostgreSQL cluster the tests
stop (``pg_ctl stop -m fast``) and start again.

- Within the grace: calls of grants already used are served from the cache, their proxy-log
  rows wait in memory, a grant never used before is refused (503), ``/readyz`` stays ready,
  ``/metrics`` says the store is down; once the database is back, every row arrives exactly
  once and the metrics say it is up.
- Past a small grace (``MCPWALL_STORE_GRACE``): calls are refused (503, the documented
  message), ``/readyz`` is not ready; once the database is back, calls are served again, by
  themselves, and every served call's row arrives exactly once.

Every wait is a bounded poll for a condition, never a sleep.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.harness import Gateway
from tests.fixtures.postgres_server import PrivatePostgres
from tests.fixtures.servers import FIXTURE_SERVER, LOOPBACK, poll
from tests.gateway.test_http import modern_body, modern_headers

pytestmark = pytest.mark.e2e

WITHIN = 30.0  # seconds, for a bounded poll
STORE_LOST = "the gateway can't check grants: its database has been unreachable for too long"
NOT_CHECKABLE = "the gateway can't check this grant now: its database is unreachable"


def configure(gateway: Gateway) -> dict[str, str]:
    return gateway.apply(
        {
            "upstreams": {"fx": {"command": [sys.executable, str(FIXTURE_SERVER), "stdio"]}},
            "policies": {"open": {"version": "1", "default": "allow"}},
            "grants": [{"label": "agent", "bind": {"fx": "open"}},
                       {"label": "unseen", "bind": {"fx": "open"}}],
        }
    )  # fmt: skip


def call(gateway: Gateway, token: str, request_id: str) -> httpx.Response:
    """One 2026-07-28 ``tools/call`` of the fixture's ``echo``, with ``request_id``."""
    body = modern_body(
        "tools/call", {"name": "echo", "arguments": {"message": request_id}}, request_id
    )
    headers = modern_headers(token, "tools/call", "echo")
    return httpx.post(gateway.url("fx"), json=body, headers=headers, timeout=30)


def echoed(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert not result["isError"], result
    text = result["content"][0]["text"]
    assert isinstance(text, str)
    return text


def readyz(gateway: Gateway) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(
            f"http://{LOOPBACK}:{gateway.port}/readyz", timeout=10
        ) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def metrics(gateway: Gateway, token: str) -> dict[str, float]:
    """The unlabelled samples of ``/metrics`` (the store's and the proxy log's queue)."""
    answer = httpx.get(
        f"http://{LOOPBACK}:{gateway.admin_port}/metrics",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    samples: dict[str, float] = {}
    for line in answer.text.splitlines():
        name, _, value = line.partition(" ")
        if line and not line.startswith("#") and "{" not in name:
            samples[name] = float(value)
    return samples


def logged_ids(gateway: Gateway) -> Counter[str]:
    """How many proxy-log rows each ``tools/call`` request id has (read with the CLI)."""
    output = gateway.cli("logs", "--json", "--limit", "1000", "--since", "1d")
    rows = [json.loads(line) for line in output.splitlines()]
    return Counter(str(r["request_id"]) for r in rows if r["method"] == "tools/call")


def until_logged(gateway: Gateway, expected: set[str]) -> Counter[str]:
    found = poll(lambda: _all_of(logged_ids(gateway), expected), WITHIN, interval=0.2)
    assert found is not None, (
        f"rows missing after {WITHIN} s: {expected - set(logged_ids(gateway))}"
    )
    return found


def _all_of(found: Counter[str], expected: set[str]) -> Counter[str] | None:
    return found if expected <= set(found) else None


def _serving_cached(gateway: Gateway) -> tuple[int, dict[str, Any]] | None:
    status, answer = readyz(gateway)
    return (status, answer) if "serving cached grants for" in str(answer) else None


def viewer(gateway: Gateway) -> str:
    made = json.loads(gateway.cli("admin", "token", "create", "--role", "viewer", "--json"))
    token = made["token"]
    assert isinstance(token, str)
    return token


def test_calls_ride_out_a_lost_database_and_every_row_arrives_once(
    tmp_path: Path, private_postgres_server: PrivatePostgres
) -> None:
    database = private_postgres_server
    gateway = Gateway(tmp_path / "home", {"MCPWALL_DATABASE_URL": database.url})
    tokens = configure(gateway)
    scraper = viewer(gateway)
    gateway.start()
    try:
        before = [f"before-{n}" for n in range(5)]
        assert [echoed(call(gateway, tokens["agent"], rid)) for rid in before] == before
        assert metrics(gateway, scraper)["mcpwall_store_up"] == 1.0  # and the token is known

        database.stop()
        lost = poll(lambda: _lost(gateway, scraper), WITHIN)
        assert lost is not None, "the gateway never noticed the database was gone"
        # /readyz keeps its answer for a second: wait for one given since the loss.
        ready = poll(lambda: _serving_cached(gateway), WITHIN)
        assert ready is not None, "/readyz never said it serves cached grants"
        status, answer = ready
        assert status == 200, answer  # within the grace: still one to send agents to
        during = [f"during-{n}" for n in range(20)]
        assert [echoed(call(gateway, tokens["agent"], rid)) for rid in during] == during
        refused = call(gateway, tokens["unseen"], "unseen-0")
        assert refused.status_code == 503
        assert refused.json()["error"]["message"] == NOT_CHECKABLE
        waiting = metrics(gateway, scraper)
        assert waiting["mcpwall_store_up"] == 0.0
        assert waiting["mcpwall_proxy_log_queued"] >= len(during)  # kept, not written yet

        database.start()
        back = poll(lambda: True if metrics(gateway, scraper)["mcpwall_store_up"] else None, WITHIN)
        assert back, "the gateway never noticed the database was back"
        found = until_logged(gateway, {*before, *during})
        after = call(gateway, tokens["unseen"], "unseen-1")  # checked against the store again
        assert echoed(after) == "unseen-1"
    finally:
        gateway.stop_cleanly()  # exit 0, no traceback
    found = logged_ids(gateway)
    assert {rid: found[rid] for rid in [*before, *during]} == dict.fromkeys([*before, *during], 1)
    assert "unseen-0" not in found  # refused at the door: not served, not logged
    assert found["unseen-1"] == 1
    assert "the store is lost (database postgresql://" in gateway.log
    assert "the store is back after" in gateway.log


def test_past_the_grace_calls_are_refused_until_the_database_returns(
    tmp_path: Path, private_postgres_server: PrivatePostgres
) -> None:
    database = private_postgres_server
    settings = {"MCPWALL_DATABASE_URL": database.url, "MCPWALL_STORE_GRACE": "2"}
    gateway = Gateway(tmp_path / "home", settings)
    tokens = configure(gateway)
    gateway.start()
    served: list[str] = []
    attempts = iter(range(10**6))

    def until(status: int) -> httpx.Response | None:
        rid = f"call-{next(attempts)}"
        answer = call(gateway, tokens["agent"], rid)
        if answer.status_code == 200:
            served.append(echoed(answer))
        return answer if answer.status_code == status else None

    try:
        assert until(200) is not None
        database.stop()
        refused = poll(lambda: until(503), WITHIN, interval=0.1)
        assert refused is not None, "calls were still served long past the grace"
        assert refused.json()["error"]["message"] == STORE_LOST
        assert refused.headers["retry-after"] == "5"
        status, ready = readyz(gateway)
        assert status == 503
        assert "past MCPWALL_STORE_GRACE (2 s)" in ready["checks"]["store"]["detail"]

        database.start()
        again = poll(lambda: until(200), WITHIN, interval=0.1)
        assert again is not None, "calls were never served again"
        assert poll(lambda: True if readyz(gateway)[0] == 200 else None, WITHIN)
        found = until_logged(gateway, set(served))
    finally:
        gateway.stop_cleanly()
    assert {rid: found[rid] for rid in served} == dict.fromkeys(served, 1)
    assert sum(found.values()) == len(served)  # refused calls left no row
    assert "past MCPWALL_STORE_GRACE (2 s): refusing every call" in gateway.log


def _lost(gateway: Gateway, scraper: str) -> bool | None:
    return True if metrics(gateway, scraper)["mcpwall_store_up"] == 0.0 else None
