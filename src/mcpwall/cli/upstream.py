"""``mcpwall upstream …``: register the MCP servers the gateway fronts."""

from __future__ import annotations

import json
import shlex

import click
from rich.table import Table

from mcpwall.cli.context import actor, control, reports_errors
from mcpwall.cli.output import fail, stdout
from mcpwall.control.views import masked_url, upstream_view
from mcpwall.core.registry import Upstream, UpstreamKind


@click.group()
def upstream() -> None:
    """Register, list and remove upstream MCP servers."""


def _pairs(values: tuple[str, ...], separator: str, flag: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        key, found, rest = value.partition(separator)
        if not found or not key.strip():
            fail(f'{flag} expects KEY{separator.strip() or separator}VALUE, found "{key.strip()}…"')
        if key.strip() in pairs:
            fail(f'{flag} "{key.strip()}" is given twice')
        pairs[key.strip()] = rest.strip() if separator == ":" else rest
    return pairs


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
@reports_errors
def add(
    name: str,
    command_line: str | None,
    env: tuple[str, ...],
    cwd: str | None,
    url: str | None,
    headers: tuple[str, ...],
    transport: str,
) -> None:
    """Register upstream NAME: a command (stdio) or a URL (http, sse).

    Env and header values are secrets: they are encrypted at rest and never printed.
    """
    if (command_line is None) == (url is None):
        fail("give either --command (a stdio server) or --url (an HTTP server)")
    if command_line is not None:
        if headers:
            fail("--header applies to --url upstreams; a stdio server takes --env")
        try:
            argv = shlex.split(command_line)
        except ValueError as exc:
            fail(f"--command: {exc}")
        if not argv:
            fail("--command is empty")
        spec = Upstream.stdio(name, argv[0], tuple(argv[1:]), _pairs(env, "=", "--env"), cwd)
    else:
        if env or cwd:
            fail("--env and --cwd apply to --command upstreams; an HTTP server takes --header")
        assert url is not None
        spec = Upstream.remote(name, url, _pairs(headers, ":", "--header"), UpstreamKind(transport))
    added = control().store.add_upstream(spec, actor=actor())
    stdout.print(f"added upstream {added.name} ({added.kind.value}: {describe_target(added)})")


@upstream.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (secret values masked).")
@reports_errors
def list_(as_json: bool) -> None:
    """List upstreams; secret values are shown as ***."""
    upstreams = control().store.list_upstreams()
    if as_json:
        click.echo(json.dumps([upstream_view(u) for u in upstreams], indent=2))
        return
    table = Table("name", "kind", "target", "secrets", box=None, pad_edge=False)
    for item in upstreams:
        table.add_row(
            item.name, item.kind.value, describe_target(item), masked_secrets(item) or "-"
        )
    stdout.print(
        table if upstreams else "no upstreams (add one with: mcpwall upstream add NAME ...)"
    )


@upstream.command("remove")
@click.argument("name")
@reports_errors
def remove(name: str) -> None:
    """Remove upstream NAME; refused while active grants are bound to it."""
    control().store.remove_upstream(name, actor=actor())
    stdout.print(f"removed upstream {name}")


def describe_target(item: Upstream) -> str:
    if item.kind is UpstreamKind.STDIO:
        assert item.command is not None
        where = f" (in {item.cwd})" if item.cwd else ""
        return shlex.join([item.command, *item.args]) + where
    return masked_url(item.url) or ""


def masked_secrets(item: Upstream) -> str:
    """``env K=***, header Authorization: ***``: keys shown, values never."""
    env = [f"{key}=***" for key in item.env]
    headers = [f"{key}: ***" for key in item.headers]
    return ", ".join(env + headers)
