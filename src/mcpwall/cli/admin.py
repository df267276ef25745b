"""``mcpwall admin token …``: tokens for the admin API and the dashboard."""

from __future__ import annotations

import json

import click
from rich.table import Table
from rich.text import Text

from mcpwall.cli.context import actor, control, reports_errors
from mcpwall.cli.output import stdout
from mcpwall.control.grants import revoke_admin_token
from mcpwall.control.views import admin_token_view
from mcpwall.core.durations import parse_duration
from mcpwall.core.registry import Role


@click.group()
def admin() -> None:
    """Administer mcpwall itself."""


@admin.group()
def token() -> None:
    """Create, list and revoke admin tokens (roles: admin ⊃ policy_manager ⊃ viewer)."""


@token.command()
@click.option("--role", required=True, type=click.Choice([role.value for role in Role]))
@click.option("--label", help="Whose token this is.")
@click.option("--expires", help="Lifetime such as 30d, 12h (default: no expiry).")
@click.option("--json", "as_json", is_flag=True)
@reports_errors
def create(role: str, label: str | None, expires: str | None, as_json: bool) -> None:
    """Create an admin token; it is printed once and only its hash is kept."""
    expires_in = parse_duration(expires) if expires is not None else None
    plane = control()
    issued = plane.create_admin_token(Role(role), label=label, expires_in=expires_in, actor=actor())
    if as_json:
        view = admin_token_view(issued.admin_token, plane.clock.now())
        click.echo(json.dumps({**view, "token": issued.token}, indent=2))
        return
    stdout.print(f"created admin token {issued.admin_token.id} with role {role}")
    stdout.print(Text.assemble(("token: ", "bold"), issued.token))
    stdout.print(Text("This token is shown once; mcpwall keeps only its hash.", style="yellow"))


@token.command("list")
@click.option("--json", "as_json", is_flag=True)
@reports_errors
def list_(as_json: bool) -> None:
    """List admin tokens; never a token itself."""
    plane = control()
    now = plane.clock.now()
    views = [admin_token_view(t, now) for t in plane.store.list_admin_tokens()]
    if as_json:
        click.echo(json.dumps(views, indent=2))
        return
    table = Table("id", "label", "role", "created by", "status", box=None, pad_edge=False)
    for view in views:
        table.add_row(
            *(str(view[key] or "-") for key in ("id", "label", "role", "created_by", "status"))
        )
    stdout.print(table if views else "no admin tokens")


@token.command()
@click.argument("token_id", metavar="ID")
@reports_errors
def revoke(token_id: str) -> None:
    """Revoke an admin token now."""
    revoked = revoke_admin_token(control(), token_id, actor=actor())
    stdout.print(f"revoked admin token {revoked.id}")
