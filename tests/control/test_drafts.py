"""Unsaved policy texts: checked with every problem on its line, a call tried, cases run."""

from __future__ import annotations

import pytest

from mcpwall.control.drafts import Draft, rule_place, run_cases, try_call

POLICY = """\
version: "1"
default: deny
hide: [get_secret]
tools:
  get_pod: {}
  delete_pod:
    deny_if:
      - conditions: [{path: args.force, op: eq, value: true}]
        on_deny: no forced deletes
"""


def test_a_valid_draft_compiles_and_has_no_problems() -> None:
    draft = Draft("p", POLICY)
    assert draft.valid
    assert draft.problems == ()
    assert draft.compiled is not None
    assert draft.compiled.name == "p"


def test_an_invalid_draft_places_every_problem() -> None:
    draft = Draft(
        "p", POLICY.replace("default: deny", "default: maybe").replace("op: eq", "op: ==")
    )
    assert not draft.valid
    assert [(p.pointer, p.line) for p in draft.problems] == [
        ("/default", 2),
        ("/tools/delete_pod/deny_if/0/conditions/0/op", 8),
    ]


@pytest.mark.parametrize(
    ("tool", "args", "rule", "place", "line"),
    [
        (
            "delete_pod",
            {"force": True},
            "/tools/delete_pod/deny_if/0",
            "/tools/delete_pod/deny_if/0",
            8,
        ),
        ("delete_pod", {}, "(allowed)", "/tools/delete_pod", 6),
        ("get_secret", {}, "(hidden)", "/hide/0", 3),
        ("list_pods", {}, "(default deny)", "/default", 2),
    ],
)
def test_a_call_names_the_place_of_the_rule_that_decided(
    tool: str, args: dict[str, object], rule: str, place: str, line: int
) -> None:
    trial = try_call(Draft("p", POLICY), tool, args)
    assert (trial.decision.rule, trial.place, trial.line) == (rule, place, line)
    assert trial.source is not None


def test_hide_all_and_an_allowed_unlisted_tool_point_where_they_come_from() -> None:
    hide_all = Draft("p", '{"version": "1", "default": "allow", "hide": ["x", "*"]}')
    assert hide_all.compiled is not None
    assert rule_place(hide_all.compiled, "y", "(hidden)") == "/hide/1"
    allow = Draft("p", '{"version": "1", "default": "allow"}')
    assert allow.compiled is not None
    assert rule_place(allow.compiled, "y", "(allowed)") == "/default"
    assert rule_place(allow.compiled, "y", "(no policy)") is None


def test_cases_run_against_the_draft_not_the_file_they_name() -> None:
    cases = """\
policy: somewhere-else.json
cases:
  - {name: forced, tool: delete_pod, args: {force: true}, expect: {decision: deny, rule: /tools/delete_pod/deny_if/0}}
  - {name: wrong, tool: get_pod, expect: {decision: deny, rule: "(allowed)"}}
"""
    ran = run_cases(Draft("p", POLICY), cases)
    assert (ran.passed, ran.failed) == (1, 1)
    assert ran.results[1].mismatches == ('decision: expected "deny", got "allow"',)


def test_a_cases_text_with_problems_places_them() -> None:
    ran = run_cases(Draft("p", POLICY), "cases:\n  - name: x\n    tool: y\n")
    assert ran.results == ()
    # The missing "expect" is reported at the case (and at its own, absent, place): line 2.
    assert {(p.pointer, p.line) for p in ran.problems} >= {("/cases/0", 2)}
    assert all(p.line == 2 for p in ran.problems)


def test_an_invalid_draft_cannot_be_tried() -> None:
    draft = Draft("p", "nope")
    with pytest.raises(ValueError, match="valid draft"):
        try_call(draft, "x", {})
    with pytest.raises(ValueError, match="valid draft"):
        run_cases(draft, "cases: []")
