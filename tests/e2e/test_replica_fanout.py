"""Any replica serves any agent: three ``mcpwall serve`` replicas on one PostgreSQL database.

The replicas (``tests/e2e/replicas.py``) share the database, the secret key and, in one of the
two runs, Redis for the rate-limit counters; in the other the counters live in PostgreSQL.
Each test configures through one replica's CLI (or the store every replica shares) and checks
what every replica does after:

- a revoked grant is refused by every replica, and a rotated grant's old token too;
- a new policy version is used by every replica;
- a revoked grant's open streams end on every replica: legacy GET streams and 2026-07-28
  ``subscriptions/listen`` streams (the official SDK client);
- 60 concurrent calls spread across the replicas against ``max: 5`` allow exactly 5.

Each waits for the condition (bounded, generous); none asserts how fast. How fast changes
reach every replica is measured by ``bench/replicas.py``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
import pytest
from mcp.client.subscriptions import SubscriptionLost

from mcpwall.adapters.store import open_store
from mcpwall.control import ControlPlane
from tests.e2e.conftest import ALLOW_ALL
from tests.e2e.harness import MODERN, Gateway, agent, stateless_call
from tests.e2e.replicas import (
    Replicas,
    eventually,
    fresh_schema,
    legacy_get_stream,
    running_replicas,
)
from tests.fixtures.servers import Record, fixture_http_server

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

REPLICAS = 3
WITH_REDIS = "postgresql+redis"
# How changes reach the replicas does not depend on where counters live: one run suffices.
FAN_OUT = pytest.mark.parametrize("cluster", [WITH_REDIS], indirect=True)
TIMEOUT = 60.0  # no test waits longer than this for the replicas
LIMITED = {
    "version": "1",
    "default": "allow",
    "tools": {
        "echo": {
            "limits": [
                {"counter": "echo", "max": 5, "window": "hour", "scope": "grant",
                 "on_deny": "Five echoes an hour."}
            ]
        }
    },
}  # fmt: skip


@dataclass
class Cluster:
    """The replicas, with the record of what reached their shared upstream ``fh``."""

    replicas: Replicas
    record: Record
    plane: ControlPlane  # the shared store, as this test's own process sees it

    def __iter__(self) -> Iterator[Gateway]:
        return iter(self.replicas)

    def __len__(self) -> int:
        return len(self.replicas)

    @property
    def gateways(self) -> list[Gateway]:
        return self.replicas.gateways

    @property
    def first(self) -> Gateway:
        return self.replicas.first

    def url(self, gateway: Gateway) -> str:
        return gateway.url("fh")

    def issue(self, bindings: dict[str, str] | None = None) -> tuple[str, str]:
        """A new grant of this test's own (in the shared store): its label and token."""
        label = f"agent-{uuid.uuid4().hex[:10]}"
        issued = self.plane.issue_grant(label, bindings or {"fh": "open"}, actor="test")
        return label, issued.token


@pytest.fixture(scope="module")
def cluster(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_server: str,
) -> Iterator[Cluster]:
    """Three replicas in front of one fixture server over Streamable HTTP (``fh``), with
    policies ``open`` (allow all) and ``limited`` (``echo``: 5 an hour per grant); counters in
    Redis (``postgresql+redis``, the default) or in the database (``postgresql``)."""
    counters = request.param
    root = tmp_path_factory.mktemp("replicas")
    redis_url = request.getfixturevalue("redis_server") if counters == WITH_REDIS else None
    record = Record(root / "fh.record.jsonl")
    with (
        fixture_http_server("http", record.path) as upstream,
        fresh_schema(postgres_server) as database_url,
    ):
        config = {
            "upstreams": {"fh": {"url": upstream}},
            "policies": {"open": ALLOW_ALL, "limited": LIMITED},
        }
        with running_replicas(
            root, REPLICAS, database_url, config, redis_url=redis_url
        ) as replicas:
            store = open_store(database_url, root, environ=replicas.env)
            try:
                yield Cluster(replicas, record, ControlPlane(store))
            finally:
                store.close()


async def echo(client: httpx.AsyncClient, url: str, token: str, message: str) -> httpx.Response:
    return await stateless_call(client, url, token, "echo", {"message": message})


def result_of(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()["result"]
    return result


async def assert_served_everywhere(cluster: Cluster, token: str) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        for gateway in cluster:
            result = result_of(await echo(client, cluster.url(gateway), token, "hello"))
            assert not result.get("isError"), result


async def until_refused_everywhere(cluster: Cluster, token: str) -> None:
    """Wait until every replica answers ``token`` with 401 (and only ever 200 before)."""
    async with httpx.AsyncClient(timeout=30) as client:
        for gateway in cluster:

            async def refused(url: str = cluster.url(gateway)) -> bool | None:
                answer = await echo(client, url, token, "still?")
                assert answer.status_code in (200, 401), answer.text
                return True if answer.status_code == 401 else None

            await eventually(refused, f"{gateway.home.name} refuses the revoked token")


# -- revocation and rotation -------------------------------------------------------------------


@FAN_OUT
async def test_a_revoked_grant_is_refused_by_every_replica(cluster: Cluster) -> None:
    label, token = cluster.issue()
    _, other = cluster.issue()
    await assert_served_everywhere(cluster, token)  # every replica has it cached

    cluster.gateways[1].revoke(label)

    with anyio.fail_after(TIMEOUT):
        await until_refused_everywhere(cluster, token)
    await assert_served_everywhere(cluster, other)  # another grant is untouched


@FAN_OUT
async def test_a_rotated_grant_old_token_is_refused_and_the_new_one_served_everywhere(
    cluster: Cluster,
) -> None:
    label, old = cluster.issue()
    await assert_served_everywhere(cluster, old)

    new = cluster.gateways[2].cli("grant", "rotate", label, "--json")
    token = json.loads(new)["token"]

    with anyio.fail_after(TIMEOUT):
        await until_refused_everywhere(cluster, old)
    await assert_served_everywhere(cluster, token)


# -- policy versions ---------------------------------------------------------------------------


@FAN_OUT
async def test_a_new_policy_version_is_used_by_every_replica(cluster: Cluster) -> None:
    policy = f"changing-{uuid.uuid4().hex[:10]}"
    cluster.plane.set_policy(policy, json.dumps(ALLOW_ALL), actor="test")
    _, token = cluster.issue({"fh": policy})
    await assert_served_everywhere(cluster, token)  # version 1 compiled on every replica

    refusing = {"tools": {"echo": {"deny_if": [{"conditions": [], "on_deny": "Not today."}]}}}
    cluster.gateways[1].set_policy(policy, {**ALLOW_ALL, **refusing})

    async with httpx.AsyncClient(timeout=30) as client:
        for gateway in cluster:

            async def version_2(url: str = cluster.url(gateway)) -> dict[str, Any] | None:
                result = result_of(await echo(client, url, token, "hello"))
                return result if result.get("isError") else None

            with anyio.fail_after(TIMEOUT):
                result = await eventually(version_2, f"{gateway.home.name} uses version 2")
            decision = result["_meta"]["io.mcpwall/decision"]
            assert (decision["policy"], decision["version"]) == (policy, 2)
            assert decision["rule"] == "/tools/echo/deny_if/0"


# -- open streams ------------------------------------------------------------------------------


@FAN_OUT
async def test_a_revoked_grant_open_streams_end_on_every_replica(cluster: Cluster) -> None:
    label, token = cluster.issue()
    ended: list[str] = []

    async def legacy(gateway: Gateway, opened: anyio.Event) -> None:
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(30, read=None)) as client,
            legacy_get_stream(client, cluster.url(gateway), token) as stream,
        ):
            opened.set()
            received = [chunk async for chunk in stream.aiter_bytes()]  # until it ends
        assert b"" not in received
        ended.append(f"legacy {gateway.home.name}")

    async def listening(gateway: Gateway, opened: anyio.Event) -> None:
        async with (
            agent(cluster.url(gateway), token, MODERN) as client,
            client.listen(tools_list_changed=True) as sub,
        ):
            opened.set()
            with pytest.raises(SubscriptionLost):
                await anext(sub)
        ended.append(f"listen {gateway.home.name}")

    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as group:
            opened: list[anyio.Event] = []
            for gateway in cluster:
                for kind in (legacy, listening):
                    event = anyio.Event()
                    opened.append(event)
                    group.start_soon(kind, gateway, event)
            for event in opened:
                await event.wait()
            cluster.gateways[0].revoke(label)
    assert sorted(ended) == sorted(
        f"{kind} {gateway.home.name}" for gateway in cluster for kind in ("legacy", "listen")
    )


# -- limits ------------------------------------------------------------------------------------


@pytest.mark.parametrize("cluster", [WITH_REDIS, "postgresql"], indirect=True)
async def test_limits_stay_exact_across_replicas(cluster: Cluster) -> None:
    _, token = cluster.issue({"fh": "limited"})
    tag = f"limited-{uuid.uuid4().hex[:10]}"
    targets = [cluster.url(cluster.gateways[n % len(cluster)]) for n in range(60)]
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=60)) as client:
        with anyio.fail_after(TIMEOUT):
            answers = await _all(client, targets, token, tag)
        results = [result_of(answer) for answer in answers]
        allowed = [result for result in results if not result.get("isError")]
        assert len(allowed) == 5
        for result in results:
            if result.get("isError"):
                assert result["content"][0]["text"] == "[POLICY DENIED] Five echoes an hour."
                assert result["_meta"]["io.mcpwall/decision"]["rule"] == "/tools/echo/limits/0"
        reached = [
            event
            for event in cluster.record.events()
            if event.get("tool") == "echo" and event["arguments"]["message"] == tag
        ]
        assert len(reached) == 5
        # No replica has a budget of its own left.
        for gateway in cluster:
            result = result_of(await echo(client, cluster.url(gateway), token, tag))
            assert result.get("isError"), result


async def _all(
    client: httpx.AsyncClient, urls: list[str], token: str, tag: str
) -> list[httpx.Response]:
    answers: list[httpx.Response | None] = [None] * len(urls)

    async def one(n: int) -> None:
        answers[n] = await echo(client, urls[n], token, tag)

    async with anyio.create_task_group() as group:
        for n in range(len(urls)):
            group.start_soon(one, n)
    return [answer for answer in answers if answer is not None]
