"""The proxy log at 10 million rows, on SQLite and PostgreSQL (issue 16 §4; docs/performance.md
"Scale of one process").

Run with ``make bench`` (or ``.venv/bin/python bench/scale_log.py [--rows N]``). For each
backend it opens a fresh store — a SQLite file in a temporary ``MCPWALL_HOME``, and a schema of
its own in the PostgreSQL database at ``MCPWALL_BENCH_POSTGRES_URL`` (default
``postgresql://127.0.0.1:5432/test``, dropped after; skipped when it does not answer) — and
fills ``proxy_log`` with generated rows in SQL (a recursive CTE on SQLite, ``generate_series``
on PostgreSQL; the indexes dropped while loading and built again after, then the rollup
counted as migration 0008 counts it). The rows are shaped like a real month: spread evenly over
the last 30 days (the default retention), 40 grants, 5 upstreams of 20 tools each called with
a skew, 85 % ``tools/call`` and the rest listings and handshakes, each tool's decisions from
its kind of rules (plain, a condition, a shadow ``deny_if``, a limit, hidden).

Then, in one run, each figure beside its baseline:

* ``logs summary`` (``--since 7d`` and ``--since 30d``), the query in process: from the rollup
  (what the command does) against counting the raw rows (``raw_summary``, what it did before
  0008), interleaved, median of ``RUNS``; both answers are checked equal;
* the whole ``mcpwall logs summary --since 7d`` command (interpreter start included), on the
  10M-row store against the same command on an empty store;
* writing a 1,000-row batch (with its rollup upkeep) into the 10M-row table against into an
  empty one, alternating, median of ``BATCHES``.

Nothing is asserted about time; the figures are printed as markdown tables with the machine and
its load average.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import psycopg
from sqlalchemy import Connection, make_url, text

from mcpwall.adapters.store import SQLStore, open_store
from mcpwall.adapters.store.proxy_log import SQLProxyLog
from mcpwall.adapters.store.schema import proxy_log
from mcpwall.core.proxylog import ProxyLogRecord, build_record
from mcpwall.ports.clock import SystemClock

MCPWALL = str(Path(sys.executable).with_name("mcpwall"))
POSTGRES_URL = os.environ.get("MCPWALL_BENCH_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
ROWS = 10_000_000
SPAN = timedelta(days=30)
RUNS = 5
BATCHES = 10
BATCH_ROWS = 1000

# One row ``n`` of the generated log, in SQL both dialects speak; ``{pad2}``, ``{hex16}`` and
# ``{time}`` are the dialect's own (see ``_DIALECT``). Grants bind several upstreams; each
# upstream has 20 tools, called with a skew (low numbers most); a tool's kind (its number mod
# 4) says which rules decide it; tool 19 of each upstream is hidden.
_COLUMNS = (
    "at, request_id, grant_id, grant_label, upstream, method, tool, policy, policy_version, "
    "decision, rule, message, argument_keys, outcome, decision_ms, upstream_ms, total_ms, "
    "fail_open, pin"
)
_SHAPE = """
WITH base AS (
  SELECT n, (n * 7919) % 40 AS g, (n * 13 + (n * 7919) % 40) % 5 AS u,
         ((n * 104729) % 1000) * ((n * 104729) % 1000) / 50000 AS k,
         (n * 31) % 20 AS m, (n * 37) % 100 AS d
  FROM {source}
), named AS (
  SELECT n, g, u, k, m, d,
         CASE u WHEN 0 THEN 'k8s-prod' WHEN 1 THEN 'k8s-staging' WHEN 2 THEN 'github'
                WHEN 3 THEN 'postgres' ELSE 'slack' END AS upstream,
         CASE u WHEN 0 THEN 'pods_' WHEN 1 THEN 'deploy_' WHEN 2 THEN 'repo_'
                WHEN 3 THEN 'query_' ELSE 'post_' END || {pad2} AS tool
  FROM base
), decided AS (
  SELECT n, g, upstream, m, d, tool,
    CASE WHEN m >= 17 THEN ''
         WHEN k = 19 THEN 'deny'
         WHEN k % 4 = 1 AND d >= 85 THEN 'deny'
         WHEN k % 4 = 2 AND d >= 90 THEN 'would_deny'
         WHEN k % 4 = 3 AND d >= 93 THEN 'deny'
         ELSE 'allow' END AS decision,
    CASE WHEN m >= 17 THEN ''
         WHEN k = 19 THEN '(hidden)'
         WHEN k % 4 = 1 AND d >= 85 THEN '/tools/' || tool || '/require/0/conditions/0'
         WHEN k % 4 = 2 AND d >= 90 THEN '/tools/' || tool || '/deny_if/0'
         WHEN k % 4 = 3 AND d >= 93 THEN '/tools/' || tool || '/limits/0'
         ELSE '(allowed)' END AS rule
  FROM named
)
SELECT {time} AS at, 'r' || n, 'grt_' || {hex16}, 'agent-' || g, upstream,
  CASE WHEN m < 17 THEN 'tools/call' WHEN m < 19 THEN 'tools/list' ELSE 'initialize' END,
  CASE WHEN m < 17 THEN tool ELSE '' END,
  CASE WHEN m < 17 THEN 'policy-' || upstream ELSE '' END, 3, decision, rule,
  CASE WHEN decision = 'allow' OR decision = '' THEN '' ELSE 'refused by ' || rule END,
  {keys},
  CASE WHEN decision = 'deny' THEN 'not_forwarded' WHEN d = 7 THEN 'tool_error'
       WHEN d = 8 THEN 'timeout' ELSE 'ok' END,
  0.002, CASE WHEN decision = 'deny' THEN 0.0 ELSE 1.0 + d / 10.0 END, 1.2 + d / 10.0,
  {false}, ''
FROM decided
"""
_KEYS = """CASE WHEN m < 17 THEN '["name","namespace"]' ELSE '[]' END"""
_DIALECT = {
    "sqlite": {
        "source": "(WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s "
        "WHERE n + 1 < :rows) SELECT n FROM s)",
        "pad2": "printf('%02d', k)",
        "hex16": "printf('%016x', g)",
        "time": "strftime('%Y-%m-%d %H:%M:%S', (:start + n * :step) / 1000000, 'unixepoch') "
        "|| '.' || printf('%06d', (:start + n * :step) % 1000000)",
        "false": "0",
        "keys": _KEYS,
    },
    "postgresql": {
        "source": "generate_series(0::bigint, :rows - 1) AS s(n)",
        "pad2": "lpad(k::text, 2, '0')",
        "hex16": "lpad(to_hex(g), 16, '0')",
        "time": "timestamptz 'epoch' + (:start + n * :step) * interval '1 microsecond'",
        "false": "false",
        "keys": f"CAST({_KEYS} AS json)",
    },
}


def generate(store: SQLStore, rows: int, now: datetime) -> tuple[float, float]:
    """Fill the store's proxy log with ``rows`` generated rows, then count its rollup as
    migration 0008 does; the seconds each took."""
    started = time.perf_counter()
    start_us = int((now - SPAN).timestamp() * 1e6)
    step_us = int(SPAN.total_seconds() * 1e6) // rows
    with store.engine.connect() as connection:
        dialect = connection.dialect.name
        with connection.begin():
            if dialect == "sqlite":
                connection.exec_driver_sql("PRAGMA cache_size = -200000")  # 200 MB while loading
            for index in proxy_log.indexes:
                index.drop(connection)
            shape = _SHAPE.format(**_DIALECT[dialect])
            insert = f"INSERT INTO proxy_log ({_COLUMNS}) {shape}"
            connection.execute(text(insert), {"rows": rows, "start": start_us, "step": step_us})
            for index in proxy_log.indexes:
                index.create(connection)
        _analyze(connection)
    loaded = time.perf_counter()
    SQLProxyLog(store.engine, store.url, SystemClock()).recount_rollup()
    counted = time.perf_counter()
    with store.engine.connect() as connection:
        _analyze(connection)
    return loaded - started, counted - loaded


def _analyze(connection: Connection) -> None:
    connection.exec_driver_sql("ANALYZE")
    connection.commit()


def timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return (time.perf_counter() - started) * 1000


def interleaved(first: Callable[[], object], second: Callable[[], object]) -> tuple[float, float]:
    """Medians (ms) of ``RUNS`` runs of each, alternating which goes first."""
    a: list[float] = []
    b: list[float] = []
    for run in range(RUNS):
        if run % 2:
            b.append(timed(second))
            a.append(timed(first))
        else:
            a.append(timed(first))
            b.append(timed(second))
    return statistics.median(a), statistics.median(b)


def batch(now: datetime, offset: int) -> list[ProxyLogRecord]:
    return [
        build_record(
            at=now + timedelta(microseconds=offset * BATCH_ROWS + i),
            request_id=i,
            grant_id="grt_0000000000000001",
            grant_label="agent-1",
            upstream="k8s-prod",
            method="tools/call",
            tool=f"pods_{i % 20:02d}",
            arguments={"name": 1, "namespace": 2},
            policy="policy-k8s-prod",
            policy_version=3,
            decision="allow" if i % 10 else "deny",
            rule="(allowed)" if i % 10 else "(hidden)",
            outcome="ok",
            decision_ms=0.002,
            upstream_ms=1.0,
            total_ms=1.2,
        )
        for i in range(BATCH_ROWS)
    ]


def command_ms(env: dict[str, str]) -> float:
    """Wall time of ``mcpwall logs summary --since 7d`` (median of ``RUNS``)."""
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run(
            [MCPWALL, "logs", "summary", "--since", "7d"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure(
    name: str,
    full: SQLStore,
    empty: SQLStore,
    env: dict[str, str],
    empty_env: dict[str, str],
    rows: int,
) -> list[str]:
    """The figures of one backend, as markdown table rows."""
    now = datetime.now(UTC)
    loaded, counted = generate(full, rows, now)
    table = SQLProxyLog(full.engine, full.url, SystemClock())
    lines = [
        f"| {name} | generating {rows:,} rows in SQL, indexes included | "
        f"{loaded:.0f} s ({rows / loaded:,.0f} rows/s) | | |",
        f"| {name} | counting the rollup from them (what migration 0008 does) | "
        f"{counted:.1f} s | | |",
    ]
    rollup_rows = len(table.rollup_rows())
    for days in (7, 30):
        since = datetime.now(UTC) - timedelta(days=days)
        if table.summary(since) != table.raw_summary(since):
            sys.exit(f"{name}: the summary from the rollup differs from the raw one ({days}d)")
        counted = sum(row.count for row in table.summary(since))
        fast, slow = interleaved(partial(table.summary, since), partial(table.raw_summary, since))
        lines.append(
            f"| {name} | `logs summary --since {days}d` query ({counted:,} decided calls; "
            f"rollup {rollup_rows:,} rows) | {fast:.1f} ms | raw rows: {slow:.1f} ms | "
            f"{slow / fast:.1f}× faster |"
        )
    whole, bare = command_ms(env), command_ms(empty_env)
    lines.append(
        f"| {name} | the whole `mcpwall logs summary --since 7d` command | "
        f"{whole:.0f} ms | empty log: {bare:.0f} ms | {whole / bare:.2f}× |"
    )
    big, small = [], []
    fresh = SQLProxyLog(empty.engine, empty.url, SystemClock())
    for n in range(BATCHES):
        big.append(timed(partial(table.write_batch, batch(now, n))))
        small.append(timed(partial(fresh.write_batch, batch(now, n))))
    b, s = statistics.median(big), statistics.median(small)
    lines.append(
        f"| {name} | writing a batch of {BATCH_ROWS:,} rows (rollup upkeep included) "
        f"into {rows:,} rows | {b:.1f} ms | into an empty log: {s:.1f} ms | "
        f"{b / s:.2f}× |"
    )
    return lines


@contextmanager
def sqlite_stores() -> Iterator[tuple[SQLStore, SQLStore, dict[str, str], dict[str, str]]]:
    with tempfile.TemporaryDirectory(prefix="mcpwall-bench-scale-") as scratch:
        homes = [Path(scratch) / "full", Path(scratch) / "empty"]
        stores = [open_store(None, home, environ={}) for home in homes]
        envs = [_env(MCPWALL_HOME=str(home)) for home in homes]
        try:
            yield stores[0], stores[1], envs[0], envs[1]
        finally:
            for store in stores:
                store.close()


@contextmanager
def postgresql_stores() -> Iterator[tuple[SQLStore, SQLStore, dict[str, str], dict[str, str]]]:
    with (
        tempfile.TemporaryDirectory(prefix="mcpwall-bench-scale-") as scratch,
        fresh_schema() as full_url,
        fresh_schema() as empty_url,
    ):
        stores = [open_store(url, Path(scratch), environ={}) for url in (full_url, empty_url)]
        envs = [_env(MCPWALL_HOME=scratch, MCPWALL_DATABASE_URL=u) for u in (full_url, empty_url)]
        try:
            yield stores[0], stores[1], envs[0], envs[1]
        finally:
            for store in stores:
                store.close()


@contextmanager
def fresh_schema() -> Iterator[str]:
    """A URL whose tables live in a schema of their own, dropped after."""
    schema = f"bench_scale_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _env(**values: str) -> dict[str, str]:
    env = {**os.environ, **values}
    if "MCPWALL_DATABASE_URL" not in values:
        env.pop("MCPWALL_DATABASE_URL", None)
    return env


def postgres_answers() -> bool:
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=5):
            return True
    except psycopg.Error as error:
        print(f"PostgreSQL skipped: {POSTGRES_URL} does not answer ({error})")
        return False


def machine() -> str:
    model = "unknown CPU"
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{model}, {os.cpu_count()} CPUs; Python {platform.python_version()}; {load()}"


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], action="append")
    options = parser.parse_args()
    backends = options.backend or ["sqlite", "postgresql"]
    print(f"## The proxy log at {options.rows:,} rows\n\nmachine: {machine()}\n")
    lines = ["| store | what | measured | baseline, same run | ratio |", "|---|---|---|---|---|"]
    if "sqlite" in backends:
        with sqlite_stores() as stores:
            lines += measure("SQLite", *stores, options.rows)
    if "postgresql" in backends and postgres_answers():
        with postgresql_stores() as stores:
            lines += measure("PostgreSQL", *stores, options.rows)
    print("\n".join(lines))
    print(f"\nat the end: {load()}")


if __name__ == "__main__":
    main()
