"""JSON values with strict types, as the policy language compares them.

Python's own ``==`` is too loose for a policy: ``True == 1`` and ``1 == 1.0`` are both true there.
Here a boolean is never a number, an integer equals the float of the same value, and strings
are compared exactly (no case folding, no trimming, no coercion).
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable

# The largest integer every JSON implementation represents exactly (IEEE-754 doubles):
# policies reject numbers beyond it, so the gateway and the upstream can't disagree about one.
MAX_SAFE_INTEGER = 2**53 - 1

JSON_TYPE_NAMES = {
    type(None): "null",
    bool: "boolean",
    int: "number",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
}


def type_name(value: object) -> str:
    """The JSON name of ``value``'s type; a non-JSON value (from YAML) is named as such."""
    for kind, name in JSON_TYPE_NAMES.items():
        if type(value) is kind:
            return name
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return f"non-JSON value of type {type(value).__name__}"


def is_number(value: object) -> bool:
    """True for JSON numbers; booleans are not numbers."""
    return type(value) is int or type(value) is float


def is_safe_number(value: object) -> bool:
    """True for finite numbers within ±(2**53 - 1)."""
    if type(value) is int:
        # Compared as an integer: one too large for a float would overflow math.isfinite.
        return -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER
    return type(value) is float and math.isfinite(value) and abs(value) <= MAX_SAFE_INTEGER


def strict_equal(left: object, right: object) -> bool:
    """JSON equality with strict types: ``1 == 1.0`` but ``True != 1`` and ``"1" != 1``."""
    if is_number(left):
        return is_number(right) and left == right
    if isinstance(left, str | bool) or left is None:
        return type(left) is type(right) and left == right
    if isinstance(left, list):
        return (
            isinstance(right, list)
            and len(left) == len(right)
            and all(strict_equal(a, b) for a, b in zip(left, right, strict=True))
        )
    if isinstance(left, dict):
        return (
            isinstance(right, dict)
            and left.keys() == right.keys()
            and all(strict_equal(value, right[key]) for key, value in left.items())
        )
    return False


def strict_key(value: object) -> Hashable:
    """A hashable key: ``strict_key(a) == strict_key(b)`` exactly when ``strict_equal(a, b)``.

    Strings map to themselves, so a set of plain strings stays a set of plain strings.
    """
    if type(value) is str:
        return value
    if type(value) is bool:
        return ("bool", value)
    if is_number(value):
        return ("number", value)  # hash(1) == hash(1.0), and they compare equal
    if value is None:
        return ("null",)
    if isinstance(value, list):
        return ("array", tuple(strict_key(item) for item in value))
    if isinstance(value, dict):
        return ("object", frozenset((key, strict_key(item)) for key, item in value.items()))
    return ("other", id(value))  # not JSON: equal to nothing but itself


def render(value: object, limit: int = 60) -> str:
    """``value`` as compact JSON for a message, cut to about ``limit`` characters."""
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
