"""Can a set of conditions ever hold all at once? Used by lint to find dead rules.

The check is conservative: when it reports a contradiction, there is one (no call can satisfy
every condition); when it finds none, the conditions may still be unsatisfiable in ways it
does not model (two regexes that share no string, say). Conditions whose path looks inside
arguments (``*``, decoders) are left out: each element or decoded string is another value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from mcpwall.core.jsonvalue import strict_key
from mcpwall.core.policy.model import Condition
from mcpwall.core.policy.paths import parse_path

ALL_KINDS = frozenset({"null", "boolean", "number", "string", "array", "object"})
CONTAINERS = frozenset({"array", "object"})


def contradiction(conditions: Sequence[Condition]) -> str | None:
    """Why ``conditions`` can never all hold at once, or None when they may."""
    by_path: dict[tuple[str, ...], list[Condition]] = {}
    for condition in conditions:
        path = parse_path(condition.path)
        if not path.looks_inside:
            by_path.setdefault(path.keys, []).append(condition)
    for group in by_path.values():
        reason = _same_path(group)
        if reason:
            return reason
    for parent, group in by_path.items():
        for child, child_group in by_path.items():
            is_descendant = len(child) > len(parent) and child[: len(parent)] == parent
            if (
                is_descendant
                and any(_needs_presence(c) for c in child_group)
                and not _may_be_container(group)
            ):
                return (
                    f"{child_group[0].path} needs {group[0].path} to be an object or array, "
                    "which the conditions on it rule out"
                )
    return None


def _needs_presence(condition: Condition) -> bool:
    return not (condition.op == "exists" and condition.value is False)


def _candidates(group: Sequence[Condition]) -> list[object] | None:
    """The finite set of values ``eq``/``in`` conditions leave possible, or None if unbounded."""
    candidates: list[object] | None = None
    for condition in group:
        if condition.op == "eq":
            allowed = [condition.value]
        elif condition.op == "in":
            allowed = list(condition.value) if isinstance(condition.value, list) else []
        else:
            continue
        keys = {strict_key(value) for value in allowed}
        candidates = (
            allowed if candidates is None else [c for c in candidates if strict_key(c) in keys]
        )
    return candidates


def _kinds(condition: Condition) -> frozenset[str]:
    """The JSON types a value may have for ``condition`` to hold."""
    if condition.op in ("lt", "lte", "gt", "gte"):
        return frozenset({"number"})
    if condition.op == "regex":
        return frozenset({"string"})
    if condition.op == "contains":
        return frozenset({"string", "array"} if isinstance(condition.value, str) else {"array"})
    return ALL_KINDS


def _same_path(group: Sequence[Condition]) -> str | None:
    path = group[0].path
    if any(not _needs_presence(c) for c in group):
        if any(_needs_presence(c) for c in group):
            return f"{path} must be absent (exists: false) and present at once"
        return None
    candidates = _candidates(group)
    if candidates is not None:
        if not any(all(c.test(value) for c in group) for value in candidates):
            return f"no value of {path} satisfies all of its conditions"
        return None
    kinds = ALL_KINDS
    for condition in group:
        kinds &= _kinds(condition)
    if not kinds:
        return f"{path} would have to be of several types at once"
    if kinds == {"number"}:
        return _empty_range(group)
    return None


def _empty_range(group: Sequence[Condition]) -> str | None:
    # Among equal bounds the strict one is the tighter: (5, strict) beats (5, inclusive).
    lows = [(float(c.value), c.op == "gt") for c in group if c.op in ("gt", "gte")]  # type: ignore[arg-type]
    highs = [(float(c.value), c.op == "lt") for c in group if c.op in ("lt", "lte")]  # type: ignore[arg-type]
    low_value, low_strict = max(lows, default=(-math.inf, False))
    high_value, high_strict = min(
        highs, key=lambda bound: (bound[0], not bound[1]), default=(math.inf, False)
    )
    if low_value > high_value or (low_value == high_value and (low_strict or high_strict)):
        return f"no number satisfies every bound on {group[0].path}"
    return None


def _may_be_container(group: Sequence[Condition]) -> bool:
    if any(not _needs_presence(c) for c in group):
        return False
    candidates = _candidates(group)
    if candidates is not None:
        return any(isinstance(value, dict | list) for value in candidates)
    kinds = ALL_KINDS
    for condition in group:
        kinds &= _kinds(condition)
    return bool(kinds & CONTAINERS)
