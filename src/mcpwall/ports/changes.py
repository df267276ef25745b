"""The change-signal port: a cheap way to notice that the store may have changed.

The data plane caches grants and compiled policies. Asking the database on every request
whether anything changed would cost a round trip per call; a signal answers from memory (or
one small local read), and only when it moves does the cache ask the store for its revision.
"""

from __future__ import annotations

from typing import Protocol

from mcpwall.ports.store import GrantLookup


class ChangeSignal(Protocol):
    """A number that moves whenever the store may have changed."""

    def generation(self) -> int:
        """Cheap: no network round trip. Equal numbers mean the store has not changed."""
        ...

    def close(self) -> None: ...


class RevisionSignal:
    """The signal of a store that is cheap to ask directly, such as the in-memory fake."""

    def __init__(self, store: GrantLookup) -> None:
        self._store = store

    def generation(self) -> int:
        return self._store.revision()

    def close(self) -> None:
        return None
