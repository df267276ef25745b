"""What ``mcpwall stdio``'s own start costs, in instructions: a figure the load does not move.

Run with ``.venv/bin/python bench/stdio_start_count.py [--against REV]`` (needs ``valgrind``;
not in ``make bench``). In a scratch home set up as ``bench/stdio_start.py`` sets it up, it
counts with ``valgrind --tool=callgrind`` (the upstream, a child, is not counted) what the
command does before its agent has a first answer: the command found through the command
line's lazy group, the upstream read from the store and spawned (**to the spawn**), then the
store opened, the grant checked and the data plane built (**to a built gateway**), then an
agent's ``initialize`` and ``tools/list`` answered (**to the first answer**: what
``bench/stdio_start.py`` times, the upstream's own answers apart); it stops at each point
(``os._exit``: what stopping costs is no part of the start). With ``--against REV``, the same
from revision REV's ``src``. Each count is the median of ``--runs`` (3).
"""

from __future__ import annotations

import argparse
import contextlib
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from compare import REPO, source
from processes import home_env
from stdio_start import compiled, setup

_COLLECTED = re.compile(r"Collected : (\d+)")
# What `mcpwall stdio` runs before it serves (cli/stdio.py's _run, without _serve).
START = """
import asyncio, json, os, sys
import click
from mcpwall.cli import cli
cli.get_command(click.Context(cli), "stdio")
from mcpwall.cli import stdio

INITIALIZE = {"protocolVersion": "2025-11-25", "capabilities": {},
              "clientInfo": {"name": "mcpwall-bench", "version": "1"}}

def line(message):
    return json.dumps({"jsonrpc": "2.0", **message}).encode() + b"\\n"

async def main():
    token = os.environ["MCPWALL_TOKEN"]
    paused = getattr(stdio, "uncollected", None) or __import__("contextlib").nullcontext
    with paused():
        early = await stdio.spawn_early("k8s", token)
    if sys.argv[1] == "spawn":
        os._exit(0)  # what stopping costs is no part of the start
    with click.Context(cli):
        with paused():
            gateway, close = stdio._gateway("k8s", token, early)
        if sys.argv[1] == "built":
            os._exit(0)
        agent = asyncio.StreamReader()

        async def write(data):
            answer = json.loads(data)
            if "error" in answer:
                sys.exit(f"refused: {answer['error']}")
            if answer.get("id") == 1:
                agent.feed_data(line({"method": "notifications/initialized"}))
                agent.feed_data(line({"id": 2, "method": "tools/list", "params": {}}))
            elif answer.get("id") == 2:
                if not answer["result"]["tools"]:
                    sys.exit("tools/list answered with no tools")
                os._exit(0)  # the first answer: the agent has it

        agent.feed_data(line({"id": 1, "method": "initialize", "params": INITIALIZE}))
        await gateway.serve(agent, write)
        sys.exit("the agent's stdin ended before the first answer")

asyncio.run(main())
"""


def instructions(env: dict[str, str], until: str) -> int:
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    command += [sys.executable, "-c", START, until]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    found = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        sys.exit(f"the start failed:\n{done.stderr[-2000:]}")
    return int(found[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="counts of each")
    parser.add_argument("--against", metavar="REV", help="also count this git revision's start")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mcpwall-stdio-count-") as folder:
        scratch = Path(folder)
        with contextlib.ExitStack() as stack:
            home, token = setup(scratch / "home")
            trees = {"this tree": {**home_env(home), "MCPWALL_TOKEN": token}}
            folders = [REPO / "src"]
            if options.against:  # its own home, set up by its own mcpwall (its schema)
                against = stack.enter_context(source(options.against, scratch))
                home, token = setup(scratch / "home-against", against)
                trees[options.against] = {**home_env(home, against), "MCPWALL_TOKEN": token}
                folders.append(against)
            compiled(*folders)
            for name, tree in trees.items():
                counts = {
                    until: statistics.median(instructions(tree, until) for _ in range(options.runs))
                    for until in ("spawn", "built", "answer")
                }
                print(
                    f"{name:<12} to the spawn {counts['spawn'] / 1e6:6.0f} M, "
                    f"to a built gateway {counts['built'] / 1e6:6.0f} M, "
                    f"to the first answer {counts['answer'] / 1e6:6.0f} M instructions"
                )


if __name__ == "__main__":
    main()
