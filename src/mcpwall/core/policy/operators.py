"""The eleven condition operators: what value each accepts, and the predicate it becomes.

A predicate takes the value found at the condition's path (or :data:`MISSING`) and says whether
the condition holds. Every operator but ``exists: false`` is false on a missing value, and
types are strict (see :mod:`mcpwall.core.jsonvalue`).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import re2

from mcpwall.core.jsonvalue import is_number, strict_equal, strict_key
from mcpwall.core.policy.paths import MISSING, Predicate

__all__ = ["OPERATORS", "Operator", "Predicate", "compile_regex"]

# RE2 would otherwise print its own parse errors to stderr; we report them as policy problems.
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
_RE2_OPTIONS.never_capture = True  # only "does it match" matters; no group bookkeeping
MAX_PATTERN_LENGTH = 4096


@dataclass(frozen=True, slots=True)
class Operator:
    """One operator: the shape of ``value`` it accepts, and how it turns into a predicate."""

    name: str
    expects: str
    accepts: Callable[[object], bool]
    build: Callable[[object], Predicate]


def _any_json(value: object) -> bool:
    return True


# ``type(x) in _NUMBER_TYPES`` is the inlined form of ``is_number``: bool is not in it.
_NUMBER_TYPES = (int, float)


def _eq(expected: object) -> Predicate:
    # Scalars get a predicate that is one type check and one comparison; that is the hot path.
    if type(expected) is str:
        return lambda found: type(found) is str and found == expected
    if type(expected) is bool or expected is None:
        return lambda found: found is expected
    if is_number(expected):
        return lambda found: type(found) in _NUMBER_TYPES and found == expected
    return lambda found: found is not MISSING and strict_equal(found, expected)


def _neq(expected: object) -> Predicate:
    equal = _eq(expected)
    return lambda found: found is not MISSING and not equal(found)


def _comparison(holds: Callable[[Any, Any], bool]) -> Callable[[object], Predicate]:
    def build(bound: object) -> Predicate:
        return lambda found: type(found) in _NUMBER_TYPES and holds(found, bound)

    return build


def _members(values: object) -> tuple[frozenset[object], bool]:
    assert isinstance(values, list)
    return frozenset(strict_key(item) for item in values), all(type(v) is str for v in values)


def _in(values: object) -> Predicate:
    members, only_strings = _members(values)
    if only_strings:  # the common case (namespaces): one type check and one set lookup
        return lambda found: type(found) is str and found in members
    return lambda found: found is not MISSING and strict_key(found) in members


def _not_in(values: object) -> Predicate:
    members, _ = _members(values)
    return lambda found: found is not MISSING and strict_key(found) not in members


def _exists(present: object) -> Predicate:
    if present is True:
        return lambda found: found is not MISSING
    return lambda found: found is MISSING


def compile_regex(pattern: str) -> re2._Regexp:
    """Compile ``pattern`` with RE2; ``ValueError`` carries RE2's reason when it is rejected."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ValueError(
            f"pattern is {len(pattern)} characters long (expected at most {MAX_PATTERN_LENGTH})"
        )
    try:
        return re2.compile(pattern, options=_RE2_OPTIONS)
    except UnicodeEncodeError:
        raise ValueError(
            "pattern contains an unpaired surrogate (expected valid Unicode text)"
        ) from None
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise ValueError(f"RE2 rejects the pattern: {reason}") from None


def _without_lone_surrogates(text: str) -> str:
    # JSON can carry unpaired surrogates ("\ud800") that UTF-8 can't encode; Go's MatchString
    # sees such input as U+FFFD, so do the same instead of raising.
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _regex(pattern: object) -> Predicate:
    assert isinstance(pattern, str)
    search = compile_regex(pattern).search

    def matches(found: object) -> bool:
        if type(found) is not str:
            return False
        try:
            return search(found) is not None
        except UnicodeEncodeError:
            return search(_without_lone_surrogates(found)) is not None

    return matches


def _contains(needle: object) -> Predicate:
    def contains(found: object) -> bool:
        if type(found) is str:
            return type(needle) is str and needle in found
        if isinstance(found, list):
            return any(strict_equal(item, needle) for item in found)
        return False

    return contains


OPERATORS: dict[str, Operator] = {
    op.name: op
    for op in (
        Operator("eq", "any JSON value", _any_json, _eq),
        Operator("neq", "any JSON value", _any_json, _neq),
        Operator("lt", "a number", is_number, _comparison(operator.lt)),
        Operator("lte", "a number", is_number, _comparison(operator.le)),
        Operator("gt", "a number", is_number, _comparison(operator.gt)),
        Operator("gte", "a number", is_number, _comparison(operator.ge)),
        Operator("in", "an array", lambda v: isinstance(v, list), _in),
        Operator("not_in", "an array", lambda v: isinstance(v, list), _not_in),
        Operator("exists", "true or false", lambda v: type(v) is bool, _exists),
        Operator("regex", "an RE2 pattern string", lambda v: type(v) is str, _regex),
        Operator("contains", "any JSON value", _any_json, _contains),
    )
}
"""Every operator, by name, in the order the documentation lists them."""
