"""The ``mcpwall`` command line (DESIGN §5)."""

from __future__ import annotations

import click

from mcpwall.cli.policy import policy


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="mcpwall", prog_name="mcpwall")
def cli() -> None:
    """mcpwall: a policy gateway for the Model Context Protocol.

    It stands between AI agents and the MCP servers they use, and enforces a policy on every
    tools/call that the agent cannot talk its way around.
    """


cli.add_command(policy)


def main() -> None:
    """Entry point of the ``mcpwall`` console script."""
    cli(prog_name="mcpwall")
