"""Request ids for relaying: a fresh id on the outgoing leg, the original one back.

One upstream connection carries the requests of many agents, whose own ids may collide (two
agents both sending ``"id": 1``), so each relayed request gets a fresh integer id on the way
out. The original id — kept as the exact value, string or integer — and where the request came
from are restored when the answer comes back. The same map serves the other direction too
(server→client requests relayed to an agent).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from mcpwall.core.errors import InvalidRequest
from mcpwall.core.jsonrpc.messages import RequestId
from mcpwall.core.jsonvalue import render

Origin = TypeVar("Origin", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Pending(Generic[Origin]):
    """A relayed request awaiting its answer: its original id and where it came from."""

    original: RequestId
    origin: Origin
    relayed: int


class IdMap(Generic[Origin]):
    """The requests in flight over one connection, by the id they were relayed with.

    ``Origin`` identifies the sender (a session, a stream); ids are unique per origin only.
    """

    def __init__(self, first: int = 1) -> None:
        self._next = first
        self._by_relayed: dict[int, Pending[Origin]] = {}
        # (origin, original id) → relayed id. 1 and "1" are different keys, as they should be.
        self._by_original: dict[tuple[Origin, RequestId], int] = {}

    def __len__(self) -> int:
        return len(self._by_relayed)

    def relay(self, original: RequestId, origin: Origin) -> int:
        """A fresh id to send ``original`` with; refuses an id already in flight from ``origin``.

        JSON-RPC requires a sender's in-flight ids to be unique: a reused one would make the
        answers ambiguous, so it is refused with -32600 rather than guessed at.
        """
        key = (origin, original)
        if key in self._by_original:
            raise InvalidRequest(
                f'"id": {render(original)} is already used by a request still in flight '
                "(expected an id unique among this sender's pending requests)",
                request_id=original,
            )
        relayed = self._next
        self._next += 1
        self._by_relayed[relayed] = Pending(original, origin, relayed)
        self._by_original[key] = relayed
        return relayed

    def settle(self, relayed: object) -> Pending[Origin] | None:
        """Take the request answered with id ``relayed``; None if it is not one of ours."""
        if type(relayed) is not int:
            return None
        pending = self._by_relayed.pop(relayed, None)
        if pending is not None:
            del self._by_original[(pending.origin, pending.original)]
        return pending

    def relayed_id(self, original: RequestId, origin: Origin) -> int | None:
        """The id ``original`` from ``origin`` was relayed with, while in flight (to cancel it)."""
        return self._by_original.get((origin, original))

    def drop_origin(self, origin: Origin) -> list[Pending[Origin]]:
        """Forget every request in flight from ``origin`` (it went away); returns them."""
        gone = [p for p in self._by_relayed.values() if p.origin == origin]
        for pending in gone:
            self.settle(pending.relayed)
        return gone
