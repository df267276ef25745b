"""Evaluate one ``tools/call`` against a compiled policy (DESIGN §3, "Evaluation").

First refusal wins, in this order: hidden → default deny → require → deny_if → limits → allowed.
Evaluation never raises for any JSON arguments and allocates nothing on its common paths:
every decision it can return was prepared at compile time.
"""

from __future__ import annotations

from dataclasses import dataclass

from mcpwall.core.policy.model import NO_POLICY, CompiledPolicy, Condition, Decision

NO_POLICY_DECISION = Decision(
    "deny", NO_POLICY, "No policy is attached to this grant for this upstream."
)


@dataclass(frozen=True, slots=True)
class Step:
    """One condition as evaluated, for explaining a decision (``policy test``)."""

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


def with_fresh_counters(decision: Decision) -> Decision:
    """Step 6 for counters that have counted nothing yet, as ``policy test`` assumes.

    A fresh counter refuses a call only when its ``max`` is 0.
    """
    for limit in decision.limits:
        if limit.max < 1:
            return limit.denial
    return decision
