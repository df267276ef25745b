"""What an editor does with a policy text before it is stored: check it, try a call against
it, run golden cases against it.

These are the checks of ``mcpwall policy validate`` and ``mcpwall policy test`` (the same
compiler, :func:`~mcpwall.core.policy.cases.decide` and harness), over text instead of files,
with each problem also placed on its line of the text so an editor can point at it. Nothing
here touches the store: :meth:`ControlPlane.set_policy` is the one way in.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from mcpwall.control import compile_text
from mcpwall.core import jsonpointer
from mcpwall.core.errors import DocumentError, PolicyError, Problem
from mcpwall.core.policy import ALLOWED, DEFAULT_DENY, HIDDEN, CompiledPolicy, Decision
from mcpwall.core.policy.cases import CaseResult, decide, parse_cases, run_case
from mcpwall.core.policy.explain import TraceLine, decision_facts, source_at, trace_line
from mcpwall.core.policy.parse import load_document
from mcpwall.core.policy.positions import Lines, document_lines

# A rule's source is shown as JSON; a whole tool's entry may be long.


@dataclass(frozen=True, slots=True)
class Placed:
    """A problem (or lint warning) and the line of the text it is about, when known."""

    problem: Problem
    line: int | None

    @property
    def pointer(self) -> str:
        return self.problem.pointer or "(root)"

    @property
    def message(self) -> str:
        return self.problem.message


class Draft:
    """A policy text as typed, compiled: valid (``compiled``) or not (``problems``)."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.text = text
        self.compiled: CompiledPolicy | None = None
        self._problems: tuple[Problem, ...] = ()
        try:
            self.compiled = compile_text(text, name=name)
        except PolicyError as error:
            self._problems = error.problems

    @property
    def valid(self) -> bool:
        return self.compiled is not None

    @cached_property
    def lines(self) -> Lines:
        """Where each pointer is in the text (read only when something needs a line)."""
        return document_lines(self.text)

    @cached_property
    def problems(self) -> tuple[Placed, ...]:
        """Every error, in the compiler's order, each on its line."""
        return tuple(Placed(p, self.lines.of_problem(p)) for p in self._problems)

    @cached_property
    def warnings(self) -> tuple[Placed, ...]:
        """Every lint warning of a valid text, each on its line."""
        found = self.compiled.warnings if self.compiled is not None else ()
        return tuple(Placed(w, self.lines.of(w.pointer)) for w in found)


@dataclass(frozen=True, slots=True)
class Trial:
    """One call tried against a draft: the decision as ``policy test`` explains it, and the
    place in the text of the rule that decided (``place`` is a pointer, ``source`` its JSON)."""

    tool: str
    decision: Decision
    facts: tuple[tuple[str, str], ...]
    trace: tuple[TraceLine, ...]
    place: str | None
    line: int | None
    source: str | None


def try_call(draft: Draft, tool: str, args: object) -> Trial:
    """Evaluate ``tool`` with ``args`` against a valid draft, counters taken as fresh."""
    compiled = draft.compiled
    if compiled is None:
        raise ValueError("try_call needs a valid draft")
    decision, steps = decide(compiled, tool, args)
    place = rule_place(compiled, tool, decision.rule)
    source = None if place is None else source_at(compiled.document, place)
    if source is None:
        place = None
    return Trial(
        tool,
        decision,
        decision_facts(compiled, tool, decision),
        tuple(trace_line(step) for step in steps),
        place,
        draft.lines.of(place) if place is not None else None,
        source,
    )


def rule_place(policy: CompiledPolicy, tool: str, rule: str) -> str | None:
    """The pointer of the part of the document that made a decision.

    A rule pointer is its own place. The named rules come from somewhere too: ``(hidden)``
    from the tool's entry in ``hide`` (or its ``"*"``), ``(default deny)`` from ``default``,
    and ``(allowed)`` from the tool's entry under ``tools``, or ``default`` for a tool not
    listed there.
    """
    if rule.startswith("/"):
        return rule
    document = policy.document
    if rule == HIDDEN:
        hide = document.get("hide") if isinstance(document, dict) else None
        if isinstance(hide, list):
            for wanted in (tool, "*"):
                if wanted in hide:
                    return jsonpointer.join("/hide", hide.index(wanted))
        return "/hide"
    if rule == DEFAULT_DENY:
        return "/default"
    if rule == ALLOWED:
        return jsonpointer.join("/tools", tool) if tool in policy.tools else "/default"
    return None


@dataclass(frozen=True, slots=True)
class CasesRun:
    """Golden cases run against a draft: each result, or the problems of the cases text."""

    results: tuple[CaseResult, ...]
    problems: tuple[Placed, ...] = ()

    @property
    def failed(self) -> int:
        return sum(1 for result in self.results if not result.passed)

    @property
    def passed(self) -> int:
        return len(self.results) - self.failed


def run_cases(draft: Draft, text: str) -> CasesRun:
    """Run a cases document (``mcpwall policy test --cases``'s format) against a valid draft.

    The cases' own ``policy`` key, if any, is not read: the draft is the policy under test.
    """
    compiled = draft.compiled
    if compiled is None:
        raise ValueError("run_cases needs a valid draft")
    try:
        loaded = parse_cases(load_document(text, source="cases"), source="cases")
    except DocumentError as error:
        lines = document_lines(text)
        return CasesRun((), tuple(Placed(p, lines.of_problem(p)) for p in error.problems))
    return CasesRun(tuple(run_case(compiled, case) for case in loaded.cases))
