"""What only the SQL counters do: rows in ``counter_events``, pruning, an unreachable database."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import select

from mcpwall.adapters.counters import SQLCounters
from mcpwall.adapters.counters.sql import PRUNE_EVERY_SECONDS
from mcpwall.adapters.store.engine import create, database_url
from mcpwall.adapters.store.schema import counter_events
from mcpwall.core.errors import LimitsUnavailable
from mcpwall.core.windows import Budget, CounterKey
from mcpwall.ports.counters import Reservation
from tests.adapters.counters.conftest import sql_url

pytestmark = pytest.mark.anyio

T0 = 1_800_000_000.0
MINUTE = Budget(CounterKey("c", "grant", "grt_a"), 5, 60.0)
DAY = Budget(CounterKey("d", "global", ""), 100, 86_400.0)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return sql_url(request.param, tmp_path, request)


def rows(url: str) -> list[tuple[str, float]]:
    engine = create(database_url(url, Path("unused")))
    try:
        with engine.connect() as connection:
            query = select(counter_events.c.log, counter_events.c.at).order_by("id")
            return [(row.log, row.at) for row in connection.execute(query)]
    finally:
        engine.dispose()


async def test_each_counted_call_is_a_row_named_by_its_log(url: str) -> None:
    counters = SQLCounters.open(database_url(url, Path("unused")), url)
    try:
        taken = await counters.reserve([MINUTE, DAY, MINUTE], T0)
        assert isinstance(taken, Reservation)
        assert rows(url) == [("60:grant:grt_a:c", T0), ("86400:global::d", T0)]
        await counters.release(taken)
        assert rows(url) == []
    finally:
        await counters.aclose()


async def test_rows_a_minute_out_of_their_window_are_pruned_once_a_minute(url: str) -> None:
    assert PRUNE_EVERY_SECONDS == 60.0
    counters = SQLCounters.open(database_url(url, Path("unused")), url)
    try:
        for log, at in ((MINUTE, 0), (DAY, 0), (MINUTE, 119), (MINUTE, 150)):
            await counters.reserve([log], T0 + at)
            await counters.settle()  # pruning is a chore beside the reservation
        assert [at - T0 for _, at in rows(url)] == [0, 0, 119, 150]  # pruned at 0 and 119
        await counters.reserve([MINUTE], T0 + 180)  # prunes what ended by 120: MINUTE at 0
        await counters.settle()
        assert [(log[:3], at - T0) for log, at in rows(url)] == [
            ("864", 0),
            ("60:", 119),
            ("60:", 150),
            ("60:", 180),
        ]
    finally:
        await counters.aclose()


async def test_an_unreachable_database_makes_limits_unavailable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    shown = "postgresql://127.0.0.1:9/none"
    counters = SQLCounters.open(database_url(shown + "?connect_timeout=1", Path("x")), shown)
    try:
        with pytest.raises(LimitsUnavailable, match=r"counters at postgresql://127\.0\.0\.1:9"):
            await counters.reserve([MINUTE], T0)
        with pytest.raises(LimitsUnavailable, match=r"counters at postgresql://127\.0\.0\.1:9"):
            await counters.usage([MINUTE], T0)
        with caplog.at_level(logging.WARNING, logger="mcpwall.limits"):
            await counters.release(Reservation((MINUTE,), T0, token=(1,)))  # never raises
        assert "stays counted" in caplog.text
    finally:
        await counters.aclose()


async def test_reading_usage_writes_nothing(url: str) -> None:
    counters = SQLCounters.open(database_url(url, Path("unused")), url)
    try:
        await counters.reserve([MINUTE], T0)
        before = rows(url)
        assert await counters.usage([MINUTE, DAY], T0 + 30) == [1, 0]
        assert await counters.usage([MINUTE], T0 + 500) == [0]  # out of the window, not pruned
        assert rows(url) == before
    finally:
        await counters.aclose()


async def test_a_missing_table_is_not_taken_for_an_outage(tmp_path: Path) -> None:
    """A database never migrated is a bug to see, still refused (fail closed), not hidden."""
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    counters = SQLCounters.open(database_url(url, tmp_path), url)
    try:
        with pytest.raises(LimitsUnavailable, match="no such table"):
            await counters.reserve([MINUTE], T0)
    finally:
        await counters.aclose()
