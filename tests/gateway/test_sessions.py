"""Legacy sessions expire when idle; looking for them does not walk every session per request."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest

from mcpwall.gateway import sessions
from mcpwall.gateway.sessions import LegacySession, SessionTable


class Clock:
    """Stands in for the ``time`` module in ``mcpwall.gateway.sessions``: a hand-moved clock."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(sessions, "time", fake)
    return fake


def opened(table: SessionTable, clock: Clock, endpoint: str | None = "k8s") -> LegacySession:
    """A new session, last seen now by ``clock``."""
    session = table.create("grant-a", endpoint, "2025-11-25", {})
    assert session is not None
    session.last_seen = clock.now
    return session


def test_an_idle_session_expires_and_a_used_one_stays(clock: Clock) -> None:
    table = SessionTable(idle_seconds=60)
    idle, used = opened(table, clock), opened(table, clock)
    clock.now += 50
    assert table.get(used.id, "grant-a", "k8s") is used
    clock.now += 20
    assert table.expired() == [idle]
    assert table.get(idle.id, "grant-a", "k8s") is None
    assert len(table) == 1


def test_sessions_are_swept_at_most_once_a_second(clock: Clock) -> None:
    table = SessionTable(idle_seconds=60)
    old = opened(table, clock, None)
    clock.now += 61
    assert table.expired() == [old]
    stale = opened(table, clock, None)
    stale.last_seen = clock.now - 120
    assert table.expired() == []  # swept a moment ago: the next sweep is a second away
    clock.now += 1
    assert table.expired() == [stale]
    assert len(table) == 0


def test_a_session_with_a_request_in_flight_does_not_expire(clock: Clock) -> None:
    table = SessionTable(idle_seconds=60)
    busy = opened(table, clock)
    busy.in_flight["call-1"] = cast("asyncio.Future[bytes]", object())
    clock.now += 120
    assert table.expired() == []
    assert len(table) == 1
