"""Change signals: a change committed anywhere moves the signal; nothing else does."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mcpwall.adapters.store import SQLStore, open_store
from mcpwall.core.registry import Upstream
from mcpwall.ports.clock import FakeClock


def wait_until(predicate: Callable[[], bool], attempts: int = 2000) -> bool:
    """Poll ``predicate`` a bounded number of times (a notification is asynchronous)."""
    event = threading.Event()
    for _ in range(attempts):
        if predicate():
            return True
        event.wait(0.005)
    return predicate()


@pytest.fixture(params=["sqlite", "postgresql"])
def two_stores(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[SQLStore, SQLStore]]:
    """Two stores on one database, as two gateway replicas (or the CLI and a gateway) have."""
    url = None if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    first = open_store(url, tmp_path / "home", clock=FakeClock(), environ={})
    second = open_store(url, tmp_path / "home", clock=FakeClock(), environ={})
    yield first, second
    first.close()
    second.close()


def test_a_change_from_another_connection_moves_the_signal(
    two_stores: tuple[SQLStore, SQLStore],
) -> None:
    watcher, writer = two_stores
    signal = watcher.change_signal()
    try:
        before = signal.generation()
        assert signal.generation() == before  # asking does not move it
        writer.add_upstream(Upstream.remote("docs", "https://127.0.0.1:9/mcp"), actor="test")
        assert wait_until(lambda: signal.generation() != before)
    finally:
        signal.close()
