"""Strict JSON equality: what the policy language means by "equal"."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from mcpwall.core.jsonvalue import (
    MAX_SAFE_INTEGER,
    is_safe_number,
    render,
    strict_equal,
    strict_key,
    type_name,
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False)
    | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=12,
)


@pytest.mark.parametrize(
    ("left", "right", "equal"),
    [
        (1, 1.0, True),
        (1, "1", False),
        (True, 1, False),
        (False, 0, False),
        (None, False, False),
        ("a", "A", False),
        ("a", "a ", False),
        ([1, True], [1.0, True], True),
        ([1, True], [True, 1], False),
        ({"a": [1]}, {"a": [1.0]}, True),
        ({"a": 1}, {"a": 1, "b": None}, False),
        ([], {}, False),
        (2**53 + 1, float(2**53 + 1), False),  # the float can't hold it: different numbers
    ],
)
def test_strict_equal(left: object, right: object, equal: bool) -> None:
    assert strict_equal(left, right) is equal
    assert strict_equal(right, left) is equal


@given(json_values, json_values)
def test_strict_key_agrees_with_strict_equal(left: object, right: object) -> None:
    assert (strict_key(left) == strict_key(right)) == strict_equal(left, right)


@given(json_values)
def test_every_value_equals_itself(value: object) -> None:
    assert strict_equal(value, value)


def test_type_names_and_rendering() -> None:
    values: list[object] = [None, True, 1, 1.5, "s", [], {}]
    assert [type_name(v) for v in values] == [
        "null", "boolean", "number", "number", "string", "array", "object",
    ]  # fmt: skip
    assert render({"a": [1, "x"]}) == '{"a": [1, "x"]}'
    assert render("x" * 100, limit=10) == '"xxxxxxxx…'


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        (0, True),
        (MAX_SAFE_INTEGER, True),
        (-MAX_SAFE_INTEGER, True),
        (MAX_SAFE_INTEGER + 1, False),
        (float(MAX_SAFE_INTEGER), True),
        (2.0**53, False),
        (10**400, False),  # too large for a float: must not overflow on the way
        (-(10**400), False),
        (float("inf"), False),
        (float("nan"), False),
        (True, False),
        ("1", False),
    ],
)
def test_is_safe_number(value: object, safe: bool) -> None:
    assert is_safe_number(value) is safe
