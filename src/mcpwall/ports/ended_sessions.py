"""The ended-sessions port: legacy sessions ended (DELETE) before they expired.

A sealed session id (``gateway/sealing.py``) carries everything a replica needs to serve it,
except whether it has ended: that cannot travel in the id the agent keeps sending, so it is
kept here, in the store every replica shares, until the session would have expired anyway.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple, Protocol, runtime_checkable


class Ended(NamedTuple):
    """Sessions ended after a cursor (their keys, with when each expires), and the cursor
    to ask from next time."""

    keys: dict[str, datetime]
    cursor: int


@runtime_checkable
class EndedSessionStore(Protocol):
    """Where ended legacy sessions are kept (shared by every replica)."""

    def end_session(self, key: str, expires_at: datetime) -> None:
        """Record that session ``key`` ended; forgotten once ``expires_at`` has passed."""
        ...

    def ended_sessions(self, after: int) -> Ended:
        """The sessions ended since ``cursor`` ``after`` (0: all those not yet expired)."""
        ...


class MemoryEndedSessions:
    """The in-memory fake, and the store of a gateway whose store keeps none (one process)."""

    def __init__(self) -> None:
        self._rows: list[tuple[str, datetime]] = []

    def end_session(self, key: str, expires_at: datetime) -> None:
        self._rows.append((key, expires_at))

    def ended_sessions(self, after: int) -> Ended:
        return Ended(dict(self._rows[after:]), len(self._rows))
