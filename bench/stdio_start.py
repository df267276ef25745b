"""How long a desktop agent waits for its first answer: the fixture server alone, and behind
``mcpwall stdio`` (issue 16 §3).

Run with ``.venv/bin/python bench/stdio_start.py [--runs N] [--against REV] [--together N]``.
A desktop agent spawns its servers when it starts, sends ``initialize``, then ``tools/list``;
the figure is the time from spawning the process to the ``tools/list`` answer. With
``--together N``, each measurement spawns N copies of the side at once, as an agent configured
with N servers does, and the figure is the time until the last of them answered: the copies
share the machine's CPUs with each other. In one run, alternating:

* **upstream**: ``tests/fixtures/fixture_server.py stdio`` spawned directly;
* **mcpwall**: ``mcpwall stdio --upstream k8s`` spawned with a grant token, in front of the same
  fixture server (registered with ``mcpwall apply -f`` in a scratch ``MCPWALL_HOME``, under the
  seed's policy; the schema is already current, as on every start but the first);
* with ``--against REV``, also **REV**: the same ``mcpwall stdio`` from git revision REV's
  ``src`` (checked out into a scratch folder), to show what a change bought; on a home of its
  own, configured alike by REV's own ``mcpwall`` (a home this tree opened has this tree's
  schema, which an older revision cannot open).

It reports each side's median, what mcpwall adds (its median minus the upstream's), and the
ratio of the medians. Each spawn is fresh; the first of each kind is a discarded warm-up (the
disk cache). Every side's bytecode is written first (``compileall``), as every start but the
first finds it: with ``PYTHONDONTWRITEBYTECODE`` set, a side whose modules changed since their
bytecode (or a revision checked out afresh) would otherwise compile them at every start.
Nothing here asserts a time: the goal is printed beside the figure.
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
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from compare import REPO, source
from gateway import FIXTURE, SEED_POLICY, UPSTREAM, machine
from processes import configured_home, home_env

RUNS = 15
ADDED_GOAL_S = 0.2  # issue 16 §3: mcpwall stdio adds at most 0.2 s to the first answer
ANSWER_SECONDS = 60.0
_INITIALIZE = {
    "protocolVersion": "2025-11-25",
    "capabilities": {},
    "clientInfo": {"name": "mcpwall-bench", "version": "1"},
}


Home = tuple[Path, str]  # an MCPWALL_HOME and its grant's token


def setup(home: Path, src: Path | None = None) -> Home:
    """A home with the fixture server as upstream ``k8s`` under the seed's policy, configured
    by the ``mcpwall`` of ``src`` (None: this tree's); with its grant's token."""
    config = {
        "upstreams": {UPSTREAM: {"command": [sys.executable, str(FIXTURE), "stdio"]}},
        "policies": {"seed": json.loads(SEED_POLICY.read_text(encoding="utf-8"))},
        "grants": [{"label": "desktop", "bind": {UPSTREAM: "seed"}}],
    }
    return home, configured_home(home, src, config)["desktop"]


def first_answer(command: list[str], env: dict[str, str]) -> float:
    """Seconds from spawning ``command`` to its answer to the first ``tools/list``."""
    started = time.perf_counter()
    with subprocess.Popen(
        command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    ) as process:  # fmt: skip
        assert process.stdin is not None
        assert process.stdout is not None
        try:
            hello = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": _INITIALIZE}
            _send(process, hello)
            _answer(process, 1)
            _send(process, {"jsonrpc": "2.0", "method": "notifications/initialized"})
            _send(process, {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}})
            result = _answer(process, 2)["result"]
            tools = result.get("tools") if isinstance(result, dict) else None
            elapsed = time.perf_counter() - started
            if not tools:
                sys.exit(f"{command[-1]}: tools/list answered with no tools")
        finally:
            process.stdin.close()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
    return elapsed


def _send(process: subprocess.Popen[bytes], message: dict[str, object]) -> None:
    assert process.stdin is not None
    process.stdin.write(json.dumps(message).encode() + b"\n")
    process.stdin.flush()


def _answer(process: subprocess.Popen[bytes], request_id: int) -> dict[str, object]:
    """The answer to ``request_id`` (notifications before it are skipped)."""
    assert process.stdout is not None
    deadline = time.monotonic() + ANSWER_SECONDS
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            sys.exit(f"the process ended before answering request {request_id}")
        message = json.loads(line)
        if message.get("id") == request_id:
            if "result" not in message:
                sys.exit(f"request {request_id} failed: {message.get('error')}")
            assert isinstance(message, dict)
            return message
    sys.exit(f"no answer to request {request_id} in {ANSWER_SECONDS:.0f} s")


Side = tuple[list[str], dict[str, str]]  # a command and its environment


def sides(home: Home, against: tuple[Path, Home] | None) -> dict[str, Side]:
    """Each side's command and environment, by name (``against``: REV's ``src`` and home)."""
    gateway = [sys.executable, "-m", "mcpwall", "stdio", "--upstream", UPSTREAM]
    chosen = {
        "upstream": ([sys.executable, str(FIXTURE), "stdio"], dict(os.environ)),
        "mcpwall": (gateway, {**home_env(home[0]), "MCPWALL_TOKEN": home[1]}),
    }
    if against is not None:
        src, (against_home, token) = against
        chosen["against"] = (gateway, {**home_env(against_home, src), "MCPWALL_TOKEN": token})
    return chosen


def measure(
    home: Home, runs: int, against: tuple[Path, Home] | None, together: int = 1
) -> dict[str, list[float]]:
    """``runs`` first answers of each side, alternating (order rotated every round); each the
    last of ``together`` copies spawned at once."""
    chosen = sides(home, against)
    names = list(chosen)

    def last_answer(name: str) -> float:
        if together == 1:
            return first_answer(*chosen[name])
        with ThreadPoolExecutor(together) as pool:
            return max(pool.map(lambda _: first_answer(*chosen[name]), range(together)))

    for name in names:  # warm-up: the disk cache, Python's bytecode cache
        last_answer(name)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(runs):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(last_answer(name))
    return times


def report(times: dict[str, list[float]], against: str | None, together: int = 1) -> None:
    medians = {name: statistics.median(values) for name, values in times.items()}
    upstream = medians["upstream"]
    what = "first tools/list" if together == 1 else f"the last of {together} started at once"
    print(f"{what} answered (initialize included), median of {len(times['upstream'])}:")
    for name, median in medians.items():
        label = {"upstream": "fixture server alone", "mcpwall": "mcpwall stdio (this tree)"}.get(
            name, f"mcpwall stdio ({against})"
        )
        spread = f"{min(times[name]):.3f}–{max(times[name]):.3f} s"
        line = f"  {label:<34} {median:7.3f} s  (range {spread})"
        if name != "upstream":
            line += f"  adds {median - upstream:+.3f} s, ratio {median / upstream:.2f}×"
        print(line)
    added = medians["mcpwall"] - upstream
    verdict = "met" if added <= ADDED_GOAL_S else "missed"
    print(f"goal: adds at most {ADDED_GOAL_S} s — {verdict} ({added:.3f} s)")
    if "against" in medians:
        bought = medians["against"] - medians["mcpwall"]
        print(f"this tree is {bought:+.3f} s faster to the first answer than {against}")


def compiled(*folders: Path) -> None:
    """Write the bytecode of every module under ``folders`` now (``compileall`` writes it
    whatever ``PYTHONDONTWRITEBYTECODE`` says)."""
    for folder in folders:
        command = [sys.executable, "-m", "compileall", "-q", str(folder)]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="mcpwall-stdio-start-") as folder:
        yield Path(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=RUNS, help="spawns of each side")
    parser.add_argument("--against", metavar="REV", help="also time this git revision's mcpwall")
    parser.add_argument(
        "--together", type=int, default=1, metavar="N", help="spawn N copies of a side at once"
    )
    options = parser.parse_args()
    print(machine())
    with scratch() as folder, contextlib.ExitStack() as stack:
        home = setup(folder / "home")
        against = None
        if options.against:
            src = stack.enter_context(source(options.against, folder))
            against = (src, setup(folder / "home-against", src))
        compiled(REPO / "src", FIXTURE.parent, *([] if against is None else [against[0]]))
        times = measure(home, options.runs, against, options.together)
    report(times, options.against, options.together)
    print(f"after the run: {machine().rsplit('; ', 1)[-1]}")


if __name__ == "__main__":
    main()
