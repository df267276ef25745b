"""Stores to test against: in memory, SQLite in a temporary directory, and PostgreSQL.

The PostgreSQL fixtures (``postgres_url``) are in ``tests/conftest.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mcpwall.adapters.store import open_store
from mcpwall.ports.clock import FakeClock
from mcpwall.ports.memory_store import MemoryStore
from mcpwall.ports.store import Store


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database: a SQLite file, or a PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[Store]:
    """An empty store of each kind, on the fake ``clock``."""
    opened: Store
    if request.param == "memory":
        opened = MemoryStore(clock)
    else:
        url = None if request.param == "sqlite" else request.getfixturevalue("postgres_url")
        opened = open_store(url, tmp_path / "home", clock=clock, environ={})
    yield opened
    opened.close()
