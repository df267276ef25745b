"""What a policy does to each tool an upstream lists, in words a person reads at a glance.

The dashboard's upstream page shows, per tool and per policy bound to the upstream, whether
the policy hides it, checks its arguments, limits it, or lets it through by its default. The
marks follow the order of evaluation (DESIGN §3): a hidden tool is only hidden (its rules and
limits never apply); a tool the policy does not name is refused under ``default: deny`` and
allowed under ``default: allow`` (``all_tools`` limits still apply to it).

Pure: a compiled policy and tool names in, marks out. A tool the policy names (under
``tools`` or ``hide``) that the upstream does not list is reported too, as such: a renamed or
removed tool leaves a rule that guards nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from mcpwall.core import jsonpointer
from mcpwall.core.policy.model import CompiledPolicy, Limit

HIDE_ALL = "*"


class Mark(StrEnum):
    """One thing a policy does to a tool."""

    HIDDEN = "hidden"  # not listed to agents; a call is refused as an unknown tool
    RULES = "has rules"  # require or deny_if entries check its arguments
    LIMITS = "has limits"  # its own or all_tools limits count its calls
    ALLOWED = "allowed"  # named under tools with no rules: allowed (even under default deny)
    ALLOWED_BY_DEFAULT = "allowed by default"  # not named, and the default is allow
    DEFAULT_DENY = "refused by default deny"  # not named, and the default is deny


@dataclass(frozen=True, slots=True)
class ToolMarks:
    """What one policy does to one tool.

    ``listed`` says whether the upstream lists it; ``pointer`` is where the policy decides it
    (``/hide``, ``/tools/NAME``, or ``/default``); ``limits`` are the counters its calls pass
    through (none for a hidden or refused tool).
    """

    tool: str
    listed: bool
    marks: tuple[Mark, ...]
    pointer: str
    limits: tuple[Limit, ...] = ()

    @property
    def refused(self) -> bool:
        """Whether every call of the tool is refused (hidden, or by the default)."""
        return Mark.HIDDEN in self.marks or Mark.DEFAULT_DENY in self.marks


def mark_tool(policy: CompiledPolicy, tool: str, *, listed: bool = True) -> ToolMarks:
    """What ``policy`` does to ``tool``."""
    if policy.is_hidden(tool):
        return ToolMarks(tool, listed, (Mark.HIDDEN,), "/hide")
    rules = policy.tools.get(tool)
    if rules is None:
        if policy.default == "deny":
            return ToolMarks(tool, listed, (Mark.DEFAULT_DENY,), "/default")
        limits = policy.all_tools_limits
        marks = (Mark.ALLOWED_BY_DEFAULT, Mark.LIMITS) if limits else (Mark.ALLOWED_BY_DEFAULT,)
        return ToolMarks(tool, listed, marks, "/default", limits)
    found: list[Mark] = []
    if rules.require or rules.deny_if:
        found.append(Mark.RULES)
    if rules.limits:
        found.append(Mark.LIMITS)
    pointer = jsonpointer.join("/tools", tool)
    return ToolMarks(tool, listed, tuple(found) or (Mark.ALLOWED,), pointer, rules.limits)


def named_tools(policy: CompiledPolicy) -> frozenset[str]:
    """The tools ``policy`` names: under ``tools``, and in ``hide`` (except ``*``)."""
    return frozenset(policy.tools) | (policy.hidden - {HIDE_ALL})


def unlisted_named(policies: Iterable[CompiledPolicy], listed: Iterable[str]) -> list[str]:
    """The tools any of ``policies`` names that are not in ``listed``, by name."""
    offered = set(listed)
    named: set[str] = set()
    for policy in policies:
        named |= named_tools(policy)
    return sorted(named - offered)


def mark_tools(policy: CompiledPolicy, listed: Iterable[str]) -> list[ToolMarks]:
    """Every tool in ``listed``, in its order (the upstream's), then every tool the policy
    names that is not listed, by name (``listed=False``)."""
    names = list(dict.fromkeys(listed))
    marked = [mark_tool(policy, tool) for tool in names]
    marked += [mark_tool(policy, tool, listed=False) for tool in unlisted_named([policy], names)]
    return marked
