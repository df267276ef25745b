"""Several ``mcpwall serve`` replicas on one PostgreSQL database, as a scaled deployment runs.

:func:`running_replicas` starts N replicas, each a :class:`~tests.e2e.harness.Gateway` with a
port, an admin port and an ``MCPWALL_HOME`` of its own, and all sharing what replicas must
share (docs/operations.md, "Several replicas"):

- ``MCPWALL_DATABASE_URL``: one database (here a fresh schema of the test's own, through
  ``search_path``: :func:`fresh_schema`), so every replica knows every upstream, policy and
  grant, and hears every change on ``NOTIFY mcpwall_revision``;
- ``MCPWALL_SECRET_KEY``: upstream secrets are sealed with it, and the key that seals
  pagination cursors is derived from it, so a cursor one replica hands out another accepts;
- ``MCPWALL_REDIS_URL`` when given: the rate-limit counters (else the database's tables).

The configuration is applied once, through the first replica's CLI, before any replica serves;
the replicas start together and are stopped cleanly (exit 0, no traceback) on the way out.
:func:`~tests.e2e.harness.stateless_call` sends one 2026-07-28 ``tools/call`` with plain HTTP, and
:func:`eventually` waits, bounded, for a condition to hold: what tests about fan-out need.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeVar

import anyio
import httpx
import psycopg
from sqlalchemy import make_url

from tests.e2e.harness import Gateway

T = TypeVar("T")
EVENTUALLY_TIMEOUT: Final = 30.0  # generous: the promise (1 s) is measured by bench/replicas.py
EVENTUALLY_INTERVAL: Final = 0.01
LEGACY_VERSION: Final = "2025-11-25"


@dataclass
class Replicas:
    """Running replicas sharing one database; ``tokens`` are the configured grants' by label."""

    gateways: list[Gateway]
    tokens: dict[str, str]
    env: dict[str, str]  # what every replica shares

    @property
    def first(self) -> Gateway:
        """A replica to configure through (any would do: the CLI writes the shared store)."""
        return self.gateways[0]

    def __iter__(self) -> Iterator[Gateway]:
        return iter(self.gateways)

    def __len__(self) -> int:
        return len(self.gateways)


@contextmanager
def fresh_schema(server_url: str) -> Iterator[str]:
    """A URL on ``server_url`` whose tables live in a new schema (dropped after)."""
    schema = f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    url = make_url(server_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(server_url, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@contextmanager
def running_replicas(
    root: Path,
    count: int,
    database_url: str,
    config: Mapping[str, object],
    *,
    redis_url: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Iterator[Replicas]:
    """``count`` replicas configured with ``config`` (as ``mcpwall apply -f`` takes it), each
    with a home under ``root``; stopped cleanly on the way out."""
    shared = {
        "MCPWALL_DATABASE_URL": database_url,
        "MCPWALL_SECRET_KEY": secrets.token_urlsafe(32),  # and so the session keys derived from it
        **({"MCPWALL_REDIS_URL": redis_url} if redis_url else {}),
        **(env or {}),
    }
    gateways = [Gateway(root / f"replica-{n}", shared) for n in range(count)]
    for gateway in gateways:
        gateway.home.mkdir(parents=True, exist_ok=True)
    tokens = gateways[0].apply(config)
    try:
        with ThreadPoolExecutor(max_workers=count) as pool:
            list(pool.map(_start, gateways))  # raises the first failure to start
        yield Replicas(gateways, tokens, shared)
    finally:
        _stop_all(gateways)


def _start(gateway: Gateway) -> None:
    gateway.start()


def _stop_all(gateways: list[Gateway]) -> None:
    """Stop every replica still running, then insist each stopped cleanly."""
    failures: list[str] = []
    for gateway in gateways:
        if gateway.process is None:
            continue
        try:
            gateway.stop_cleanly()
        except AssertionError as failure:
            failures.append(f"{gateway.home.name}: {failure}")
    assert not failures, "\n".join(failures)


# -- talking to replicas ---------------------------------------------------------------------


async def eventually(
    probe: Callable[[], Awaitable[T | None]],
    what: str,
    timeout: float = EVENTUALLY_TIMEOUT,
) -> T:
    """``await probe()`` until it returns something other than None; AssertionError saying
    ``what`` was awaited if it still hasn't after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value is not None:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not so within {timeout} s")
        await anyio.sleep(EVENTUALLY_INTERVAL)


@asynccontextmanager
async def legacy_get_stream(
    client: httpx.AsyncClient, url: str, token: str
) -> AsyncIterator[httpx.Response]:
    """A legacy (2025-11-25) session's GET stream at ``url``, open (its headers received)."""
    headers = {"authorization": f"Bearer {token}", "accept": "application/json, text/event-stream"}
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": LEGACY_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "replica-test", "version": "1"},
        },
    }
    answer = await client.post(url, json=initialize, headers=headers)
    assert answer.status_code == 200, answer.text
    session = {**headers, "mcp-session-id": answer.headers["mcp-session-id"]}
    session["mcp-protocol-version"] = LEGACY_VERSION
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert (await client.post(url, json=initialized, headers=session)).status_code == 202
    async with client.stream("GET", url, headers=session) as stream:
        assert stream.status_code == 200
        yield stream
