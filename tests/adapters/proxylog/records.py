"""Proxy-log records made up for tests: varied, deterministic, with no argument values."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from mcpwall.core.proxylog import ProxyLogRecord, build_record

START = datetime(2026, 1, 1, tzinfo=UTC)
UPSTREAMS = ("k8s", "github", "db")
TOOLS = ("delete_pod", "get_pod_logs", "apply_manifest", "list_pods")
RULES = (
    ("allow", "(allowed)"),
    ("deny", "(hidden)"),
    ("deny", "(default deny)"),
    ("deny", "/tools/delete_pod/require/0/conditions/0"),
    ("would_deny", "/tools/delete_pod/deny_if/0"),
    ("deny", "/all_tools/limits/0"),
)


def record(
    n: int = 0,
    *,
    at: datetime | None = None,
    upstream: str = "k8s",
    tool: str = "delete_pod",
    decision: str = "deny",
    rule: str = "(hidden)",
    grant: str = "alice",
    method: str = "tools/call",
) -> ProxyLogRecord:
    return build_record(
        at=at or START + timedelta(seconds=n),
        request_id=n,
        grant_id=f"grt_{n % 4:016x}",
        grant_label=grant,
        upstream=upstream,
        method=method,
        tool=tool if method == "tools/call" else "",
        arguments={"namespace": "x", "name": "y"} if method == "tools/call" else None,
        policy="seed" if method == "tools/call" else "",
        policy_version=1,
        decision=decision if method == "tools/call" else "",
        rule=rule if method == "tools/call" else "",
        message="m" if decision != "allow" else "",
        outcome="not_forwarded" if decision == "deny" else "ok",
        decision_ms=0.002,
        upstream_ms=1.5 if decision != "deny" else 0.0,
        total_ms=1.6,
    )


def generated(
    count: int, *, seed: int = 6, span: timedelta = timedelta(days=14)
) -> list[ProxyLogRecord]:
    """``count`` records spread over ``span`` from :data:`START`, in time order."""
    rng = random.Random(seed)
    offsets = sorted(rng.random() * span.total_seconds() for _ in range(count))
    made = []
    for n, offset in enumerate(offsets):
        decision, rule = rng.choice(RULES)
        made.append(
            record(
                n,
                at=START + timedelta(seconds=offset),
                upstream=rng.choice(UPSTREAMS),
                tool=rng.choice(TOOLS),
                decision=decision,
                rule=rule,
                grant=rng.choice(("alice", "ci-runner")),
                method="tools/call" if rng.random() < 0.9 else "tools/list",
            )
        )
    return made
