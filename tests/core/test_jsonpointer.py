"""RFC 6901 pointers."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from mcpwall.core import jsonpointer


def test_escaping_follows_rfc_6901() -> None:
    assert jsonpointer.join("/tools", "a/b", "require", 0) == "/tools/a~1b/require/0"
    assert jsonpointer.join("", "a~b") == "/a~0b"
    assert jsonpointer.split("/tools/a~1b/x~01") == ["tools", "a/b", "x~1"]


@given(st.lists(st.text(max_size=6), max_size=5))
def test_join_then_split_round_trips(tokens: list[str]) -> None:
    assert jsonpointer.split(jsonpointer.join("", *tokens)) == tokens


def test_resolve() -> None:
    document = {"tools": {"a/b": {"require": [{"x": 1}]}}}
    assert jsonpointer.resolve(document, "/tools/a~1b/require/0/x") == 1
    assert jsonpointer.resolve(document, "") is document
    with pytest.raises(KeyError):
        jsonpointer.resolve(document, "/tools/a~1b/require/1")
    with pytest.raises(ValueError, match="starts with '/'"):
        jsonpointer.split("tools")
