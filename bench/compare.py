"""What a change does to the latency added to an allowed call: two revisions, side by side.

Run with ``.venv/bin/python bench/compare.py OLD [NEW]`` (git revisions; NEW defaults to the
working tree). Each revision's ``src`` is checked out into a scratch folder, and for each of
``--pairs`` pairs, one ``mcpwall serve`` of each (fresh processes, started in alternating
order) runs on one CPU in front of the project's fixture server (the other CPU), as in
``bench/gateway.py``. One keep-alive client calls ``get_pod_logs`` directly, through OLD and
through NEW in rotating order, ``--rounds`` rounds of 200 calls. Each side's figure is the
median of its per-call differences against the direct call of the same round; the verdict is
the median, over the pairs, of NEW minus OLD. Each revision has a home of its own, configured
alike (the fixture server as upstream, the seed's policy, one grant) but by its own
``mcpwall``: a home one revision opened has that revision's schema, which an older one cannot
open.

With ``--deny``, the same pairs measure the deny path instead: ``wrk -t1 -c16`` (as in
``bench/gateway.py``, on the other CPU) sends the seed policy's refused ``tools/call`` to OLD
and NEW in turn, ``--rounds`` runs of ``--seconds`` each, the order alternating; per pair,
the figures are the median refused calls/s of each side and the CPU time the gateway process
spent per refused call (all its threads, from ``/proc``: less sensitive than the rate to other
work on the machine). The verdict is the median, over the pairs, of NEW / OLD.

With ``--instructions``, each revision's gateway runs under valgrind's callgrind instead,
which counts the instructions it executes (all its threads): a figure other work on the
machine does not move, where times under load can swing by a third. Per revision, after a
warm-up, the counters are zeroed, ``wrk`` runs for ``--seconds`` (deny path: four
connections, enough to keep a gateway slowed by callgrind busy; allowed path: one connection
calling ``get_pod_logs``), and the count is dumped: the figure is instructions per call. It
leaves out the kernel's share (system calls) and, as callgrind slows the gateway fifty-fold,
proxy-log batches hold fewer rows than at full speed.

Why pairs of fresh processes: on the development machine a gateway process sometimes runs
30–40 µs faster than another running the same code, for its whole life, so one pair can be off
by that much; the median over several pairs is not. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from gateway import (
    ALLOWED,
    DENIED,
    FIXTURE,
    SEED_POLICY,
    UPSTREAM,
    WRK_CONNECTIONS,
    Client,
    call_body,
    call_headers,
    check_denial,
    cpus,
    ensure_wrk,
    load,
    lua_script,
    lua_string,
    machine,
)
from processes import (
    LOOPBACK,
    configured_home,
    free_port,
    home_env,
    ready_url,
    running,
    serve_revision,
)

REPO = Path(__file__).resolve().parents[1]
CALLS = 200
WARMUP_CALLS = 300


@dataclass(frozen=True)
class Revision:
    """One revision's ``src``, and its own home, configured by that ``src``'s ``mcpwall``."""

    src: Path
    home: Path
    token: str


def configure(name: str, src: Path, direct: str, scratch: Path) -> Revision:
    """``src`` with a new home of its own: the fixture server at ``direct`` as the upstream,
    the seed's policy, one grant bound to them (the same for every revision)."""
    config = {
        "upstreams": {UPSTREAM: {"url": direct}},
        "policies": {"seed": json.loads(SEED_POLICY.read_text(encoding="utf-8"))},
        "grants": [{"label": "compare", "bind": {UPSTREAM: "seed"}}],
    }
    home = scratch / f"home-{name}"
    return Revision(src, home, configured_home(home, src, config)["compare"])


@dataclass
class Pair:
    old_ms: float
    new_ms: float

    @property
    def difference_us(self) -> float:
        return (self.new_ms - self.old_ms) * 1000


@dataclass
class DenyPair:
    old_rate: float  # refused calls/s
    new_rate: float
    old_cpu_us: float  # CPU time of the gateway process per refused call
    new_cpu_us: float

    @property
    def rate_ratio(self) -> float:
        return self.new_rate / self.old_rate

    @property
    def cpu_ratio(self) -> float:
        return self.new_cpu_us / self.old_cpu_us


@contextlib.contextmanager
def source(revision: str | None, scratch: Path) -> Iterator[Path]:
    """The ``src`` folder of ``revision`` (None: the working tree's own)."""
    if revision is None:
        yield REPO / "src"
        return
    tree = scratch / f"tree-{revision.replace('/', '_')}"
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", "--quiet", str(tree), revision],
        check=True,
    )
    try:
        yield tree / "src"
    finally:
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=True
        )


def measure_pair(revisions: dict[str, Revision], direct: str, rounds: int, flip: bool) -> Pair:
    gateway_cpu = next(iter(cpus()), None)
    with contextlib.ExitStack() as stack:
        urls: dict[str, str] = {}
        for name in sorted(revisions, reverse=flip):
            revision = revisions[name]
            port, _ = serve_revision(stack, name, revision.src, revision.home, gateway_cpu)
            urls[name] = f"http://{LOOPBACK}:{port}/mcp/{UPSTREAM}"
        clients = {"direct": stack.enter_context(contextlib.closing(Client(direct, None)))}
        for name, url in urls.items():
            token = revisions[name].token
            clients[name] = stack.enter_context(contextlib.closing(Client(url, token)))
        tool, arguments = ALLOWED
        for i in range(WARMUP_CALLS):  # interleaved: no connection idles past a keep-alive
            for client in clients.values():
                client.timed(tool, arguments, i)
        added: dict[str, list[float]] = {name: [] for name in revisions}
        names = list(clients)
        for round_number in range(rounds):
            shift = round_number % len(names)
            samples = {}
            for name in names[shift:] + names[:shift]:
                samples[name] = [clients[name].timed(tool, arguments, i) for i in range(CALLS)]
            for name in revisions:
                pairs = zip(samples["direct"], samples[name], strict=True)
                added[name].extend(through - plain for plain, through in pairs)
    return Pair(statistics.median(added["old"]), statistics.median(added["new"]))


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of process ``pid``, all its threads, in seconds."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk_rate(wrk: str, url: str, script: Path, seconds: float, cpu: int | None) -> float:
    """Refused calls/s over one ``wrk`` run against ``url`` (every answer must be a 200)."""
    command = [wrk, "-t1", f"-c{WRK_CONNECTIONS}", f"-d{seconds:g}s", "-s", str(script), url]
    done = subprocess.run(
        command, capture_output=True, text=True, check=True,
        preexec_fn=None if cpu is None else lambda: os.sched_setaffinity(0, {cpu}),
    )  # fmt: skip
    if "Non-2xx" in done.stdout or "Socket errors" in done.stdout:
        sys.exit(f"wrk saw failed requests:\n{done.stdout}")
    found = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    if found is None:
        sys.exit(f"unexpected wrk output:\n{done.stdout}")
    return float(found.group(1))


def measure_deny_pair(
    revisions: dict[str, Revision], options: argparse.Namespace, wrk: str, flip: bool
) -> DenyPair:
    available = cpus()
    gateway_cpu = available[0] if available else None
    load_cpu = available[1] if len(available) > 1 else None
    with contextlib.ExitStack() as stack:
        gateways: dict[str, tuple[str, int, Path]] = {}
        for name in sorted(revisions, reverse=flip):
            revision = revisions[name]
            port, process = serve_revision(stack, name, revision.src, revision.home, gateway_cpu)
            url = f"http://{LOOPBACK}:{port}/mcp/{UPSTREAM}"
            check_denial(url, revision.token)
            script = lua_script(revision.token, revision.home)
            gateways[name] = (url, process.pid, script)
        for url, _, script in gateways.values():  # warm up: every path taken, caches filled
            wrk_rate(wrk, url, script, 1, load_cpu)
        rates: dict[str, list[float]] = {name: [] for name in gateways}
        costs: dict[str, list[float]] = {name: [] for name in gateways}
        names = list(gateways)
        for round_number in range(options.rounds):
            for name in names if round_number % 2 == 0 else names[::-1]:
                url, pid, script = gateways[name]
                before = cpu_seconds(pid)
                rate = wrk_rate(wrk, url, script, options.seconds, load_cpu)
                spent = cpu_seconds(pid) - before
                rates[name].append(rate)
                costs[name].append(spent / (rate * options.seconds) * 1e6)
    median = statistics.median
    return DenyPair(
        median(rates["old"]), median(rates["new"]), median(costs["old"]), median(costs["new"])
    )


def deny_report(old: str, new: str, pairs: list[DenyPair]) -> None:
    print("deny path: refused calls/s (wrk -t1 -c16) and gateway CPU per refused call")
    olds = (f"{p.old_rate:,.0f}/s {p.old_cpu_us:.1f} µs" for p in pairs)
    news = (f"{p.new_rate:,.0f}/s {p.new_cpu_us:.1f} µs" for p in pairs)
    print(f"  old = {old}: " + ", ".join(olds))
    print(f"  new = {new}: " + ", ".join(news))
    rates = [p.rate_ratio for p in pairs]
    cpu = [p.cpu_ratio for p in pairs]
    print("  new / old calls/s per pair: " + ", ".join(f"{r:.3f}" for r in rates))
    print("  new / old CPU per call, per pair: " + ", ".join(f"{r:.3f}" for r in cpu))
    print(f"  median of the pairs: calls/s x{statistics.median(rates):.3f}, "
          f"CPU per call x{statistics.median(cpu):.3f}")  # fmt: skip
    print(f"  after the run: {load()}")


CALLGRIND_START_SECONDS = 600  # a gateway's start under valgrind takes a minute or more


def tool_script(tool: str, arguments: Mapping[str, object], token: str, path: Path) -> Path:
    """A wrk script POSTing one stateless ``tools/call`` of ``tool``."""
    lines = ['wrk.method = "POST"', f"wrk.body = {lua_string(call_body(tool, arguments))}"]
    for name, value in call_headers(tool, token).items():
        lines.append(f"wrk.headers[{lua_string(name.encode())}] = {lua_string(value.encode())}")
    path.write_text("\n".join(lines) + "\n")
    return path


def wrk_count(wrk: str, url: str, script: Path, connections: int, seconds: int) -> int | None:
    """How many calls one ``wrk`` run made; None if any was not answered 200."""
    command = [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "60s",
               "-s", str(script), url]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    found = re.search(r"(\d+) requests in", done.stdout)
    if found is None or "Non-2xx" in done.stdout or "Socket errors" in done.stdout:
        return None
    return int(found.group(1))


MEASURE_ATTEMPTS = 3


def measure_instructions(name: str, revision: Revision, seconds: int, wrk: str) -> dict[str, float]:
    """Instructions the gateway of ``revision`` executes per refused and per allowed call.

    A gateway slowed fifty-fold can miss its own store heartbeat's deadline on a busy
    machine, and then answers 503 until the next one succeeds: each run waits for
    ``/readyz`` first, and a run with any answer but 200 is measured again."""
    home, token = revision.home, revision.token
    scratch = home.parent
    out = scratch / f"callgrind.{name}"
    port, admin = free_port(), free_port()
    env = home_env(home, revision.src)
    command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
               sys.executable, "-m", "mcpwall", "serve",
               "--port", str(port), "--admin-port", str(admin)]  # fmt: skip
    cpu = next(iter(cpus()), None)
    log = scratch / f"{name}.log"
    url = f"http://{LOOPBACK}:{port}/mcp/{UPSTREAM}"
    ready = f"http://{LOOPBACK}:{port}/readyz"
    scripts = {
        "deny": (tool_script(*DENIED, token, home / "deny-one.lua"), 4),
        "allow": (tool_script(*ALLOWED, token, home / "allow-one.lua"), 1),
    }
    per_call: dict[str, float] = {}
    dumps = 0
    with running(command, env, log, cpu) as process:
        wait_up(ready, process, log)
        check_denial(url, token)
        for path, (script, connections) in scripts.items():
            for _ in range(MEASURE_ATTEMPTS):
                wait_up(ready, process, log)
                wrk_count(wrk, url, script, connections, 2)  # warm-up
                control = ["callgrind_control", "-z", str(process.pid)]
                subprocess.run(control, capture_output=True, check=True)
                calls = wrk_count(wrk, url, script, connections, seconds)
                control[1] = "-d"
                subprocess.run(control, capture_output=True, check=True)
                dumps += 1
                if calls is not None:
                    per_call[path] = callgrind_total(Path(f"{out}.{dumps}")) / calls
                    break
            else:
                sys.exit(f"{path}: calls failed in {MEASURE_ATTEMPTS} runs:\n{log.read_text()}")
    return per_call


def wait_up(url: str, process: subprocess.Popen[str], log: Path) -> None:
    """:func:`wait_healthy`, with the patience a gateway under valgrind needs."""
    deadline = time.monotonic() + CALLGRIND_START_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(1)
    sys.exit(f"the gateway did not start under valgrind:\n{log.read_text()}")


def callgrind_total(path: Path) -> int:
    """The instructions counted in one callgrind dump (its ``totals:`` or ``summary:``)."""
    for _ in range(100):  # the dump is written by the process, after callgrind_control returns
        if path.exists():
            for line in path.read_text(errors="replace").splitlines():
                if line.startswith(("totals:", "summary:")):
                    return int(line.split()[1])
        time.sleep(0.1)
    sys.exit(f"no callgrind dump at {path}")


def instructions_report(names: list[str], counts: list[dict[str, float]]) -> None:
    """Each revision's instructions per call, and its ratio to the one before it."""
    print("instructions per call, counted by callgrind (the gateway's threads, user space)")
    for path, what in (("deny", "refused call (wrk -c4)"), ("allow", "allowed call (wrk -c1)")):
        print(f"  per {what}:")
        for n, (name, count) in enumerate(zip(names, counts, strict=True)):
            step = f", x{count[path] / counts[n - 1][path]:.3f} of the one before" if n else ""
            print(f"    {name}: {count[path]:,.0f}{step}")
        if len(names) > 2:
            print(f"    last / first: x{counts[-1][path] / counts[0][path]:.3f}")
    print(f"  after the run: {load()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", help="the revision to compare against (a commit, a branch)")
    parser.add_argument("new", nargs="?", help="the revision to measure (default: working tree)")
    parser.add_argument("--pairs", type=int, default=6, help="pairs of fresh gateways")
    parser.add_argument("--rounds", type=int, default=6, help="rounds per pair")
    parser.add_argument(
        "--deny", action="store_true", help="measure the deny path (wrk) instead of latency"
    )
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions per call (callgrind)"
    )
    parser.add_argument("--seconds", type=int, default=3, help="each wrk run")
    parser.add_argument(
        "--then", nargs="+", default=[], metavar="REV",
        help="with --instructions: more revisions, each compared with the one before",
    )  # fmt: skip
    options = parser.parse_args()
    wrk = ensure_wrk() if options.deny or options.instructions else None
    if (options.deny or options.instructions) and wrk is None:
        sys.exit("--deny and --instructions need wrk")
    if options.instructions and shutil.which("valgrind") is None:
        sys.exit("--instructions needs valgrind (apt-get install valgrind)")
    what = "allowed call, added latency"
    if options.deny or options.instructions:
        what = "deny path" if options.deny else "instructions per call"
    print(f"{what}: two revisions side by side (paired fresh gateways)")
    print(f"  machine: {machine()}")
    upstream_cpu = cpus()[1] if len(cpus()) > 1 else None
    with tempfile.TemporaryDirectory(prefix="mcpwall-compare-") as scratch_name:
        scratch = Path(scratch_name)
        with (
            source(options.old, scratch) as old,
            source(options.new, scratch) as new,
            running([sys.executable, str(FIXTURE), "http", "--port", str(free_port())],
                    dict(os.environ), scratch / "fixture.log", upstream_cpu) as fixture,
        ):  # fmt: skip
            direct = ready_url(fixture, scratch / "fixture.log")
            if options.instructions and wrk is not None:
                names = [options.old, options.new or "working tree", *options.then]
                with contextlib.ExitStack() as more:
                    paths = [old, new] + [
                        more.enter_context(source(r, scratch)) for r in options.then
                    ]
                    homed = [
                        configure(f"rev{n}", path, direct, scratch) for n, path in enumerate(paths)
                    ]
                    counts = [
                        measure_instructions(f"rev{n}", revision, options.seconds, wrk)
                        for n, revision in enumerate(homed)
                    ]
                instructions_report(names, counts)
                return
            revisions = {
                name: configure(name, src, direct, scratch)
                for name, src in (("old", old), ("new", new))
            }
            if wrk is not None:
                denials = [
                    measure_deny_pair(revisions, options, wrk, flip=bool(n % 2))
                    for n in range(options.pairs)
                ]
                deny_report(options.old, options.new or "working tree", denials)
                return
            pairs = [
                measure_pair(revisions, direct, options.rounds, flip=bool(n % 2))
                for n in range(options.pairs)
            ]
    report(options.old, options.new or "working tree", pairs)


def report(old: str, new: str, pairs: list[Pair]) -> None:
    print(f"  old = {old}: added " + ", ".join(f"{p.old_ms:.3f}" for p in pairs) + " ms")
    print(f"  new = {new}: added " + ", ".join(f"{p.new_ms:.3f}" for p in pairs) + " ms")
    differences = [p.difference_us for p in pairs]
    print("  new - old per pair: " + ", ".join(f"{d:+.1f}" for d in differences) + " µs")
    print(f"  median of the pairs: {statistics.median(differences):+.1f} µs")
    print(f"  after the run: {load()}")


if __name__ == "__main__":
    main()
