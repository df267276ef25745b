"""The proxy log's figures (README "Proxy log"): write throughput, ``logs summary`` over a
million rows, and how many rows a SIGKILL loses.

Run with ``make bench`` (or ``.venv/bin/python bench/proxylog.py``). Everything runs on
SQLite in a temporary ``MCPWALL_HOME``, on loopback.

1. Write throughput: records through the whole path (``BatchingSink.write`` → batches →
   one transaction each on SQLite), and the table alone (``write_batch`` of 1,000 rows).
2. ``logs summary --since 7d`` over 1,000,000 rows written in the last 7 days (goal
   ≤ 500 ms): the query in process (median of 5) and the command end to end.
3. SIGKILL: ``mcpwall serve`` answers refused calls from 32 concurrent agents; after 3 s it is
   killed with SIGKILL. Every answered request whose row is missing is lost; the figure is how
   many, and how long before the kill the oldest of them was answered.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from mcpwall.adapters.proxylog.batching import INTERVAL_SECONDS, BatchingSink
from mcpwall.adapters.store import open_store
from mcpwall.adapters.store.proxy_log import SQLProxyLog
from mcpwall.core.logquery import LogFilter, StoredRecord
from mcpwall.core.proxylog import ProxyLogRecord, build_record
from mcpwall.ports.clock import SystemClock

MCPWALL = str(Path(sys.executable).with_name("mcpwall"))
SUMMARY_ROWS = 1_000_000
THROUGHPUT_ROWS = 200_000
GOAL_MS = 500.0
TOOLS = [f"tool_{i}" for i in range(20)]
RULES = [
    ("allow", "(allowed)"),
    ("deny", "(hidden)"),
    ("deny", "(default deny)"),
    ("deny", "/tools/delete_pod/require/0/conditions/0"),
    ("would_deny", "/tools/delete_pod/deny_if/0"),
    ("deny", "/all_tools/limits/0"),
]


def made_up(count: int, now: datetime) -> list[ProxyLogRecord]:
    rng = random.Random(6)
    span = timedelta(days=7).total_seconds() - 60
    made = []
    for n in range(count):
        decision, rule = rng.choice(RULES)
        made.append(
            build_record(
                at=now - timedelta(seconds=span * (1 - n / count)), request_id=n,
                grant_id="grt_0123456789abcdef", grant_label=rng.choice(["alice", "ci-runner"]),
                upstream=rng.choice(["k8s", "github", "db"]), method="tools/call",
                tool=rng.choice(TOOLS), arguments={"namespace": 1, "name": 2}, policy="seed",
                policy_version=1, decision=decision, rule=rule, message="m",
                outcome="not_forwarded", decision_ms=0.002, total_ms=0.05,
            )
        )  # fmt: skip
    return made


def throughput(home: Path) -> None:
    store = open_store(None, home, environ={})
    table = SQLProxyLog(store.engine, store.url, SystemClock())
    records = made_up(THROUGHPUT_ROWS, datetime.now(UTC))

    async def through_the_sink() -> float:
        sink = BatchingSink([table])
        start = time.perf_counter()
        for record in records:
            await sink.write(record)
        await sink.aclose()
        return time.perf_counter() - start

    elapsed = asyncio.run(through_the_sink())
    print(f"write, through the sink: {THROUGHPUT_ROWS / elapsed:,.0f} records/s "
          f"({THROUGHPUT_ROWS:,} records, queued, batched, committed)")  # fmt: skip
    start = time.perf_counter()
    for first in range(0, THROUGHPUT_ROWS, 1000):
        table.write_batch(records[first : first + 1000])
    elapsed = time.perf_counter() - start
    print(f"write, table alone:      {THROUGHPUT_ROWS / elapsed:,.0f} rows/s (1,000 a transaction)")
    store.close()


def summary(home: Path) -> None:
    store = open_store(None, home, environ={})
    table = SQLProxyLog(store.engine, store.url, SystemClock())
    now = datetime.now(UTC)
    records = made_up(SUMMARY_ROWS, now)
    for first in range(0, SUMMARY_ROWS, 10_000):
        table.write_batch(records[first : first + 10_000])
    since = now - timedelta(days=7)
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        rows = table.summary(since)
        samples.append((time.perf_counter() - start) * 1000)
    median = statistics.median(samples)
    verdict = "meets" if median <= GOAL_MS else "MISSES"
    print(f"logs summary --since 7d over {SUMMARY_ROWS:,} rows: query {median:.0f} ms median "
          f"({len(rows)} groups; goal ≤ {GOAL_MS:.0f} ms: {verdict})")  # fmt: skip
    store.close()
    env = {**os.environ, "MCPWALL_HOME": str(home)}
    env.pop("MCPWALL_DATABASE_URL", None)
    start = time.perf_counter()
    subprocess.run([MCPWALL, "logs", "summary", "--since", "7d"], env=env, check=True,
                   capture_output=True)  # fmt: skip
    print(f"  the command end to end (interpreter start included): "
          f"{(time.perf_counter() - start) * 1000:.0f} ms")  # fmt: skip


def sigkill(home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCPWALL_")}
    env["MCPWALL_HOME"] = str(home)
    config = home / "mcpwall.json"
    home.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps({
        "upstreams": {"k8s": {"command": ["true"]}},
        "policies": {"seed": {"version": "1", "default": "deny"}},
        "grants": [{"label": "agent", "bind": {"k8s": "seed"}}],
    }))  # fmt: skip
    applied = subprocess.run([MCPWALL, "apply", "-f", str(config)], env=env, check=True,
                             capture_output=True, text=True).stdout  # fmt: skip
    token = next(line.split()[-1] for line in applied.splitlines() if line.startswith("token"))
    port = 18700 + os.getpid() % 1000
    server = subprocess.Popen(
        [MCPWALL, "serve", "--port", str(port), "--admin-port", str(port + 1)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    answered, killed_at = asyncio.run(_drive(port, token, server))
    server.wait()
    store = open_store(None, home, environ={})
    table = SQLProxyLog(store.engine, store.url, SystemClock())
    logged = {row.record.request_id for row in _all_rows(table)}
    store.close()
    lost = [(rid, at) for rid, at in answered if rid not in logged]
    window = max(0.0, (killed_at - min(at for _, at in lost)) * 1000) if lost else 0.0
    print(f"SIGKILL under load: {len(lost)} of {len(answered):,} answered requests had no row, "
          f"all answered in the last {window:.0f} ms before the kill "
          f"(batch interval {INTERVAL_SECONDS * 1000:.0f} ms)")  # fmt: skip


async def _drive(
    port: int, token: str, server: subprocess.Popen[bytes]
) -> tuple[list[tuple[str, float]], float]:
    url = f"http://127.0.0.1:{port}/mcp/k8s"
    headers = {"authorization": f"Bearer {token}", "mcp-protocol-version": "2026-07-28",
               "mcp-method": "tools/call", "mcp-name": "delete_pod"}  # fmt: skip
    envelope = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {}}  # fmt: skip
    answered: list[tuple[str, float]] = []
    async with httpx.AsyncClient(timeout=5) as http:
        deadline = time.monotonic() + 30
        while True:  # until it listens (bounded)
            try:
                await http.get(f"http://127.0.0.1:{port}/healthz")
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)
        stop_at = time.monotonic() + 3.0

        async def agent(index: int) -> None:
            n = 0
            while time.monotonic() < stop_at:
                request_id = f"{index}-{n}"
                n += 1
                params = {"name": "delete_pod", "arguments": {}, "_meta": envelope}
                body = {
                    "jsonrpc": "2.0",
                    "id": request_id,
                    "method": "tools/call",
                    "params": params,
                }
                try:
                    response = await http.post(url, json=body, headers=headers)
                except httpx.TransportError:
                    return
                if response.status_code == 200:
                    answered.append((request_id, time.monotonic()))

        agents = [asyncio.create_task(agent(i)) for i in range(32)]
        await asyncio.sleep(3.0)
        killed_at = time.monotonic()
        server.send_signal(signal.SIGKILL)
        await asyncio.gather(*agents)
    return answered, killed_at


def _all_rows(table: SQLProxyLog) -> list[StoredRecord]:
    rows: list[StoredRecord] = []
    after = 0
    while True:
        page = table.read(LogFilter(after=after, limit=1000))
        rows += page
        if len(page) < 1000:
            return rows
        after = page[-1].id


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        throughput(root / "throughput")
        summary(root / "summary")
        sigkill(root / "sigkill")


if __name__ == "__main__":
    main()
