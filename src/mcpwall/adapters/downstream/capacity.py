"""How many connections the data plane holds, and which one gives way when it is full.

Two caps: on all open connections (each is a file descriptor, and the process has a fixed
number), and on those of one client address (an IPv6 client by its /64, which one machine
usually has whole), so that one address cannot take every place.

A cap alone would let anyone fill it: a client without a grant opens connections and trickles
their heads, and agents with a grant are refused. So a connection is *vouched* once a request
on it has passed authentication (the app says so through the scope's :data:`VOUCH` callable),
until a request on it fails authentication. When a new connection would go over a cap, the
oldest connection in the cap's reach that is not vouched is closed to make room; the new one
is refused only when every connection in reach is vouched. A client without a valid grant can
therefore hold only the places that agents with one are not using, and an agent's own new
connection is at risk only until its first request is authenticated, a few milliseconds,
while an attacker would need to open as many connections as the cap in that time to push it
out. On loopback, or behind a proxy, every client has the same address: there the per-client
cap is one more global cap, and the vouching is what protects agents.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Hashable
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
    """The open connections, counted in all and per client, oldest unvouched first."""

    def __init__(self, max_connections: int, max_per_client: int) -> None:
        if max_connections < 1 or max_per_client < 1:
            raise ValueError("connection caps must be at least 1")
        self.max_connections = max_connections
        self.max_per_client = max_per_client
        self._clients: dict[Held, str] = {}
        self._counts: dict[str, int] = {}
        # Unvouched connections in the order they opened (or lost their vouching): dicts keep
        # insertion order, so the first key is the one to let go.
        self._unvouched: dict[Held, None] = {}
        self._unvouched_of: dict[str, dict[Held, None]] = {}
        self._evicted = 0
        self._refused = 0
        self._next_report = 0.0

    @property
    def open(self) -> int:
        """How many connections hold a place."""
        return len(self._clients)

    def admit(self, connection: Held, client: str) -> str | None:
        """Give ``connection``, from address ``client``, a place, closing an unvouched one if a
        cap is reached: None; or, when every connection in the cap's reach is vouched, why it
        gets none (the caller refuses it)."""
        key = client_key(client)
        refusal = None
        if self._counts.get(key, 0) >= self.max_per_client and not self._evict(
            self._unvouched_of.get(key)
        ):
            refusal = f"{_connections(self.max_per_client)} from one client"
        elif len(self._clients) >= self.max_connections and not self._evict(self._unvouched):
            refusal = _connections(self.max_connections)
        if refusal is not None:
            self._report(refused=True)
            return f"the gateway holds at most {refusal}, all in use: try again later"
        self._clients[connection] = key
        self._counts[key] = self._counts.get(key, 0) + 1
        self._unvouched[connection] = None
        self._unvouched_of.setdefault(key, {})[connection] = None
        return None

    def vouch(self, connection: Held, vouched: bool) -> None:
        """A request on ``connection`` passed authentication (``vouched``), or failed it."""
        key = self._clients.get(connection)
        if key is None:
            return
        if vouched:
            self._forget_unvouched(connection, key)
        elif connection not in self._unvouched:
            self._unvouched[connection] = None
            self._unvouched_of.setdefault(key, {})[connection] = None

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

    def _forget_unvouched(self, connection: Held, key: str) -> None:
        if connection in self._unvouched:
            del self._unvouched[connection]
            of_client = self._unvouched_of[key]
            del of_client[connection]
            if not of_client:
                del self._unvouched_of[key]

    def _evict(self, candidates: dict[Held, None] | None) -> bool:
        """Close the oldest of ``candidates``, if any, and free its place."""
        if not candidates:
            return False
        oldest = next(iter(candidates))
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
        now = time.monotonic()
        if now < self._next_report:
            return
        self._next_report = now + REPORT_EVERY_SECONDS
        logger.warning(
            "the data plane is at its connection cap (%d in all, %d per client): "
            "%d unauthenticated connections closed and %d new ones refused to make room",
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
