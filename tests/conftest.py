"""Fixtures every test package can use: a PostgreSQL database of its own.

PostgreSQL is the server at ``MCPWALL_TEST_POSTGRES_URL`` (default
``postgresql://127.0.0.1:5432/test``, trust auth). Each test gets a schema of its own, dropped
after, so parallel runs don't collide. Without a server the PostgreSQL tests skip, except
under ``CI=true``, where they fail: CI must run them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import make_url

POSTGRES_URL = os.environ.get("MCPWALL_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")


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


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (``@pytest.mark.anyio``) run on asyncio, the loop the gateway runs on."""
    return "asyncio"
