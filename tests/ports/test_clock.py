"""The clocks: the real one, and the fake one tests move by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from mcpwall.ports.clock import Clock, FakeClock, SystemClock


def test_the_system_clock_tells_aware_utc_time() -> None:
    clock: Clock = SystemClock()
    assert clock.now().tzinfo is UTC


def test_a_fake_clock_stands_still_until_moved() -> None:
    clock: Clock = FakeClock(datetime(2026, 3, 1, tzinfo=UTC))
    assert clock.now() == clock.now() == datetime(2026, 3, 1, tzinfo=UTC)
    assert isinstance(clock, FakeClock)
    clock.advance(1.5)
    assert clock.now() == datetime(2026, 3, 1, tzinfo=UTC) + timedelta(seconds=1.5)


def test_a_fake_clock_keeps_utc_whatever_zone_it_starts_in() -> None:
    start = datetime(2026, 3, 1, 2, tzinfo=timezone(timedelta(hours=2)))
    assert FakeClock(start).now() == datetime(2026, 3, 1, tzinfo=UTC)
    assert FakeClock(start).now().tzinfo is UTC


def test_a_fake_clock_never_goes_back_nor_starts_naive() -> None:
    with pytest.raises(ValueError, match="time can't go backwards"):
        FakeClock().advance(-1)
    with pytest.raises(ValueError, match="naive"):
        FakeClock(datetime(2026, 1, 1))
