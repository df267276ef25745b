"""How fast a change reaches every replica: three ``mcpwall serve`` on one PostgreSQL database.

Run with ``make bench`` (or ``.venv/bin/python bench/replicas.py``). It starts the project's
fixture MCP server over Streamable HTTP (``tests/fixtures/fixture_server.py``) as upstream
``fh`` and three replicas in front of it, sharing a fresh schema of the PostgreSQL database at
``MCPWALL_BENCH_POSTGRES_URL`` (default ``postgresql://127.0.0.1:5432/test``, dropped after),
the secret key and, when it answers, Redis at ``MCPWALL_BENCH_REDIS_URL`` (default
``redis://127.0.0.1:6379/0``) for counters: ``tests/e2e/replicas.py``, as the tests run them.
The bench writes to the store itself, as any replica, the CLI or the admin API would, and
then asks every replica at once, each with a keep-alive client of its own sending one
stateless 2026-07-28 ``tools/call`` after another (refused by the policy at the gateway, so no
upstream round trip), until it answers the new way:

- **revocation** (``TRIALS`` times): a new grant, served by every replica; then revoked. Per
  replica: the time from the revocation's commit (``revoke_grant`` returned) to the first
  answer 401.
- **policy version** (``TRIALS`` times): a new version of the grant's policy. Per replica: the
  time from the commit to the first denial naming the new version.
- **stream end** (``TRIALS`` times): a legacy session's GET stream open on every replica, its
  grant revoked. Per replica: the time from the commit to the stream's end (``serve`` reviews
  open streams when the notification arrives, without waiting for its one-second tick).

Each answer is timed when it arrives, so a figure includes one request's round trip (printed
as "one call" for scale, and each figure as a multiple of it). The promise is 1 s; the table
says how far below it every replica stayed. Nothing here asserts a time.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg
import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' fixtures

from tests.e2e.harness import stateless_call
from tests.e2e.replicas import (
    fresh_schema,
    legacy_get_stream,
    running_replicas,
)
from tests.fixtures.servers import fixture_http_server

from mcpwall.adapters.store import open_store
from mcpwall.control import ControlPlane

POSTGRES_URL = os.environ.get("MCPWALL_BENCH_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
REDIS_URL = os.environ.get("MCPWALL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
REPLICAS = 3
TRIALS = int(os.environ.get("MCPWALL_BENCH_REPLICA_TRIALS", "30"))
PROMISE_S = 1.0
GIVE_UP_S = 30.0  # a replica that has not seen a change by then never will: say so
CLOSED = '{"version": "1", "default": "deny"}'
ACTOR = "bench"

Refused = Callable[[httpx.Response], bool]


def served(answer: httpx.Response) -> bool:
    return answer.status_code == 200


def revoked(answer: httpx.Response) -> bool:
    return answer.status_code == 401


def denied_by_version(version: int) -> Refused:
    def check(answer: httpx.Response) -> bool:
        if answer.status_code != 200:
            raise SystemExit(f"unexpected answer {answer.status_code}: {answer.text}")
        decision = answer.json()["result"]["_meta"]["io.mcpwall/decision"]
        return int(decision["version"]) >= version

    return check


async def first_refusal(
    client: httpx.AsyncClient, url: str, token: str, refused: Refused, since: float
) -> float:
    """Seconds from ``since`` to the first answer from ``url`` that ``refused`` accepts."""
    while True:
        answer = await stateless_call(client, url, token, "echo", {"message": "bench"})
        arrived = time.monotonic()
        if refused(answer):
            return arrived - since
        if arrived - since > GIVE_UP_S:
            raise SystemExit(f"{url} still answers the old way {GIVE_UP_S} s after the change")


async def until_all(
    clients: list[httpx.AsyncClient], urls: list[str], token: str, refused: Refused, since: float
) -> list[float]:
    return list(
        await asyncio.gather(
            *(
                first_refusal(client, url, token, refused, since)
                for client, url in zip(clients, urls, strict=True)
            )
        )
    )


async def round_trip(client: httpx.AsyncClient, url: str, token: str) -> float:
    """The median time of one call (the polling resolution)."""
    times = []
    for _ in range(50):
        start = time.monotonic()
        answer = await stateless_call(client, url, token, "echo", {"message": "bench"})
        assert answer.status_code == 200, answer.text
        times.append(time.monotonic() - start)
    return statistics.median(times)


async def measure(plane: ControlPlane, urls: list[str]) -> dict[str, list[list[float]]]:
    """Per kind of change, per replica, the delays of every trial."""
    delays: dict[str, list[list[float]]] = {
        "revocation": [[] for _ in urls],
        "policy version": [[] for _ in urls],
        "stream end": [[] for _ in urls],
    }
    clients = [httpx.AsyncClient(timeout=30) for _ in urls]
    try:
        for trial in range(TRIALS):
            label = f"bench-{trial}-{uuid.uuid4().hex[:6]}"
            token = plane.issue_grant(label, {"fh": "closed"}, actor=ACTOR).token
            await until_all(clients, urls, token, served, time.monotonic())
            plane.store.revoke_grant(label, actor=ACTOR)
            committed = time.monotonic()
            for replica, delay in enumerate(
                await until_all(clients, urls, token, revoked, committed)
            ):
                delays["revocation"][replica].append(delay)

        label = f"bench-policy-{uuid.uuid4().hex[:6]}"
        token = plane.issue_grant(label, {"fh": "changing"}, actor=ACTOR).token
        for trial in range(TRIALS):
            await until_all(clients, urls, token, denied_by_version(trial + 1), time.monotonic())
            text = json.dumps({"version": "1", "default": "deny", "hide": [f"t{trial}"]})
            version = plane.set_policy("changing", text, actor=ACTOR).version.version
            committed = time.monotonic()
            found = await until_all(clients, urls, token, denied_by_version(version), committed)
            for replica, delay in enumerate(found):
                delays["policy version"][replica].append(delay)
        for _ in range(TRIALS):
            for replica, delay in enumerate(await streams_ended(plane, urls)):
                delays["stream end"][replica].append(delay)
    finally:
        for client in clients:
            await client.aclose()
    return delays


async def streams_ended(plane: ControlPlane, urls: list[str]) -> list[float]:
    """A legacy GET stream open on every replica, its grant revoked: per replica, the time
    from the commit to the stream's end."""
    label = f"bench-stream-{uuid.uuid4().hex[:6]}"
    token = plane.issue_grant(label, {"fh": "closed"}, actor=ACTOR).token
    opened = [asyncio.Event() for _ in urls]
    revoke = asyncio.Event()
    committed = 0.0

    async def one(url: str, ready: asyncio.Event) -> float:
        timeout = httpx.Timeout(GIVE_UP_S, read=GIVE_UP_S)
        async with (
            httpx.AsyncClient(timeout=timeout) as client,
            legacy_get_stream(client, url, token) as stream,
        ):
            ready.set()
            await revoke.wait()
            async for _ in stream.aiter_bytes():
                pass
            return time.monotonic() - committed

    tasks = [
        asyncio.ensure_future(one(url, ready)) for url, ready in zip(urls, opened, strict=True)
    ]
    for ready in opened:
        await ready.wait()
    plane.store.revoke_grant(label, actor=ACTOR)
    committed = time.monotonic()
    revoke.set()
    return list(await asyncio.gather(*tasks))


def summary(samples: list[float], call_s: float) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    median, worst = statistics.median(ordered), ordered[-1]
    return (
        f"{median * 1000:8.1f} {p95 * 1000:8.1f} {worst * 1000:8.1f}"
        f"   {median / call_s:6.1f}× {worst / call_s:6.1f}×   {PROMISE_S / worst:7.0f}×"
    )


def report(delays: dict[str, list[list[float]]], call_s: float, redis_used: bool) -> None:
    print(f"\n{REPLICAS} replicas on PostgreSQL{' + Redis' if redis_used else ''}, {TRIALS} trials")
    print(f"one call (median round trip, the polling resolution): {call_s * 1000:.2f} ms")
    print(
        f"{'change':<16} {'replica':<8} {'median':>8} {'p95':>8} {'max':>8}"
        f"   {'median':>7} {'max':>7}   {'1 s / max':>8}"
    )
    print(f"{'':<16} {'':<8} {'(ms)':>8} {'(ms)':>8} {'(ms)':>8}   {'(calls)':>7} {'(calls)':>7}")
    for kind, per_replica in delays.items():
        for replica, samples in enumerate(per_replica):
            print(f"{kind:<16} {replica:<8} {summary(samples, call_s)}")
        every = [delay for samples in per_replica for delay in samples]
        print(f"{kind:<16} {'all':<8} {summary(every, call_s)}")
        within = sum(delay <= PROMISE_S for delay in every)
        print(f"{'':<16} within {PROMISE_S:.0f} s: {within} of {len(every)}")


def machine() -> str:
    one, five, _ = os.getloadavg()
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
        f"Linux {platform.release()}; Python {platform.python_version()}; "
        f"load average {one:.2f} (1 min), {five:.2f} (5 min)"
    )


def reachable() -> tuple[bool, bool]:
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=5):
            pass
    except psycopg.Error as error:
        print(f"replicas: skipped, PostgreSQL at {POSTGRES_URL} does not answer: {error}")
        return False, False
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
        return True, True
    except redis.RedisError:
        print(f"Redis at {REDIS_URL} does not answer: counters in PostgreSQL")
        return True, False
    finally:
        client.close()


def main() -> None:
    postgres, redis_used = reachable()
    if not postgres:
        return
    print(f"replicas: how fast a change reaches every replica\nmachine: {machine()}")
    with (
        tempfile.TemporaryDirectory(prefix="mcpwall-bench-replicas-") as temp,
        fixture_http_server("http", Path(temp) / "fh.record.jsonl") as upstream,
        fresh_schema(POSTGRES_URL) as database_url,
    ):
        config = {
            "upstreams": {"fh": {"url": upstream}},
            "policies": {"closed": json.loads(CLOSED), "changing": json.loads(CLOSED)},
        }
        with running_replicas(
            Path(temp), REPLICAS, database_url, config, redis_url=REDIS_URL if redis_used else None
        ) as replicas:
            store = open_store(database_url, Path(temp), environ=replicas.env)
            try:
                plane = ControlPlane(store)
                urls = [gateway.url("fh") for gateway in replicas]
                delays, call_s = asyncio.run(_run(plane, urls))
            finally:
                store.close()
    report(delays, call_s, redis_used)


async def _run(plane: ControlPlane, urls: list[str]) -> tuple[dict[str, list[list[float]]], float]:
    label = f"bench-rtt-{uuid.uuid4().hex[:6]}"
    token = plane.issue_grant(label, {"fh": "closed"}, actor=ACTOR).token
    async with httpx.AsyncClient(timeout=30) as client:
        call_s = await round_trip(client, urls[0], token)
    return await measure(plane, urls), call_s


if __name__ == "__main__":
    main()
