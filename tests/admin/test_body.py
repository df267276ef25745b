"""Request bodies: strict JSON, every problem at once, unknown fields refused."""

from __future__ import annotations

import pytest

from mcpwall.admin.body import Fields, parse_json
from mcpwall.admin.errors import BodyError, MalformedBodyError


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "not valid JSON: unexpected end of data at line 1, column 2"),
        (b"", "not valid JSON: Input is a zero-length, empty document at line 1, column 1"),
        (b'{"a": 1, "a": 2}', 'duplicate key "a" in the object at (root)'),
        (b'{"a": NaN}', "not valid JSON: unexpected character"),
        (b'{"a": "\\ud800"}', "not valid JSON: no low surrogate in string"),
        (b"\xff", "the body is not UTF-8: invalid byte at offset 0"),
        (b"[" * 100 + b"]" * 100, "the JSON nests too deeply at /0/0/0/0"),
    ],
)
def test_what_is_not_json_is_malformed(body: bytes, message: str) -> None:
    with pytest.raises(MalformedBodyError) as caught:
        parse_json(body)
    (problem,) = caught.value.problems
    assert problem.pointer == ""
    assert problem.message.startswith(message)


def test_every_problem_is_reported_at_once_sorted_by_pointer() -> None:
    fields = Fields({"name": 5, "args": ["a", 1], "env": {"K": 2}, "extra": True, "kind": "ftp"})
    assert fields.text("name") == ""
    assert fields.texts("args") == ("a",)
    assert fields.text_map("env", secret=True) == {}
    assert fields.choice("kind", ("stdio", "http")) is None
    assert fields.text("url") == ""
    with pytest.raises(BodyError) as caught:
        fields.close()
    assert [(p.pointer, p.message) for p in caught.value.problems] == [
        ("/args/1", "expected a string, found number 1"),
        ("/env/K", "expected a string, found number"),  # a secret's value is never shown
        ("/extra", 'unknown field "extra" (expected one of: args, env, kind, name, url)'),
        ("/kind", 'expected one of stdio, http, found string "ftp"'),
        ("/name", "expected a string, found number 5"),
        ("/url", "required field is missing"),
    ]


def test_a_body_that_is_not_an_object_is_one_problem() -> None:
    fields = Fields([1, 2])
    fields.optional_text("label")
    with pytest.raises(BodyError) as caught:
        fields.close()
    assert [str(p) for p in caught.value.problems] == [
        "(root): expected a JSON object, found array [1, 2]"
    ]


def test_null_means_absent_for_optional_fields() -> None:
    fields = Fields({"label": None, "expires_in": None, "cwd": "/tmp"})
    assert fields.optional_text("label") is None
    assert fields.whole_number("expires_in", 1, 10) is None
    assert fields.optional_text("cwd") == "/tmp"
    assert fields.texts("args") == ()
    assert fields.text_map("env") == {}
    fields.close()


@pytest.mark.parametrize("value", [0, 11, 1.5, True, "5", [5], float("inf")])
def test_a_whole_number_is_a_number_in_range(value: object) -> None:
    fields = Fields({"n": value})
    assert fields.whole_number("n", 1, 10) is None
    with pytest.raises(BodyError, match="expected a whole number from 1 to 10"):
        fields.close()


def test_a_whole_number_may_be_written_with_a_point() -> None:
    assert Fields({"n": 5.0}).whole_number("n", 1, 10) == 5


def test_a_key_with_a_slash_is_escaped_in_its_pointer() -> None:
    fields = Fields({"env": {"a/b~c": 1}})
    fields.text_map("env")
    with pytest.raises(BodyError) as caught:
        fields.close()
    assert caught.value.problems[0].pointer == "/env/a~1b~0c"
