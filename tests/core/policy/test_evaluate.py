"""Evaluation details that golden cases don't show: traces, prepared decisions, limits, pointers."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from mcpwall.core import jsonpointer
from mcpwall.core.errors import UnreadableArgument
from mcpwall.core.policy import (
    NO_POLICY_DECISION,
    Decision,
    Step,
    compile_policy,
    evaluate,
    load_policy,
    with_fresh_counters,
)
from mcpwall.core.policy.decoders import Decoder
from mcpwall.core.policy.paths import MISSING, Each

# The module, not the function the package exports under the same name.
evaluate_module = importlib.import_module("mcpwall.core.policy.evaluate")

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


# -- looking inside arguments ------------------------------------------------------------------

MANIFESTS = compile_policy(
    load_policy((Path(__file__).parent / "cases" / "kubernetes-manifests.policy.json").read_bytes())
)
TWO_DOCUMENTS = (
    "kind: Deployment\nmetadata: {namespace: staging}\n---\n"
    "kind: Service\nmetadata: {namespace: staging}\n"
)


def counting_decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every decoding from now on, by decoder name."""
    calls: list[str] = []
    original = Decoder.decode

    def decode(self: Decoder, value: object) -> object:
        calls.append(self.name)
        return original(self, value)

    monkeypatch.setattr(Decoder, "decode", decode)
    return calls


def test_each_string_is_decoded_once_per_call(monkeypatch: pytest.MonkeyPatch) -> None:
    decodes = counting_decodes(monkeypatch)
    args = {"namespace": "staging", "manifest": TWO_DOCUMENTS}
    trace: list[Step] = []
    assert evaluate(MANIFESTS, "kubectl_apply", args, trace).decision == "allow"
    assert sum(step.condition.find is not None for step in trace) == 3  # three conditions read it
    assert decodes == ["yaml_all"]
    evaluate(MANIFESTS, "kubectl_apply", args)
    assert decodes == ["yaml_all", "yaml_all"]  # and again for the next call: nothing is kept


def test_a_failure_is_decoded_once_too(monkeypatch: pytest.MonkeyPatch) -> None:
    policy = compile_policy(
        {"version": "1", "default": "allow", "tools": {"t": {"require": [
            {"conditions": [{"path": "args.c|yaml.a", "op": "exists", "value": False}]},
            {"conditions": [{"path": "args.c|yaml.b", "op": "exists", "value": False}]},
        ], "deny_if": [{"conditions": [{"path": "args.c|yaml.a", "op": "eq", "value": 1}]}]}}}
    )  # fmt: skip
    decodes = counting_decodes(monkeypatch)
    decision = evaluate(policy, "t", {"c": "a: [1"})
    assert decision.rule == "/tools/t/require/0/conditions/0"
    assert decodes == ["yaml"]


def test_tools_without_decoders_never_enter_the_decoding_evaluation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(*args: object) -> Decision:
        raise AssertionError("a tool without decoders took the decoding path")

    monkeypatch.setattr(evaluate_module, "_evaluate_decoding", refuse)
    assert not any(rules.decodes for rules in SEED.tools.values())
    assert evaluate(SEED, "delete_pod", {"namespace": "staging"}).decision == "allow"
    assert evaluate(SEED, "apply_manifest", {"namespace": "dev", "kind": "Pod"}).decision == "allow"
    assert MANIFESTS.tools["kubectl_apply"].decodes


def test_a_value_that_cannot_be_read_is_denied_naming_the_condition() -> None:
    trace: list[Step] = []
    args = {"namespace": "dev", "manifest": "kind: Pod\nkind: Pod\n"}
    decision = evaluate(MANIFESTS, "kubectl_apply", args, trace)
    assert (decision.decision, decision.rule, decision.message) == (
        "deny",
        "/tools/kubectl_apply/require/2/conditions/0",
        'argument "manifest" could not be read as YAML: duplicate key "kind" at line 2',
    )
    assert not decision.forwarded
    failed = trace[-1]
    assert isinstance(failed.found, UnreadableArgument)
    assert (failed.found.argument, failed.held) == ("manifest", False)


def test_shadow_mode_would_deny_what_cannot_be_read() -> None:
    shadow = compile_policy({**MANIFESTS.document, "mode": "shadow"})  # type: ignore[dict-item]
    decision = evaluate(shadow, "kubectl_apply", {"namespace": "dev", "manifest": "a: *b"})
    assert (decision.decision, decision.forwarded) == ("would_deny", True)
    assert decision.message.endswith("an alias (*) at line 1")


def test_the_trace_shows_what_each_element_gave() -> None:
    trace: list[Step] = []
    args = {"namespace": "staging", "manifest": TWO_DOCUMENTS.replace("kind: Service\n", "")}
    evaluate(MANIFESTS, "kubectl_apply", args, trace)
    kinds = next(step for step in trace if step.condition.path.endswith(".kind"))
    assert kinds.found == Each(("Deployment", MISSING))
    assert (kinds.held, kinds.condition.match) == (False, "all")


def test_a_condition_checked_on_its_own_decodes_for_itself() -> None:
    condition = MANIFESTS.tools["kubectl_apply"].require[2].conditions[0]
    assert condition.holds({"manifest": TWO_DOCUMENTS})
    assert not condition.holds({"manifest": "kind: Pod\n"})
    with pytest.raises(UnreadableArgument):
        condition.holds({"manifest": "kind: [Pod"})
