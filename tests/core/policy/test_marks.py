"""Marks: what a policy does to each tool an upstream lists, and to the ones it names but
the upstream does not list."""

from __future__ import annotations

import json

import pytest

from mcpwall.core.policy import CompiledPolicy, compile_policy, evaluate, load_policy
from mcpwall.core.policy.marks import (
    Mark,
    mark_tool,
    mark_tools,
    named_tools,
    unlisted_named,
)

LIMIT = {"counter": "deletes", "max": 5, "window": "hour", "scope": "grant"}
ALL_LIMIT = {"counter": "all", "max": 600, "window": "hour", "scope": "grant"}
RULE = {"conditions": [{"path": "args.namespace", "op": "in", "value": ["dev"]}]}


def compiled(document: dict[str, object]) -> CompiledPolicy:
    return compile_policy(load_policy(json.dumps({"version": "1", **document})), name="p")


DENY_BY_DEFAULT = compiled(
    {
        "default": "deny",
        "hide": ["get_secret", "renamed_away"],
        "tools": {
            "delete_pod": {"require": [RULE], "limits": [LIMIT]},
            "apply": {"deny_if": [RULE]},
            "scale": {"limits": [LIMIT]},
            "get_pod_logs": {},
            "old_tool": {"require": [RULE]},
        },
    }
)
ALLOW_BY_DEFAULT = compiled(
    {
        "default": "allow",
        "all_tools": {"limits": [ALL_LIMIT]},
        "tools": {"delete_pod": {"require": [RULE]}},
    }
)


@pytest.mark.parametrize(
    ("policy", "tool", "marks", "pointer"),
    [
        (DENY_BY_DEFAULT, "get_secret", (Mark.HIDDEN,), "/hide"),
        (DENY_BY_DEFAULT, "delete_pod", (Mark.RULES, Mark.LIMITS), "/tools/delete_pod"),
        (DENY_BY_DEFAULT, "apply", (Mark.RULES,), "/tools/apply"),
        (DENY_BY_DEFAULT, "scale", (Mark.LIMITS,), "/tools/scale"),
        (DENY_BY_DEFAULT, "get_pod_logs", (Mark.ALLOWED,), "/tools/get_pod_logs"),
        (DENY_BY_DEFAULT, "exec", (Mark.DEFAULT_DENY,), "/default"),
        (ALLOW_BY_DEFAULT, "exec", (Mark.ALLOWED_BY_DEFAULT, Mark.LIMITS), "/default"),
        (ALLOW_BY_DEFAULT, "delete_pod", (Mark.RULES, Mark.LIMITS), "/tools/delete_pod"),
    ],
)
def test_each_tool_is_marked_as_evaluation_treats_it(
    policy: CompiledPolicy, tool: str, marks: tuple[Mark, ...], pointer: str
) -> None:
    marked = mark_tool(policy, tool)
    assert (marked.marks, marked.pointer) == (marks, pointer)
    # The marks agree with what a call with no arguments meets.
    decision = evaluate(policy, tool, {})
    assert marked.refused == (decision.rule in ("(hidden)", "(default deny)"))


def test_limits_are_the_tools_own_then_all_tools() -> None:
    assert [limit.counter for limit in mark_tool(ALLOW_BY_DEFAULT, "delete_pod").limits] == ["all"]
    assert [limit.counter for limit in mark_tool(ALLOW_BY_DEFAULT, "exec").limits] == ["all"]
    assert [limit.counter for limit in mark_tool(DENY_BY_DEFAULT, "scale").limits] == ["deletes"]
    assert mark_tool(DENY_BY_DEFAULT, "exec").limits == ()
    assert mark_tool(DENY_BY_DEFAULT, "get_secret").limits == ()


def test_a_hidden_tool_is_only_hidden_even_with_rules() -> None:
    policy = compiled({"default": "allow", "hide": ["x"], "tools": {"x": {"require": [RULE]}}})
    assert mark_tool(policy, "x").marks == (Mark.HIDDEN,)


def test_hide_star_hides_every_tool_but_names_none() -> None:
    policy = compiled({"default": "allow", "hide": ["*"]})
    assert mark_tool(policy, "anything").marks == (Mark.HIDDEN,)
    assert named_tools(policy) == frozenset()


def test_listed_tools_come_in_the_upstreams_order_then_named_unlisted_ones_by_name() -> None:
    marked = mark_tools(DENY_BY_DEFAULT, ["scale", "get_secret", "exec", "delete_pod", "scale"])
    assert [(m.tool, m.listed) for m in marked] == [
        ("scale", True),
        ("get_secret", True),
        ("exec", True),
        ("delete_pod", True),
        # Named by the policy, not listed by the upstream: a rule guarding nothing.
        ("apply", False),
        ("get_pod_logs", False),
        ("old_tool", False),
        ("renamed_away", False),
    ]
    renamed = next(m for m in marked if m.tool == "renamed_away")
    assert renamed.marks == (Mark.HIDDEN,)
    old = next(m for m in marked if m.tool == "old_tool")
    assert old.marks == (Mark.RULES,)


def test_unlisted_named_merges_several_policies() -> None:
    assert unlisted_named([DENY_BY_DEFAULT, ALLOW_BY_DEFAULT], ["delete_pod", "apply"]) == [
        "get_pod_logs",
        "get_secret",
        "old_tool",
        "renamed_away",
        "scale",
    ]
    assert unlisted_named([], ["x"]) == []
