"""``mcpwall logs`` and ``mcpwall logs summary`` over a store with a generated proxy log."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mcpwall.adapters.store import open_store
from mcpwall.adapters.store.proxy_log import SQLProxyLog
from mcpwall.core.logquery import summarize, summary_json
from mcpwall.core.proxylog import ProxyLogRecord
from mcpwall.ports.clock import SystemClock
from tests.adapters.proxylog.records import record
from tests.cli.conftest import Run


def write(home: Path, records: list[ProxyLogRecord]) -> None:
    store = open_store(None, home, environ={})
    try:
        SQLProxyLog(store.engine, store.url, SystemClock()).write_batch(records)
    finally:
        store.close()


def recent(days_ago: float, n: int, **fields: str) -> ProxyLogRecord:
    return record(n, at=datetime.now(UTC) - timedelta(days=days_ago), **fields)


@pytest.fixture
def logged(home: Path) -> list[ProxyLogRecord]:
    made = [
        recent(10, 1, tool="delete_pod", rule="/tools/delete_pod/require/0/conditions/0"),
        recent(3, 2, upstream="k8s-prod", tool="delete_pod",
               rule="/tools/delete_pod/require/0/conditions/0"),
        recent(2, 3, upstream="k8s-prod", tool="list_pods", decision="allow", rule="(allowed)"),
        recent(1, 4, upstream="k8s-prod", tool="delete_namespace", grant="ci-runner"),
        recent(0.5, 5, tool="exec_pod", decision="would_deny", rule="/tools/exec_pod/deny_if/0"),
    ]  # fmt: skip
    write(home, made)
    return made


def lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines()]


def test_what_the_agent_tried_in_production_this_week(
    mcpwall: Run, logged: list[ProxyLogRecord]
) -> None:
    done = mcpwall("logs", "--since", "7d", "--upstream", "k8s-prod")
    assert done.exit_code == 0, done.output
    shown = done.output.splitlines()
    assert "decision" in shown[0]
    assert "rule" in shown[0]
    assert [line.split()[4] for line in shown[1:]] == [
        "delete_pod",
        "list_pods",
        "delete_namespace",
    ]


def test_filters_and_json_lines(mcpwall: Run, logged: list[ProxyLogRecord]) -> None:
    done = mcpwall("logs", "--json", "--decision", "deny", "--since", "7d")
    assert [r["request_id"] for r in lines(done.output)] == ["2", "4"]  # oldest of the shown first
    done = mcpwall("logs", "--json", "--grant", "ci-runner")
    assert [r["tool"] for r in lines(done.output)] == ["delete_namespace"]
    done = mcpwall("logs", "--json", "--tool", "exec_pod")
    [row] = lines(done.output)
    assert row["decision"] == "would_deny"
    assert row["argument_keys"] == ["name", "namespace"]
    assert set(row) >= {"id", "at", "grant_id", "policy_version", "outcome", "total_ms"}
    assert lines(mcpwall("logs", "--json", "--limit", "2").output)[0]["request_id"] == "4"


def test_the_summary_counts_what_fired(
    mcpwall: Run, logged: list[ProxyLogRecord], home: Path
) -> None:
    done = mcpwall("logs", "summary", "--json")
    since = datetime.now(UTC) - timedelta(days=7)
    expected = summarize(logged, since)
    assert [
        (r["upstream"], r["tool"], r["decision"], r["rule"], r["count"]) for r in lines(done.output)
    ] == [(r.upstream, r.tool, r.decision, r.rule, r.count) for r in expected]
    table = mcpwall("logs", "summary").output.splitlines()
    assert table[0].split()[:5] == ["upstream", "tool", "decision", "rule", "count"]
    assert table[1].split()[:3] == ["k8s-prod", "delete_namespace", "deny"]  # denials first
    assert "would_deny" in table[-2]
    assert "allow" in table[-1]


def test_the_summary_read_from_the_rollup_prints_what_the_raw_rows_say(
    mcpwall: Run, home: Path
) -> None:
    # Rows in the partial hour after --since (read raw) and in whole hours (the rollup).
    made = [
        recent(days, n, tool=tool, decision=decision, rule=rule)
        for n, (days, tool, decision, rule) in enumerate(
            [
                (6.99, "delete_pod", "deny", "(hidden)"),
                (6.98, "delete_pod", "deny", "(hidden)"),
                (3, "delete_pod", "deny", "(hidden)"),
                (6.995, "list_pods", "allow", "(allowed)"),
                (0.01, "list_pods", "allow", "(allowed)"),
                (8, "list_pods", "allow", "(allowed)"),
            ]
        )
    ]
    write(home, made)
    since = datetime.now(UTC) - timedelta(days=7)
    done = mcpwall("logs", "summary", "--json")
    assert lines(done.output) == [summary_json(row) for row in summarize(made, since)]
    assert [row["count"] for row in lines(done.output)] == [3, 2]


def test_an_empty_log_and_bad_flags(mcpwall: Run) -> None:
    assert "no proxy-log rows" in mcpwall("logs").output
    assert "no decided calls" in mcpwall("logs", "summary", "--since", "1h").output
    done = mcpwall("logs", "--since", "7 days")
    assert done.exit_code == 2
    assert "duration" in done.output


def test_follow_prints_new_rows_as_they_arrive(home: Path, logged: list[ProxyLogRecord]) -> None:
    env = {**os.environ, "MCPWALL_HOME": str(home)}
    env.pop("MCPWALL_DATABASE_URL", None)
    command = [
        sys.executable,
        "-m",
        "mcpwall",
        "logs",
        "--follow",
        "--json",
        "--tool",
        "delete_pod",
    ]
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) as follower:
        watchdog = threading.Timer(30, follower.kill)  # a hung follow ends readline() with ""
        watchdog.start()
        try:
            assert follower.stdout is not None
            out = follower.stdout
            first = [json.loads(out.readline()) for _ in range(2)]
            assert [r["request_id"] for r in first] == ["1", "2"]
            write(home, [recent(0, 6, tool="list_pods"), recent(0, 7, tool="delete_pod")])
            row = json.loads(out.readline())  # blocks until the poll finds it
            assert row["request_id"] == "7"
        finally:
            watchdog.cancel()
            follower.send_signal(signal.SIGINT)
            follower.communicate(timeout=30)
        assert follower.returncode == 0
