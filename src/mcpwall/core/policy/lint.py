"""Lint: shapes that are valid but probably not what the author meant.

Warnings never make a policy invalid. They catch the fail-open and dead shapes of DESIGN §3:
an unanchored ``regex`` inside ``require``, a ``deny_if`` that can never fire, a hidden tool
that also has rules or limits (they never apply), a ``*`` inside ``deny_if`` that fires only
when every element matches, and a decoder inside ``deny_if`` at all (a blocklist over text the
upstream may read otherwise; ``require`` is the closed form).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from mcpwall.core import jsonpointer
from mcpwall.core.errors import Problem
from mcpwall.core.policy.model import Condition, Limit, ToolRules
from mcpwall.core.policy.paths import parse_path
from mcpwall.core.policy.satisfiability import contradiction


def lint(
    document: object, tools: Mapping[str, ToolRules], all_tools_limits: tuple[Limit, ...]
) -> list[Problem]:
    """Every lint finding for a policy that compiled, in document order."""
    hide = document.get("hide", []) if isinstance(document, dict) else []
    hidden = {name for name in hide if isinstance(name, str)}
    findings = [*_duplicate_hides(hide), *_limits_that_deny_all(all_tools_limits)]
    for tool in tools.values():
        findings.extend(_tool(tool, "*" in hidden or tool.name in hidden))
    return findings


def _tool(tool: ToolRules, hidden: bool) -> Iterator[Problem]:
    pointer = jsonpointer.join("/tools", tool.name)
    own_limits = [limit for limit in tool.limits if limit.pointer.startswith(pointer + "/")]
    if hidden and (tool.require or tool.deny_if or own_limits):
        yield Problem(pointer, "the tool is hidden, so its rules and limits never apply")
        return
    for requirement in tool.require:
        if not requirement.conditions:
            yield Problem(
                requirement.pointer, "this require entry has no conditions, so it always passes"
            )
        reason = contradiction(requirement.conditions)
        if reason:
            yield Problem(
                requirement.pointer,
                f"this require entry can never pass ({reason}): every call is denied",
            )
        for condition in requirement.conditions:
            if condition.op == "regex" and isinstance(condition.value, str):
                yield from _unanchored(condition.pointer, condition.value)
    always_fired = None
    for prohibition in tool.deny_if:
        if always_fired is not None:
            yield Problem(
                prohibition.pointer,
                f"this deny_if can never fire: {always_fired} always fires first",
            )
            continue
        reason = contradiction(prohibition.conditions)
        if reason:
            yield Problem(prohibition.pointer, f"this deny_if can never fire ({reason})")
        for condition in prohibition.conditions:
            yield from _looking_inside_deny_if(condition)
        if not prohibition.conditions:
            always_fired = prohibition.pointer
    yield from _limits_that_deny_all(own_limits)


def _looking_inside_deny_if(condition: Condition) -> Iterator[Problem]:
    """``*`` and decoders in a blocklist: shapes that let through what they don't recognise."""
    path = parse_path(condition.path)
    if path.has_star and condition.match != "any":
        yield Problem(
            condition.pointer,
            f'"*" in deny_if without "match": "any": "{path.text}" fires only when every element '
            'matches (and there is at least one); add "match": "any" to fire when one does',
        )
    for decoder in path.decoders:
        yield Problem(
            condition.pointer + "/path",
            f'decoder "|{decoder.name}" in deny_if: a blocklist lets through whatever it does not '
            "recognise in text the upstream may read its own way; require is the closed form "
            "(require the values you allow)",
        )


def _limits_that_deny_all(limits: list[Limit] | tuple[Limit, ...]) -> Iterator[Problem]:
    for limit in limits:
        if limit.max == 0:
            yield Problem(
                limit.pointer + "/max",
                "max is 0, so this limit denies every call "
                "(a deny_if with no conditions says that plainly)",
            )


def _duplicate_hides(hide: object) -> Iterator[Problem]:
    seen: set[str] = set()
    for index, name in enumerate(hide if isinstance(hide, list) else []):
        if name in seen:
            yield Problem(jsonpointer.join("/hide", index), f'"{name}" is already hidden')
        seen.add(name)


def _unanchored(pointer: str, pattern: str) -> Iterator[Problem]:
    """A regex in ``require`` passes any value in which it matches *somewhere* (Go MatchString)."""
    body = _strip_leading_flags(pattern)
    if _has_top_level_alternation(body):
        yield Problem(
            pointer + "/value",
            f'regex "{pattern}" has a top-level "|", so "^" and "$" bind to single branches; '
            "group the alternatives: ^(a|b)$",
        )
    elif not body.startswith(("^", "\\A")):
        yield Problem(
            pointer + "/value",
            f'regex "{pattern}" in require is not anchored with "^": it passes any value that '
            "merely contains a match",
        )


def _strip_leading_flags(pattern: str) -> str:
    """``(?i)^dev`` → ``^dev``: a leading flag group doesn't move the anchor."""
    if pattern.startswith("(?") and ")" in pattern:
        flags = pattern[2 : pattern.index(")")]
        if flags and all(char in "imsU-" for char in flags):
            return pattern[pattern.index(")") + 1 :]
    return pattern


def _has_top_level_alternation(pattern: str) -> bool:
    """Whether ``|`` appears outside every group and character class."""
    depth, index, in_class = 0, 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            # A "]" right after "[" or "[^" is a literal member, not the end of the class.
            if pattern[index + 1 : index + 2] == "^":
                index += 1
            if pattern[index + 1 : index + 2] == "]":
                index += 1
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            return True
        index += 1
    return False
