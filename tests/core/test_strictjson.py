"""Strict JSON: every ambiguous or malformed body is refused with its own error."""

from __future__ import annotations

import contextlib
import json

import orjson
import pytest
from hypothesis import given, strategies as st

from mcpwall.core import strictjson
from mcpwall.core.errors import BodyTooLarge, InvalidRequest, ParseError, ProtocolError


def nested_arrays(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def nested_objects(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


@pytest.mark.parametrize(
    ("body", "error", "fragment"),
    [
        (b"", ParseError, "not valid JSON: Input is a zero-length"),
        (b'{"a":', ParseError, "not valid JSON: unexpected end of data at line 1, column 6"),
        (b"{'a': 1}", ParseError, "not valid JSON"),
        (b'{"a":1,}', ParseError, "not valid JSON"),
        (b"\xff", ParseError, "not UTF-8: invalid byte at offset 0"),
        (b'{"a":"caf\xe9"}', ParseError, "not UTF-8: invalid byte at offset 9"),
        (b'["\xed\xa0\x80"]', ParseError, "not UTF-8"),  # an encoded surrogate
        (b'["\\ud800"]', ParseError, "surrogate"),  # an escaped lone surrogate
        (b"\xef\xbb\xbf{}", ParseError, "byte order mark"),
        (b"NaN", ParseError, "not valid JSON"),
        (b"[Infinity]", ParseError, "not valid JSON"),
        (b"[1e400]", ParseError, "infinity"),
        (b'{"a":1,"a":2}', InvalidRequest, 'duplicate key "a" in the object at (root)'),
        (b'{"a":1,"a":1}', InvalidRequest, 'duplicate key "a"'),  # even with equal values
        (
            b'{"x":{"b":[{"c":1,"c":2}]}}',
            InvalidRequest,
            'duplicate key "c" in the object at /x/b/0',
        ),
        (b'{"\\u0061":1,"a":2}', InvalidRequest, 'duplicate key "a"'),  # same key once decoded
        (b'{"a":"\\u003a","a":1}', InvalidRequest, 'duplicate key "a"'),  # escaped colon
        (b'{"a/b~":{"k":1,"k":2}}', InvalidRequest, "at /a~1b~0 "),
        (nested_arrays(65), InvalidRequest, "nests too deeply at /0/0/"),
        (nested_objects(65), InvalidRequest, "nests too deeply at /a/a/"),
        (nested_arrays(3000), InvalidRequest, "nests too deeply (expected at most 64 levels)"),
    ],
)
def test_refusals(body: bytes, error: type[ProtocolError], fragment: str) -> None:
    with pytest.raises(error) as refused:
        strictjson.loads(body)
    assert type(refused.value) is error
    assert fragment in str(refused.value)
    assert refused.value.code == (-32700 if error is ParseError else -32600)


def test_body_over_the_limit() -> None:
    with pytest.raises(BodyTooLarge) as refused:
        strictjson.loads(b"[" + b"1," * 10 + b"1]", max_bytes=16)
    assert (refused.value.size, refused.value.limit, refused.value.code) == (23, 16, -32600)
    assert str(refused.value) == "the body is 23 bytes, over the limit of 16 bytes"
    assert strictjson.MAX_BODY_BYTES == 4 * 1024 * 1024


def test_depth_limit_is_exact_and_configurable() -> None:
    assert strictjson.loads(nested_arrays(64)) is not None
    assert strictjson.loads(nested_objects(64)) is not None
    assert strictjson.loads(nested_arrays(3), max_depth=3) == [[[]]]
    with pytest.raises(InvalidRequest, match="at /0/0 "):
        strictjson.loads(nested_arrays(3), max_depth=2)
    wide = b"[" + b",".join([b"[[1]]"] * 100) + b"]"  # many brackets, shallow
    assert len(strictjson.loads(wide, max_depth=3)) == 100  # type: ignore[arg-type]


def test_brackets_in_strings_do_not_count_as_nesting() -> None:
    body = b'["' + b"[" * 100 + b'", "\\\\\\"{{{", {"' + b"{" * 100 + b'": "]"}]'
    assert strictjson.loads(body, max_depth=2) == ["[" * 100, '\\"{{{', {"{" * 100: "]"}]


def test_too_many_containers_are_refused_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    body = b"[" + b",".join([b"[0]"] * 1000) + b"]"
    assert len(strictjson.loads(body, max_containers=1001)) == 1000  # type: ignore[arg-type]

    def parse(body: bytes) -> object:
        raise AssertionError("parsed")

    monkeypatch.setattr(orjson, "loads", parse)
    with pytest.raises(InvalidRequest) as refused:
        strictjson.loads(body, max_containers=1000)
    assert str(refused.value) == "the JSON has 1,001 arrays and objects (expected at most 1,000)"
    assert refused.value.code == -32600
    assert strictjson.MAX_CONTAINERS == 250_000


def test_a_wide_shallow_body_is_not_walked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The walk over the parsed value costs a Python call per container: only a body whose
    bytes show it nests too deeply is walked, to name where."""

    def walk(value: object, limit: int) -> None:
        raise AssertionError("walked")

    monkeypatch.setattr(strictjson, "_check_depth", walk)
    wide = b'{"a":[' + b",".join([b"[[1]]"] * 10_000) + b"]}"
    assert len(strictjson.loads(wide)["a"]) == 10_000  # type: ignore[index]
    with pytest.raises(AssertionError, match="walked"):
        strictjson.loads(nested_arrays(65))


@pytest.mark.parametrize(
    ("body", "value"),
    [
        (b'{"a":"b:c","d":"\\u003a"}', {"a": "b:c", "d": ":"}),
        (b'{"a":{"a":1}}', {"a": {"a": 1}}),  # the same key at two levels is fine
        (b'[{"a":1},{"a":1}]', [{"a": 1}, {"a": 1}]),
        (b'{"a\\"b":1,"a\\\\b":2}', {'a"b': 1, "a\\b": 2}),
        (b'{"":1,"k:":{"::":":"}}', {"": 1, "k:": {"::": ":"}}),
        (b' {"a" : 1 , "b" :\n2 } ', {"a": 1, "b": 2}),
        (b'"\xe4\xb8\x96"', "世"),
    ],
)
def test_accepted(body: bytes, value: object) -> None:
    assert strictjson.loads(body) == value


@given(st.binary(max_size=64))
def test_arbitrary_bytes_are_parsed_or_refused_with_our_error(body: bytes) -> None:
    with contextlib.suppress(ParseError, InvalidRequest):
        strictjson.loads(body)


# JSON texts whose objects may repeat keys, with keys that contain colons, written plainly or
# with \u escapes (\u003a included), to check the colon count against an exact parse.
KEYS = st.sampled_from(["a", "b", ":", "a:b", "A"])


def escaped(text: str, escape_all: bool) -> str:
    if not escape_all:
        return json.dumps(text)
    return '"' + "".join(f"\\u{ord(c):04x}" for c in text) + '"'


def texts(depth: int = 3) -> st.SearchStrategy[str]:
    scalars = st.one_of(
        st.integers(-5, 5).map(str),
        st.sampled_from(["true", "null", "1.5"]),
        st.tuples(KEYS, st.booleans()).map(lambda t: escaped(*t)),
    )
    if depth == 0:
        return scalars
    child = texts(depth - 1)
    pairs = st.lists(st.tuples(KEYS, st.booleans(), child), max_size=4)
    objects = pairs.map(lambda ps: "{" + ",".join(f"{escaped(k, e)}:{v}" for k, e, v in ps) + "}")
    arrays = st.lists(child, max_size=3).map(lambda items: "[" + ",".join(items) + "]")
    return st.one_of(scalars, objects, arrays)


def has_duplicate(text: str) -> bool:
    found = False

    def hook(pairs: list[tuple[str, object]]) -> dict[str, object]:
        nonlocal found
        found = found or len({k for k, _ in pairs}) != len(pairs)
        return dict(pairs)

    json.loads(text, object_pairs_hook=hook)
    return found


@given(texts())
def test_duplicate_detection_agrees_with_an_exact_parse(text: str) -> None:
    if has_duplicate(text):
        with pytest.raises(InvalidRequest, match="duplicate key"):
            strictjson.loads(text.encode())
    else:
        assert strictjson.loads(text.encode()) == json.loads(text)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_dumps_then_loads_is_the_identity(value: object) -> None:
    assert strictjson.loads(strictjson.dumps(value)) == value
