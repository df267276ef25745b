"""The change-signal port: a cheap way to notice that the store may have changed.

The data plane caches grants and compiled policies. Asking the database on every request
whether anything changed would cost a round trip per call; a signal answers from memory (or
one small local read), and only when it moves does the cache ask the store for its revision.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from mcpwall.ports.store import GrantLookup


class ChangeSignal(Protocol):
    """A number that moves whenever the store may have changed."""

    def generation(self) -> int:
        """Cheap: no network round trip. Equal numbers mean the store has not changed."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class PushedSignal(ChangeSignal, Protocol):
    """A signal that hears of changes as they happen (PostgreSQL's ``NOTIFY``), and can say
    so: what outlives one request (open streams) then need not wait for a timer to notice."""

    def on_change(self, wake: Callable[[], None] | None) -> None:
        """Call ``wake`` (from any thread) each time the signal moves; None: stop."""
        ...


class RevisionSignal:
    """The signal of a store that is cheap to ask directly, such as the in-memory fake."""

    def __init__(self, store: GrantLookup) -> None:
        self._store = store

    def generation(self) -> int:
        return self._store.revision()

    def close(self) -> None:
        return None
