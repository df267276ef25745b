"""The proxy-log record: one per agent request, and the one function that builds it.

DESIGN §6: who, which upstream and tool, which decision and why, the *sorted top-level keys*
of the arguments — never a value, never a token. :func:`build_record` is the only place that
decides what is recorded, so that promise is kept in one spot: it receives the arguments and
keeps their keys only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Outcome = Literal["ok", "tool_error", "protocol_error", "unreachable", "not_forwarded"]


@dataclass(frozen=True, slots=True)
class ProxyLogRecord:
    """One agent request as the proxy log keeps it. Times are milliseconds."""

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


def argument_keys(arguments: object) -> tuple[str, ...]:
    """The sorted top-level keys of ``arguments``; nothing of their values."""
    if not isinstance(arguments, Mapping):
        return ()
    return tuple(sorted(str(key) for key in arguments))


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
) -> ProxyLogRecord:
    """The record of one request; ``arguments`` contributes its top-level keys only."""
    return ProxyLogRecord(
        at=at,
        request_id="" if request_id is None else str(request_id),
        grant_id=grant_id,
        grant_label=grant_label,
        upstream=upstream,
        method=method,
        tool=tool,
        policy=policy,
        policy_version=policy_version,
        decision=decision,
        rule=rule,
        message=message,
        argument_keys=argument_keys(arguments),
        outcome=outcome,
        decision_ms=round(decision_ms, 3),
        upstream_ms=round(upstream_ms, 3),
        total_ms=round(total_ms, 3),
        fail_open=fail_open,
    )
