"""The shape of a JSON text from its bytes: the same figures as a walk over the parsed value."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, strategies as st

from mcpwall.core import jsonshape


def reference(value: object) -> tuple[int, int]:
    """(containers, depth) of a parsed value, the plain recursive way."""
    if not isinstance(value, dict | list):
        return 0, 0
    counted = [reference(item) for item in (value.values() if isinstance(value, dict) else value)]
    return 1 + sum(c for c, _ in counted), 1 + max((d for _, d in counted), default=0)


def measured(text: bytes) -> tuple[int, int]:
    brackets = jsonshape.structure(text)
    return jsonshape.containers(brackets), jsonshape.depth(brackets)


@pytest.mark.parametrize(
    ("text", "containers", "depth"),
    [
        (b"1", 0, 0),
        (b'"[[["', 0, 0),
        (b"[]", 1, 1),
        (b'{"a":[1,{"b":[]}],"c":{}}', 5, 4),
        (b'["]", "[", "{"]', 1, 1),  # brackets in strings do not count
        (b'["\\"[", "\\\\", "[\\\\\\"]"]', 1, 1),  # nor do escaped quotes end a string
        (b'{"[[": {"]]": ["x]"]}}', 3, 3),  # nor do brackets in keys
        (b'[["\\u0022["]]', 2, 2),  # \u0022 is a quote only once decoded
        (b" [ [ ] , { } ] ", 3, 2),
        (b'"\xe4\xb8\x96[" ', 0, 0),
    ],
)
def test_figures(text: bytes, containers: int, depth: int) -> None:
    assert measured(text) == (containers, depth)
    assert measured(text) == reference(json.loads(text))


# Strings full of what could be mistaken for structure: brackets, quotes and backslashes.
tricky_text = st.text(alphabet=st.sampled_from('[]{}"\\:,a\u00e9\u4e16'), max_size=6)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | tricky_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(tricky_text, children, max_size=4)
    ),
    max_leaves=30,
)


@given(json_values, st.booleans(), st.sampled_from([None, 1]))
def test_figures_agree_with_a_walk_over_the_parsed_value(
    value: object, ascii_only: bool, indent: int | None
) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only, indent=indent).encode()
    assert measured(text) == reference(value)
