"""How many connections the data plane holds, and which one gives way when it is full.

Two caps: on all open connections (each is a file descriptor, and the process has a fixed
number), and on those of one client address (an IPv6 client by its /64, which one machine
usually has whole), so that one address cannot take every place.

A cap alone would let anyone fill it: a client without a grant opens connections and trickles
their heads, and agents with a grant are refused. So a connection is *vouched* once a request
on it has passed authentication (the app says so through the scope's :data:`VOUCH` callable),
until a request on it fails authentication. When a new connection would go over a cap, the
connection in the cap's reach that has been unvouched the longest is closed to make room; the
new one is refused (503) when there is none, or when even that one has been open less than
``grace``. So:

- a client without a valid grant can never close or keep out a connection that an agent has
  authenticated on; it can hold only the places that such connections leave free;
- a new connection, an agent's as much as anyone's, keeps its place for ``grace`` at least,
  time enough to authenticate its first request: connections accepted together in one burst
  (the event loop accepts a whole backlog at once) can't push each other out before any of
  them is read;
- a flood of new connections from the agents' own address (on loopback, or behind a proxy,
  every client has one address) can still get an agent's *new* connection refused, never its
  open ones: agents that keep their connections alive, as HTTP clients do, are not affected.
  With every place held by unauthenticated connections, a cap of N places takes in about
  N / ``grace`` new connections a second; past that rate, newcomers get 503.

The grace, a quarter of a second by default, covers the few turns of the event loop between
accepting a connection and authenticating its first request, with room for a loaded loop.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable, Hashable
from typing import Final, Protocol

logger = logging.getLogger(__name__)

# The scope key of the callable through which the app says whether a request on the connection
# passed authentication (True) or failed it (False). Servers without it simply don't vouch.
VOUCH: Final = "mcpwall.vouch"
# At most one log line per this many seconds about connections closed or refused for room.
REPORT_EVERY_SECONDS: Final = 10.0


class Held(Hashable, Protocol):
    """A connection as the caps see it."""

    def evict(self) -> None:
        """Close at once: its place is given to a newer connection."""


class Capacity:
    """The open connections, counted in all and per client, the longest unvouched first."""

    def __init__(
        self,
        max_connections: int,
        max_per_client: int,
        *,
        grace: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_connections < 1 or max_per_client < 1:
            raise ValueError("connection caps must be at least 1")
        self.max_connections = max_connections
        self.max_per_client = max_per_client
        self.grace = grace
        self._clock = clock
        self._clients: dict[Held, str] = {}
        self._counts: dict[str, int] = {}
        # Unvouched connections, with when they became so, in that order (dicts keep insertion
        # order): the first is the one to let go.
        self._unvouched: dict[Held, float] = {}
        self._unvouched_of: dict[str, dict[Held, float]] = {}
        self._evicted = 0
        self._refused = 0
        self._next_report = 0.0

    @property
    def open(self) -> int:
        """How many connections hold a place."""
        return len(self._clients)

    def admit(self, connection: Held, client: str) -> str | None:
        """Give ``connection``, from address ``client``, a place, closing an unvouched one if a
        cap is reached: None; or why it gets none (the caller refuses it)."""
        key = client_key(client)
        now = self._clock()
        refusal = None
        if self._counts.get(key, 0) >= self.max_per_client and not self._evict(
            self._unvouched_of.get(key), now
        ):
            refusal = f"{_connections(self.max_per_client)} from one client"
        elif len(self._clients) >= self.max_connections and not self._evict(self._unvouched, now):
            refusal = _connections(self.max_connections)
        if refusal is not None:
            self._report(refused=True)
            return f"the gateway holds at most {refusal}, all in use: try again later"
        self._clients[connection] = key
        self._counts[key] = self._counts.get(key, 0) + 1
        self._add_unvouched(connection, key, now)
        return None

    def vouch(self, connection: Held, vouched: bool) -> None:
        """A request on ``connection`` passed authentication (``vouched``), or failed it."""
        key = self._clients.get(connection)
        if key is None:
            return
        if vouched:
            self._forget_unvouched(connection, key)
        elif connection not in self._unvouched:
            self._add_unvouched(connection, key, self._clock())

    def release(self, connection: Held) -> None:
        """``connection`` closed: its place is free (again and again is harmless)."""
        key = self._clients.pop(connection, None)
        if key is None:
            return
        count = self._counts[key] - 1
        if count:
            self._counts[key] = count
        else:
            del self._counts[key]
        self._forget_unvouched(connection, key)

    def _add_unvouched(self, connection: Held, key: str, now: float) -> None:
        self._unvouched[connection] = now
        self._unvouched_of.setdefault(key, {})[connection] = now

    def _forget_unvouched(self, connection: Held, key: str) -> None:
        if connection in self._unvouched:
            del self._unvouched[connection]
            of_client = self._unvouched_of[key]
            del of_client[connection]
            if not of_client:
                del self._unvouched_of[key]

    def _evict(self, candidates: dict[Held, float] | None, now: float) -> bool:
        """Close the longest unvouched of ``candidates``, unless it is within its grace, and
        free its place."""
        if not candidates:
            return False
        oldest, since = next(iter(candidates.items()))
        if now - since < self.grace:
            return False
        self.release(oldest)
        oldest.evict()
        self._report(refused=False)
        return True

    def _report(self, *, refused: bool) -> None:
        """Count what was done for room; say so in the log now and then, not per connection
        (a flood would flood the log too)."""
        if refused:
            self._refused += 1
        else:
            self._evicted += 1
        now = self._clock()
        if now < self._next_report:
            return
        self._next_report = now + REPORT_EVERY_SECONDS
        logger.warning(
            "the data plane is at its connection cap (%d in all, %d per client): "
            "%d unauthenticated connections closed for room, %d new ones refused",
            self.max_connections,
            self.max_per_client,
            self._evicted,
            self._refused,
        )
        self._evicted = self._refused = 0


def _connections(count: int) -> str:
    return "1 connection" if count == 1 else f"{count} connections"


def client_key(host: str) -> str:
    """What the per-client cap counts by: the address, an IPv6 one by its /64 prefix."""
    try:
        address = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return host  # not an IP address (a Unix socket): as it is
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
