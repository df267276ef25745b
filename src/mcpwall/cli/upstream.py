"""``mcpwall upstream …``: register the MCP servers the gateway fronts."""

from __future__ import annotations

import dataclasses
import json

import click
from rich.table import Table

from mcpwall.cli.context import actor, control, reports_errors
from mcpwall.cli.output import stdout
from mcpwall.cli.pinning import accept_tools, pin_added, tools
from mcpwall.control.upstreams import (
    CLI_LABELS,
    UpstreamInput,
    add_upstream,
    describe_target,
    list_upstreams,
    masked_secrets,
    remove_upstream,
    split_pairs,
    upstream_from,
)
from mcpwall.control.views import upstream_view
from mcpwall.core.registry import Pinning


@click.group()
def upstream() -> None:
    """Register, list and remove upstream MCP servers."""


@upstream.command("add")
@click.argument("name")
@click.option(
    "--command",
    "command_line",
    help='A stdio server to spawn, e.g. "npx -y mcp-server-kubernetes".',
)
@click.option(
    "--env", "env", multiple=True, metavar="K=V", help="An environment variable for the command."
)
@click.option("--cwd", help="The working directory of the command.")
@click.option("--url", help="A Streamable HTTP (or, with --transport sse, legacy SSE) endpoint.")
@click.option(
    "--header", "headers", multiple=True, metavar='"K: V"', help="A header sent upstream."
)
@click.option("--transport", type=click.Choice(["http", "sse"]), default="http", show_default=True)
@click.option(
    "--pinning",
    type=click.Choice([mode.value for mode in Pinning]),
    default=Pinning.ENFORCE.value,
    show_default=True,
    help="What the gateway does with a tool whose definition differs from its pin.",
)
@click.option(
    "--pin-later",
    is_flag=True,
    help="Don't contact the upstream now: the gateway pins its tools at its first listing.",
)
@reports_errors
def add(
    name: str,
    command_line: str | None,
    env: tuple[str, ...],
    cwd: str | None,
    url: str | None,
    headers: tuple[str, ...],
    transport: str,
    pinning: str,
    pin_later: bool,
) -> None:
    """Register upstream NAME: a command (stdio) or a URL (http, sse), then pin its tools.

    Env and header values are secrets: they are encrypted at rest and never printed. Unless
    --pinning is off, the upstream is asked for its tools, which are shown and pinned (a
    suspicious one is not: it stays withheld until accepted); if it can't be reached now (or
    with --pin-later), the gateway pins them at its first listing (trust on first use).
    """
    spec = upstream_from(
        UpstreamInput(
            name,
            kind=transport if url is not None and command_line is None else None,
            command=command_line,
            cwd=cwd,
            env=split_pairs(env, "env"),
            url=url,
            headers=split_pairs(headers, "headers"),
        ),
        CLI_LABELS,
    )
    spec = dataclasses.replace(spec, pinning=Pinning(pinning))
    added = add_upstream(control(), spec, actor=actor())
    stdout.print(f"added upstream {added.name} ({added.kind.value}: {describe_target(added)})")
    pin_added(control(), added, actor=actor(), later=pin_later)


@upstream.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (secret values masked).")
@reports_errors
def list_(as_json: bool) -> None:
    """List upstreams; secret values are shown as ***."""
    upstreams = list_upstreams(control())
    if as_json:
        click.echo(json.dumps([upstream_view(u) for u in upstreams], indent=2))
        return
    table = Table("name", "kind", "target", "secrets", "pinning", box=None, pad_edge=False)
    for item in upstreams:
        table.add_row(
            item.name,
            item.kind.value,
            describe_target(item),
            masked_secrets(item) or "-",
            item.pinning.value,
        )
    stdout.print(
        table if upstreams else "no upstreams (add one with: mcpwall upstream add NAME ...)"
    )


@upstream.command("remove")
@click.argument("name")
@reports_errors
def remove(name: str) -> None:
    """Remove upstream NAME; refused while active grants are bound to it."""
    remove_upstream(control(), name, actor=actor())
    stdout.print(f"removed upstream {name}")


upstream.add_command(tools)
upstream.add_command(accept_tools)
