"""The compiled form of a policy, and the decisions evaluating it produces.

Everything here is immutable and built once per policy version by :func:`compile_policy`.
Decisions are built at compile time too: a decision depends only on which rule decided, so
evaluation returns a prepared object instead of allocating one per call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from mcpwall.core.errors import Problem
from mcpwall.core.policy.operators import Predicate
from mcpwall.core.policy.paths import Finder, Resolver

Outcome = Literal["allow", "deny", "would_deny"]
Match = Literal["all", "any"]
Window = Literal["second", "minute", "hour", "day"]
Scope = Literal["grant", "upstream", "global"]

WINDOW_SECONDS: Mapping[str, int] = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}

# The rules that are not pointers into the document (DESIGN §3, "Rule pointer").
NO_POLICY = "(no policy)"
HIDDEN = "(hidden)"
DEFAULT_DENY = "(default deny)"
ALLOWED = "(allowed)"


@dataclass(frozen=True, slots=True)
class Decision:
    """The result of evaluating one call: what happens, which rule decided, and what to say.

    ``limits`` lists the counters an otherwise-allowed call must reserve before it is forwarded.
    ``retry_after_s`` is set only on a denial by a limit, by whoever checked the counter.
    """

    decision: Outcome
    rule: str
    message: str = ""
    limits: tuple[Limit, ...] = ()
    retry_after_s: float | None = None

    @property
    def forwarded(self) -> bool:
        """Whether the call goes on to the upstream (true for allow and would_deny)."""
        return self.decision != "deny"


@dataclass(frozen=True, slots=True)
class Limit:
    """One rate limit: at most ``max`` calls in any ``window``-long interval, per ``scope``."""

    pointer: str
    counter: str
    max: int
    window: Window
    scope: Scope
    message: str
    denial: Decision = field(compare=False, repr=False)

    @property
    def window_seconds(self) -> int:
        return WINDOW_SECONDS[self.window]


@dataclass(frozen=True, slots=True)
class Condition:
    """One ``{path, op, value}`` condition, with its path resolver and predicate prepared.

    ``match`` is set (``"all"`` by default) only for a path with ``*``, and ``test`` then
    applies the operator to each element as it says. ``find`` is set only for a path with a
    decoder: it reads the arguments through the call's decoded values (and may raise
    :class:`~mcpwall.core.errors.UnreadableArgument`); ``resolve`` does the same with a
    decoding of its own, for a condition checked on its own.
    """

    pointer: str
    path: str
    op: str
    value: object
    resolve: Resolver = field(compare=False, repr=False)
    test: Predicate = field(compare=False, repr=False)
    match: Match | None = None
    find: Finder | None = field(compare=False, repr=False, default=None)

    def holds(self, args: object) -> bool:
        return self.test(self.resolve(args))


@dataclass(frozen=True, slots=True)
class Requirement:
    """A ``require`` entry: passes when every condition holds.

    ``denials[i]`` is the decision when condition ``i`` is the first one that fails.
    """

    pointer: str
    conditions: tuple[Condition, ...]
    denials: tuple[Decision, ...] = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Prohibition:
    """A ``deny_if`` entry: fires when every condition holds (always, with none)."""

    pointer: str
    conditions: tuple[Condition, ...]
    denial: Decision = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ToolRules:
    """Everything the policy says about one tool listed under ``tools``.

    ``limits`` holds the tool's own limits followed by ``all_tools.limits``. ``decodes`` says
    whether a condition reads an argument through a decoder: only then does evaluation keep the
    call's decoded values and catch what cannot be read.
    """

    name: str
    require: tuple[Requirement, ...]
    deny_if: tuple[Prohibition, ...]
    limits: tuple[Limit, ...]
    allowed: Decision = field(compare=False, repr=False)
    decodes: bool = False


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    """A validated policy, ready to evaluate calls; built by :func:`compile_policy`.

    ``document`` is the raw JSON value the policy was compiled from, so rule pointers can be
    resolved against it. ``warnings`` are lint findings: shapes that are valid but likely wrong.
    """

    name: str
    version: int
    default: Literal["allow", "deny"]
    mode: Literal["enforce", "shadow"]
    hidden: frozenset[str]
    hide_all: bool
    tools: Mapping[str, ToolRules]
    all_tools_limits: tuple[Limit, ...]
    document: object = field(compare=False, repr=False)
    warnings: tuple[Problem, ...] = field(compare=False, repr=False, default=())
    # Prepared decisions for the rules that don't depend on a tool's entry.
    hidden_denial: Decision = field(compare=False, repr=False, default=Decision("deny", HIDDEN))
    default_denial: Decision = field(
        compare=False, repr=False, default=Decision("deny", DEFAULT_DENY)
    )
    unlisted_allowed: Decision = field(
        compare=False, repr=False, default=Decision("allow", ALLOWED)
    )

    def is_hidden(self, tool: str) -> bool:
        """Whether ``tool`` is hidden from ``tools/list`` and refused as unknown."""
        return self.hide_all or tool in self.hidden
