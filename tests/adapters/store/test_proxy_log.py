"""The proxy log table on SQLite and PostgreSQL: filters, paging, the summary (checked
against the pure one over a generated log), retention, and what a row may hold."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import get_args

import pytest

from mcpwall.adapters.store import SQLStore, open_store
from mcpwall.adapters.store.proxy_log import SQLProxyLog, _sqlite_time
from mcpwall.core import jsonpointer
from mcpwall.core.errors import InvalidValue
from mcpwall.core.logquery import (
    CATEGORIES,
    LogFilter,
    count_outcomes,
    rollup,
    summarize,
    timeline,
    top_denied,
)
from mcpwall.core.policy.compile import MAX_NAME_LENGTH
from mcpwall.core.proxylog import MAX_RULE_BYTES, Outcome, ProxyLogRecord, build_record
from mcpwall.ports.clock import FakeClock
from tests.adapters.proxylog.records import START, generated, record


@pytest.fixture
def sql_store(database_url: str, tmp_path: Path) -> Iterator[SQLStore]:
    store = open_store(database_url, tmp_path / "home", environ={})
    yield store
    store.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START + timedelta(days=14))


@pytest.fixture
def table(sql_store: SQLStore, clock: FakeClock) -> SQLProxyLog:
    return SQLProxyLog(sql_store.engine, sql_store.url, clock)


def test_rows_read_back_exactly_as_written(table: SQLProxyLog) -> None:
    made = [record(n) for n in range(5)]
    table.write_batch(made)
    rows = table.read(LogFilter())
    assert [row.record for row in rows] == made[::-1]  # newest first
    assert [row.id for row in rows] == sorted((row.id for row in rows), reverse=True)


def test_filters_and_paging(table: SQLProxyLog) -> None:
    log = generated(400)
    table.write_batch(log)
    since = START + timedelta(days=7)
    for query in (
        LogFilter(since=since, limit=1000),
        LogFilter(decision="would_deny", limit=1000),
        LogFilter(tool="apply_manifest", upstream="github", limit=1000),
        LogFilter(grant="ci-runner", decision="deny", limit=1000),
        LogFilter(grant="grt_0000000000000002", limit=1000),
    ):
        expected = [r for r in log if query.matches(0, r)]
        found = [row.record for row in table.read(query)]
        assert found == expected[::-1], query
    first = table.read(LogFilter(limit=50))
    second = table.read(LogFilter(limit=50, before=first[-1].id))
    assert [r.record for r in first + second] == log[::-1][:100]
    after = table.read(LogFilter(after=first[1].id, limit=10))
    assert [r.id for r in after] == [first[0].id]


def test_the_summary_is_the_pure_summary(table: SQLProxyLog) -> None:
    log = generated(3000)
    for start in range(0, len(log), 500):
        table.write_batch(log[start : start + 500])
    since = START + timedelta(days=7)
    summary = table.summary(since)
    assert summary == summarize(log, since)
    assert sum(row.count for row in summary) == sum(
        1 for r in log if r.at >= since and r.method == "tools/call"
    )
    assert [row.decision for row in summary[:1]] == ["deny"]


def varied(count: int) -> list[ProxyLogRecord]:
    """The generated log, with every outcome and a row on each second's edge."""
    log = generated(count)
    outcomes: list[Outcome] = list(get_args(Outcome))
    made = [
        r._replace(outcome=outcomes[n % len(outcomes)]) if n % 3 == 0 else r
        for n, r in enumerate(log)
    ]
    edge = START + timedelta(days=7)
    made += [record(0, at=edge - timedelta(microseconds=1)), record(0, at=edge)]
    # A transport's refusal of another method has a decision too, but decides no call.
    made.append(record(0, at=edge)._replace(method="initialize", rule="(no binding)"))
    return sorted(made, key=lambda r: r.at)


def test_the_timeline_is_the_pure_timeline(table: SQLProxyLog) -> None:
    log = varied(3000)
    table.write_batch(log)
    for since, until, bucket in (
        (START, START + timedelta(days=14), 86400),
        (START + timedelta(days=6), START + timedelta(days=7), 3600),
        (START + timedelta(days=6, hours=23), START + timedelta(days=7, hours=1), 60),
    ):
        found = table.timeline(since, until, bucket)
        assert found == timeline(log, since, until, bucket), (since, until, bucket)
    total = sum(row.count for row in table.timeline(START, START + timedelta(days=14), 3600))
    assert total == sum(1 for r in log if r.decision and r.method == "tools/call")
    kinds = {row.category for row in table.timeline(START, START + timedelta(days=14), 86400)}
    assert kinds == set(CATEGORIES)


def test_the_most_refused_tools_and_grants_are_the_pure_ones(table: SQLProxyLog) -> None:
    log = generated(2000)
    table.write_batch(log)
    since = START + timedelta(days=3)
    for field in ("tool", "grant_label"):
        assert table.top_denied(since, field, 3) == top_denied(log, since, field, 3)
    with pytest.raises(InvalidValue, match="field"):
        table.top_denied(since, "message", 3)


def test_outcomes_by_upstream_are_the_pure_counts(table: SQLProxyLog) -> None:
    log = varied(1500)
    table.write_batch(log)
    since = START + timedelta(days=7)
    counted = table.outcomes(since)
    assert counted == count_outcomes(log, since)
    assert sum(counted.values()) == sum(1 for r in log if r.at >= since)
    assert {outcome for _, outcome in counted} >= {"ok", "timeout", "unreachable"}


def test_the_new_filters_agree_with_the_pure_ones(table: SQLProxyLog) -> None:
    log = varied(600)
    table.write_batch(log)
    for query in (
        LogFilter(until=START + timedelta(days=7), limit=1000),
        LogFilter(since=START + timedelta(days=2), until=START + timedelta(days=3), limit=1000),
        LogFilter(rule="/all_tools/limits/0", limit=1000),
        LogFilter(outcome="timeout", limit=1000),
        LogFilter(method="tools/list", limit=1000),
    ):
        expected = [r for r in log if query.matches(0, r)]
        assert [row.record for row in table.read(query)] == expected[::-1], query


def test_retention_prunes_old_rows_while_writing(sql_store: SQLStore, clock: FakeClock) -> None:
    table = SQLProxyLog(sql_store.engine, sql_store.url, clock, retention=timedelta(days=3))
    old, recent = record(1, at=clock.now() - timedelta(days=4)), record(2, at=clock.now())
    table.write_batch([old, recent])
    assert [row.record for row in table.read(LogFilter())] == [recent]
    assert table.prune(clock.now() + timedelta(days=1)) == 1


def test_what_an_agent_names_is_kept_storable(table: SQLProxyLog) -> None:
    odd = build_record(
        at=START, request_id="r" * 5000, grant_id="grt_0000000000000000", grant_label="alice",
        upstream="k8s", method="tools/call", tool="x\x00" + "t" * 9000 + "\ud800",
        arguments={f"k{n}\x00": n for n in range(1000)}, outcome="not_forwarded",
    )  # fmt: skip
    table.write_batch([odd])
    [row] = table.read(LogFilter())
    assert row.record == odd
    assert len(odd.tool) == 256
    assert "\x00" not in odd.tool
    assert len(odd.argument_keys) == 256
    assert odd.argument_keys[-1] == "…(745 more)"


def wide(count: int, seed: int) -> str:
    """``count`` random four-byte characters: PostgreSQL would compress repeated ones into a
    small index entry, and hide what a varied name costs."""
    rng = random.Random(seed)
    return "".join(chr(rng.randrange(0x20000, 0x2A6DF)) for _ in range(count))


def test_the_longest_tool_and_rule_are_written_and_counted(table: SQLProxyLog) -> None:
    """A rule of 5,000 varied four-byte characters (some 20 kB) made PostgreSQL refuse the
    whole batch — "index row requires 20024 bytes", for the indexes on (upstream, tool,
    decision, rule) of the rows and of the rollup — while the tool, as long, was already cut
    to 256 characters. Both bounded in the record, the rows are written, read back and
    counted alike; the longest rule a policy can make is kept whole beside them."""
    policy_rule = jsonpointer.join(
        "/tools", wide(MAX_NAME_LENGTH, 1), "require", 999, "conditions", 9
    )
    made = [
        build_record(
            at=START + timedelta(minutes=n), request_id=n, grant_id="grt_0000000000000000",
            grant_label="alice", upstream="u" * 63, method="tools/call", tool=wide(5000, 2),
            arguments={"a": 1}, policy="seed", policy_version=1, decision=decision, rule=rule,
            message="m", outcome="not_forwarded" if decision == "deny" else "ok",
        )
        for n, (decision, rule) in enumerate(
            [("deny", wide(5000, 3)), ("would_deny", policy_rule), ("deny", wide(5000, 3))]
        )
    ]  # fmt: skip
    assert len(made[0].rule.encode()) <= MAX_RULE_BYTES
    assert made[1].rule == policy_rule
    table.write_batch(made)
    assert [row.record for row in table.read(LogFilter())] == made[::-1]
    assert table.rollup_rows() == rollup(made)
    assert table.summary(START) == table.raw_summary(START) == summarize(made, START)
    [first, _] = table.summary(START)
    assert (first.tool, first.rule, first.count) == (made[0].tool, made[0].rule, 2)


@pytest.mark.parametrize(
    "at",
    [
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 3, 4, 5, 6, 7, 89, tzinfo=UTC),
        datetime(2026, 1, 1, 0, 30, 0, 123456, tzinfo=timezone(timedelta(hours=2))),
    ],
)
def test_sqlite_times_are_written_as_sqlalchemy_writes_them(at: datetime) -> None:
    """Rows written by the driver and by SQLAlchemy must compare alike (UTC, six digits)."""
    assert _sqlite_time(at) == at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
