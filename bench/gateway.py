"""How fast the gateway is over HTTP (DESIGN §7): the deny path, and what an allowed call pays.

Run with ``make bench`` (or ``.venv/bin/python bench/gateway.py``). One run sets up, on free
127.0.0.1 ports, the project's fixture MCP server over Streamable HTTP
(``tests/fixtures/fixture_server.py``, the official ``mcp`` SDK), registered as upstream ``k8s``
with the seed's policy, a grant for it, and ``mcpwall serve`` exactly as users run it (one
process, one event loop: one uvicorn worker), pinned to one CPU when there are several. Then:

* **Deny-path throughput.** ``wrk -t1 -c16``
  (pinned to another CPU) sends stateless 2026-07-28 ``tools/call`` requests that the seed's
  policy refuses (``delete_pod`` in ``payments-prod``), with the headers a real client sends:
  ``Authorization``, ``Content-Type``, ``Accept``, ``MCP-Protocol-Version``, ``Mcp-Method``,
  ``Mcp-Name``. Every answer must be a 200 denial; the figure is the median of several runs.
* **Latency added to an allowed call**, also as a ratio to the direct call. One keep-alive
  client calls ``get_pod_logs`` (allowed) with the same kind of request, in rounds of ``CALLS``
  calls straight to the fixture and then through the gateway, alternating which goes first,
  over ``ROUNDS`` rounds. The figure is the median of the per-call differences (the i-th call
  through the gateway minus the i-th call direct, in the same round). The client runs where the
  scheduler puts it; with two CPUs the measurement is repeated with it pinned beside the
  gateway and beside the upstream, because on a machine this small where the client runs moves
  the direct baseline (sharing a CPU with the upstream slows the direct calls).

``wrk`` is the Debian package: when it is missing, this installs it with ``apt-get`` if it runs
as root, and otherwise skips the throughput with a message saying so. Nothing here asserts a
time: the figures are printed, with the machine they were measured on.

DESIGN §7's bars are ratios measured in one run (issue 16: absolute times vary 1.5× between
machines of one kind), and their baselines are other servers: ``bench/side_by_side.py`` holds
the deny path to a bare ASGI echo (≥ 0.25×) and to the Python peer (≥ 12×), and the added
latency to the peer's (≥ 5× lower); ``bench/limited.py`` holds a limited call to an unlimited
one (≤ 1.1×). This bench gives the raw figures those compare, on this machine, now.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from processes import (
    LOOPBACK,
    free_port,
    home_env,
    mcpwall,
    pinned,
    ready_url,
    running,
    wait_healthy,
)

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "fixture_server.py"
SEED_POLICY = REPO / "tests" / "core" / "policy" / "cases" / "seed.policy.json"
UPSTREAM = "k8s"
MODERN = "2026-07-28"

WRK_CONNECTIONS = 16
WRK_SECONDS = 10
WRK_RUNS = 3

ROUNDS = 10
CALLS = 200
WARMUP_CALLS = 200
LOAD_QUIET = 0.5  # a 1-minute load average above this means other work shares the CPUs

DENIED: tuple[str, Mapping[str, object]] = (
    "delete_pod",
    {"name": "checkout-7f9c", "namespace": "payments-prod"},
)
ALLOWED: tuple[str, Mapping[str, object]] = (
    "get_pod_logs",
    {"name": "checkout-7f9c", "namespace": "payments-prod"},
)


def call_body(tool: str, arguments: Mapping[str, object], request_id: int = 1) -> bytes:
    """A stateless 2026-07-28 ``tools/call``, with the ``_meta`` envelope it must carry."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "mcpwall-bench", "version": "1"},
    }
    params = {"name": tool, "arguments": arguments, "_meta": meta}
    message = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}
    return json.dumps(message, separators=(",", ":")).encode()


def call_headers(tool: str, token: str | None) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": MODERN,
        "Mcp-Method": "tools/call",
        "Mcp-Name": tool,
    }
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return headers


# ── Processes ────────────────────────────────────────────────────────────────────────────


def cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []


# ── One keep-alive client ────────────────────────────────────────────────────────────────


class Client:
    """POSTs to one MCP endpoint over one kept-alive connection, timing each call."""

    def __init__(self, url: str, token: str | None) -> None:
        parts = urllib.parse.urlsplit(url)
        self.path = parts.path
        self.token = token
        self.connection = http.client.HTTPConnection(parts.netloc, timeout=30)

    def call(
        self, tool: str, arguments: Mapping[str, object], request_id: int
    ) -> tuple[int, bytes]:
        self.connection.request(
            "POST",
            self.path,
            body=call_body(tool, arguments, request_id),
            headers=call_headers(tool, self.token),
        )
        response = self.connection.getresponse()
        return response.status, response.read()

    def timed(self, tool: str, arguments: Mapping[str, object], request_id: int) -> float:
        """One call's round trip in milliseconds (it must succeed)."""
        started = time.perf_counter_ns()
        status, body = self.call(tool, arguments, request_id)
        elapsed = (time.perf_counter_ns() - started) / 1e6
        if status != 200 or b'"result"' not in body or b'"isError":true' in body:
            sys.exit(f"call {request_id} to {self.path} failed: HTTP {status} {body[:300]!r}")
        return elapsed

    def close(self) -> None:
        self.connection.close()


# ── The two measurements ─────────────────────────────────────────────────────────────────


@dataclass
class Throughput:
    runs: list[float]
    p50_ms: float
    p99_ms: float

    @property
    def median(self) -> float:
        return statistics.median(self.runs)


def ensure_wrk() -> str | None:
    """The ``wrk`` binary, installed from Debian's package if missing and possible."""
    found = shutil.which("wrk")
    if found is not None:
        return found
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        print("wrk is not installed and can't be installed here (needs root and apt-get):")
        print("  the deny-path throughput is SKIPPED; `apt-get install wrk` enables it")
        return None
    print("installing wrk (apt-get install wrk) …", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [apt, "install", "-y", "-qq", "wrk"]
    for command in (install, [apt, "update", "-qq"], install):
        done = subprocess.run(command, env=env, capture_output=True, check=False)
        if command is install and done.returncode == 0:
            break
    found = shutil.which("wrk")
    if found is None:
        print("installing wrk failed: the deny-path throughput is SKIPPED")
    return found


def lua_script(token: str, scratch: Path) -> Path:
    tool, arguments = DENIED
    lines = ['wrk.method = "POST"', f"wrk.body = {lua_string(call_body(tool, arguments))}"]
    for name, value in call_headers(tool, token).items():
        lines.append(f"wrk.headers[{lua_string(name.encode())}] = {lua_string(value.encode())}")
    script = scratch / "deny.lua"
    script.write_text("\n".join(lines) + "\n")
    return script


def lua_string(raw: bytes) -> str:
    """A Lua string literal: quotes and backslashes as three-digit decimal escapes."""
    return '"' + "".join(f"\\{byte:03d}" if byte in b'"\\' else chr(byte) for byte in raw) + '"'


def deny_throughput(wrk: str, url: str, script: Path, cpu: int | None) -> Throughput:
    wrk_run(wrk, url, script, cpu, seconds=2)  # warm-up
    done = [wrk_run(wrk, url, script, cpu, WRK_SECONDS) for _ in range(WRK_RUNS)]
    runs, p50, p99 = ([run[i] for run in done] for i in range(3))
    return Throughput(runs, statistics.median(p50), statistics.median(p99))


def wrk_run(
    wrk: str, url: str, script: Path, cpu: int | None, seconds: int
) -> tuple[float, float, float]:
    """One ``wrk -t1 -c16`` run: requests/s, p50 and p99 (ms); every answer must be a 2xx."""
    command = [wrk, "-t1", f"-c{WRK_CONNECTIONS}", f"-d{seconds}s", "--latency",
               "-s", str(script), url]  # fmt: skip
    done = subprocess.run(
        command, capture_output=True, text=True, check=True, preexec_fn=pinned(cpu)
    )
    output = done.stdout
    if "Non-2xx" in output or "Socket errors" in output:
        sys.exit(f"wrk saw failed requests:\n{output}")
    return (
        float(_found(r"Requests/sec:\s+([\d.]+)", output)),
        _ms(_found(r"\s50%\s+([\d.]+\w+)", output)),
        _ms(_found(r"\s99%\s+([\d.]+\w+)", output)),
    )


def _found(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    if match is None:
        sys.exit(f"unexpected wrk output (no {pattern!r}):\n{text}")
    return match.group(1)


def _ms(value: str) -> float:
    number, unit = float(re.sub(r"[a-z]+$", "", value)), re.sub(r"^[\d.]+", "", value)
    return number * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


@dataclass
class Added:
    direct: list[float]
    gateway: list[float]
    per_round: list[float]

    @property
    def differences(self) -> list[float]:
        return [g - d for d, g in zip(self.direct, self.gateway, strict=True)]


def added_latency(direct_url: str, gateway_url: str, token: str) -> Added:
    tool, arguments = ALLOWED
    direct, through = Client(direct_url, None), Client(gateway_url, token)
    try:
        for i in range(WARMUP_CALLS):
            direct.timed(tool, arguments, i)
            through.timed(tool, arguments, i)
        result = Added([], [], [])
        for round_number in range(ROUNDS):
            order = [(direct, result.direct), (through, result.gateway)]
            samples: dict[int, list[float]] = {}
            for client, sink in order if round_number % 2 == 0 else order[::-1]:
                samples[id(client)] = [client.timed(tool, arguments, i) for i in range(CALLS)]
                sink.extend(samples[id(client)])
            result.per_round.append(
                statistics.median(samples[id(through)]) - statistics.median(samples[id(direct)])
            )
        return result
    finally:
        direct.close()
        through.close()


# ── The run ──────────────────────────────────────────────────────────────────────────────


def machine() -> str:
    model = "unknown CPU"
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    loop = "uvloop" if _has("uvloop") else "asyncio"
    return (
        f"{model}, {os.cpu_count()} CPUs; Linux {platform.release()}; "
        f"Python {platform.python_version()}; event loop available: {loop}; {load()}"
    )


def load() -> str:
    """The load average: other work on the machine makes every figure here pessimistic."""
    one, five, _ = os.getloadavg()
    busy = " (the machine is busy: expect lower figures)" if one > LOAD_QUIET else ""
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min){busy}"


def _has(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def check_denial(url: str, token: str) -> None:
    client = Client(url, token)
    try:
        status, body = client.call(*DENIED, request_id=1)
    finally:
        client.close()
    if status != 200 or b"[POLICY DENIED]" not in body:
        sys.exit(f"the deny request was not denied: HTTP {status} {body[:300]!r}")


def main() -> None:
    available = cpus()
    gateway_cpu = available[0] if len(available) > 1 else None
    load_cpu = available[1] if len(available) > 1 else None
    print("gateway benchmark over HTTP (DESIGN §7)")
    print(f"  machine: {machine()}")
    wrk = ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="mcpwall-bench-") as scratch_name:
        scratch = Path(scratch_name)
        home = scratch / "home"
        home.mkdir()
        fixture = [sys.executable, str(FIXTURE), "http", "--port", str(free_port())]
        with running(fixture, dict(os.environ), scratch / "fixture.log", load_cpu) as upstream:
            direct_url = ready_url(upstream, scratch / "fixture.log")
            mcpwall(home, "upstream", "add", UPSTREAM, "--url", direct_url)
            mcpwall(home, "policy", "set", "seed", str(SEED_POLICY))
            issued = mcpwall(home, "grant", "issue", "--label", "bench",
                             "--bind", f"{UPSTREAM}=seed", "--json")  # fmt: skip
            token = str(json.loads(issued)["token"])
            port, admin = free_port(), free_port()
            serve = [sys.executable, "-m", "mcpwall", "serve",
                     "--port", str(port), "--admin-port", str(admin)]  # fmt: skip
            log = scratch / "gateway.log"
            with running(serve, home_env(home), log, gateway_cpu) as gateway:
                origin = f"http://{LOOPBACK}:{port}"
                wait_healthy(f"{origin}/healthz", gateway, log)
                url = f"{origin}/mcp/{UPSTREAM}"
                check_denial(url, token)
                where = "unpinned" if gateway_cpu is None else f"CPU {gateway_cpu}"
                print(f"  gateway: mcpwall serve, one process ({where}); upstream: {direct_url}")
                throughput = None
                if wrk is not None:
                    script = lua_script(token, scratch)
                    throughput = deny_throughput(wrk, url, script, load_cpu)
                added = added_latency(direct_url, url, token)
                placed = {}
                if gateway_cpu is not None and load_cpu is not None:
                    for where, cpu in (("gateway", gateway_cpu), ("upstream", load_cpu)):
                        with client_on(cpu):
                            placed[where] = added_latency(direct_url, url, token)
    report(throughput, added, placed)


@contextlib.contextmanager
def client_on(cpu: int) -> Iterator[None]:
    """Run this process (the benchmark's client) on ``cpu`` only, inside the block."""
    everywhere = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, everywhere)


def report(throughput: Throughput | None, added: Added, placed: Mapping[str, Added]) -> None:
    results: dict[str, object] = {}
    if throughput is None:
        print("deny path: SKIPPED (no wrk)")
    else:
        runs = ", ".join(f"{run:,.0f}" for run in throughput.runs)
        print(f"deny path, wrk -t1 -c{WRK_CONNECTIONS}, {WRK_RUNS} x {WRK_SECONDS} s of "
              f"2026-07-28 tools/call refused by the seed policy:")  # fmt: skip
        print(f"  {throughput.median:,.0f} refused calls/s (runs: {runs}); latency "
              f"p50 {throughput.p50_ms:.2f} ms, p99 {throughput.p99_ms:.2f} ms")  # fmt: skip
        print("  (the bars, as ratios to an echo and to the peer: bench/side_by_side.py)")
        results["deny_calls_per_s"] = round(throughput.median)
        results["deny_runs"] = [round(run) for run in throughput.runs]
    median_added = statistics.median(added.differences)
    direct, through = statistics.median(added.direct), statistics.median(added.gateway)
    spread = f"{min(added.per_round):.3f} to {max(added.per_round):.3f}"
    print(f"allowed call, one keep-alive client, {ROUNDS} alternating rounds of {CALLS} calls:")
    print(f"  direct {direct:.3f} ms, through the gateway {through:.3f} ms (medians)")
    print(f"  added: {median_added:.3f} ms median of per-call differences "
          f"(per-round medians {spread} ms)")  # fmt: skip
    print(f"  the gateway adds {median_added / direct:.2f}× the direct call's own time "
          "(the bar, as a ratio to the peer's: bench/side_by_side.py)")  # fmt: skip
    results |= {
        "allowed_direct_ms": round(direct, 3),
        "allowed_gateway_ms": round(through, 3),
        "allowed_added_ms": round(median_added, 3),
    }
    # Three processes on two CPUs: where the client runs moves the direct baseline, so the
    # same measurement is repeated with the client pinned beside each of the others.
    for where, run in placed.items():
        added_here = statistics.median(run.differences)
        print(f"  the client pinned beside the {where}: direct "
              f"{statistics.median(run.direct):.3f} ms, through the gateway "
              f"{statistics.median(run.gateway):.3f} ms, added {added_here:.3f} ms")  # fmt: skip
        results[f"allowed_added_ms_client_beside_{where}"] = round(added_here, 3)
    print(f"  after the run: {load()}")
    print(json.dumps({"gateway": results}))


if __name__ == "__main__":
    main()
