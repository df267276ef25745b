"""The overview: is the wall working, and what did it stop this week?

Calls over the last 24 hours (by hour) and 7 days (by day), in the overview's categories
(:data:`mcpwall.core.logquery.CATEGORIES`); the guardrails that fired this week (the data of
``mcpwall logs summary``), each linking to the log filtered on it; the most refused tools and
grants; and each upstream's calls and unanswered calls in the last 24 hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mcpwall.core.logquery import CATEGORIES, ERROR_OUTCOMES, TimelineRow
from mcpwall.dashboard.charts import Bucket, Chart, stacked_bars
from mcpwall.dashboard.logfilters import LogView
from mcpwall.dashboard.pages import Page, PageCall

WEEK = timedelta(days=7)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
TOP = 5


@dataclass(frozen=True, slots=True)
class Guardrail:
    """One rule that refused (or would have refused) calls of one tool this week."""

    upstream: str
    tool: str
    decision: str
    rule: str
    count: int
    last_seen: datetime
    link: str


@dataclass(frozen=True, slots=True)
class UpstreamHealth:
    name: str
    calls: int
    unanswered: int


def show(call: PageCall) -> Page:
    log = call.services.proxy_log
    now = call.now
    hour = now.replace(minute=0, second=0, microsecond=0)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    hourly = _buckets(
        log.timeline(hour - 23 * HOUR, hour + HOUR, 3600),
        [(hour - (23 - i) * HOUR).strftime("%H:00") for i in range(24)],
    )
    daily = _buckets(
        log.timeline(day - 6 * DAY, day + DAY, 86400),
        [(day - (6 - i) * DAY).strftime("%a %d") for i in range(7)],
    )
    week_ago = now - WEEK
    context: dict[str, Any] = {
        "categories": CATEGORIES,
        "totals": _totals(hourly),
        "week_totals": _totals(daily),
        "hourly": hourly,
        "daily": daily,
        "hourly_chart": _chart("Calls in the last 24 hours, by hour", hourly, every=3),
        "daily_chart": _chart("Calls in the last 7 days, by day", daily, every=1),
        "guardrails": _guardrails(call, week_ago),
        "top_tools": log.top_denied(week_ago, "tool", TOP),
        "top_grants": log.top_denied(week_ago, "grant_label", TOP),
        "upstreams": _health(call, now - DAY),
    }
    return Page("overview.html", context)


def _buckets(rows: list[TimelineRow], labels: list[str]) -> list[Bucket]:
    counts: list[dict[str, int]] = [{} for _ in labels]
    for row in rows:
        counts[row.index][row.category] = row.count
    return [Bucket(label, count) for label, count in zip(labels, counts, strict=True)]


def _totals(buckets: list[Bucket]) -> dict[str, int]:
    return {kind: sum(bucket.counts.get(kind, 0) for bucket in buckets) for kind in CATEGORIES}


def _chart(title: str, buckets: list[Bucket], *, every: int) -> Chart:
    return stacked_bars(title, buckets, CATEGORIES, every_label=every)


def _guardrails(call: PageCall, since: datetime) -> list[Guardrail]:
    """The summary's refusals and shadow refusals, each with a link to its rows."""
    found = []
    for row in call.services.proxy_log.summary(since):
        if row.decision not in ("deny", "would_deny"):
            continue
        view = LogView(
            since="7d", upstream=row.upstream, tool=row.tool, decision=row.decision, rule=row.rule
        )
        found.append(
            Guardrail(
                row.upstream,
                row.tool,
                row.decision,
                row.rule,
                row.count,
                row.last_seen,
                f"/logs?{view.query()}",
            )
        )
    return found


def _health(call: PageCall, since: datetime) -> list[UpstreamHealth]:
    """Each upstream's decided calls since ``since``, and how many its upstream left
    unanswered (a protocol error, unreachable, a timeout)."""
    log = call.services.proxy_log
    calls: dict[str, int] = {}
    for row in log.summary(since):
        calls[row.upstream] = calls.get(row.upstream, 0) + row.count
    outcomes = log.outcomes(since)
    return [
        UpstreamHealth(
            name, calls.get(name, 0), sum(outcomes.get((name, o), 0) for o in ERROR_OUTCOMES)
        )
        for name in call.control.upstream_names()
    ]
