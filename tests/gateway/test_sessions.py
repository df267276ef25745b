"""Legacy sessions expire when idle; looking for them does not walk every session per request;
one grant holds at most its share of them, and the table at most its limit."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest

from mcpwall.core.errors import GatewayOverCapacity, GrantOverCapacity
from mcpwall.gateway import sessions
from mcpwall.gateway.sessions import LegacySession, SessionTable
from tests.conftest import HandClock, hand_clock


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> HandClock:
    return hand_clock(monkeypatch, sessions)


def opened(
    table: SessionTable, clock: HandClock, endpoint: str | None = "k8s", grant: str = "grant-a"
) -> LegacySession:
    """A new session, last seen now by ``clock``."""
    session = table.create(grant, endpoint, "2025-11-25", {})
    session.last_seen = clock.now
    return session


def test_an_idle_session_expires_and_a_used_one_stays(clock: HandClock) -> None:
    table = SessionTable(idle_seconds=60)
    idle, used = opened(table, clock), opened(table, clock)
    clock.now += 50
    assert table.get(used.id, "grant-a", "k8s") is used
    clock.now += 20
    assert table.expired() == [idle]
    assert table.get(idle.id, "grant-a", "k8s") is None
    assert len(table) == 1


def test_sessions_are_swept_at_most_once_a_second(clock: HandClock) -> None:
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


def test_a_session_with_a_request_in_flight_does_not_expire(clock: HandClock) -> None:
    table = SessionTable(idle_seconds=60)
    busy = opened(table, clock)
    busy.in_flight["call-1"] = cast("asyncio.Future[bytes]", object())
    clock.now += 120
    assert table.expired() == []
    assert len(table) == 1


def test_a_grant_at_its_cap_is_refused_and_told_when_one_expires(clock: HandClock) -> None:
    table = SessionTable(idle_seconds=600, per_grant=2)
    first = opened(table, clock)
    clock.now += 100
    opened(table, clock)
    with pytest.raises(GrantOverCapacity) as refused:
        opened(table, clock)
    assert refused.value.data == {
        "cap": "MCPWALL_SESSIONS_PER_GRANT",
        "limit": 2,
        "retry_after_s": 501,  # the first expires 500 s from now, seen by a sweep within 1 s
    }
    assert refused.value.message == (
        "this grant has as many open sessions as one grant may (MCPWALL_SESSIONS_PER_GRANT=2): "
        "end one (DELETE), or wait for its least recently used one to expire; retry in 501 s"
    )
    assert table.get(first.id, "grant-a", "k8s") is first  # refusing ends nothing
    assert len(table) == 2


def test_another_grant_is_not_held_back_by_one_at_its_cap(clock: HandClock) -> None:
    table = SessionTable(per_grant=1)
    opened(table, clock, grant="greedy")
    with pytest.raises(GrantOverCapacity):
        opened(table, clock, grant="greedy")
    assert opened(table, clock, grant="other").grant_id == "other"
    assert (table.held_by("greedy"), table.held_by("other")) == (1, 1)


def test_a_session_ended_or_expired_makes_room_for_its_grant(clock: HandClock) -> None:
    table = SessionTable(idle_seconds=60, per_grant=1)
    ended = opened(table, clock)
    table.remove(ended.id)
    idle = opened(table, clock)
    clock.now += 61
    assert table.expired() == [idle]
    assert table.held_by("grant-a") == 0
    opened(table, clock)


def test_a_full_table_refuses_every_grant_with_503(clock: HandClock) -> None:
    table = SessionTable(idle_seconds=60, limit=2, per_grant=1)
    opened(table, clock, grant="a")
    opened(table, clock, grant="b")
    with pytest.raises(GatewayOverCapacity) as refused:
        opened(table, clock, grant="c")
    assert refused.value.code == 503
    assert refused.value.data == {"cap": "MCPWALL_MAX_SESSIONS", "limit": 2, "retry_after_s": 61}


def test_a_grant_at_its_cap_hears_its_own_cap_before_the_tables(clock: HandClock) -> None:
    table = SessionTable(limit=2, per_grant=1)
    opened(table, clock, grant="a")
    opened(table, clock, grant="b")
    with pytest.raises(GrantOverCapacity):
        opened(table, clock, grant="a")
