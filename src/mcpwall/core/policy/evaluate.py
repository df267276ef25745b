"""Evaluate one ``tools/call`` against a compiled policy (DESIGN §3, "Evaluation").

First refusal wins, in this order: hidden → default deny → require → deny_if → limits → allowed.
Evaluation never raises for any JSON arguments and allocates nothing on its common paths:
every decision it can return was prepared at compile time.

A tool whose conditions decode arguments (``|yaml``…) is evaluated by a twin of the same loops
that keeps the call's :class:`Decoded` values, so each string is decoded once however many
conditions read it, and turns a value that cannot be read into a denial naming the condition.
Tools without decoders never enter it: their cost is what it was.
"""

from __future__ import annotations

from dataclasses import dataclass

from mcpwall.core.errors import UnreadableArgument
from mcpwall.core.policy.model import (
    NO_POLICY,
    CompiledPolicy,
    Condition,
    Decision,
    Outcome,
    ToolRules,
)
from mcpwall.core.policy.paths import Decoded

NO_POLICY_DECISION = Decision(
    "deny", NO_POLICY, "No policy is attached to this grant for this upstream."
)


@dataclass(frozen=True, slots=True)
class Step:
    """One condition as evaluated, for explaining a decision (``policy test``).

    ``found`` is what the path found: a value, ``MISSING``, an ``Each`` for a path with ``*``,
    or the :class:`UnreadableArgument` that denied the call.
    """

    condition: Condition
    found: object
    held: bool


def evaluate(
    policy: CompiledPolicy, tool: str, args: object, trace: list[Step] | None = None
) -> Decision:
    """Decide one call of ``tool`` with ``args``; append each condition checked to ``trace``.

    The decision's ``limits`` name the counters an allowed call must reserve; checking them
    is the caller's part (step 6), since counters live outside the pure core.
    """
    if policy.hide_all or tool in policy.hidden:
        return policy.hidden_denial
    rules = policy.tools.get(tool)
    if rules is None:
        return policy.default_denial if policy.default == "deny" else policy.unlisted_allowed
    if rules.decodes:
        return _evaluate_decoding(policy, rules, args, trace)
    for requirement in rules.require:
        for index, condition in enumerate(requirement.conditions):
            if not _holds(condition, args, trace):
                return requirement.denials[index]
    for prohibition in rules.deny_if:
        for condition in prohibition.conditions:
            if not _holds(condition, args, trace):
                break
        else:  # every condition held (or there were none): the entry fires
            return prohibition.denial
    return rules.allowed


def _holds(condition: Condition, args: object, trace: list[Step] | None) -> bool:
    found = condition.resolve(args)
    held = condition.test(found)
    if trace is not None:
        trace.append(Step(condition, found, held))
    return held


def _evaluate_decoding(
    policy: CompiledPolicy, rules: ToolRules, args: object, trace: list[Step] | None
) -> Decision:
    """Steps 4 and 5 for a tool that decodes: the loops above, with one :class:`Decoded`."""
    decoded = Decoded()
    condition: Condition | None = None
    try:
        for requirement in rules.require:
            for index, condition in enumerate(requirement.conditions):
                if not _holds_decoding(condition, args, decoded, trace):
                    return requirement.denials[index]
        for prohibition in rules.deny_if:
            for condition in prohibition.conditions:
                if not _holds_decoding(condition, args, decoded, trace):
                    break
            else:
                return prohibition.denial
    except UnreadableArgument as unreadable:
        assert condition is not None
        if trace is not None:
            trace.append(Step(condition, unreadable, False))
        return Decision(_refusal(policy), condition.pointer, str(unreadable))
    return rules.allowed


def _holds_decoding(
    condition: Condition, args: object, decoded: Decoded, trace: list[Step] | None
) -> bool:
    find = condition.find
    found = condition.resolve(args) if find is None else find(args, decoded)
    held = condition.test(found)
    if trace is not None:
        trace.append(Step(condition, found, held))
    return held


def _refusal(policy: CompiledPolicy) -> Outcome:
    return "would_deny" if policy.mode == "shadow" else "deny"


def with_fresh_counters(decision: Decision) -> Decision:
    """Step 6 for counters that have counted nothing yet, as ``policy test`` assumes.

    A fresh counter refuses a call only when its ``max`` is 0.
    """
    for limit in decision.limits:
        if limit.max < 1:
            return limit.denial
    return decision
