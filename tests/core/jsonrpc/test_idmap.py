"""Relayed request ids: fresh ones out, the exact originals back."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from mcpwall.core.errors import InvalidRequest
from mcpwall.core.jsonrpc import IdMap, Pending


def test_relay_and_settle() -> None:
    ids: IdMap[str] = IdMap()
    first = ids.relay(1, "alice")
    second = ids.relay("1", "alice")  # a different id: 1 is not "1"
    third = ids.relay(1, "bob")  # the same id from another sender
    assert len({first, second, third}) == 3
    assert len(ids) == 3
    assert ids.relayed_id(1, "bob") == third
    assert ids.settle(second) == Pending("1", "alice", second)
    assert ids.settle(second) is None  # answered once only
    assert ids.relayed_id("1", "alice") is None
    assert len(ids) == 2


def test_answers_that_are_not_ours() -> None:
    ids: IdMap[str] = IdMap(first=100)
    relayed = ids.relay("x", "a")
    assert relayed == 100
    assert ids.settle("100") is None
    assert ids.settle(True) is None  # a boolean is not an id
    assert ids.settle(100.0) is None
    assert ids.settle(7) is None
    assert ids.settle(100) == Pending("x", "a", 100)


def test_an_id_in_flight_can_not_be_reused_by_its_sender() -> None:
    ids: IdMap[str] = IdMap()
    relayed = ids.relay(5, "a")
    with pytest.raises(
        InvalidRequest, match="already used by a request still in flight"
    ) as refused:
        ids.relay(5, "a")
    assert refused.value.request_id == 5
    ids.settle(relayed)
    ids.relay(5, "a")  # free again once answered


def test_drop_origin() -> None:
    ids: IdMap[str] = IdMap()
    ids.relay(1, "a")
    kept = ids.relay(1, "b")
    ids.relay(2, "a")
    gone = ids.drop_origin("a")
    assert sorted(p.original for p in gone) == [1, 2]
    assert len(ids) == 1
    assert ids.settle(kept) == Pending(1, "b", kept)


@given(
    st.lists(
        st.tuples(st.one_of(st.integers(), st.text(max_size=3)), st.sampled_from("abc")),
        unique=True,
    )
)
def test_round_trip_is_exact(requests: list[tuple[str | int, str]]) -> None:
    ids: IdMap[str] = IdMap()
    relayed = [ids.relay(original, origin) for original, origin in requests]
    assert len(set(relayed)) == len(relayed)
    for (original, origin), sent in zip(requests, relayed, strict=True):
        pending = ids.settle(sent)
        assert pending is not None
        assert pending.original == original
        assert type(pending.original) is type(original)
        assert pending.origin == origin
    assert len(ids) == 0
