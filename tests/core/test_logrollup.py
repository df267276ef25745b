"""The proxy-log rollup's arithmetic: whole hours from the rollup plus the raw rows of the
partial hour at ``since`` are the summary of the raw rows, for any rows and any ``since``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings, strategies as st

from mcpwall.core.logquery import (
    ROLLUP_BUCKET,
    merge_summaries,
    rollup,
    rollup_bucket,
    rollup_edge,
    summarize,
    summarize_rollup,
)
from mcpwall.core.proxylog import ProxyLogRecord
from tests.adapters.proxylog.records import START, record

SPAN = timedelta(hours=30)
DECIDED = (
    ("allow", "(allowed)"),
    ("deny", "(hidden)"),
    ("deny", "/all_tools/limits/0"),
    ("would_deny", "/tools/delete_pod/deny_if/0"),
)

# Times on a hour's edge, a microsecond either side of one, and anywhere.
times = st.one_of(
    st.integers(0, 30).map(lambda h: START + h * ROLLUP_BUCKET),
    st.tuples(st.integers(0, 30), st.sampled_from((-1, 1))).map(
        lambda p: START + p[0] * ROLLUP_BUCKET + timedelta(microseconds=p[1])
    ),
    st.integers(0, int(SPAN.total_seconds() * 1e6)).map(
        lambda us: START + timedelta(microseconds=us)
    ),
)


@st.composite
def records(draw: st.DrawFn) -> ProxyLogRecord:
    decision, rule = draw(st.sampled_from(DECIDED))
    return record(
        draw(st.integers(0, 99)),
        at=draw(times),
        upstream=draw(st.sampled_from(("k8s", "db"))),
        tool=draw(st.sampled_from(("delete_pod", "list_pods"))),
        decision=decision,
        rule=rule,
        method=draw(st.sampled_from(("tools/call", "tools/call", "tools/list"))),
    )


@settings(max_examples=300)
@given(st.lists(records(), max_size=60), times)
def test_the_rollup_and_the_edge_rows_are_the_raw_summary(
    log: list[ProxyLogRecord], since: datetime
) -> None:
    edge = rollup_edge(since)
    edge_rows = [r for r in log if since <= r.at < edge]
    from_rollup = merge_summaries(summarize_rollup(rollup(log), edge), summarize(edge_rows, since))
    assert from_rollup == summarize(log, since)


@given(st.lists(records(), max_size=60))
def test_the_rollup_counts_every_decided_row_once_in_its_hour(log: list[ProxyLogRecord]) -> None:
    rows = rollup(log)
    assert sum(r.count for r in rows) == sum(1 for r in log if r.decision)
    for row in rows:
        mine = [
            r for r in log
            if rollup_bucket(r.at) == row.bucket
            and (r.upstream, r.tool, r.decision, r.rule) == (row.upstream, row.tool, row.decision, row.rule)
        ]  # fmt: skip
        assert (row.count, row.last_seen) == (len(mine), max(r.at for r in mine))
    keys = [(r.bucket, r.upstream, r.tool, r.decision, r.rule) for r in rows]
    assert keys == sorted(set(keys))  # one row per key, in key order


def test_the_edge_is_the_next_hour_unless_since_is_on_one() -> None:
    assert rollup_edge(START) == START
    assert rollup_edge(START + timedelta(microseconds=1)) == START + ROLLUP_BUCKET
    assert rollup_edge(START - timedelta(microseconds=1)) == START
    # Whatever zone a time comes in, its bucket is a UTC hour (India is 5 h 30 ahead).
    india = timezone(timedelta(hours=5, minutes=30))
    at = datetime(2026, 1, 1, 12, 10, tzinfo=india)  # 06:40 UTC
    assert rollup_bucket(at) == datetime(2026, 1, 1, 6, tzinfo=UTC)
    assert rollup_edge(at) == datetime(2026, 1, 1, 7, tzinfo=UTC)
