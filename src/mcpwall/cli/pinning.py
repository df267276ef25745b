"""``mcpwall upstream tools`` and ``accept``, and the pinning ``upstream add`` and ``apply``
do: tool-definition pins from the command line (``docs/pinning.md``).

The live definitions are listed through the gateway's own connector, as an agent's first
request would: a stdio upstream is started, asked for its tools, and stopped. Text from an
upstream is shown with hidden and control characters written as ``<U+XXXX>``, so a definition
can't hide from, or write escape sequences to, the terminal reading it.
"""

from __future__ import annotations

import asyncio
import json

import click
from rich.table import Table

from mcpwall.adapters.upstream import Connector
from mcpwall.cli.context import actor, control, reports_errors
from mcpwall.cli.output import stdout
from mcpwall.control import ControlPlane
from mcpwall.control.pinning import (
    INSTRUCTIONS,
    Accepted,
    Review,
    ToolDiff,
    accept,
    diff_view,
    pin_new_upstream,
    printable,
    review,
    review_view,
    short_description,
    tool_diff,
)
from mcpwall.control.upstreams import get_upstream
from mcpwall.core.errors import UpstreamError
from mcpwall.core.pins import Status
from mcpwall.core.registry import Pinning, Upstream
from mcpwall.gateway.probe import Definitions, list_definitions

HASH_SHOWN = 12  # characters of a hash a table shows ("v1:" and 9 hex digits)


def live_definitions(upstream: Upstream) -> Definitions:
    """``upstream``'s tool definitions as it sends them now; :class:`UpstreamError` (its
    reason free of secrets) when it can't be reached."""
    return asyncio.run(list_definitions(upstream, Connector()))


def pin_added(plane: ControlPlane, upstream: Upstream, *, actor: str, later: bool = False) -> None:
    """After ``upstream`` was added: list its tools, show them and pin them, or say that the
    gateway will (trust on first use) when it can't be reached now or ``later`` is asked."""
    if upstream.pinning is Pinning.OFF:
        stdout.print("pinning is off for it: its tool definitions are not pinned")
        return
    if later:
        stdout.print(
            "not contacted now (--pin-later): the gateway pins its tools at its first listing "
            "of them (trust on first use)"
        )
        return
    try:
        live = live_definitions(upstream)
    except UpstreamError as error:
        stdout.print(
            f"could not list its tools now ({printable(error.reason)}); the gateway pins them "
            "at its first listing of them (trust on first use)"
        )
        return
    accepted = pin_new_upstream(plane, upstream, live, actor=actor)
    print_pinned_at_add(upstream, live, accepted)


def print_pinned_at_add(upstream: Upstream, live: Definitions, accepted: Accepted) -> None:
    """The tools an upstream lists, and which were pinned (``upstream add``, ``apply``)."""
    if live.tools:
        table = Table("tool", "pinned", "description", box=None, pad_edge=False)
        for tool in live.tools:
            name = str(tool["name"])
            pinned = "yes" if name in accepted.pinned else "NO: " + accepted.skipped.get(name, "")
            table.add_row(printable(name), pinned, _short(tool.get("description")))
        stdout.print(table)
    count = len(accepted.pinned)
    stdout.print(
        f"pinned {count} tool{'' if count == 1 else 's'} of {upstream.name}"
        + (" and its instructions" if accepted.instructions else "")
        + f" (pinning {upstream.pinning.value})"
    )
    left = [name for name in accepted.skipped if name != INSTRUCTIONS]
    if left:
        stdout.print(
            f"not pinned, withheld until accepted: {', '.join(printable(n) for n in left)}; "
            f"review with: mcpwall upstream tools {upstream.name} --diff TOOL"
        )
    if INSTRUCTIONS in accepted.skipped:
        stdout.print(f"its instructions were not pinned: {accepted.skipped[INSTRUCTIONS]}")
    if not live.complete:
        stdout.print(
            "its listing had more pages than the gateway reads: only those read are pinned"
        )


def _short(value: object) -> str:
    return printable(short_description(value)) or "-"


@click.command("tools")
@click.argument("name")
@click.option(
    "--diff", "diff_tool", metavar="TOOL", help="Show what changed in TOOL, field by field."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@reports_errors
def tools(name: str, diff_tool: str | None, as_json: bool) -> None:
    """List upstream NAME's tools as it sends them now, each with its pin status.

    A status is pinned, changed, new, suspicious (hidden or bidirectional-control characters,
    or a name listed twice) or removed. --diff TOOL shows the pinned and live definitions'
    differences and the live hash to pass to `mcpwall upstream accept --expect`.
    """
    plane = control()
    upstream = get_upstream(plane, name)
    live = live_definitions(upstream)
    if diff_tool is not None:
        found = tool_diff(plane, upstream, live, diff_tool)
        if as_json:
            click.echo(json.dumps(diff_view(found), indent=2))
            return
        _print_diff(upstream, found)
        return
    current = review(plane, upstream, live)
    if as_json:
        click.echo(json.dumps(review_view(current), indent=2))
        return
    _print_review(current)


def _print_review(current: Review) -> None:
    stdout.print(f"upstream {current.upstream} (pinning {current.pinning.value})")
    table = Table(
        "tool", "status", "live hash", "findings", "description", box=None, pad_edge=False
    )
    for tool in current.tools:
        item = tool.status
        shown_hash = (item.live_hash or item.pinned_hash or "")[:HASH_SHOWN]
        findings = "; ".join(printable(f) for f in item.findings) or "-"
        table.add_row(
            printable(item.name), item.status.value, shown_hash, findings, tool.description or "-"
        )
    stdout.print(table if current.tools else "it lists no tools and none is pinned")
    instructions = current.instructions
    line = f"instructions: {instructions.status.value} ({instructions.live_hash[:HASH_SHOWN]})"
    if instructions.findings:
        line += ": " + "; ".join(instructions.findings)
    stdout.print(line)
    if not current.complete:
        stdout.print(
            "its listing had more pages than the gateway reads: tools on later pages are not "
            "shown, and no pin is reported removed"
        )
    if current.pinning is Pinning.OFF:
        stdout.print("pinning is off for this upstream: the gateway serves every tool as listed")
    differing = current.differing
    if differing or instructions.status is not Status.PINNED:
        stdout.print(
            f"review a tool with: mcpwall upstream tools {current.upstream} --diff TOOL; "
            f"accept it with: mcpwall upstream accept {current.upstream} TOOL --expect HASH"
        )


def _print_diff(upstream: Upstream, found: ToolDiff) -> None:
    item = found.status
    stdout.print(f"tool {printable(item.name)} of upstream {upstream.name}: {item.status.value}")
    for finding in item.findings:
        stdout.print(f"  suspicious: {printable(finding)}")
    if item.status is Status.PINNED:
        stdout.print("its live definition is the pinned one")
    for line in found.lines:
        stdout.print(printable(line))
    if item.live_hash is None:
        stdout.print(
            f"the upstream no longer lists it; accept the removal with: "
            f"mcpwall upstream accept {upstream.name} {printable(item.name)}"
        )
        return
    stdout.print(f"live hash: {item.live_hash}")
    if item.status is not Status.PINNED:
        stdout.print(
            f"accept this definition with: mcpwall upstream accept {upstream.name} "
            f"{printable(item.name)} --expect {item.live_hash}"
        )


@click.command("accept")
@click.argument("name")
@click.argument("tool_names", metavar="TOOL...", nargs=-1)
@click.option(
    "--all",
    "every",
    is_flag=True,
    help="Accept every changed, new and removed tool (not suspicious ones).",
)
@click.option("--instructions", is_flag=True, help="Accept the server's instructions as sent now.")
@click.option("--expect", metavar="HASH", help="The live hash the review showed (one TOOL only).")
@reports_errors
def accept_tools(
    name: str, tool_names: tuple[str, ...], every: bool, instructions: bool, expect: str | None
) -> None:
    """Pin the current definitions of upstream NAME's TOOLs (or, with --all, of every tool
    that differs from its pin).

    A suspicious tool is accepted only when named; --all leaves it out and says so. With
    --expect, the acceptance is refused if the tool's live hash is not HASH (it changed
    again after the review). Each acceptance is an audit event naming who accepted.
    """
    plane = control()
    upstream = get_upstream(plane, name)
    live = live_definitions(upstream)
    done = accept(
        plane,
        upstream,
        live,
        tools=tool_names,
        every=every,
        instructions=instructions,
        expect=expect,
        actor=actor(),
    )
    _print_accepted(done)


def _print_accepted(done: Accepted) -> None:
    for tool, digest in done.pinned.items():
        stdout.print(f"accepted {printable(tool)} ({digest})")
    for tool in done.unpinned:
        stdout.print(f"dropped the pin of {printable(tool)} (no longer listed)")
    if done.instructions:
        stdout.print("accepted the server's instructions")
    for tool, reason in done.skipped.items():
        stdout.print(f"left out {printable(tool)}: {reason}")
    if not done.changed:
        stdout.print(f"nothing to accept: upstream {done.upstream}'s pins are unchanged")
