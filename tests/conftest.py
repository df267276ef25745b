"""Fixtures every test package can use: a PostgreSQL database of its own, and Redis.

PostgreSQL is the server at ``MCPWALL_TEST_POSTGRES_URL`` (default
``postgresql://127.0.0.1:5432/test``, trust auth). Each test gets a schema of its own, dropped
after, so parallel runs don't collide. Without a server the PostgreSQL tests skip, except
under ``CI=true``, where they fail: CI must run them.

Redis is the server at ``MCPWALL_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``),
shared with tests running in parallel (keys made from fresh grant ids or a per-test prefix
keep them apart; it is never stopped), and ``private_redis``: a ``redis-server`` of the test's
own, for tests that stop it; ``private_postgres_server`` is the same for PostgreSQL (a cluster
of the test's own, from ``initdb``). The same skip-or-fail rule applies to all.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import psycopg
import pytest
import redis
from hypothesis import settings
from sqlalchemy import make_url

from tests.fixtures.postgres_server import PrivatePostgres, postgres_binaries, private_postgres
from tests.fixtures.redis_server import PrivateRedis, private_redis, redis_server_binary

# No deadline for Hypothesis examples: how long one takes depends on what else the machine is
# doing (CI runs the suite two workers wide), and the suite asserts nothing about time.
settings.register_profile("mcpwall", deadline=None)
settings.load_profile("mcpwall")

# For tests of the gateway's own network code: on plain asyncio, and on uvloop (what `serve` runs).
BOTH_EVENT_LOOPS = [
    pytest.param(("asyncio", {"use_uvloop": False}), id="asyncio"),
    pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop"),
]


def event_loop_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, bool]]:
    """An ``anyio_backend`` fixture body over :data:`BOTH_EVENT_LOOPS`:
    ``anyio_backend = pytest.fixture(params=BOTH_EVENT_LOOPS)(event_loop_backend)``."""
    backend: tuple[str, dict[str, bool]] = request.param
    return backend


POSTGRES_URL = os.environ.get("MCPWALL_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
REDIS_URL = os.environ.get("MCPWALL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def unavailable(message: str, service: str) -> NoReturn:
    """Skip for want of ``service``; under ``CI=true``, fail instead: CI must run every test."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}; with CI=true the {service} tests must run")
    pytest.skip(f"{message}; start it, or set CI=true to make this a failure")


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The PostgreSQL server's URL, once it answers."""
    try:
        psycopg.connect(POSTGRES_URL, connect_timeout=5).close()
    except psycopg.OperationalError as error:
        reason = str(error).strip().splitlines()[0]
        message = f"PostgreSQL is not reachable at {POSTGRES_URL} ({reason})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}; with CI=true the PostgreSQL tests must run")
        pytest.skip(f"{message}; start it, or set CI=true to make this a failure")
    return POSTGRES_URL


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A URL whose tables live in a fresh schema of their own (through ``search_path``)."""
    schema = f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_server, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    url = make_url(postgres_server).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with psycopg.connect(postgres_server, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(scope="session")
def redis_server() -> str:
    """The shared Redis server's URL, once it answers."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.RedisError as error:
        unavailable(f"Redis is not reachable at {REDIS_URL} ({error})", "Redis")
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def private_redis_server(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A ``redis-server`` of this test's own on a free loopback port: the test may stop it,
    and start it again with what it held (it persists every write, as production would)."""
    binary = redis_server_binary()
    if binary is None:
        unavailable("redis-server is not installed", "Redis")
    with private_redis(binary, tmp_path, persistent=True) as server:
        yield server


@pytest.fixture
def private_postgres_server() -> Iterator[PrivatePostgres]:
    """A PostgreSQL cluster of this test's own on a free loopback port: the test may stop it
    and start it again."""
    binaries = postgres_binaries()
    if binaries is None:
        unavailable("initdb and pg_ctl are not installed", "PostgreSQL")
    with private_postgres(*binaries) as server:
        yield server


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (``@pytest.mark.anyio``) run on asyncio, the loop the gateway runs on."""
    return "asyncio"


async def until_cancelled(cancelled: asyncio.Event) -> NoReturn:
    """Wait for ever; set ``cancelled`` when the wait is cancelled (work that never answers)."""
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        cancelled.set()
        raise
    raise AssertionError("unreachable")


class HandClock:
    """Stands in for the ``time`` module of a module under test (its ``monotonic``): a clock
    the test moves by hand. Install it with :func:`hand_clock`."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def monotonic(self) -> float:
        return self.now


def hand_clock(monkeypatch: pytest.MonkeyPatch, module: object) -> HandClock:
    """A :class:`HandClock` as ``module``'s ``time``, for the test's duration."""
    fake = HandClock()
    monkeypatch.setattr(module, "time", fake)
    return fake
