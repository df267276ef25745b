"""What a rate limit adds to an allowed call (DESIGN §7): with the limit, over without it.

Run with ``make bench`` (or ``.venv/bin/python bench/limited.py [OLD]``). The bar: a call that
passes a limit adds at most 1.1× what the same call without a limit adds, measured as a ratio
in one run.

Two ``mcpwall serve`` processes on the embedded default (SQLite, each its own home) stand in
front of the project's fixture server (Streamable HTTP, on the other CPU), as in
``bench/gateway.py``: ``unlimited`` has the seed's policy without ``delete_pod``'s limit,
``limited`` the seed's policy with it. One keep-alive client calls ``delete_pod`` in
``staging`` (allowed) directly, through ``unlimited`` and through ``limited``, in rotating
order, ``--rounds`` rounds of 200 calls; each side's figure is the median of its per-call
differences against the direct call of the same round. ``--pairs`` pairs of fresh gateway
processes (started in alternating order; see ``bench/compare.py`` for why); the verdict is
the median over the pairs of limited ÷ unlimited.

The limit is the seed's (per grant, an hour) with ``max`` raised so that it never refuses.
Each gateway is called two ways, each with its own client:

- ``one grant``: every call as one grant (max 10⁶), the issue's method: an agent calling
  in a loop, a hot log, which the embedded store serves from tickets claimed ahead
  (``adapters/counters/tickets.py``);
- ``256 grants``: the calls rotate over ``GRANTS`` grants (max 1,000), so that each log is
  used every 256th call, a few times a second: logs that are never hot enough for tickets,
  each call a transaction, and each window holding a few dozen calls, not the run's
  thousands (a window holding n calls costs a scan of min(n, max) index entries per check;
  see docs/performance.md).

With OLD (a git revision), the same two gateways of OLD's ``src`` join the rotation: the
change's effect in the same run. OLD's gateways have homes of their own, configured alike but by
OLD's own ``mcpwall`` (a home the tree's ``mcpwall`` opened has the tree's schema, which an
older revision cannot open).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import http.client
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from compare import source
from gateway import FIXTURE, SEED_POLICY, UPSTREAM, Client, cpus, load, machine
from processes import LOOPBACK, configured_home, free_port, ready_url, running, serve_revision

GOAL = 1.1
GRANTS = 256
RAISED_MAX = 1000
HOT_MAX = 1_000_000
WAYS = {"one grant": "hot", "256 grants": "g"}  # client: the grants it calls as
CALLS = 200
WARMUP_CALLS = 300
TOOL = "delete_pod"
ARGUMENTS: Mapping[str, object] = {"name": "checkout-7f9c", "namespace": "staging"}


def policies() -> dict[str, dict[str, dict[str, Any]]]:
    """Per gateway, its policies: the seed's with ``delete_pod``'s limit raised (``bench``
    to 1,000 for the rotating grants, ``bench-hot`` to 10⁶ for the one grant), or without."""
    seed = json.loads(SEED_POLICY.read_text(encoding="utf-8"))
    limited, hot, unlimited = copy.deepcopy(seed), copy.deepcopy(seed), copy.deepcopy(seed)
    limited["tools"][TOOL]["limits"][0]["max"] = RAISED_MAX
    hot["tools"][TOOL]["limits"][0]["max"] = HOT_MAX
    del unlimited["tools"][TOOL]["limits"]
    return {
        "limited": {"bench": limited, "bench-hot": hot},
        "unlimited": {"bench": unlimited, "bench-hot": unlimited},
    }


def configure(
    home: Path, src: Path, direct: str, policies: Mapping[str, Any]
) -> dict[str, list[str]]:
    """A home with the upstream, the policies, grant ``hot`` on ``bench-hot`` and ``GRANTS``
    grants on ``bench``, configured by the ``mcpwall`` of ``src`` (each revision its own
    homes; see ``bench/processes.py``); each way's tokens."""
    grants = [{"label": f"g{n}", "bind": {UPSTREAM: "bench"}} for n in range(GRANTS)]
    config = {
        "upstreams": {UPSTREAM: {"url": direct}},
        "policies": dict(policies),
        "grants": [{"label": "hot", "bind": {UPSTREAM: "bench-hot"}}, *grants],
    }
    tokens = configured_home(home, src, config)
    return {"hot": [tokens["hot"]], "g": [tokens[f"g{n}"] for n in range(GRANTS)]}


def timed(client: Client, tokens: list[str] | None, i: int) -> float:
    """One call's round trip (ms), as the ``i``-th grant when there are grants to rotate."""
    if tokens is not None:
        client.token = tokens[i % len(tokens)]
    try:
        return client.timed(TOOL, ARGUMENTS, i)
    except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
        # The server closed a connection it found idle (its keep-alive timeout) while the
        # others had their turn: connect again, and time the call on the new connection.
        client.connection.close()
        return client.timed(TOOL, ARGUMENTS, i)


def measure_pair(
    gateways: Mapping[str, tuple[Path, Path]],
    tokens: Mapping[str, dict[str, list[str]]],
    direct: str,
    rounds: int,
    flip: bool,
) -> dict[str, float]:
    """The median added latency (ms) of each gateway called each way (``NAME: WAY``), fresh
    processes, one rotation."""
    gateway_cpu = next(iter(cpus()), None)
    with contextlib.ExitStack() as stack:
        clients = {"direct": stack.enter_context(contextlib.closing(Client(direct, None)))}
        grants: dict[str, list[str]] = {}
        for name in sorted(gateways, reverse=flip):
            src, home = gateways[name]
            port, _ = serve_revision(stack, name, src, home, gateway_cpu)
            url = f"http://{LOOPBACK}:{port}/mcp/{UPSTREAM}"
            for way, label in WAYS.items():
                called = f"{name}: {way}"
                clients[called] = stack.enter_context(contextlib.closing(Client(url, None)))
                grants[called] = tokens[name][label]
        for i in range(WARMUP_CALLS):  # interleaved: no connection idles past a keep-alive
            for name, client in clients.items():
                timed(client, grants.get(name), i)
        added: dict[str, list[float]] = {name: [] for name in grants}
        names = list(clients)
        for round_number in range(rounds):
            shift = round_number % len(names)
            samples = {
                name: [timed(clients[name], grants.get(name), i) for i in range(CALLS)]
                for name in names[shift:] + names[:shift]
            }
            for name in grants:
                pairs = zip(samples["direct"], samples[name], strict=True)
                added[name].extend(through - plain for plain, through in pairs)
    return {name: statistics.median(values) for name, values in added.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", nargs="?", help="a revision to measure beside the working tree")
    parser.add_argument("--pairs", type=int, default=4, help="sets of fresh gateways")
    parser.add_argument("--rounds", type=int, default=6, help="rounds of 200 calls per set")
    options = parser.parse_args()
    print("allowed call with a limit, over the same call without it (DESIGN §7: ≤ 1.1×)")
    print(f"  machine: {machine()}")
    upstream_cpu = cpus()[1] if len(cpus()) > 1 else None
    with tempfile.TemporaryDirectory(prefix="mcpwall-limited-") as scratch_name:
        scratch = Path(scratch_name)
        fixture_log = scratch / "fixture.log"
        fixture = [sys.executable, str(FIXTURE), "http", "--port", str(free_port())]
        with contextlib.ExitStack() as stack:
            upstream = stack.enter_context(
                running(fixture, dict(os.environ), fixture_log, upstream_cpu)
            )
            direct = ready_url(upstream, fixture_log)
            revisions = {"": None} if options.old is None else {"": None, "old ": options.old}
            gateways: dict[str, tuple[Path, Path]] = {}
            tokens: dict[str, dict[str, list[str]]] = {}
            for prefix, revision in revisions.items():
                src = stack.enter_context(source(revision, scratch))
                for kind, policy in policies().items():
                    name = prefix + kind
                    home = scratch / name.replace(" ", "-")
                    tokens[name] = configure(home, src, direct, policy)
                    gateways[name] = (src, home)
            runs = [
                measure_pair(gateways, tokens, direct, options.rounds, flip=bool(n % 2))
                for n in range(options.pairs)
            ]
    report(runs, options.old)


def report(runs: list[dict[str, float]], old: str | None) -> None:
    results: dict[str, dict[str, object]] = {}
    for prefix, label in (("", "this tree"), ("old ", f"old = {old}")):
        if f"{prefix}limited: one grant" not in runs[0]:
            continue
        key = "old" if prefix else "new"
        results[key] = {}
        for way in WAYS:
            limited = [run[f"{prefix}limited: {way}"] for run in runs]
            unlimited = [run[f"{prefix}unlimited: {way}"] for run in runs]
            ratios = [lim / unl for lim, unl in zip(limited, unlimited, strict=True)]
            ratio = statistics.median(ratios)
            verdict = "meets" if ratio <= GOAL else "MISSES"
            print(f"  {label}, {way}: added without the limit "
                  + ", ".join(f"{v:.3f}" for v in unlimited) + " ms; with it "
                  + ", ".join(f"{v:.3f}" for v in limited) + " ms")  # fmt: skip
            print("    ratio per set " + ", ".join(f"{r:.2f}" for r in ratios)
                  + f"; median {ratio:.2f}× ({verdict} the bar of {GOAL}×)")  # fmt: skip
            results[key][way] = {
                "added_unlimited_ms": round(statistics.median(unlimited), 3),
                "added_limited_ms": round(statistics.median(limited), 3),
                "ratio": round(ratio, 3),
            }
    print(f"  after the run: {load()}")
    print(json.dumps({"limited": results}))


if __name__ == "__main__":
    main()
