"""mcpwall side by side with the Python peer ``mcp-policy-gateway`` and a bare ASGI echo.

Run with ``make bench`` (or ``.venv/bin/python bench/side_by_side.py``). One run:

* installs the peer, ``mcp-policy-gateway==0.1.0`` from PyPI, into its own virtualenv
  (``bench/.venvs/peer``, git-ignored; created when missing), exactly as published: its
  dependencies bring uvicorn without httptools or uvloop, so it serves with h11 on asyncio;
* starts the project's fixture MCP server (``tests/fixtures/fixture_server.py``, Streamable
  HTTP) and, in front of it, ``mcpwall serve`` and the peer (``run --transport http``), each
  with the seed's policy (``tests/core/policy/cases/seed.policy.json``) in two variants: with
  its ``delete_pod`` limit (max raised so it never refuses) and without it. mcpwall gets one
  grant per variant, the peer one token per variant, both with the same bearer token. The
  peer's policy is translated from the seed by :func:`peer_policy` (see its docstring and
  docs/performance.md for where the two languages differ);
* starts a bare ASGI echo on uvicorn (one worker, httptools, uvloop) that answers every POST
  with a fixed JSON-RPC denial: the machine's ceiling for the deny path.

Then, with the same method for all:

* **Deny-path throughput.** ``wrk -t1 -c16`` sends the stateless 2026-07-28 ``tools/call`` of
  ``bench/gateway.py`` (``delete_pod`` in ``payments-prod``, the seed's policy refuses it; the
  peer takes 2026-07-28 calls through the SDK it is built on) to each of the three, ``RUNS``
  rounds of ``SECONDS`` s each, the order rotating every round; each figure is the median of
  its runs, a ratio the median of the rounds' ratios. The servers under test run on one CPU,
  wrk and the fixture on the other. Beside it, each server's refused calls per CPU-second of
  its own process (``/proc/PID/stat``): on a machine shared with other work a server gets only
  part of its CPU, and a server with long requests loses more to time slicing than one with
  short ones, so the wall-clock ratios flatter the faster server; the CPU figures hardly move.
* **Latency added to an allowed call.** One keep-alive client calls ``delete_pod`` in
  ``staging`` (allowed; it passes the seed's limit) directly and through each gateway variant
  in rotating order, ``ROUNDS`` rounds of ``CALLS`` calls; each figure is the median of the
  per-call differences against the direct call of the same round, as in ``bench/gateway.py``;
  beside it, the CPU time its gateway process used per call.

It prints a markdown table with the figures, mcpwall's ratios to each, and whether the goals of
issue 16 are met, with the machine and its load at the start and end. Nothing here asserts a
time. With ``echo PORT`` this file is the echo server.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway import (
    DENIED,
    FIXTURE,
    SEED_POLICY,
    UPSTREAM,
    Client,
    cpus,
    ensure_wrk,
    load,
    lua_script,
    machine,
    wrk_run,
)
from processes import LOOPBACK, free_port, home_env, mcpwall, ready_url, running, wait_healthy

REPO = Path(__file__).resolve().parents[1]
PEER = "mcp-policy-gateway"
PEER_VERSION = "0.1.0"
PEER_VENV = REPO / "bench" / ".venvs" / "peer"

RUNS = 5
SECONDS = 10
ROUNDS = 10
CALLS = 200
WARMUP_CALLS = 200
NEVER_REFUSES = 1_000_000_000  # the limit's max, raised so the limited variant never refuses

ALLOWED: tuple[str, Mapping[str, object]] = (
    "delete_pod",
    {"name": "checkout-7f9c", "namespace": "staging"},
)

# Issue 16's goals, each a ratio measured in one run.
DENY_VS_PEER_GOAL = 12.0
DENY_VS_ECHO_GOAL = 0.25
ADDED_VS_PEER_GOAL = 5.0

ECHO_BODY = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": 1,
        "result": {"content": [{"type": "text", "text": "[POLICY DENIED] echo"}], "isError": True},
    },
    separators=(",", ":"),
).encode()

# How each server says no, to check that the deny request really is refused.
REFUSALS = {"peer": b"Denied by gateway policy", "mcpwall": b"[POLICY DENIED]", "echo": b""}


# ── The echo ─────────────────────────────────────────────────────────────────────────────

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Read the whole request, answer a fixed JSON-RPC tool result: no MCP, no policy."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(ECHO_BODY))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": ECHO_BODY})


def serve_echo(port: int) -> None:
    """Run the echo on uvicorn (one worker, httptools, uvloop) until killed."""
    import uvicorn

    config = uvicorn.Config(
        echo_app, host=LOOPBACK, port=port, workers=1, http="httptools", loop="uvloop",
        lifespan="off", log_level="warning", access_log=False, proxy_headers=False,
    )  # fmt: skip
    server = uvicorn.Server(config)

    async def main() -> None:
        started = asyncio.ensure_future(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        print(f"READY http://{LOOPBACK}:{port}/mcp", flush=True)
        await started

    asyncio.run(main())


# ── Policies ─────────────────────────────────────────────────────────────────────────────


def mcpwall_policy(seed: Mapping[str, Any], *, limited: bool) -> dict[str, Any]:
    """The seed with its limits' max raised so they never refuse, or with no limits at all."""
    policy = copy.deepcopy(dict(seed))
    for rules in policy.get("tools", {}).values():
        if limited:
            for limit in rules.get("limits", []):
                limit["max"] = NEVER_REFUSES
        else:
            rules.pop("limits", None)
    return policy


WINDOWS = {"minute": "1m", "hour": "1h", "day": "24h"}
SCOPES = {"grant": "token", "global": "global"}


def peer_policy(seed: Mapping[str, Any], *, limited: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """The seed in the peer's language: its policy and its rate limits.

    The peer's rules are first-match-wins. For each tool of the seed with a ``require``, an allow
    rule carrying all its conditions (and the tool's limits as rate-limit buckets) comes first,
    then a deny rule with the ``on_deny`` reason; hidden tools are one deny rule (the peer
    leaves a tool its policy can never permit out of ``tools/list``, as mcpwall does); the
    default is the seed's. Both languages treat a missing argument as failing every ``in`` and
    ``not_in`` condition. Where they differ: the peer's limits are in-memory token buckets
    (``rate`` per ``per``, refilled continuously, lost on restart) where mcpwall's are counters
    over fixed windows kept in its store. The seed's shapes are covered (one ``require`` per
    tool, operators the peer has); anything else stops the bench saying what.
    """
    rules: list[dict[str, Any]] = []
    limits: dict[str, Any] = {}
    if seed.get("hide"):
        rules.append({"name": "hidden", "effect": "deny", "tools": list(seed["hide"]),
                      "reason": "hidden by the policy"})  # fmt: skip
    for tool, spec in seed.get("tools", {}).items():
        buckets = []
        for limit in spec.get("limits", []) if limited else []:
            limits[limit["counter"]] = {
                "rate": NEVER_REFUSES, "per": WINDOWS[limit["window"]],
                "burst": NEVER_REFUSES, "scope": SCOPES[limit["scope"]],
            }  # fmt: skip
            buckets.append(limit["counter"])
        requires = spec.get("require", [])
        if len(requires) > 1:
            sys.exit(f"{tool}: the peer's translation covers one `require` per tool")
        allow: dict[str, Any] = {"name": f"{tool}-allowed", "effect": "allow", "tools": [tool]}
        if requires:
            allow["when"] = {c["path"]: peer_condition(c) for c in requires[0]["conditions"]}
        if buckets:
            allow["rate_limits"] = buckets
        rules.append(allow)
        if requires:
            rules.append({"name": f"{tool}-refused", "effect": "deny", "tools": [tool],
                          "reason": requires[0].get("on_deny", "refused")})  # fmt: skip
    policy = {"default": seed.get("default", "deny"), "rules": rules}
    return policy, limits


def peer_condition(condition: Mapping[str, Any]) -> dict[str, Any]:
    operator = {"in": "in", "not_in": "not_in", "eq": "eq", "ne": "ne"}.get(condition["op"])
    if operator is None:
        sys.exit(f"the peer's translation does not cover the operator {condition['op']!r}")
    return {operator: condition["value"]}


def peer_config(
    seed: Mapping[str, Any], upstream_url: str, tokens: Mapping[str, str], audit: Path
) -> dict[str, Any]:
    """The peer's whole config: the fixture as its upstream, one token per policy variant.

    ``tokens`` maps ``limited`` / ``unlimited`` to the bearer token that selects it. JSON is
    YAML, so this is written as JSON. The audit log (hash-chained, on by default) is kept on:
    mcpwall's proxy log is on too.
    """
    policies: dict[str, Any] = {}
    rate_limits: dict[str, Any] = {}
    for variant in ("limited", "unlimited"):
        policy, limits = peer_policy(seed, limited=variant == "limited")
        policies[f"seed-{variant}"] = policy
        rate_limits |= limits
    return {
        "version": 1,
        "audit": {"path": str(audit)},
        "upstreams": {UPSTREAM: {"transport": "http", "url": upstream_url}},
        "policies": policies,
        "rate_limits": rate_limits,
        "tokens": [
            {
                "name": variant,
                "policy": f"seed-{variant}",
                "sha256": hashlib.sha256(token.encode()).hexdigest(),
            }
            for variant, token in tokens.items()
        ],
    }


# ── The peer's virtualenv ────────────────────────────────────────────────────────────────


def ensure_peer() -> Path:
    """The peer's executable, installed from PyPI into its own virtualenv when missing."""
    python = PEER_VENV / "bin" / "python"
    executable = PEER_VENV / "bin" / PEER
    check = [str(python), "-c", f"import importlib.metadata as m; print(m.version({PEER!r}))"]
    if executable.exists():
        done = subprocess.run(check, capture_output=True, text=True, check=False)
        if done.stdout.strip() == PEER_VERSION:
            return executable
    print(f"installing {PEER}=={PEER_VERSION} from PyPI into {PEER_VENV} …", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(PEER_VENV)], check=True)
    install = [str(python), "-m", "pip", "install", "--quiet", f"{PEER}=={PEER_VERSION}"]
    if subprocess.run(install, check=False).returncode != 0:
        sys.exit(f"installing {PEER}=={PEER_VERSION} failed")
    return executable


def wait_listening(port: int, process: subprocess.Popen[str], log: Path) -> None:
    """Poll until something accepts on ``port`` (bounded), or exit with the process's log."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), 1):
            return
        time.sleep(0.1)
    sys.exit(f"{process.args!r} did not start listening:\n{log.read_text()}")


# ── The measurements ─────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Target:
    """One server under test: its URL, the bearer token to send (None: none), its process."""

    name: str
    url: str
    token: str | None
    pid: int


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, all its threads included."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def check_refusal(kind: str, target: Target) -> None:
    client = Client(target.url, target.token)
    try:
        status, body = client.call(*DENIED, request_id=1)
    finally:
        client.close()
    if status != 200 or REFUSALS[kind] not in body:
        sys.exit(f"{target.name}: the deny request was not refused: HTTP {status} {body[:300]!r}")


def deny_throughput(
    wrk: str, targets: list[Target], script: Path, cpu: int | None
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Requests/s of each target, ``RUNS`` rounds, the order rotating every round; and its
    requests per CPU-second of its own process over all rounds (what it would answer with a
    core to itself: other work on the machine slows the first figure, hardly this one)."""
    for target in targets:
        wrk_run(wrk, target.url, script, cpu, seconds=2)  # warm-up
    runs: dict[str, list[float]] = {target.name: [] for target in targets}
    used = dict.fromkeys(runs, 0.0)
    for round_number in range(RUNS):
        shift = round_number % len(targets)
        for target in targets[shift:] + targets[:shift]:
            before = cpu_seconds(target.pid)
            runs[target.name].append(wrk_run(wrk, target.url, script, cpu, SECONDS)[0])
            used[target.name] += cpu_seconds(target.pid) - before
    per_cpu = {name: sum(rates) * SECONDS / used[name] for name, rates in runs.items()}
    return runs, per_cpu


def added_latency(
    direct_url: str, targets: list[Target]
) -> tuple[list[float], dict[str, list[float]], dict[str, float]]:
    """The direct calls (ms); per target the per-call differences against the direct call of
    the same round, and the CPU time (ms) its gateway process used per call."""
    tool, arguments = ALLOWED
    clients = {"direct": Client(direct_url, None)}
    clients |= {target.name: Client(target.url, target.token) for target in targets}
    try:
        for client in clients.values():
            for i in range(WARMUP_CALLS):
                client.timed(tool, arguments, i)
        added: dict[str, list[float]] = {target.name: [] for target in targets}
        direct: list[float] = []
        used = dict.fromkeys(added, 0.0)
        pids = {target.name: target.pid for target in targets}
        names = list(clients)
        for round_number in range(ROUNDS):
            shift = round_number % len(names)
            samples = {}
            for name in names[shift:] + names[:shift]:
                # A fresh connection and one untimed call: uvicorn (the peer's server) closes
                # connections idle for 5 s, as this one was while the others took their turn.
                clients[name].close()
                clients[name].timed(tool, arguments, 0)
                before = cpu_seconds(pids[name]) if name in pids else 0.0
                samples[name] = [clients[name].timed(tool, arguments, i) for i in range(CALLS)]
                if name in pids:
                    used[name] += cpu_seconds(pids[name]) - before
            direct.extend(samples["direct"])
            for name in added:
                pairs = zip(samples["direct"], samples[name], strict=True)
                added[name].extend(through - alone for alone, through in pairs)
        return direct, added, {name: ms * 1000 / (ROUNDS * CALLS) for name, ms in used.items()}
    finally:
        for client in clients.values():
            client.close()


# ── The run ──────────────────────────────────────────────────────────────────────────────


@contextlib.contextmanager
def mcpwall_gateway(
    scratch: Path, direct_url: str, cpu: int | None
) -> Iterator[tuple[str, dict[str, str], int]]:
    """``mcpwall serve`` with one grant per seed variant: its MCP URL, the variants' tokens, its
    process id."""
    home = scratch / "home"
    home.mkdir()
    seed = json.loads(SEED_POLICY.read_text())
    mcpwall(home, "upstream", "add", UPSTREAM, "--url", direct_url)
    tokens: dict[str, str] = {}
    for variant in ("limited", "unlimited"):
        path = scratch / f"seed-{variant}.policy.json"
        path.write_text(json.dumps(mcpwall_policy(seed, limited=variant == "limited")))
        mcpwall(home, "policy", "set", f"seed-{variant}", str(path))
        issued = mcpwall(home, "grant", "issue", "--label", f"bench-{variant}",
                         "--bind", f"{UPSTREAM}=seed-{variant}", "--json")  # fmt: skip
        tokens[variant] = str(json.loads(issued)["token"])
    port, admin = free_port(), free_port()
    serve = [sys.executable, "-m", "mcpwall", "serve",
             "--port", str(port), "--admin-port", str(admin)]  # fmt: skip
    log = scratch / "mcpwall.log"
    with running(serve, home_env(home), log, cpu) as process:
        wait_healthy(f"http://{LOOPBACK}:{port}/healthz", process, log)
        yield f"http://{LOOPBACK}:{port}/mcp/{UPSTREAM}", tokens, process.pid


@contextlib.contextmanager
def peer_gateway(
    executable: Path, scratch: Path, direct_url: str, tokens: Mapping[str, str], cpu: int | None
) -> Iterator[tuple[str, int]]:
    """The peer over HTTP in front of the fixture: its MCP URL and process id."""
    seed = json.loads(SEED_POLICY.read_text())
    config = scratch / "peer.yaml"
    config.write_text(json.dumps(peer_config(seed, direct_url, tokens, scratch / "audit.jsonl")))
    port = free_port()
    command = [str(executable), "run", "-c", str(config), "--transport", "http",
               "--host", LOOPBACK, "--port", str(port), "--path", "/mcp"]  # fmt: skip
    log = scratch / "peer.log"
    with running(command, dict(os.environ), log, cpu) as process:
        wait_listening(port, process, log)
        yield f"http://{LOOPBACK}:{port}/mcp", process.pid


def main() -> None:
    available = cpus()
    server_cpu = available[0] if len(available) > 1 else None
    load_cpu = available[1] if len(available) > 1 else None
    print(f"mcpwall side by side with {PEER} {PEER_VERSION} and a bare ASGI echo")
    started = load()
    print(f"  machine: {machine()}")
    peer = ensure_peer()
    wrk = ensure_wrk()
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mcpwall-sbs-")))
        fixture = [sys.executable, str(FIXTURE), "http", "--port", str(free_port())]
        upstream = stack.enter_context(
            running(fixture, dict(os.environ), scratch / "fixture.log", load_cpu)
        )
        direct_url = ready_url(upstream, scratch / "fixture.log")
        ours, tokens, our_pid = stack.enter_context(
            mcpwall_gateway(scratch, direct_url, server_cpu)
        )
        theirs, peer_pid = stack.enter_context(
            peer_gateway(peer, scratch, direct_url, tokens, server_cpu)
        )
        echo_port = free_port()
        echo_command = [sys.executable, __file__, "echo", str(echo_port)]
        echo = stack.enter_context(
            running(echo_command, dict(os.environ), scratch / "echo.log", server_cpu)
        )
        echo_url = ready_url(echo, scratch / "echo.log")
        deny = [Target("peer", theirs, tokens["limited"], peer_pid),
                Target("mcpwall", ours, tokens["limited"], our_pid),
                Target("echo", echo_url, None, echo.pid)]  # fmt: skip
        for target in deny:
            check_refusal(target.name, target)
        placed = "unpinned" if server_cpu is None else f"CPU {server_cpu}"
        print(f"  servers under test on {placed}; fixture and wrk on "
              f"{'the scheduler' if load_cpu is None else f'CPU {load_cpu}'}")  # fmt: skip
        throughput: dict[str, list[float]] = {}
        per_cpu: dict[str, float] = {}
        if wrk is not None:
            throughput, per_cpu = deny_throughput(
                wrk, deny, lua_script(tokens["limited"], scratch), load_cpu
            )
        results = report_deny(throughput, per_cpu)
        variants = [Target("peer", theirs, tokens["unlimited"], peer_pid),
                    Target("peer, limit", theirs, tokens["limited"], peer_pid),
                    Target("mcpwall", ours, tokens["unlimited"], our_pid),
                    Target("mcpwall, limit", ours, tokens["limited"], our_pid)]  # fmt: skip
        direct, added, cpu_ms = added_latency(direct_url, variants)
    results |= report_added(direct, added, cpu_ms)
    print()
    print(f"  load at the start: {started}")
    print(f"  load at the end:   {load()}")
    print(json.dumps({"side_by_side": results}))


def report_deny(
    throughput: Mapping[str, list[float]], per_cpu: Mapping[str, float]
) -> dict[str, object]:
    """Print the deny path's table; its figures for the JSON summary."""
    results: dict[str, object] = {}
    print()
    if not throughput:
        print("deny path: SKIPPED (no wrk)")
    else:
        rate = {name: statistics.median(runs) for name, runs in throughput.items()}
        print(f"Deny path: `wrk -t1 -c16`, {RUNS} rotating rounds of {SECONDS} s, stateless "
              f"2026-07-28 `tools/call` refused by the seed policy (medians; a ratio is the "
              f"median of the rounds' ratios, each round's runs back to back)")  # fmt: skip
        print()
        print("| server | refused calls/s | runs | mcpwall's ratio to it (rounds) | goal "
              "| refused per CPU-second of the server | mcpwall's ratio |")  # fmt: skip
        print("|---|---|---|---|---|---|---|")
        goals = {"peer": DENY_VS_PEER_GOAL, "echo": DENY_VS_ECHO_GOAL}
        for name, runs in throughput.items():
            rounds = [
                ours / theirs for ours, theirs in zip(throughput["mcpwall"], runs, strict=True)
            ]
            ratio = statistics.median(rounds)
            goal = goals.get(name)
            verdict = "" if goal is None else f"≥ {goal:g}× — {met(ratio >= goal)}"
            spread = f"{ratio:.2f}× ({min(rounds):.2f}–{max(rounds):.2f})"
            shown = "" if name == "mcpwall" else spread
            efficiency = per_cpu["mcpwall"] / per_cpu[name]
            cpu_ratio = "" if name == "mcpwall" else f"{efficiency:.2f}×"
            print(f"| {name} | {rate[name]:,.0f} | {', '.join(f'{r:,.0f}' for r in runs)} "
                  f"| {shown} | {verdict} | {per_cpu[name]:,.0f} | {cpu_ratio} |")  # fmt: skip
            results[f"deny_{name}_per_cpu_s"] = round(per_cpu[name])
            if name != "mcpwall":
                results[f"deny_ratio_mcpwall_to_{name}"] = round(ratio, 2)
            results[f"deny_{name}_per_s"] = round(rate[name])
        print()
    return results


def report_added(
    direct: list[float], added: Mapping[str, list[float]], cpu_ms: Mapping[str, float]
) -> dict[str, object]:
    """Print the allowed call's table; its figures for the JSON summary."""
    results: dict[str, object] = {"direct_ms": round(statistics.median(direct), 3)}
    median = {name: statistics.median(values) for name, values in added.items()}
    print(f"Allowed call (`delete_pod` in `staging`): median added over the direct call, one "
          f"keep-alive client, {ROUNDS} rotating rounds of {CALLS} calls")  # fmt: skip
    print()
    print("| through | added per call | the peer's added ÷ mcpwall's | goal "
          "| gateway CPU per call | the peer's ÷ mcpwall's |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    print(f"| (the direct call itself) | {statistics.median(direct):.3f} ms | | | | |")
    for name, value in median.items():
        ratio_cell = goal_cell = cpu_cell = ""
        if name.startswith("mcpwall"):
            peer = "peer" + name.removeprefix("mcpwall")
            ratio = median[peer] / value
            ratio_cell = f"{ratio:.1f}×"
            goal_cell = f"≥ {ADDED_VS_PEER_GOAL:g}× — {met(ratio >= ADDED_VS_PEER_GOAL)}"
            cpu_cell = f"{cpu_ms[peer] / cpu_ms[name]:.1f}×"
        print(f"| {name} | {value:.3f} ms | {ratio_cell} | {goal_cell} "
              f"| {cpu_ms[name]:.3f} ms | {cpu_cell} |")  # fmt: skip
        key = name.replace(", ", "_")
        results[f"added_ms_{key}"] = round(value, 3)
        results[f"cpu_ms_{key}"] = round(cpu_ms[name], 3)
    return results


def met(ok: bool) -> str:
    return "met" if ok else "MISSED"


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "echo":
        serve_echo(int(sys.argv[2]))
    else:
        main()
