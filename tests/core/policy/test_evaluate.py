"""Evaluation details that golden cases don't show: traces, prepared decisions, limits, pointers."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, strategies as st

from mcpwall.core import jsonpointer
from mcpwall.core.policy import (
    NO_POLICY_DECISION,
    Step,
    compile_policy,
    evaluate,
    load_policy,
    with_fresh_counters,
)

SEED = compile_policy(
    load_policy((Path(__file__).parent / "cases" / "seed.policy.json").read_bytes())
)
LIMITED = compile_policy(
    {
        "version": "1",
        "default": "allow",
        "all_tools": {
            "limits": [{"counter": "all", "max": 600, "window": "hour", "scope": "grant"}]
        },
        "tools": {
            "delete_pod": {
                "limits": [{"counter": "deletes", "max": 5, "window": "hour", "scope": "grant"}]
            },
            "delete_deployment": {"limits": [{"counter": "deletes", "max": 2, "window": "hour"}]},
            "frozen": {
                "limits": [{"counter": "frozen", "max": 0, "window": "day", "on_deny": "Frozen."}]
            },
        },
    }
)


def test_the_trace_lists_each_condition_checked_in_order() -> None:
    trace: list[Step] = []
    decision = evaluate(SEED, "apply_manifest", {"namespace": "dev", "kind": "ClusterRole"}, trace)
    assert decision.rule == "/tools/apply_manifest/require/0/conditions/1"
    assert [(step.condition.path, step.found, step.held) for step in trace] == [
        ("args.namespace", "dev", True),
        ("args.kind", "ClusterRole", False),
    ]


def test_decisions_are_prepared_once_and_shared() -> None:
    first = evaluate(SEED, "delete_pod", {"namespace": "prod"})
    assert evaluate(SEED, "delete_pod", {"namespace": "other"}) is first


def test_limits_list_the_tools_own_then_all_tools() -> None:
    decision = evaluate(LIMITED, "delete_pod", {})
    assert [(limit.counter, limit.pointer) for limit in decision.limits] == [
        ("deletes", "/tools/delete_pod/limits/0"),
        ("all", "/all_tools/limits/0"),
    ]
    assert [limit.counter for limit in evaluate(LIMITED, "unlisted", {}).limits] == ["all"]
    assert decision.limits[1].window_seconds == 3600


def test_two_tools_naming_one_counter_share_it_with_their_own_max() -> None:
    pod = evaluate(LIMITED, "delete_pod", {}).limits[0]
    deployment = evaluate(LIMITED, "delete_deployment", {}).limits[0]
    assert (pod.counter, pod.scope, pod.window) == (
        deployment.counter,
        deployment.scope,
        deployment.window,
    )
    assert (pod.max, deployment.max) == (5, 2)


def test_fresh_counters_refuse_only_a_max_of_zero() -> None:
    assert with_fresh_counters(evaluate(LIMITED, "delete_pod", {})).decision == "allow"
    frozen = with_fresh_counters(evaluate(LIMITED, "frozen", {}))
    assert (frozen.decision, frozen.rule, frozen.message) == (
        "deny",
        "/tools/frozen/limits/0",
        "Frozen.",
    )


def test_the_no_policy_decision() -> None:
    assert (NO_POLICY_DECISION.decision, NO_POLICY_DECISION.rule) == ("deny", "(no policy)")
    assert not NO_POLICY_DECISION.forwarded


def test_shadow_mode_forwards_what_it_would_deny() -> None:
    shadow = compile_policy({**SEED.document, "mode": "shadow"})  # type: ignore[dict-item]
    decision = evaluate(shadow, "delete_pod", {"namespace": "payments-prod"})
    assert (decision.decision, decision.forwarded) == ("would_deny", True)
    assert evaluate(shadow, "get_secret", {}).decision == "would_deny"


tool_names = st.sampled_from(
    [
        "delete_pod",
        "apply_manifest",
        "exec_pod",
        "get_secret",
        "list_pods",
        "scale_deployment",
        "delete_namespace",
    ]
)
namespace_args = st.fixed_dictionaries(
    {}, optional={"namespace": st.one_of(st.sampled_from(["dev", "staging", "prod", ""]), st.none(), st.integers()),
                  "kind": st.sampled_from(["Namespace", "Deployment", "ClusterRole"])},
)  # fmt: skip


@given(tool_names, namespace_args)
def test_every_rule_pointer_resolves_in_the_policy_document(
    tool: str, args: dict[str, object]
) -> None:
    rule = evaluate(SEED, tool, args).rule
    if rule.startswith("/"):
        jsonpointer.resolve(SEED.document, rule)  # raises KeyError if the pointer is dangling
    else:
        assert rule in ("(hidden)", "(default deny)", "(allowed)")
