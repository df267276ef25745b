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
    """Caps whose connections are past their grace as soon as they open (unless a test's
    ``clock`` says otherwise)."""
    return Capacity(total, per_client, grace=1.0 if clock else 0.0, clock=clock or Clock())


def opened(capacity: Capacity, *names: str, client: str = "192.0.2.1") -> list[Connection]:
    connections = [Connection(name) for name in names]
    for connection in connections:
        assert capacity.admit(connection, client) is None
    return connections


def test_under_the_caps_every_connection_is_admitted() -> None:
    capacity = caps(3, 3)
    connections = opened(capacity, "a", "b", "c")
    assert capacity.open == 3
    assert not any(c.evicted for c in connections)


def test_at_the_cap_the_oldest_unvouched_connection_makes_room() -> None:
    capacity = caps(3, 3)
    a, b, c = opened(capacity, "a", "b", "c")
    capacity.vouch(a, True)
    [d] = opened(capacity, "d")
    assert (a.evicted, b.evicted, c.evicted) == (False, True, False)
    opened(capacity, "e")
    assert (c.evicted, d.evicted) == (True, False)
    assert capacity.open == 3
    capacity.release(b)  # its connection_lost, after the eviction: nothing more to free
    assert capacity.open == 3


def test_when_every_connection_is_vouched_a_new_one_is_refused() -> None:
    capacity = caps(2, 2)
    for connection in opened(capacity, "a", "b"):
        capacity.vouch(connection, True)
    refusal = capacity.admit(Connection("c"), "192.0.2.1")
    assert refusal == (
        "the gateway holds at most 2 connections from one client, all in use: try again later"
    )
    assert caps(2, 5).admit(Connection("x"), "192.0.2.9") is None


def test_a_failed_authentication_takes_the_vouching_back() -> None:
    capacity = caps(2, 2)
    a, b = opened(capacity, "a", "b")
    capacity.vouch(a, True)
    capacity.vouch(b, True)
    capacity.vouch(a, False)
    opened(capacity, "c")
    assert (a.evicted, b.evicted) == (True, False)


def test_a_closed_connection_frees_its_place() -> None:
    capacity = caps(2, 2)
    a, b = opened(capacity, "a", "b")
    capacity.vouch(a, True)
    capacity.vouch(b, True)
    capacity.release(a)
    assert capacity.admit(Connection("c"), "192.0.2.1") is None
    capacity.vouch(a, True)  # a late word about a closed connection changes nothing
    assert capacity.open == 2


def test_the_per_client_cap_makes_room_among_that_clients_connections_only() -> None:
    capacity = caps(10, 2)
    other = opened(capacity, "other", client="198.51.100.7")[0]  # the oldest of all
    a, b = opened(capacity, "a", "b")
    [c] = opened(capacity, "c")
    assert (a.evicted, other.evicted, b.evicted) == (True, False, False)
    capacity.vouch(b, True)
    capacity.vouch(c, True)
    refusal = capacity.admit(Connection("d"), "192.0.2.1")
    assert "2 connections from one client" in str(refusal)
    assert capacity.admit(Connection("e"), "198.51.100.8") is None  # another client


def test_the_global_cap_makes_room_among_every_clients_connections() -> None:
    capacity = caps(2, 2)
    [a] = opened(capacity, "a", client="192.0.2.1")
    [b] = opened(capacity, "b", client="192.0.2.2")
    [c] = opened(capacity, "c", client="192.0.2.3")
    assert (a.evicted, b.evicted, c.evicted) == (True, False, False)
    assert capacity.admit(Connection("d"), "192.0.2.1") is None  # a's place was freed


def test_a_new_connection_keeps_its_place_for_its_grace() -> None:
    """Connections accepted in one burst can't push each other out before any is read."""
    clock = Clock()
    capacity = caps(2, 2, clock)
    a, b = opened(capacity, "a", "b")
    clock.now += 0.5
    refusal = capacity.admit(Connection("c"), "192.0.2.1")
    assert refusal == (
        "the gateway holds at most 2 connections from one client, all in use: try again later"
    )
    assert (a.evicted, b.evicted) == (False, False)
    clock.now += 0.5
    [d] = opened(capacity, "d")
    assert (a.evicted, b.evicted) == (True, False)
    capacity.vouch(b, True)
    capacity.vouch(b, False)  # unvouched anew: a new grace, and the last in line
    clock.now += 1.0
    opened(capacity, "e")
    assert (b.evicted, d.evicted) == (False, True)


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
