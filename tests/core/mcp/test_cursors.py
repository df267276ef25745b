"""Our pagination cursors: opaque, tamper-evident, bound to one place."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, strategies as st

from mcpwall.core.errors import InvalidParams
from mcpwall.core.mcp import CursorSeal, PageCursor, after, first_page, resume

KEY = bytes(range(32))
SCOPE = "grant-1 /mcp tools/list"
seal = CursorSeal(KEY)


def test_seal_and_open() -> None:
    cursor = PageCursor("k8s", "their:cursor/é", 2)
    sealed = seal.seal(cursor, SCOPE)
    assert sealed.isascii()
    assert "their" not in sealed
    assert seal.open(sealed, SCOPE) == cursor
    assert seal.open(seal.seal(PageCursor("gh", None, 0), SCOPE), SCOPE) == PageCursor(
        "gh", None, 0
    )


@pytest.mark.parametrize("sealed", ["", ".", "abc", "abc.def", "a" * 9000, "!!.!!", None, 5, ["x"]])
def test_garbage_is_refused(sealed: object) -> None:
    with pytest.raises(InvalidParams, match=r"^invalid cursor") as refused:
        seal.open(sealed, SCOPE)
    assert refused.value.code == -32602


def test_another_scope_or_key_refuses_it() -> None:
    sealed = seal.seal(PageCursor("k8s", "c", 0), SCOPE)
    with pytest.raises(InvalidParams):
        seal.open(sealed, "grant-2 /mcp tools/list")
    with pytest.raises(InvalidParams):
        CursorSeal(bytes(32)).open(sealed, SCOPE)
    with pytest.raises(ValueError, match="at least 16 bytes"):
        CursorSeal(b"short")


def test_swapping_payloads_between_cursors_is_refused() -> None:
    one = seal.seal(PageCursor("k8s", "c1", 0), SCOPE)
    two = seal.seal(PageCursor("gh", "c2", 1), SCOPE)
    forged = one.split(".")[0] + "." + two.split(".")[1]
    with pytest.raises(InvalidParams):
        seal.open(forged, SCOPE)


@given(
    st.text(max_size=20), st.one_of(st.none(), st.text(max_size=20)), st.integers(0, 100), st.data()
)
def test_any_change_to_a_cursor_is_refused(
    upstream: str, inner: str | None, position: int, data: st.DataObject
) -> None:
    sealed = seal.seal(PageCursor(upstream, inner, position), SCOPE)
    index = data.draw(st.integers(0, len(sealed) - 1))
    replacement = data.draw(st.sampled_from("AQgw-_.=x"))
    tampered = sealed[:index] + replacement + sealed[index + 1 :]
    if tampered != sealed:
        with pytest.raises(InvalidParams):
            seal.open(tampered, SCOPE)


def test_paging_across_upstreams() -> None:
    bound = ["a", "b", "c"]
    start = first_page(bound)
    assert start == PageCursor("a", None, 0)
    assert first_page([]) is None
    more = after(start, "a-2", bound)
    assert more == PageCursor("a", "a-2", 0)
    assert after(more, None, bound) == PageCursor("b", None, 1)
    assert after(PageCursor("c", "x", 2), None, bound) is None
    assert resume(PageCursor("b", "t", 1), bound) == PageCursor("b", "t", 1)


@pytest.mark.parametrize(
    "cursor", [PageCursor("b", None, 0), PageCursor("c", None, 3), PageCursor("x", "t", 1)]
)
def test_a_cursor_for_other_upstreams_is_refused(cursor: PageCursor) -> None:
    with pytest.raises(InvalidParams, match="invalid cursor"):
        resume(cursor, ["a", "b"])


def test_a_signed_payload_of_another_shape_is_still_refused() -> None:
    # Defence in depth: a cursor of some other format (or a bug) never becomes a position.
    for payload in (b'[2,"a",null,0]', b'[1,"a",null,-1]', b"[1,5,null,0]", b"{}"):
        forged = f"{_b64(payload)}.{_b64(seal._mac(payload, SCOPE))}"
        with pytest.raises(InvalidParams):
            seal.open(forged, SCOPE)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")
