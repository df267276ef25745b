"""Lines of JSON pointers in a policy's text, JSON or YAML, for editors to point at."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcpwall.control import compile_text
from mcpwall.core.errors import PolicyError, Problem
from mcpwall.core.policy.positions import MAX_YAML_CHARACTERS, document_lines

CASES = Path(__file__).parent / "cases"


def line_holding(text: str, needle: str, after: int = 0) -> int:
    """The 1-based number of the first line after line ``after`` that contains ``needle``."""
    for number, line in enumerate(text.splitlines(), start=1):
        if number > after and needle in line:
            return number
    raise AssertionError(f"{needle!r} not in the text")


@pytest.mark.parametrize("name", ["seed.policy.json", "seed-yaml.policy.yaml"])
def test_each_key_and_element_is_found_on_its_own_line(name: str) -> None:
    text = (CASES / name).read_text()
    lines = document_lines(text)
    tools = line_holding(text, "tools")
    delete_pod = line_holding(text, "delete_pod", tools)
    limits = line_holding(text, "limits", delete_pod)
    assert lines.of("/tools") == tools
    assert lines.of("/tools/delete_pod") == delete_pod
    assert lines.of("/tools/delete_pod/limits") == limits
    assert lines.of("/tools/delete_pod/limits/0/max") == line_holding(text, "max", limits)
    assert lines.of("/hide/1") == line_holding(text, "get_secret")


def test_a_pointer_to_no_place_falls_back_to_the_nearest_enclosing_one() -> None:
    text = '{\n  "version": "1",\n  "tools": {\n    "x": {}\n  }\n}\n'
    lines = document_lines(text)
    assert lines.of("/tools/x/require/0") == 4
    assert lines.of("/nothing") == 1
    assert document_lines("").of("/x") is None


def test_every_problem_of_an_invalid_policy_gets_its_line() -> None:
    text = (
        "{\n"
        '  "version": "2",\n'
        '  "default": "allow",\n'
        '  "tools": {\n'
        '    "x": {"deney_if": []},\n'
        '    "y": {"require": [{"conditions": [\n'
        '      {"path": "args.a", "op": "in_list", "value": [1]}\n'
        "    ]}]}\n"
        "  }\n"
        "}\n"
    )
    with pytest.raises(PolicyError) as caught:
        compile_text(text, name="p")
    lines = document_lines(text)
    found = {problem.pointer: lines.of_problem(problem) for problem in caught.value.problems}
    assert found == {
        "/version": 2,
        "/tools/x/deney_if": 5,
        "/tools/y/require/0/conditions/0/op": 7,
    }


def test_a_later_duplicate_key_is_the_one_pointed_at() -> None:
    text = '{"default": "allow",\n "version": "1",\n "default": "deny"}'
    with pytest.raises(PolicyError) as caught:
        compile_text(text, name="p")
    [problem] = caught.value.problems
    assert problem.pointer == "/default"
    assert document_lines(text).of_problem(problem) == 3


@pytest.mark.parametrize(
    "text", ['{\n  "version": "1",\n  "default" "allow"\n}', "version: '1'\ndefault: [allow\n"]
)
def test_a_syntax_error_is_at_the_line_its_message_names(text: str) -> None:
    with pytest.raises(PolicyError) as caught:
        compile_text(text, name="p")
    [problem] = caught.value.problems
    assert problem.pointer == ""
    line = document_lines(text).of_problem(problem)
    assert line is not None
    assert f"at line {line}" in problem.message


def test_yaml_places_are_found_through_flow_and_block_styles() -> None:
    text = "version: '1'\ndefault: deny\ntools:\n  x:\n    deny_if:\n      - {conditions: []}\n"
    lines = document_lines(text)
    assert lines.of("/tools/x/deny_if/0") == 6
    assert lines.of("/tools/x/deny_if/0/conditions") == 6
    assert lines.of_problem(Problem("/default", "…")) == 2


def test_text_that_is_no_document_gives_no_lines_and_does_not_raise() -> None:
    assert len(document_lines("{[}")) == 1  # the root is where it starts; nothing more
    assert len(document_lines("a: [b\n")) == 0
    assert len(document_lines("x: " + "y" * MAX_YAML_CHARACTERS)) == 0  # too long to compose
    assert len(document_lines("[" * 100_000)) >= 1  # deeper than recursion allows: no crash


def test_yaml_aliases_cannot_make_the_walk_explode() -> None:
    rows = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    rows += [
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}" + f", *{chr(97 + i)}" * 9 + "]"
        for i in range(8)
    ]
    lines = document_lines("\n".join(rows))
    assert lines.of("/a/0") == 1
