"""The policy language of DESIGN §3: parse, compile once, evaluate per call.

>>> document = '{"version": "1", "default": "deny", "tools": {"get_pod": {}}}'
>>> policy = compile_policy(load_policy(document))
>>> evaluate(policy, "get_pod", {}).decision
'allow'
>>> evaluate(policy, "delete_pod", {}).rule
'(default deny)'
"""

from mcpwall.core.errors import ArgumentsError, CasesError, DocumentError, PolicyError, Problem
from mcpwall.core.policy.compile import compile_policy
from mcpwall.core.policy.evaluate import NO_POLICY_DECISION, Step, evaluate, with_fresh_counters
from mcpwall.core.policy.model import (
    ALLOWED,
    DEFAULT_DENY,
    HIDDEN,
    NO_POLICY,
    CompiledPolicy,
    Condition,
    Decision,
    Limit,
    ToolRules,
)
from mcpwall.core.policy.parse import load_arguments, load_document, load_policy


def compile_text(
    text: str | bytes, *, name: str, version: int = 0, source: str = ""
) -> CompiledPolicy:
    """Parse and compile a policy document; :class:`PolicyError` lists every problem."""
    return compile_policy(load_policy(text, source=source or name), name=name, version=version)


__all__ = [
    "ALLOWED",
    "DEFAULT_DENY",
    "HIDDEN",
    "NO_POLICY",
    "NO_POLICY_DECISION",
    "ArgumentsError",
    "CasesError",
    "CompiledPolicy",
    "Condition",
    "Decision",
    "DocumentError",
    "Limit",
    "PolicyError",
    "Problem",
    "Step",
    "ToolRules",
    "compile_policy",
    "compile_text",
    "evaluate",
    "load_arguments",
    "load_document",
    "load_policy",
    "with_fresh_counters",
]
