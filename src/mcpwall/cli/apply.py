"""``mcpwall apply -f mcpwall.yaml``: declarative upstreams, policies and grants."""

from __future__ import annotations

import os
from pathlib import Path

import click
from rich.text import Text

from mcpwall.cli.context import actor, control, reports_errors
from mcpwall.cli.output import stdout
from mcpwall.cli.pinning import pin_added
from mcpwall.cli.policy import format_of, read_bytes, report_invalid
from mcpwall.control.apply import ConfigError, Step, apply, plan, read_config
from mcpwall.control.upstreams import get_upstream
from mcpwall.core.errors import DocumentError
from mcpwall.core.policy import load_document

STYLES = {"+": "green", "~": "yellow"}


@click.command("apply")
@click.option(
    "-f", "--file", "file", required=True, type=click.Path(path_type=Path), help="The config file."
)
@click.option("--dry-run", is_flag=True, help="Print what would change, change nothing.")
@click.option(
    "--pin-later",
    is_flag=True,
    help="Don't contact added upstreams now: the gateway pins their tools at its first listing.",
)
@reports_errors
def apply_command(file: Path, dry_run: bool, pin_later: bool) -> None:
    """Make the store match FILE: add or update upstreams, set policies, issue grants.

    Idempotent: a second run reports "no changes". Everything is checked before anything
    changes. Tokens of newly issued grants are printed once. An upstream added is asked for
    its tools, which are pinned as `mcpwall upstream add` pins them (unless --pin-later).
    """
    base = file.parent

    def read_text(relative: str) -> str:
        return (base / relative).read_bytes().decode("utf-8-sig")

    try:
        raw = load_document(read_bytes(file), source=str(file), format=format_of(file))
        config = read_config(raw, read_text=read_text, environ=os.environ)
        steps = plan(control(), config)
    except (ConfigError, DocumentError) as exc:
        report_invalid(str(file), exc)
    if not steps:
        stdout.print("no changes")
        return
    for step in steps:
        print_step(step)
    if dry_run:
        stdout.print(f"{len(steps)} change(s) planned; nothing applied (--dry-run)")
        return
    applied_steps = apply(control(), steps, actor=actor())
    issued = [a for a in applied_steps if a.token is not None]
    for applied in issued:
        stdout.print(
            Text.assemble(("token ", "bold"), f"{applied.step.name}: ", applied.token or "")
        )
    stdout.print(f"applied {len(steps)} change(s)")
    for step in steps:
        if step.kind == "+" and step.what == "upstream":
            # An upstream this run added is pinned as `upstream add` pins it.
            stdout.print(f"upstream {step.name}:")
            added = get_upstream(control(), step.name)
            pin_added(control(), added, actor=actor(), later=pin_later)
    if issued:
        stdout.print(
            Text("New tokens are shown once; mcpwall keeps only their hashes.", style="yellow")
        )


def print_step(step: Step) -> None:
    first, *rest = step.detail.splitlines() or [""]
    stdout.print(
        Text.assemble((f"{step.kind} {step.what} {step.name}", STYLES[step.kind]), f"  {first}")
    )
    for line in rest:
        style = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim"
        stdout.print(Text("    " + line, style=style))
