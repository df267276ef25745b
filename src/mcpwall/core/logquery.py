"""Asking the proxy log: filters, the summary of what fired, and the JSON shape of a row.

Pure: the SQL log and the in-memory fake answer the same :class:`LogFilter`, and
:func:`summarize` is both the fake's summary and the oracle the SQL one is tested against.
:func:`record_json` is the one JSON form of a row: JSON lines for a SIEM, ``logs --json``
and the admin API all print it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import get_args

from mcpwall.core.errors import InvalidValue
from mcpwall.core.proxylog import Outcome, ProxyLogRecord

DECISIONS = ("allow", "deny", "would_deny")
OUTCOMES: tuple[str, ...] = get_args(Outcome)
MAX_PAGE_SIZE = 1000

# The overview's categories of a decided call (see :func:`category`).
CATEGORIES = ("allowed", "denied", "would_deny", "limited", "errors")
# Outcomes of a forwarded call that mean the upstream did not answer it properly.
ERROR_OUTCOMES = ("protocol_error", "unreachable", "timeout")
TOP_FIELDS = ("tool", "grant_label")
# The method a policy decides: the transport's own refusals of other requests (``(no
# binding)`` on an ``initialize``…) are rows with a decision too, but no call was decided.
DECIDED_METHOD = "tools/call"

# The proxy-log rollup's time bucket: decided calls counted per hour (see :func:`rollup`).
ROLLUP_BUCKET = timedelta(hours=1)

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
    until: datetime | None = None  # rows before this time (exclusive)
    rule: str | None = None
    outcome: str | None = None
    method: str | None = None

    def __post_init__(self) -> None:
        if self.decision is not None and self.decision not in DECISIONS:
            raise InvalidValue("decision", self.decision, "one of " + ", ".join(DECISIONS))
        if self.outcome is not None and self.outcome not in OUTCOMES:
            raise InvalidValue("outcome", self.outcome, "one of " + ", ".join(OUTCOMES))
        if not 1 <= self.limit <= MAX_PAGE_SIZE:
            raise InvalidValue("limit", str(self.limit), f"from 1 to {MAX_PAGE_SIZE}")
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise InvalidValue(
                "until", self.until.isoformat(), f"a time after since ({self.since.isoformat()})"
            )

    def matches(self, row_id: int, record: ProxyLogRecord) -> bool:
        """Whether a row passes every filter (the fake's query; SQL says the same in WHERE)."""
        return (
            (self.since is None or record.at >= self.since)
            and (self.until is None or record.at < self.until)
            and (self.rule is None or record.rule == self.rule)
            and (self.outcome is None or record.outcome == self.outcome)
            and (self.method is None or record.method == self.method)
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


@dataclass(frozen=True, slots=True)
class TimelineRow:
    """How many decided calls of one category fell in one time bucket (bucket ``index``
    starts at ``since + index × bucket``)."""

    index: int
    category: str
    count: int


def category(decision: str, rule: str, outcome: str) -> str | None:
    """The overview's category of a row: None when no policy decided it (not a
    ``tools/call``); else ``limited`` (refused by a rate limit), ``denied`` (refused by
    anything else), ``errors`` (let through, but the upstream did not answer properly:
    a protocol error, unreachable, a timeout), ``would_deny`` (shadow mode: it would have
    been refused) or ``allowed``. The SQL proxy log groups by the same rules
    (``adapters/store/proxy_log.py``), tested against this function."""
    if not decision:
        return None
    if decision == "deny":
        return "limited" if is_limit_rule(rule) else "denied"
    if outcome in ERROR_OUTCOMES:
        return "errors"
    return "would_deny" if decision == "would_deny" else "allowed"


def is_limit_rule(rule: str) -> bool:
    """Whether a rule pointer names a rate limit: ``/tools/TOOL/limits/N`` or
    ``/all_tools/limits/N`` (a tool key holds no ``/``: a pointer escapes it as ``~1``)."""
    parts = rule.split("/")
    if len(parts) < 4 or parts[-2] != "limits" or not parts[-1].isdecimal():
        return False
    return parts[1:-2] == ["all_tools"] or (len(parts) == 5 and parts[1] == "tools")


def check_timeline(since: datetime, until: datetime, bucket_seconds: int) -> int:
    """The number of buckets of a timeline, if its arguments make one: whole seconds, a
    positive bucket, ``until`` after ``since``, at most 1,000 buckets."""
    if since.microsecond or until.microsecond:
        raise InvalidValue("timeline", since.isoformat(), "times in whole seconds")
    span = int((until - since).total_seconds())
    if bucket_seconds < 1 or span <= 0 or span % bucket_seconds:
        raise InvalidValue(
            "timeline", f"{span} s in buckets of {bucket_seconds} s", "whole buckets of 1 s or more"
        )
    if span // bucket_seconds > MAX_PAGE_SIZE:
        raise InvalidValue("timeline", f"{span // bucket_seconds} buckets", "at most 1000")
    return span // bucket_seconds


def timeline(
    records: Iterable[ProxyLogRecord], since: datetime, until: datetime, bucket_seconds: int
) -> list[TimelineRow]:
    """Decided ``tools/call`` rows in [since, until) counted by bucket and category: the
    fake's timeline and the oracle of the SQL one. Rows ordered by bucket, then category."""
    check_timeline(since, until, bucket_seconds)
    counts: dict[tuple[int, str], int] = {}
    for record in records:
        kind = category(record.decision, record.rule, record.outcome)
        if kind is None or record.method != DECIDED_METHOD or not since <= record.at < until:
            continue
        index = int((record.at - since).total_seconds()) // bucket_seconds
        counts[index, kind] = counts.get((index, kind), 0) + 1
    return [TimelineRow(i, kind, n) for (i, kind), n in sorted(counts.items())]


def top_denied(
    records: Iterable[ProxyLogRecord], since: datetime, field: str, limit: int
) -> list[tuple[str, int]]:
    """The ``field`` values (``tool`` or ``grant_label``) of the most refused calls since
    ``since``, most first, ties by name: the fake's and the oracle of the SQL one."""
    check_top(field, limit)
    counts: dict[str, int] = {}
    for record in records:
        if record.decision == "deny" and record.method == DECIDED_METHOD and record.at >= since:
            key = getattr(record, field)
            counts[key] = counts.get(key, 0) + 1
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]


def count_outcomes(
    records: Iterable[ProxyLogRecord], since: datetime
) -> dict[tuple[str, str], int]:
    """How many requests to each upstream since ``since`` ended in each outcome, keyed by
    (upstream, outcome): the fake's and the oracle of the SQL one."""
    counts: dict[tuple[str, str], int] = {}
    for record in records:
        if record.at >= since:
            key = (record.upstream, record.outcome)
            counts[key] = counts.get(key, 0) + 1
    return counts


def check_top(field: str, limit: int) -> None:
    if field not in TOP_FIELDS:
        raise InvalidValue("field", field, "one of " + ", ".join(TOP_FIELDS))
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidValue("limit", str(limit), f"from 1 to {MAX_PAGE_SIZE}")


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


@dataclass(frozen=True, slots=True)
class RollupRow:
    """How many decided calls of one (upstream, tool, decision, rule) fell in one hour
    (``bucket``, its start in UTC), and the time of the last of them."""

    bucket: datetime
    upstream: str
    tool: str
    decision: str
    rule: str
    count: int
    last_seen: datetime


def rollup_bucket(at: datetime) -> datetime:
    """The start, in UTC, of the rollup bucket (the hour) holding ``at``."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def rollup_edge(since: datetime) -> datetime:
    """The first bucket start at or after ``since``: the rollup answers for every row from
    there on, the raw rows for [since, edge)."""
    bucket = rollup_bucket(since)
    return bucket if bucket == since else bucket + ROLLUP_BUCKET


def rollup(records: Iterable[ProxyLogRecord]) -> list[RollupRow]:
    """The decided rows counted by bucket, upstream, tool, decision and rule, in key order
    (the order a store takes their row locks in, so two writers never deadlock)."""
    groups: dict[tuple[datetime, str, str, str, str], tuple[int, datetime]] = {}
    for record in records:
        if not record.decision:
            continue
        key = (rollup_bucket(record.at), record.upstream, record.tool, record.decision, record.rule)
        count, last = groups.get(key, (0, record.at))
        groups[key] = (count + 1, max(last, record.at))
    return [RollupRow(*key, count, last) for key, (count, last) in sorted(groups.items())]


def summarize_rollup(rows: Iterable[RollupRow], edge: datetime) -> list[SummaryRow]:
    """The summary of the rollup's buckets at or after ``edge`` (a bucket start)."""
    return merge_summaries(
        SummaryRow(r.upstream, r.tool, r.decision, r.rule, r.count, r.last_seen)
        for r in rows
        if r.bucket >= edge
    )


def merge_summaries(*parts: Iterable[SummaryRow]) -> list[SummaryRow]:
    """Summaries of disjoint sets of rows as one: counts added, the latest ``last_seen``
    kept, in :func:`ordered` order."""
    groups: dict[tuple[str, str, str, str], tuple[int, datetime]] = {}
    for part in parts:
        for row in part:
            key = (row.upstream, row.tool, row.decision, row.rule)
            count, last = groups.get(key, (0, row.last_seen))
            groups[key] = (count + row.count, max(last, row.last_seen))
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
        "pin": record.pin,
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
