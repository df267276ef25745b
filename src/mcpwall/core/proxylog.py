"""The proxy-log record: one per agent request, and the one function that builds it.

DESIGN §6: who, which upstream and tool, which decision and why, the *sorted top-level keys*
of the arguments — never a value, never a token. :func:`build_record` is the only place that
decides what is recorded, so that promise is kept in one spot: it receives the arguments and
keeps their keys only.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Literal, NamedTuple

Outcome = Literal[
    "ok", "tool_error", "protocol_error", "unreachable", "timeout", "cancelled", "not_forwarded"
]
"""How a request ended: answered (``ok``, a ``tool_error`` result, a ``protocol_error``: a
JSON-RPC error, or an answer that is not MCP — not JSON, not JSON-RPC, about another id, over
the size limit);
never answered by its upstream (``unreachable``: no connection, or the session failed;
``timeout``: sent, and cancelled upstream after the timeout; ``cancelled``: the agent
cancelled it, went away or ended its session while it was under way); or ``not_forwarded``
(refused, or answered by the gateway itself)."""

# What an agent names (a tool, a method, a request id, argument keys) is kept to this many
# characters, and to this many keys: one request must not be able to make a row the
# database refuses (PostgreSQL indexes take about 2.7 kB an entry) or an unbounded one.
MAX_TEXT = 256
MAX_KEYS = 256
ELLIPSIS = "…"
# A rule is never an agent's text but a gateway constant or a policy's JSON pointer, whose
# longest (a tool name of the compiler's 256 characters, four UTF-8 bytes each, and the
# place under it) is about 1,070 bytes: kept whole up to this many bytes, cut past them, so
# that with a tool of MAX_TEXT characters (1,024 bytes at most) an entry of the indexes on
# (upstream, tool, decision, rule) — the proxy log's and its rollup's key — stays under
# PostgreSQL's 2,704 bytes whatever builds the decision.
MAX_RULE_BYTES = 1200


class ProxyLogRecord(NamedTuple):
    """One agent request as the proxy log keeps it. Times are milliseconds.

    An immutable named tuple rather than a frozen dataclass: one is made for every request,
    on its way back to the agent, and a tuple is built in one step where a frozen
    dataclass sets each of its nineteen fields through ``object.__setattr__``.
    """

    at: datetime
    request_id: str
    grant_id: str
    grant_label: str
    upstream: str
    method: str
    tool: str
    policy: str
    policy_version: int
    decision: str
    rule: str
    message: str
    argument_keys: tuple[str, ...]
    outcome: Outcome
    decision_ms: float
    upstream_ms: float
    total_ms: float
    fail_open: bool = False
    pin: str = ""


def argument_keys(arguments: object) -> tuple[str, ...]:
    """The sorted top-level keys of ``arguments``; nothing of their values.

    Past :data:`MAX_KEYS` keys the last one kept says how many more there were.
    """
    if not isinstance(arguments, Mapping):
        return ()
    keys = sorted(storable(str(key)) for key in arguments)
    if len(keys) > MAX_KEYS:
        keys[MAX_KEYS - 1 :] = [f"{ELLIPSIS}({len(keys) - MAX_KEYS + 1} more)"]
    return tuple(keys)


def storable(text: str) -> str:
    """``text`` as every sink can store it: at most :data:`MAX_TEXT` characters, no NUL
    (PostgreSQL text can't hold one) and no lone surrogate (UTF-8 has none)."""
    if len(text) <= MAX_TEXT and text.isprintable():
        return text  # the common case, checked in one pass
    if len(text) > MAX_TEXT:
        text = text[: MAX_TEXT - 1] + ELLIPSIS
    text = text.replace("\x00", "\ufffd")
    return text.encode("utf-8", "replace").decode("utf-8")


def storable_rule(rule: str) -> str:
    """``rule`` as :func:`storable` makes a name, but bounded in UTF-8 bytes
    (:data:`MAX_RULE_BYTES`, :data:`ELLIPSIS` included) rather than characters: every rule
    a policy can produce is kept whole, to match the policy's pointer."""
    if len(rule) * 4 <= MAX_RULE_BYTES and rule.isprintable():
        return rule  # the common case: short, so within the bytes whatever its characters
    data = rule.replace("\x00", "\ufffd").encode("utf-8", "replace")
    if len(data) <= MAX_RULE_BYTES:
        return data.decode("utf-8")
    room = MAX_RULE_BYTES - len(ELLIPSIS.encode("utf-8"))
    return data[:room].decode("utf-8", "ignore") + ELLIPSIS  # "ignore": a character cut in two


def build_record(
    *,
    at: datetime,
    request_id: str | int | None,
    grant_id: str,
    grant_label: str,
    upstream: str,
    method: str,
    tool: str = "",
    arguments: object = None,
    policy: str = "",
    policy_version: int = 0,
    decision: str = "",
    rule: str = "",
    message: str = "",
    outcome: Outcome,
    decision_ms: float = 0.0,
    upstream_ms: float = 0.0,
    total_ms: float = 0.0,
    fail_open: bool = False,
    pin: str = "",
) -> ProxyLogRecord:
    """The record of one request; ``arguments`` contributes its top-level keys only."""
    return ProxyLogRecord(
        at,
        "" if request_id is None else storable(str(request_id)),
        grant_id,
        grant_label,
        upstream,
        storable(method),
        storable(tool),
        policy,
        policy_version,
        decision,
        storable_rule(rule),
        message,
        argument_keys(arguments),
        outcome,
        round(decision_ms, 3),
        round(upstream_ms, 3),
        round(total_ms, 3),
        fail_open,
        pin,
    )
