"""The ``Clock`` port: where the time comes from, so that tests never sleep.

Times are timezone-aware ``datetime`` values in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Tells the current time."""

    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that stands still until a test moves it forward."""

    def __init__(self, start: datetime = datetime(2026, 1, 1, tzinfo=UTC)) -> None:
        if start.tzinfo is None:
            raise ValueError(f"a clock starts at an aware time, got naive {start.isoformat()}")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the time forward by ``seconds``; it never goes back."""
        if seconds < 0:
            raise ValueError(f"time can't go backwards (asked to advance by {seconds} s)")
        self._now += timedelta(seconds=seconds)
