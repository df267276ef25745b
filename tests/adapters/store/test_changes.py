"""Change signals: a change committed anywhere moves the signal; nothing else does."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mcpwall.adapters.store import SQLStore, open_store
from mcpwall.adapters.store.changes import REVISION_QUERY, SQLiteChangeSignal
from mcpwall.adapters.store.proxy_log import SQLProxyLog
from mcpwall.core.proxylog import build_record
from mcpwall.core.registry import Upstream
from mcpwall.ports.changes import PushedSignal
from mcpwall.ports.clock import FakeClock


def wait_until(predicate: Callable[[], bool], attempts: int = 2000) -> bool:
    """Poll ``predicate`` a bounded number of times (a notification is asynchronous)."""
    event = threading.Event()
    for _ in range(attempts):
        if predicate():
            return True
        event.wait(0.005)
    return predicate()


def pair(url: str | None, home: Path) -> Iterator[tuple[SQLStore, SQLStore]]:
    """Two stores on one database, as two gateway replicas (or the CLI and a gateway) have."""
    first = open_store(url, home, clock=FakeClock(), environ={})
    second = open_store(url, home, clock=FakeClock(), environ={})
    yield first, second
    first.close()
    second.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def two_stores(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[SQLStore, SQLStore]]:
    url = None if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    yield from pair(url, tmp_path / "home")


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


# -- SQLite: the revision, read again only after a commit -------------------------------------


@pytest.fixture
def sqlite_pair(tmp_path: Path) -> Iterator[tuple[SQLStore, SQLStore]]:
    yield from pair(None, tmp_path / "home")


def test_sqlite_signal_is_the_revision_and_moves_at_once(
    sqlite_pair: tuple[SQLStore, SQLStore],
) -> None:
    watcher, writer = sqlite_pair
    signal = watcher.change_signal()
    try:
        assert signal.generation() == watcher.revision()
        writer.add_upstream(Upstream.remote("docs", "https://127.0.0.1:9/mcp"), actor="test")
        # No waiting: the commit is seen by the very next call ("the next request").
        assert signal.generation() == writer.revision() == watcher.revision()
    finally:
        signal.close()


def test_sqlite_signal_queries_nothing_while_nothing_is_committed(
    sqlite_pair: tuple[SQLStore, SQLStore],
) -> None:
    watcher, writer = sqlite_pair
    signal = watcher.change_signal()
    assert isinstance(signal, SQLiteChangeSignal)
    statements: list[str] = []
    signal._connection.set_trace_callback(statements.append)
    try:
        signal.generation()
        signal.generation()  # the -shm file is open now
        statements.clear()
        for _ in range(5):
            signal.generation()
        assert statements == []
        writer.add_upstream(Upstream.remote("docs", "https://127.0.0.1:9/mcp"), actor="test")
        signal.generation()
        assert statements == [REVISION_QUERY]
    finally:
        signal.close()


def test_sqlite_signal_stays_put_when_a_commit_changes_no_revision(
    sqlite_pair: tuple[SQLStore, SQLStore],
) -> None:
    """The gateway's own proxy-log rows are commits too; they must not empty its caches."""
    watcher, writer = sqlite_pair
    signal = watcher.change_signal()
    try:
        before = signal.generation()
        rows = SQLProxyLog(writer.engine, writer.url, FakeClock())
        rows.write_batch([build_record(at=FakeClock().now(), request_id=1, grant_id="g",
                                       grant_label="l", upstream="k8s", method="ping",
                                       outcome="ok")])  # fmt: skip
        assert signal.generation() == before
    finally:
        signal.close()


def test_sqlite_signal_without_a_wal_index_reads_the_revision_each_time(tmp_path: Path) -> None:
    """A database not in WAL mode has no ``-shm`` file: every call asks (exact, slower)."""
    path = tmp_path / "plain.db"
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as database:
        database.execute("CREATE TABLE store_meta (id INTEGER PRIMARY KEY, revision INTEGER)")
        database.execute("INSERT INTO store_meta VALUES (1, 7)")
        signal = SQLiteChangeSignal(str(path))
        try:
            assert signal.generation() == 7
            database.execute("UPDATE store_meta SET revision = 8 WHERE id = 1")
            assert signal.generation() == 8
            assert not (tmp_path / "plain.db-shm").exists()
        finally:
            signal.close()


# -- PostgreSQL: told of each change as it happens ----------------------------------------------


@pytest.fixture
def postgres_pair(postgres_url: str, tmp_path: Path) -> Iterator[tuple[SQLStore, SQLStore]]:
    yield from pair(postgres_url, tmp_path / "home")


def test_postgres_signal_wakes_whoever_asked_on_each_change(
    postgres_pair: tuple[SQLStore, SQLStore],
) -> None:
    watcher, writer = postgres_pair
    signal = watcher.change_signal()
    try:
        assert isinstance(signal, PushedSignal)
        woken = threading.Event()
        signal.on_change(woken.set)
        before = signal.generation()
        writer.add_upstream(Upstream.remote("docs", "https://127.0.0.1:9/mcp"), actor="test")
        assert woken.wait(timeout=30)  # told, not found by asking
        after = signal.generation()
        assert after != before
        woken.clear()
        signal.on_change(None)  # no longer told
        writer.remove_upstream("docs", actor="test")
        assert wait_until(lambda: signal.generation() != after)
        assert not woken.is_set()
    finally:
        signal.close()


def test_the_sqlite_signal_is_not_pushed(sqlite_pair: tuple[SQLStore, SQLStore]) -> None:
    signal = sqlite_pair[0].change_signal()
    try:
        assert not isinstance(signal, PushedSignal)  # serve reviews it each second instead
    finally:
        signal.close()
