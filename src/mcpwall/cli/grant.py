"""``mcpwall grant …``: issue, list, revoke and rotate the tokens agents use."""

from __future__ import annotations

import json

import click
from rich.table import Table
from rich.text import Text

from mcpwall.cli.context import actor, control, reports_errors
from mcpwall.cli.output import fail, stdout
from mcpwall.control import IssuedGrant
from mcpwall.control.grants import revoke_grant
from mcpwall.control.views import grant_view, timestamp
from mcpwall.core.durations import parse_duration
from mcpwall.core.registry import Status

STATUS_STYLES = {Status.ACTIVE: "green", Status.REVOKED: "red", Status.EXPIRED: "yellow"}


@click.group()
def grant() -> None:
    """Issue and manage grants: one per agent per environment."""


def parse_bindings(values: tuple[str, ...]) -> dict[str, str]:
    bindings: dict[str, str] = {}
    for value in values:
        upstream, found, policy = value.partition("=")
        if not found or not upstream or not policy:
            fail(f'--bind expects UPSTREAM=POLICY, found "{value}"')
        if upstream in bindings:
            fail(
                f'--bind names upstream "{upstream}" twice (a grant binds one policy per upstream)'
            )
        bindings[upstream] = policy
    return bindings


@grant.command()
@click.option("--label", required=True, help="Who holds it: alice-laptop, ci-runner…")
@click.option("--bind", "binds", multiple=True, required=True, metavar="UPSTREAM=POLICY")
@click.option("--expires", help="Lifetime such as 30d, 12h, 2w (default: no expiry).")
@click.option("--json", "as_json", is_flag=True, help="Print the grant and its token as JSON.")
@reports_errors
def issue(label: str, binds: tuple[str, ...], expires: str | None, as_json: bool) -> None:
    """Issue a grant; its token is printed once and never stored."""
    expires_in = parse_duration(expires) if expires is not None else None
    plane = control()
    issued = plane.issue_grant(label, parse_bindings(binds), expires_in=expires_in, actor=actor())
    show_token(issued, as_json, "issued")


@grant.command("list")
@click.option("--json", "as_json", is_flag=True)
@reports_errors
def list_(as_json: bool) -> None:
    """List grants with their bindings and status; never a token."""
    plane = control()
    now = plane.clock.now()
    grants = plane.store.list_grants()
    if as_json:
        click.echo(json.dumps([grant_view(g, now) for g in grants], indent=2))
        return
    if not grants:
        stdout.print("no grants (issue one with: mcpwall grant issue --label L --bind U=P)")
        return
    table = Table(
        "id",
        "label",
        "bindings",
        "created",
        "expires",
        "last used",
        "status",
        box=None,
        pad_edge=False,
    )
    for item in grants:
        status = item.status(now)
        bindings = ", ".join(f"{u}={p}" for u, p in sorted(item.bindings.items()))
        table.add_row(
            item.id, item.label, bindings, _day(timestamp(item.created_at)),
            _day(timestamp(item.expires_at)), _day(timestamp(item.last_used_at)),
            Text(status.value, style=STATUS_STYLES[status]),
        )  # fmt: skip
    stdout.print(table)


@grant.command()
@click.argument("ref", metavar="ID_OR_LABEL")
@reports_errors
def revoke(ref: str) -> None:
    """Revoke a grant now: its token stops working on the next request."""
    revoked = revoke_grant(control(), ref, actor=actor())
    stdout.print(f"revoked grant {revoked.id} ({revoked.label})")


@grant.command()
@click.argument("ref", metavar="ID_OR_LABEL")
@click.option("--json", "as_json", is_flag=True)
@reports_errors
def rotate(ref: str, as_json: bool) -> None:
    """Give a grant a new token; the old one stops working at once."""
    show_token(control().rotate_grant(ref, actor=actor()), as_json, "rotated")


def show_token(issued: IssuedGrant, as_json: bool, verb: str) -> None:
    plane = control()
    if as_json:
        click.echo(
            json.dumps(
                {**grant_view(issued.grant, plane.clock.now()), "token": issued.token}, indent=2
            )
        )
        return
    bindings = ", ".join(f"{u}={p}" for u, p in sorted(issued.grant.bindings.items()))
    stdout.print(f"{verb} grant {issued.grant.id} ({issued.grant.label}) for {bindings}")
    stdout.print(Text.assemble(("token: ", "bold"), issued.token))
    stdout.print(Text("This token is shown once; mcpwall keeps only its hash.", style="yellow"))


def _day(moment: str | None) -> str:
    return moment[:16].replace("T", " ") if moment else "-"
