"""The ``mcpwall`` command line (DESIGN §5)."""

from __future__ import annotations

import click

from mcpwall.cli.admin import admin
from mcpwall.cli.apply import apply_command
from mcpwall.cli.grant import grant
from mcpwall.cli.logs import logs
from mcpwall.cli.policy import policy
from mcpwall.cli.serve import serve
from mcpwall.cli.stdio import stdio
from mcpwall.cli.upstream import upstream


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="mcpwall", prog_name="mcpwall")
def cli() -> None:
    """mcpwall: a policy gateway for the Model Context Protocol.

    It stands between AI agents and the MCP servers they use, and enforces a policy on every
    tools/call that the agent cannot talk its way around.
    """


for command in (apply_command, upstream, policy, grant, admin, serve, stdio, logs):
    cli.add_command(command)


def main() -> None:
    """Entry point of the ``mcpwall`` console script."""
    cli(prog_name="mcpwall")
