"""What a change does to the latency added to an allowed call: two revisions, side by side.

Run with ``.venv/bin/python bench/compare.py OLD [NEW]`` (git revisions; NEW defaults to the
working tree). Each revision's ``src`` is checked out into a scratch folder, and for each of
``--pairs`` pairs, one ``mcpwall serve`` of each (fresh processes, started in alternating
order) runs on one CPU in front of the project's fixture server (the other CPU), as in
``bench/gateway.py``. One keep-alive client calls ``get_pod_logs`` directly, through OLD and
through NEW in rotating order, ``--rounds`` rounds of 200 calls. Each side's figure is the
median of its per-call differences against the direct call of the same round; the verdict is
the median, over the pairs, of NEW minus OLD.

Why pairs of fresh processes: on the development machine a gateway process sometimes runs
30–40 µs faster than another running the same code, for its whole life, so one pair can be off
by that much; the median over several pairs is not. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gateway import ALLOWED, FIXTURE, SEED_POLICY, UPSTREAM, Client, cpus, load, machine
from processes import LOOPBACK, free_port, home_env, mcpwall, ready_url, running, wait_healthy

REPO = Path(__file__).resolve().parents[1]
CALLS = 200
WARMUP_CALLS = 300


@dataclass
class Pair:
    old_ms: float
    new_ms: float

    @property
    def difference_us(self) -> float:
        return (self.new_ms - self.old_ms) * 1000


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


def measure_pair(
    sources: dict[str, Path], direct: str, home: Path, token: str, rounds: int, flip: bool
) -> Pair:
    gateway_cpu = next(iter(cpus()), None)
    with contextlib.ExitStack() as stack:
        urls: dict[str, str] = {}
        for name in sorted(sources, reverse=flip):
            port, admin = free_port(), free_port()
            env = {**home_env(home), "PYTHONPATH": str(sources[name])}
            command = [sys.executable, "-m", "mcpwall", "serve",
                       "--port", str(port), "--admin-port", str(admin)]  # fmt: skip
            log = home.parent / f"{name}.log"
            process = stack.enter_context(running(command, env, log, gateway_cpu))
            wait_healthy(f"http://{LOOPBACK}:{port}/healthz", process, log)
            urls[name] = f"http://{LOOPBACK}:{port}/mcp/{UPSTREAM}"
        clients = {"direct": stack.enter_context(contextlib.closing(Client(direct, None)))}
        for name, url in urls.items():
            clients[name] = stack.enter_context(contextlib.closing(Client(url, token)))
        tool, arguments = ALLOWED
        for i in range(WARMUP_CALLS):  # interleaved: no connection idles past a keep-alive
            for client in clients.values():
                client.timed(tool, arguments, i)
        added: dict[str, list[float]] = {name: [] for name in sources}
        names = list(clients)
        for round_number in range(rounds):
            shift = round_number % len(names)
            samples = {}
            for name in names[shift:] + names[:shift]:
                samples[name] = [clients[name].timed(tool, arguments, i) for i in range(CALLS)]
            for name in sources:
                pairs = zip(samples["direct"], samples[name], strict=True)
                added[name].extend(through - plain for plain, through in pairs)
    return Pair(statistics.median(added["old"]), statistics.median(added["new"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", help="the revision to compare against (a commit, a branch)")
    parser.add_argument("new", nargs="?", help="the revision to measure (default: working tree)")
    parser.add_argument("--pairs", type=int, default=6, help="pairs of fresh gateways")
    parser.add_argument("--rounds", type=int, default=6, help="rounds of 200 calls per pair")
    options = parser.parse_args()
    print("allowed call, added latency: two revisions side by side (paired fresh gateways)")
    print(f"  machine: {machine()}")
    upstream_cpu = cpus()[1] if len(cpus()) > 1 else None
    with tempfile.TemporaryDirectory(prefix="mcpwall-compare-") as scratch_name:
        scratch = Path(scratch_name)
        home = scratch / "home"
        home.mkdir()
        with (
            source(options.old, scratch) as old,
            source(options.new, scratch) as new,
            running([sys.executable, str(FIXTURE), "http", "--port", str(free_port())],
                    dict(os.environ), scratch / "fixture.log", upstream_cpu) as fixture,
        ):  # fmt: skip
            direct = ready_url(fixture, scratch / "fixture.log")
            mcpwall(home, "upstream", "add", UPSTREAM, "--url", direct)
            mcpwall(home, "policy", "set", "seed", str(SEED_POLICY))
            issued = mcpwall(home, "grant", "issue", "--label", "compare",
                             "--bind", f"{UPSTREAM}=seed", "--json")  # fmt: skip
            token = str(json.loads(issued)["token"])
            sources = {"old": old, "new": new}
            pairs = [
                measure_pair(sources, direct, home, token, options.rounds, flip=bool(n % 2))
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
