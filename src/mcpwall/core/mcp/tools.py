"""``tools/call``: reading the call, and answering a refusal the way DESIGN §4 says.

* A call the policy denies gets a normal ``CallToolResult`` with ``isError: true`` and one
  text item ``[POLICY DENIED] <message>``: every client shows it to the model, which can then
  pick another way. ``_meta["io.mcpwall/decision"]`` says which rule of which policy version
  decided, for programs (research/mcp-protocol.md §2.2, §2.4).
* A hidden tool gets the very error a tool that does not exist gets, -32602
  ``Unknown tool: NAME``, so hiding reveals nothing. Names are compared exactly: a name that
  differs from an offered one by case or spacing is not offered, whatever the upstream would
  make of it.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import dataclass
from typing import Final

from mcpwall.core.errors import InvalidParams, UnknownTool
from mcpwall.core.jsonrpc import describe
from mcpwall.core.policy.model import HIDDEN, Decision

DECISION_META_KEY: Final = "io.mcpwall/decision"
DENIED_PREFIX: Final = "[POLICY DENIED] "


@dataclass(frozen=True, slots=True)
class ToolCall:
    """The tool a ``tools/call`` names and the arguments it passes (``{}`` when none)."""

    name: str
    arguments: dict[str, object]


def parse_tool_call(params: Mapping[str, object] | None) -> ToolCall:
    """Read a ``tools/call``'s params; :class:`InvalidParams` when they are not a valid call."""
    if params is None:
        raise InvalidParams('tools/call needs "params" with the tool\'s "name" (found no params)')
    name = params.get("name")
    if not isinstance(name, str):
        found = describe(name) if "name" in params else "nothing"
        raise InvalidParams(f'"params.name": expected the tool name as a string, found {found}')
    # MCP lets a call without parameters omit "arguments"; it means no arguments at all.
    arguments = params.get("arguments", {})
    if not isinstance(arguments, dict):
        raise InvalidParams(f'"params.arguments": expected an object, found {describe(arguments)}')
    return ToolCall(name, arguments)


def check_offered(name: str, offered: Container[str]) -> None:
    """Refuse, as an unknown tool, a name that is not exactly one the upstream offers."""
    if name not in offered:
        raise UnknownTool(name)


def denial_result(decision: Decision, *, policy: str, version: int) -> dict[str, object]:
    """The ``CallToolResult`` for a call the policy denied (DESIGN §4)."""
    detail: dict[str, object] = {"rule": decision.rule, "policy": policy, "version": version}
    if decision.retry_after_s is not None:
        detail["retry_after_s"] = decision.retry_after_s
    return {
        "content": [{"type": "text", "text": DENIED_PREFIX + decision.message}],
        "isError": True,
        "_meta": {DECISION_META_KEY: detail},
    }


def refusal(decision: Decision, tool: str, *, policy: str, version: int) -> dict[str, object]:
    """The answer to a denied call: the denial result, or :class:`UnknownTool` when hidden."""
    if decision.rule == HIDDEN:
        raise UnknownTool(tool)
    return denial_result(decision, policy=policy, version=version)
