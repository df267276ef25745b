"""Reading policy text: strict JSON, YAML 1.2, and the limits on what is read."""

from __future__ import annotations

import pytest

from mcpwall.core.errors import ArgumentsError, PolicyError
from mcpwall.core.policy import compile_policy, load_arguments, load_policy
from mcpwall.core.policy.parse import MAX_DOCUMENT_BYTES


def problems(text: str | bytes) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        compile_policy(load_policy(text))
    return [str(problem) for problem in caught.value.problems]


def test_yaml_is_read_with_the_yaml_1_2_core_schema() -> None:
    # Under YAML 1.1 "no" and "on" would be booleans, and this allowlist would hold `false`.
    raw = load_policy("version: '1'\ndefault: allow\ntools:\n  x:\n    require:\n"
                      "      - conditions: [{path: args.a, op: in, value: [no, on, yes]}]\n")  # fmt: skip
    assert isinstance(raw, dict)
    assert raw["tools"]["x"]["require"][0]["conditions"][0]["value"] == ["no", "on", "yes"]


def test_json_and_yaml_give_the_same_document() -> None:
    json_text = '{"version": "1", "default": "deny", "tools": {"get_pod": {}}}'
    yaml_text = "version: '1'\ndefault: deny\ntools:\n  get_pod: {}\n"
    assert load_policy(json_text) == load_policy(yaml_text)


def test_duplicate_keys_are_reported_with_their_pointer() -> None:
    text = '{"version": "1", "default": "allow", "tools": {"x": {}, "x": {"deny_if": []}}}'
    assert problems(text) == ['/tools/x: duplicate key "x" (each key may appear once)']


def test_duplicate_keys_in_yaml_are_refused() -> None:
    assert "duplicate key" in problems("version: '1'\ndefault: allow\ndefault: deny\n")[0]


def test_a_byte_order_mark_is_accepted() -> None:
    assert load_policy(b'\xef\xbb\xbf{"version": "1", "default": "allow"}') == {
        "version": "1",
        "default": "allow",
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"\xff\xfe\x00garbage", "(root): not UTF-8 text at byte 0"),
        ('{"version": "1",', "(root): not valid JSON"),
        ('{"a": Infinity}', "(root): not valid JSON: Infinity is not a JSON number"),
        ("a: [1, 2", "(root): neither JSON nor valid YAML"),
        ("- a\n- b\n", "(root): expected an object, found array"),
        ("", "(root): expected an object, found null"),
        ("a: 2024-01-01", "/a: found a non-JSON value of type date"),
        ("a: !!binary aGVsbG8=", "/a: found a non-JSON value of type bytes"),
        (
            "version: '1'\ndefault: allow\n1: x\n",
            "(root): object key 1 is a number (expected a string)",
        ),
        ('{"version": "1", "default": "allow", "x": 1e400}', "/x: number Infinity is out of range"),
        (
            '{"version": "1", "default": "allow", "x": 9007199254740992}',
            "/x: number 9007199254740992 is out of range",
        ),
    ],
)
def test_what_is_not_a_policy_document_gets_a_clear_problem(
    text: str | bytes, expected: str
) -> None:
    assert any(line.startswith(expected) for line in problems(text)), problems(text)


def test_a_giant_integer_literal_is_refused_not_crashed_on() -> None:
    assert problems('{"x": ' + "9" * 5000 + "}")[0].startswith("(root): not valid JSON")


def test_documents_over_the_size_limit_are_refused_before_parsing() -> None:
    text = '{"version": "1", "default": "allow", "pad": "' + "x" * MAX_DOCUMENT_BYTES + '"}'
    assert problems(text)[0].startswith("(root): the document is over")


def test_deep_nesting_is_refused() -> None:
    text = '{"version": "1", "default": "allow", "x": ' + "[" * 50 + "]" * 50 + "}"
    assert "nested deeper than" in problems(text)[0]


def test_yaml_alias_bombs_are_bounded() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 9)]  # fmt: skip
    assert "more than 100000 values" in problems("\n".join(lines))[0]


def test_format_can_be_forced() -> None:
    with pytest.raises(PolicyError, match="not valid JSON"):
        load_policy("version: '1'", format="json")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[]", "expected a JSON object, found array"),
        ("null", "expected a JSON object, found null"),
        ("{", "not valid JSON"),
        ('{"a": {"b": 1, "b": 2}}', "duplicate key at /a/b"),
        ('{"a": NaN}', "NaN is not a JSON number"),
    ],
)
def test_arguments_must_be_one_json_object(text: str, message: str) -> None:
    with pytest.raises(ArgumentsError, match=message):
        load_arguments(text)


def test_arguments_keep_their_json_types() -> None:
    assert load_arguments('{"n": 1, "f": 1.5, "b": true, "s": "1", "z": null}') == {
        "n": 1, "f": 1.5, "b": True, "s": "1", "z": None,
    }  # fmt: skip
