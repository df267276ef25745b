"""Rate limits end to end: real ``mcpwall serve`` processes in front of the fixture server
(stdio), under the seed's policy (``delete_pod``: 5 an hour per grant), driven with plain
HTTP in the 2026-07-28 stateless shape.

- one process (the embedded default: SQLite, counters persisted in it): 20 concurrent calls
  allow exactly 5, a second grant has its own 5, and after a restart the first grant is still
  at its limit;
- two processes sharing PostgreSQL and Redis (and, for the SQL counters, sharing PostgreSQL
  or one SQLite file): 30 concurrent calls split across both allow exactly 5;
- Redis stopped mid-run (a private ``redis-server``): calls with limits fail closed, or go
  through when ``MCPWALL_LIMITS_FAIL_OPEN=1``, each marked ``fail_open`` in the proxy log
  (read back with ``mcpwall logs --json``); calls without limits and revocation are
  unaffected; once Redis is back (with what it held), the limits count on from where they
  were.

What reached the upstream is read from the fixture's record file, never inferred.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from mcpwall.core.windows import UNCHECKED_MESSAGE
from tests.e2e.conftest import seed_policy
from tests.e2e.harness import Gateway, stateless_call
from tests.fixtures.redis_server import PrivateRedis
from tests.fixtures.servers import FIXTURE_SERVER, RECORD_ENV, Record

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

LIMIT_RULE = "/tools/delete_pod/limits/0"
LIMIT_TEXT = "[POLICY DENIED] Pod deletion limit exceeded for this grant."
STAGING = {"namespace": "staging"}


@dataclass
class Setup:
    """Gateways sharing one configuration: upstream ``fx``, the seed policy, grants a and b."""

    gateways: list[Gateway]
    tokens: dict[str, str]
    record: Record

    def deletes(self) -> int:
        """How many ``delete_pod`` calls reached the upstream."""
        return sum(event.get("tool") == "delete_pod" for event in self.record.events())


def configure(gateway: Gateway, record: Record) -> dict[str, str]:
    return gateway.apply(
        {
            "upstreams": {
                "fx": {
                    "command": [sys.executable, str(FIXTURE_SERVER), "stdio"],
                    "env": {RECORD_ENV: str(record.path)},
                }
            },
            "policies": {"seed": seed_policy()},
            "grants": [
                {"label": "agent-a", "bind": {"fx": "seed"}},
                {"label": "agent-b", "bind": {"fx": "seed"}},
            ],
        }
    )


@pytest.fixture
def serving() -> Iterator[list[Gateway]]:
    """Gateways a test started: stopped after it, whatever happened."""
    started: list[Gateway] = []
    yield started
    for gateway in started:
        if gateway.process is not None:
            gateway.stop()


def start(serving: list[Gateway], *gateways: Gateway) -> None:
    for gateway in gateways:
        gateway.start()
        serving.append(gateway)


def stop(gateway: Gateway) -> None:
    assert gateway.stop() == 0, gateway.log


async def call(
    client: httpx.AsyncClient, gateway: Gateway, token: str, tool: str, arguments: dict[str, Any]
) -> dict[str, Any]:
    """One ``tools/call`` in the stateless shape; its result."""
    response = await stateless_call(client, gateway.url("fx"), token, tool, arguments)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["result"]
    return result


async def delete_pods(targets: Sequence[tuple[Gateway, str]]) -> list[dict[str, Any]]:
    """``delete_pod`` in staging once per (gateway, token), all at once."""
    async with httpx.AsyncClient(timeout=60) as client:
        return await asyncio.gather(
            *(
                call(client, gateway, token, "delete_pod", STAGING | {"name": f"pod-{i}"})
                for i, (gateway, token) in enumerate(targets)
            )
        )


def allowed(results: Sequence[dict[str, Any]]) -> int:
    return sum(not result.get("isError") for result in results)


def assert_limit_denials(results: Sequence[dict[str, Any]]) -> None:
    for result in (r for r in results if r.get("isError")):
        assert result["content"][0]["text"] == LIMIT_TEXT
        decision = result["_meta"]["io.mcpwall/decision"]
        assert decision["rule"] == LIMIT_RULE
        # Up to an hour — a hair over when the call in the way was recorded by the other
        # replica at a time a little after this call's own (each uses its own clock).
        assert 0 < decision["retry_after_s"] <= 3600 + 1


# -- one process ---------------------------------------------------------------------------------


async def test_one_process_allows_exactly_5_per_grant_and_a_restart_keeps_the_count(
    tmp_path: Path, serving: list[Gateway]
) -> None:
    gateway = Gateway(tmp_path / "home")
    record = Record(tmp_path / "fx.record.jsonl")
    tokens = configure(gateway, record)
    start(serving, gateway)

    first = await delete_pods([(gateway, tokens["agent-a"])] * 20)
    assert allowed(first) == 5
    assert_limit_denials(first)
    second = await delete_pods([(gateway, tokens["agent-b"])] * 20)
    assert allowed(second) == 5  # a budget of its own
    assert_limit_denials(second)
    assert Setup([gateway], tokens, record).deletes() == 10

    stop(gateway)
    start(serving, gateway)
    again = await delete_pods([(gateway, tokens["agent-a"])] * 3)
    assert allowed(again) == 0  # no fresh budget after a restart
    assert_limit_denials(again)
    assert Setup([gateway], tokens, record).deletes() == 10
    stop(gateway)


# -- two processes ---------------------------------------------------------------------------------


@pytest.fixture(params=["postgresql+redis", "postgresql", "sqlite"])
def shared(
    request: pytest.FixtureRequest, tmp_path: Path, serving: list[Gateway]
) -> Iterator[Setup]:
    """Two gateways sharing a store (and Redis, for ``+redis``), each with a home of its own."""
    if request.param == "sqlite":
        env = {"MCPWALL_DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}"}
    else:
        env = {"MCPWALL_DATABASE_URL": request.getfixturevalue("postgres_url")}
    if request.param.endswith("+redis"):
        env["MCPWALL_REDIS_URL"] = request.getfixturevalue("redis_server")
    env["MCPWALL_SECRET_KEY"] = secrets.token_urlsafe(32)  # every replica needs the same key
    one, two = Gateway(tmp_path / "one", env), Gateway(tmp_path / "two", env)
    two.home.mkdir()
    record = Record(tmp_path / "fx.record.jsonl")
    tokens = configure(one, record)
    start(serving, one, two)
    yield Setup([one, two], tokens, record)
    for gateway in (one, two):
        stop(gateway)


async def test_two_processes_sharing_the_counters_allow_exactly_5(shared: Setup) -> None:
    one, two = shared.gateways
    token = shared.tokens["agent-a"]
    results = await delete_pods([(one, token), (two, token)] * 15)
    assert allowed(results) == 5
    assert_limit_denials(results)
    assert shared.deletes() == 5
    # Each gateway refuses the next one too: neither has a budget of its own.
    assert allowed(await delete_pods([(one, token), (two, token)])) == 0


# -- Redis stopped mid-run ---------------------------------------------------------------------------


@pytest.mark.parametrize("fail_open", [False, True], ids=["fail-closed", "fail-open"])
async def test_redis_stopped_mid_run(
    tmp_path: Path,
    serving: list[Gateway],
    private_redis_server: PrivateRedis,
    fail_open: bool,
) -> None:
    env = {"MCPWALL_REDIS_URL": private_redis_server.url}
    if fail_open:
        env["MCPWALL_LIMITS_FAIL_OPEN"] = "1"
    gateway = Gateway(tmp_path / "home", env)
    record = Record(tmp_path / "fx.record.jsonl")
    setup = Setup([gateway], configure(gateway, record), record)
    token = setup.tokens["agent-a"]
    start(serving, gateway)

    assert allowed(await delete_pods([(gateway, token)] * 2)) == 2
    private_redis_server.stop()

    after = await delete_pods([(gateway, token)] * 6)
    async with httpx.AsyncClient(timeout=60) as client:
        unlimited = await call(client, gateway, token, "get_pod_logs", STAGING | {"name": "p"})
        gateway.revoke("agent-b")  # revocation does not go through Redis
        revoked = await client.post(
            gateway.url("fx"), headers={"authorization": f"Bearer {setup.tokens['agent-b']}"}
        )
    assert not unlimited.get("isError")  # no limits: Redis does not matter
    assert revoked.status_code == 401

    private_redis_server.start()  # back, with what it held
    back = await delete_pods([(gateway, token)] * 6)
    # The limits count again, on from the 2 counted before the outage (not from 0, and not
    # counting what went through unchecked).
    assert allowed(back) == 3
    assert_limit_denials(back)
    if fail_open:
        assert allowed(after) == 6  # more than the 3 left: nothing was counted
        assert setup.deletes() == 8 + 3
    else:
        assert allowed(after) == 0
        for result in after:
            assert result["content"][0]["text"] == f"[POLICY DENIED] {UNCHECKED_MESSAGE}"
            decision = result["_meta"]["io.mcpwall/decision"]
            assert decision["rule"] == LIMIT_RULE
            assert "retry_after_s" not in decision
        assert setup.deletes() == 2 + 3
    stop(gateway)  # a graceful stop writes every proxy-log row
    assert "rate-limit counters at redis://127.0.0.1:" in gateway.log
    assert "are unavailable" in gateway.log

    rows = proxy_log(gateway, "delete_pod")
    assert [row["fail_open"] for row in rows] == [False] * 2 + [fail_open] * 6 + [False] * 6
    unchecked = rows[2:8]
    if fail_open:  # let through, and marked so
        assert {(r["decision"], r["rule"], r["outcome"]) for r in unchecked} == {
            ("allow", "(allowed)", "ok")
        }
    else:
        assert {(r["decision"], r["rule"], r["message"]) for r in unchecked} == {
            ("deny", LIMIT_RULE, UNCHECKED_MESSAGE)
        }
    [logs_call] = proxy_log(gateway, "get_pod_logs")
    assert (logs_call["decision"], logs_call["fail_open"]) == ("allow", False)


def proxy_log(gateway: Gateway, tool: str) -> list[dict[str, Any]]:
    """The proxy-log rows of ``tool`` calls, oldest first (``mcpwall logs --json``)."""
    lines = gateway.cli("logs", "--json", "--tool", tool).splitlines()
    rows = [json.loads(line) for line in lines if line]
    return sorted(rows, key=lambda row: int(row["id"]))
