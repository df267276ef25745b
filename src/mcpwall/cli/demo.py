"""``mcpwall demo [--keep]``: the crashloop story, end to end, with real processes."""

from __future__ import annotations

import click

from mcpwall.cli.extras import require_demo_extra
from mcpwall.cli.output import stdout


@click.command()
@click.option(
    "--keep",
    is_flag=True,
    help="Leave the gateway and the sandbox running afterwards and print how to connect your "
    "own agent (URL, token, config snippets); Ctrl-C stops them.",
)
def demo(keep: bool) -> None:
    """Play the crashloop story through mcpwall, end to end, and check every step.

    A throwaway MCPWALL_HOME (SQLite), the sandbox Kubernetes cluster (nothing real is
    touched), the seed's policy, grants and the real mcpwall serve on loopback ports; then a
    scripted agent — the official MCP client over HTTP — lists the tools, deletes a
    crashlooping pod in staging, is handed payments-prod, calls a hidden tool, applies a
    ClusterRole, and runs a delete loop. Each step shows what the agent tried, what the wall
    decided and why. Exit 0 when every step behaved as the story says, 1 (naming the step)
    when one did not.
    """
    require_demo_extra("demo")
    from mcpwall.demo.runner import run_demo  # the SDK loads only once it is known to be there

    raise SystemExit(run_demo(stdout, keep=keep))
