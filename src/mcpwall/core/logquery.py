"""Asking the proxy log: filters, the summary of what fired, and the JSON shape of a row.

Pure: the SQL log and the in-memory fake answer the same :class:`LogFilter`, and
:func:`summarize` is both the fake's summary and the oracle the SQL one is tested against.
:func:`record_json` is the one JSON form of a row: JSON lines for a SIEM, ``logs --json``
and the admin API all print it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from mcpwall.core.errors import InvalidValue
from mcpwall.core.proxylog import ProxyLogRecord

DECISIONS = ("allow", "deny", "would_deny")
MAX_PAGE_SIZE = 1000

# Denials first: the summary answers "which guardrails fired".
_DECISION_ORDER = {"deny": 0, "would_deny": 1, "allow": 2}


@dataclass(frozen=True, slots=True)
class LogFilter:
    """Which rows to read. Every field that is set must match.

    ``grant`` is a grant id (``grt_…``) or a label. Without ``after`` rows come newest first,
    ``before`` paging back; with ``after`` they come oldest first from that id on (``--follow``).
    """

    since: datetime | None = None
    decision: str | None = None
    tool: str | None = None
    grant: str | None = None
    upstream: str | None = None
    before: int | None = None
    after: int | None = None
    limit: int = 100

    def __post_init__(self) -> None:
        if self.decision is not None and self.decision not in DECISIONS:
            raise InvalidValue("decision", self.decision, "one of " + ", ".join(DECISIONS))
        if not 1 <= self.limit <= MAX_PAGE_SIZE:
            raise InvalidValue("limit", str(self.limit), f"from 1 to {MAX_PAGE_SIZE}")

    def matches(self, row_id: int, record: ProxyLogRecord) -> bool:
        """Whether a row passes every filter (the fake's query; SQL says the same in WHERE)."""
        return (
            (self.since is None or record.at >= self.since)
            and (self.decision is None or record.decision == self.decision)
            and (self.tool is None or record.tool == self.tool)
            and (self.grant is None or self.grant in (record.grant_id, record.grant_label))
            and (self.upstream is None or record.upstream == self.upstream)
            and (self.before is None or row_id < self.before)
            and (self.after is None or row_id > self.after)
        )


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A row as read back: its id (increasing in write order) and its record."""

    id: int
    record: ProxyLogRecord


@dataclass(frozen=True, slots=True)
class SummaryRow:
    """How often one rule decided calls of one tool on one upstream, and when it last did."""

    upstream: str
    tool: str
    decision: str
    rule: str
    count: int
    last_seen: datetime


def summarize(records: Iterable[ProxyLogRecord], since: datetime) -> list[SummaryRow]:
    """The summary of the decided calls (``tools/call``) at or after ``since``."""
    groups: dict[tuple[str, str, str, str], tuple[int, datetime]] = {}
    for record in records:
        if record.at < since or not record.decision:
            continue
        key = (record.upstream, record.tool, record.decision, record.rule)
        count, last = groups.get(key, (0, record.at))
        groups[key] = (count + 1, max(last, record.at))
    return ordered([SummaryRow(*key, count, last) for key, (count, last) in groups.items()])


def ordered(rows: Iterable[SummaryRow]) -> list[SummaryRow]:
    """Denials first, then shadow denials, then allows; the most frequent first in each."""
    return sorted(
        rows,
        key=lambda r: (_DECISION_ORDER.get(r.decision, 3), -r.count, r.upstream, r.tool, r.rule),
    )


def timestamp(at: datetime) -> str:
    """RFC 3339 in UTC, always with microseconds, as every JSON form of the log writes it."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def record_json(record: ProxyLogRecord, row_id: int | None = None) -> dict[str, object]:
    """A row as a JSON object: every field of the record (``id`` first when it has one)."""
    value: dict[str, object] = {} if row_id is None else {"id": row_id}
    value |= {
        "at": timestamp(record.at),
        "request_id": record.request_id,
        "grant_id": record.grant_id,
        "grant_label": record.grant_label,
        "upstream": record.upstream,
        "method": record.method,
        "tool": record.tool,
        "policy": record.policy,
        "policy_version": record.policy_version,
        "decision": record.decision,
        "rule": record.rule,
        "message": record.message,
        "argument_keys": list(record.argument_keys),
        "outcome": record.outcome,
        "decision_ms": record.decision_ms,
        "upstream_ms": record.upstream_ms,
        "total_ms": record.total_ms,
        "fail_open": record.fail_open,
    }
    return value


def summary_json(row: SummaryRow) -> dict[str, object]:
    return {
        "upstream": row.upstream,
        "tool": row.tool,
        "decision": row.decision,
        "rule": row.rule,
        "count": row.count,
        "last_seen": timestamp(row.last_seen),
    }
