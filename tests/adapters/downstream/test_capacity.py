"""The connection caps: who gives way when the data plane is full."""

from __future__ import annotations

import pytest

from mcpwall.adapters.downstream.capacity import Capacity, client_key


class Connection:
    """A connection as the caps see it: it records being evicted."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.evicted = False

    def evict(self) -> None:
        self.evicted = True

    def __repr__(self) -> str:
        return self.name


class Clock:
    """Seconds that pass only when a test says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def caps(total: int, per_client: int, clock: Clock | None = None) -> Capacity:
    return Capacity(total, per_client, grace=1.0, clock=clock or Clock())


def opened(capacity: Capacity, *names: str, client: str = "192.0.2.1") -> list[Connection]:
    """New connections that at once send part of a head: stalling."""
    connections = [Connection(name) for name in names]
    for connection in connections:
        assert capacity.admit(connection, client) is None
        capacity.stalling(connection)
    return connections


def authenticated(capacity: Capacity, *names: str, client: str = "192.0.2.1") -> list[Connection]:
    """New connections whose first request passes authentication."""
    connections = [Connection(name) for name in names]
    for connection in connections:
        assert capacity.admit(connection, client) is None
        capacity.busy(connection)
        capacity.vouch(connection, True)
        capacity.stalling(connection)  # idle between requests
    return connections


def evicted(*connections: Connection) -> list[str]:
    return [c.name for c in connections if c.evicted]


def test_under_the_caps_every_connection_is_admitted() -> None:
    capacity = caps(3, 3)
    connections = opened(capacity, "a", "b", "c")
    assert capacity.open == 3
    assert evicted(*connections) == []


def test_at_the_cap_the_connection_stalling_the_longest_makes_room() -> None:
    capacity = caps(3, 3)
    a, b, c = opened(capacity, "a", "b", "c")
    capacity.busy(a)  # its head came whole: the gateway is working on it
    [d] = opened(capacity, "d")
    assert evicted(a, b, c) == ["b"]
    opened(capacity, "e")
    assert evicted(a, c, d) == ["c"]
    assert capacity.open == 3
    capacity.release(b)  # its connection_lost, after the eviction: nothing more to free
    assert capacity.open == 3


def test_authenticated_connections_never_give_way_and_a_newcomer_is_refused() -> None:
    capacity = caps(2, 2)
    agents = authenticated(capacity, "a", "b")
    refusal = capacity.admit(Connection("c"), "192.0.2.1")
    assert refusal == (
        "the gateway holds at most 2 connections from one client, all in use: try again later"
    )
    assert evicted(*agents) == []
    assert caps(2, 5).admit(Connection("x"), "192.0.2.9") is None


def test_a_failed_authentication_takes_the_vouching_back() -> None:
    capacity = caps(2, 2)
    a, b = authenticated(capacity, "a", "b")
    capacity.busy(a)
    capacity.vouch(a, False)
    assert capacity.admit(Connection("c"), "192.0.2.1") is not None  # a is being answered
    capacity.stalling(a)  # its 401 sent, the gateway lingers on it
    opened(capacity, "c")
    assert evicted(a, b) == ["a"]


def test_a_new_silent_connection_keeps_its_place_for_its_grace() -> None:
    """Connections accepted in one burst can't push each other out before any is read."""
    clock = Clock()
    capacity = caps(2, 2, clock)
    a, b = Connection("a"), Connection("b")
    assert capacity.admit(a, "192.0.2.1") is None
    assert capacity.admit(b, "192.0.2.1") is None
    clock.now += 0.5
    assert capacity.admit(Connection("c"), "192.0.2.1") is not None
    clock.now += 0.5
    assert capacity.admit(Connection("d"), "192.0.2.1") is None  # a's grace is over
    assert evicted(a, b) == ["a"]
    capacity.stalling(b)  # something came, not a whole head: no grace left
    assert capacity.admit(Connection("e"), "192.0.2.1") is None
    assert evicted(a, b) == ["a", "b"]


def test_a_closed_connection_frees_its_place() -> None:
    capacity = caps(2, 2)
    a, _ = authenticated(capacity, "a", "b")
    capacity.release(a)
    assert capacity.admit(Connection("c"), "192.0.2.1") is None
    capacity.vouch(a, True)  # a late word about a closed connection changes nothing
    capacity.stalling(a)
    capacity.busy(a)
    assert capacity.open == 2


def test_the_per_client_cap_makes_room_among_that_clients_connections_only() -> None:
    capacity = caps(10, 2)
    [other] = opened(capacity, "other", client="198.51.100.7")  # stalling the longest
    a, b = opened(capacity, "a", "b")
    [c] = opened(capacity, "c")
    assert evicted(other, a, b, c) == ["a"]
    for connection in (b, c):
        capacity.busy(connection)
        capacity.vouch(connection, True)
    refusal = capacity.admit(Connection("d"), "192.0.2.1")
    assert "2 connections from one client" in str(refusal)
    assert capacity.admit(Connection("e"), "198.51.100.8") is None  # another client


def test_the_global_cap_makes_room_among_every_clients_connections() -> None:
    capacity = caps(2, 2)
    [a] = opened(capacity, "a", client="192.0.2.1")
    [b] = opened(capacity, "b", client="192.0.2.2")
    [c] = opened(capacity, "c", client="192.0.2.3")
    assert evicted(a, b, c) == ["a"]
    assert capacity.admit(Connection("d"), "192.0.2.1") is None
    assert evicted(a, b, c) == ["a", "b"]


def test_caps_below_one_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Capacity(0, 1)


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("2001:db8::1", "2001:db8::/64"),
        ("2001:db8::ffff:1", "2001:db8::/64"),  # the same /64: one client
        ("2001:db8:0:1::1", "2001:db8:0:1::/64"),
        ("::ffff:192.0.2.1", "192.0.2.1"),  # an IPv4 client on a dual-stack socket
        ("fe80::1%eth0", "fe80::/64"),
        ("", ""),  # a Unix socket
    ],
)
def test_clients_are_counted_by_address_and_ipv6_ones_by_their_64(host: str, key: str) -> None:
    assert client_key(host) == key
