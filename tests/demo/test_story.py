"""The demo's checks themselves: they fail when the story is not kept, naming the step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, TextContent

from mcpwall.core.errors import DemoStepFailed
from mcpwall.core.policy import compile_policy
from mcpwall.demo.agent import Answer
from mcpwall.demo.runner import first_failure
from mcpwall.demo.stage import seed_policy_text
from mcpwall.demo.story import NAMESPACE_RULE, NOT_PRODUCTION, candidate, expect_denial

SEED = Path(__file__).parents[1] / "core" / "policy" / "cases" / "seed.policy.json"


def denial(rule: str, message: str) -> Answer:
    result = CallToolResult(
        content=[TextContent(type="text", text=f"[POLICY DENIED] {message}")],
        is_error=True,
        _meta={"io.mcpwall/decision": {"rule": rule, "policy": "seed", "version": 1}},
    )
    return Answer("delete_pod", {"namespace": "payments-prod"}, result=result)


def test_the_demo_ships_the_seeds_policy_verbatim() -> None:
    assert seed_policy_text() == SEED.read_text(encoding="utf-8")


def test_a_denial_by_the_expected_rule_passes() -> None:
    expect_denial("step", denial(NAMESPACE_RULE, NOT_PRODUCTION), NAMESPACE_RULE, NOT_PRODUCTION)


@pytest.mark.parametrize(
    ("answer", "seen"),
    [
        (denial("/tools/delete_pod/limits/0", NOT_PRODUCTION), "/tools/delete_pod/limits/0"),
        (denial(NAMESPACE_RULE, "Something else."), "Something else."),
        (
            Answer(
                "delete_pod",
                {},
                result=CallToolResult(content=[TextContent(type="text", text="pod deleted")]),
            ),
            "allowed: pod deleted",
        ),
        (
            Answer("delete_pod", {}, error=MCPError(-32602, "Unknown tool: delete_pod")),
            "unknown tool",
        ),
    ],
)
def test_anything_else_fails_the_step_saying_what_was_seen(answer: Answer, seen: str) -> None:
    with pytest.raises(DemoStepFailed) as failure:
        expect_denial("delete in payments-prod", answer, NAMESPACE_RULE, NOT_PRODUCTION)
    assert failure.value.step == "delete in payments-prod"
    assert seen in failure.value.seen
    assert str(failure.value).startswith('step "delete in payments-prod": expected ')


def test_a_regex_candidate_changes_only_the_namespace_condition() -> None:
    document = json.loads(seed_policy_text())
    edited = candidate(document, "^payments-staging$")
    condition = edited["tools"]["delete_pod"]["require"][0]["conditions"][0]
    assert condition == {"path": "args.namespace", "op": "regex", "value": "^payments-staging$"}
    edited["tools"]["delete_pod"]["require"][0]["conditions"][0] = document["tools"]["delete_pod"][
        "require"
    ][0]["conditions"][0]
    assert edited == document
    assert compile_policy(edited).warnings == ()


def test_a_step_failure_is_found_inside_the_sdks_exception_groups() -> None:
    failure = DemoStepFailed("runaway delete loop", "5 allowed", "7 allowed")
    nested = BaseExceptionGroup("outer", [ExceptionGroup("inner", [ValueError("x"), failure])])
    assert first_failure(nested) is failure
    assert isinstance(first_failure(ExceptionGroup("only", [KeyError("k")])), KeyError)
