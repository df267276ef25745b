"""Explaining a decision as ``policy test`` does: its facts, and one line per condition checked.

The CLI prints these with colours and the dashboard shows them in a table; both read them from
here, so the two always say the same thing about the same call. What a trace shows is the
author's own test input, shown back to the author: the proxy log never holds any of it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from mcpwall.core import jsonpointer
from mcpwall.core.errors import UnreadableArgument
from mcpwall.core.jsonvalue import render
from mcpwall.core.policy.evaluate import Step
from mcpwall.core.policy.model import HIDDEN, CompiledPolicy, Decision
from mcpwall.core.policy.paths import MISSING, Each

TRACE_ELEMENTS = 20  # elements of a "*" shown in a trace line
MAX_SOURCE_CHARACTERS = 4000  # of the policy text a rule is shown as


def source_at(document: object, pointer: str) -> str | None:
    """The part of a policy document at ``pointer``, as indented JSON (cut at
    :data:`MAX_SOURCE_CHARACTERS`): how a rule is shown as the text it points at. None when
    the document has nothing there."""
    try:
        source = json.dumps(jsonpointer.resolve(document, pointer), indent=2, ensure_ascii=False)
    except (KeyError, TypeError, ValueError):
        return None
    if len(source) > MAX_SOURCE_CHARACTERS:
        source = source[: MAX_SOURCE_CHARACTERS - 1] + "…"
    return source


@dataclass(frozen=True, slots=True)
class TraceLine:
    """One condition as evaluated: ``✓ POINTER  PATH OP VALUE  found VALUE``.

    ``test`` is the condition (``args.namespace in ["dev"]``, with its ``match`` if it has
    one); ``found`` is what its path found or, when ``unreadable``, why the argument could not
    be read (``could not be read: …``).
    """

    held: bool
    pointer: str
    test: str
    found: str
    unreadable: bool = False


def trace_line(step: Step) -> TraceLine:
    """A :class:`Step` of the evaluation trace, as text.

    A path with ``*`` shows what it found for each element (``each ["dev", (missing)]``) and
    its ``match``; a path with a decoder shows the decoded values it reached, or why the
    argument could not be read.
    """
    condition = step.condition
    match = f" (match {condition.match})" if condition.match else ""
    test = f"{condition.path} {condition.op} {render(condition.value)}{match}"
    if isinstance(step.found, UnreadableArgument):
        return TraceLine(
            step.held, condition.pointer, test, f"could not be read: {step.found.reason}", True
        )
    return TraceLine(step.held, condition.pointer, test, found_text(step.found))


def found_text(found: object) -> str:
    """What a path found, as the trace shows it: ``(missing)``, a value, or ``each [...]``."""
    if found is MISSING:
        return "(missing)"
    if isinstance(found, Each):
        shown = [found_text(item) for item in found.items[:TRACE_ELEMENTS]]
        if len(found.items) > TRACE_ELEMENTS:
            shown.append(f"… {len(found.items) - TRACE_ELEMENTS} more")
        return "each [" + ", ".join(shown) + "]"
    return render(found)


def decision_facts(
    policy: CompiledPolicy, tool: str, decision: Decision
) -> tuple[tuple[str, str], ...]:
    """The labelled facts ``policy test`` prints under a decision, in order.

    The rule, the message, the policy, what the agent sees of a hidden tool, and each limit an
    allowed call would reserve (counters are taken as fresh).
    """
    facts = [
        ("rule", decision.rule),
        ("message", decision.message or "-"),
        ("policy", f"{policy.name} (default {policy.default}, mode {policy.mode})"),
    ]
    if decision.rule == HIDDEN:
        facts.append(("agent sees", f"JSON-RPC error -32602 Unknown tool: {tool}"))
    facts += [
        ("limit", f"{limit.counter}: {limit.max} per {limit.window} per {limit.scope} (fresh)")
        for limit in decision.limits
    ]
    return tuple(facts)
