"""Ended legacy sessions in the store: every kind answers alike (in memory, SQLite,
PostgreSQL), numbered so a replica asks only for what ended since it last asked."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from mcpwall.adapters.store import open_store
from mcpwall.ports.clock import FakeClock
from mcpwall.ports.ended_sessions import EndedSessionStore, MemoryEndedSessions


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def ended(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> Iterator[EndedSessionStore]:
    if request.param == "memory":
        yield MemoryEndedSessions()
        return
    url = None if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    store = open_store(url, tmp_path / "home", clock=clock, environ={})
    assert isinstance(store, EndedSessionStore)
    yield store
    store.close()


def test_a_reader_gets_what_ended_since_its_cursor(
    ended: EndedSessionStore, clock: FakeClock
) -> None:
    later = clock.now() + timedelta(hours=1)
    first = ended.ended_sessions(0)
    assert first.keys == {}
    ended.end_session("key-1", later)
    ended.end_session("key-2", later)
    found = ended.ended_sessions(first.cursor)
    assert found.keys == {"key-1": later, "key-2": later}
    assert ended.ended_sessions(found.cursor).keys == {}
    ended.end_session("key-3", later)
    assert ended.ended_sessions(found.cursor).keys == {"key-3": later}


def test_a_second_store_on_one_database_sees_the_first_ones_ends(
    tmp_path: Path, clock: FakeClock, database_url: str
) -> None:
    one = open_store(database_url, tmp_path / "home", clock=clock, environ={})
    other = open_store(database_url, tmp_path / "home", clock=clock, environ={})
    try:
        assert isinstance(one, EndedSessionStore)
        assert isinstance(other, EndedSessionStore)
        one.end_session("key-1", clock.now() + timedelta(minutes=5))
        assert list(other.ended_sessions(0).keys) == ["key-1"]
    finally:
        one.close()
        other.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_expired_rows_go_when_the_next_is_written(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> None:
    url = None if kind == "sqlite" else request.getfixturevalue("postgres_url")
    store = open_store(url, tmp_path / "home", clock=clock, environ={})
    try:
        assert isinstance(store, EndedSessionStore)
        store.end_session("short", clock.now() + timedelta(seconds=10))
        clock.advance(11)
        store.end_session("long", clock.now() + timedelta(hours=1))
        assert list(store.ended_sessions(0).keys) == ["long"]
    finally:
        store.close()
