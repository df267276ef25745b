"""How many connections the data plane holds, and which one gives way when it is full.

Two caps: on all open connections (each is a file descriptor, and the process has a fixed
number), and on those of one client address (an IPv6 client by its /64, which one machine
usually has whole), so that one address cannot take every place.

A cap alone would let anyone fill it: a client without a grant opens connections and trickles
their heads, and agents with a grant are refused. So when a new connection would go over a
cap, a connection in the cap's reach is closed to make room — one that is *stalling*: it has
not authenticated (the app says which requests did, through the scope's :data:`VOUCH`
callable) and the gateway is waiting on it, for the rest of a head, for its next request, or
to finish refusing it; the one stalling the longest goes first. The new connection is refused
(503) only when none is stalling. Never closed for room:

- a connection on which a request passed authentication (*vouched*), until one fails it;
- a connection whose request the gateway is working on (its head came whole: the few
  milliseconds of authenticating it, or answering a request that needs none);
- a new connection in its first ``grace``, if nothing has come on it yet: connections
  accepted together in one burst (the event loop accepts a whole backlog at once) can't push
  each other out before any of them is read.

So a client without a valid grant can never close or keep out a connection an agent has
authenticated on, and an agent's new connection, which sends its request at once, is read and
authenticated before a trickling one can take its place. A flood of new connections from the
agents' own address (on loopback, or behind a proxy, every client has one address) that
keeps every place filled with new, silent connections gets newcomers refused, an agent's among
them, though never an agent's open connections; clients that keep their connections alive,
as HTTP clients do, don't notice.
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


class _Line:
    """Connections in the order they joined, in all and by client: who goes first."""

    __slots__ = ("_all", "_by_client")

    def __init__(self) -> None:
        self._all: dict[Held, float] = {}  # dicts keep insertion order: the first goes first
        self._by_client: dict[str, dict[Held, float]] = {}

    def __contains__(self, connection: Held) -> bool:
        return connection in self._all

    def add(self, connection: Held, client: str, since: float) -> None:
        self._all[connection] = since
        self._by_client.setdefault(client, {})[connection] = since

    def remove(self, connection: Held, client: str) -> None:
        if connection in self._all:
            del self._all[connection]
            of_client = self._by_client[client]
            del of_client[connection]
            if not of_client:
                del self._by_client[client]

    def first(self, client: str | None) -> tuple[Held, float] | None:
        """The first in line (of ``client``, or of all when None)."""
        line = self._all if client is None else self._by_client.get(client)
        return next(iter(line.items()), None) if line else None


class Capacity:
    """The open connections, counted in all and per client, and who gives way."""

    def __init__(
        self,
        max_connections: int,
        max_per_client: int,
        *,
        grace: float = 1.0,
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
        self._vouched: set[Held] = set()
        self._new = _Line()  # nothing read from them yet: they may go once `grace` old
        self._stalling = _Line()  # they may go now, the longest stalling first
        self._evicted = 0
        self._refused = 0
        self._next_report = 0.0

    @property
    def open(self) -> int:
        """How many connections hold a place."""
        return len(self._clients)

    def admit(self, connection: Held, client: str) -> str | None:
        """Give ``connection``, from address ``client``, a place, closing a stalling one if a
        cap is reached: None; or why it gets none (the caller refuses it)."""
        key = client_key(client)
        now = self._clock()
        refusal = None
        if self._counts.get(key, 0) >= self.max_per_client and not self._evict(key, now):
            refusal = f"{_connections(self.max_per_client)} from one client"
        elif len(self._clients) >= self.max_connections and not self._evict(None, now):
            refusal = _connections(self.max_connections)
        if refusal is not None:
            self._report(refused=True)
            return f"the gateway holds at most {refusal}, all in use: try again later"
        self._clients[connection] = key
        self._counts[key] = self._counts.get(key, 0) + 1
        self._new.add(connection, key, now)
        return None

    def stalling(self, connection: Held) -> None:
        """The gateway waits on ``connection``'s client: for the rest of a head, for a next
        request, or to finish refusing it. Unless vouched, it may now give way."""
        if connection in self._stalling or connection in self._vouched:
            return
        key = self._clients.get(connection)
        if key is not None:
            self._new.remove(connection, key)
            self._stalling.add(connection, key, self._clock())

    def busy(self, connection: Held) -> None:
        """The gateway works on a request of ``connection``'s: it keeps its place meanwhile."""
        if connection in self._stalling or connection in self._new:
            key = self._clients[connection]
            self._stalling.remove(connection, key)
            self._new.remove(connection, key)

    def vouch(self, connection: Held, vouched: bool) -> None:
        """A request on ``connection`` passed authentication (``vouched``), or failed it."""
        if not vouched:
            self._vouched.discard(connection)
        elif connection in self._clients:
            self._vouched.add(connection)
            self.busy(connection)

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
        self._vouched.discard(connection)
        self._new.remove(connection, key)
        self._stalling.remove(connection, key)

    def _evict(self, client: str | None, now: float) -> bool:
        """Close the connection (of ``client``, or of any when None) stalling the longest,
        else the oldest new one past its grace, and free its place; False if there is none."""
        found = self._stalling.first(client)
        if found is None:
            found = self._new.first(client)
            if found is None or now - found[1] < self.grace:
                return False
        connection = found[0]
        self.release(connection)
        connection.evict()
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
