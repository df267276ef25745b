"""The ``mcpwall`` command line (DESIGN §5).

Commands are imported when they run, not when the program starts: ``mcpwall policy validate``
needs neither the database driver nor the HTTP servers, and starting fast is part of being
pleasant to script.
"""

from __future__ import annotations

import importlib

import click

# Command name → (module, attribute), in the order ``mcpwall --help`` lists them.
COMMANDS = {
    "apply": ("mcpwall.cli.apply", "apply_command"),
    "upstream": ("mcpwall.cli.upstream", "upstream"),
    "policy": ("mcpwall.cli.policy", "policy"),
    "grant": ("mcpwall.cli.grant", "grant"),
    "admin": ("mcpwall.cli.admin", "admin"),
    "serve": ("mcpwall.cli.serve", "serve"),
    "stdio": ("mcpwall.cli.stdio", "stdio"),
    "logs": ("mcpwall.cli.logs", "logs"),
    "demo": ("mcpwall.cli.demo", "demo"),
    "sandbox": ("mcpwall.cli.sandbox", "sandbox"),
    "healthcheck": ("mcpwall.cli.healthcheck", "healthcheck"),
    "migrate": ("mcpwall.cli.migrate", "migrate"),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="mcpwall", prog_name="mcpwall")
def cli() -> None:
    """mcpwall: a policy gateway for the Model Context Protocol.

    It stands between AI agents and the MCP servers they use, and enforces a policy on every
    tools/call that the agent cannot talk its way around.
    """


def main() -> None:
    """Entry point of the ``mcpwall`` console script."""
    cli(prog_name="mcpwall")
