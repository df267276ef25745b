"""``mcpwall logs`` and ``mcpwall logs summary``: what agents tried, and which guardrails fired.

Both read the proxy log in the store (``MCPWALL_HOME`` or ``MCPWALL_DATABASE_URL``), the
same table ``mcpwall serve`` and ``mcpwall stdio`` write. ``--json`` prints JSON lines,
exactly the shape of ``MCPWALL_LOG_FILE`` (plus each row's ``id``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import replace
from datetime import timedelta

import click
import orjson
from rich.table import Column, Table
from rich.text import Text

from mcpwall.adapters.proxylog import proxy_log_reader
from mcpwall.cli.context import control, reports_errors
from mcpwall.cli.output import stdout
from mcpwall.core.durations import parse_duration
from mcpwall.core.logquery import (
    DECISIONS,
    MAX_PAGE_SIZE,
    OUTCOMES,
    LogFilter,
    StoredRecord,
    SummaryRow,
    record_json,
    summary_json,
)
from mcpwall.ports.logsink import LogReader

FOLLOW_POLL_SECONDS = 1.0
DECISION_STYLES = {"deny": "bold red", "would_deny": "yellow", "allow": "green"}


def _reader() -> LogReader:
    plane = control()
    return proxy_log_reader(plane.store, plane.clock)


def _since(text: str | None) -> timedelta | None:
    return None if text is None else timedelta(seconds=parse_duration(text))


@click.group(invoke_without_command=True)
@click.option("--since", metavar="DURATION", help="Only rows this recent: 7d, 12h, 30m.")
@click.option("--decision", type=click.Choice(DECISIONS), help="Only this decision.")
@click.option("--tool", metavar="T", help="Only calls of this tool.")
@click.option("--grant", metavar="L", help="Only this grant (label or id).")
@click.option("--upstream", metavar="U", help="Only this upstream.")
@click.option("--rule", metavar="R", help="Only rows this rule decided (a pointer or a name).")
@click.option("--outcome", type=click.Choice(OUTCOMES), help="Only rows with this outcome.")
@click.option(
    "--limit", type=click.IntRange(1, MAX_PAGE_SIZE), default=100, show_default=True,
    help="How many of the newest rows to show first.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="JSON lines, one row a line.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new rows until Ctrl-C.")
@click.pass_context
@reports_errors
def logs(
    ctx: click.Context,
    since: str | None,
    decision: str | None,
    tool: str | None,
    grant: str | None,
    upstream: str | None,
    rule: str | None,
    outcome: str | None,
    limit: int,
    as_json: bool,
    follow: bool,
) -> None:
    """Show the proxy log: one row per agent request, oldest of the shown first.

    Each row has the grant, upstream and tool, the decision and the rule that made it, and the
    argument keys (never their values). For example, what the agent tried in production
    this week: mcpwall logs --since 7d --upstream k8s-prod
    """
    if ctx.invoked_subcommand is not None:
        return
    back = _since(since)
    reader = _reader()
    now = control().clock.now()
    query = LogFilter(
        since=None if back is None else now - back,
        decision=decision, tool=tool, grant=grant, upstream=upstream, rule=rule,
        outcome=outcome, limit=limit,
    )  # fmt: skip
    rows = list(reversed(reader.read(query)))
    _print(rows, as_json, header=True)
    if not rows and not as_json and not follow:
        stdout.print("no proxy-log rows match (agents' requests appear here once served)")
    if follow:
        last = rows[-1].id if rows else _newest_id(reader)
        _follow(reader, query, last, as_json, header=not rows)


def _newest_id(reader: LogReader) -> int:
    newest = reader.read(LogFilter(limit=1))
    return newest[0].id if newest else 0


def _follow(reader: LogReader, query: LogFilter, last: int, as_json: bool, header: bool) -> None:
    try:
        while True:
            rows = reader.read(replace(query, after=last, limit=MAX_PAGE_SIZE))
            if rows:
                _print(rows, as_json, header=header)
                header = False
                last = rows[-1].id
            if len(rows) < MAX_PAGE_SIZE:
                time.sleep(FOLLOW_POLL_SECONDS)  # polling the database: nothing to wait on
    except KeyboardInterrupt:
        return


def _print(rows: list[StoredRecord], as_json: bool, *, header: bool) -> None:
    if as_json:
        _json_lines(record_json(row.record, row.id) for row in rows)
        return
    if not rows:
        return
    table = Table(
        "time (UTC)", "grant", "upstream", "tool or method", "decision", "rule", "keys",
        "outcome", "ms", "message", box=None, pad_edge=False, show_header=header,
    )  # fmt: skip
    for row in rows:
        record = row.record
        table.add_row(
            record.at.strftime("%Y-%m-%d %H:%M:%S"), record.grant_label, record.upstream,
            record.tool or record.method, _decision(record.decision), record.rule,
            ",".join(record.argument_keys), record.outcome, f"{record.total_ms:.1f}",
            record.message,
        )  # fmt: skip
    stdout.print(table)


@logs.command()
@click.option("--since", metavar="DURATION", default="7d", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="JSON lines, one group a line.")
@reports_errors
def summary(since: str, as_json: bool) -> None:
    """Which guardrails fired: decided calls counted by upstream, tool, decision and rule.

    Denials first, the most frequent first, each with when it last happened.
    """
    back = _since(since)
    assert back is not None
    rows = _reader().summary(control().clock.now() - back)
    if as_json:
        _json_lines(summary_json(row) for row in rows)
        return
    if not rows:
        stdout.print(f"no decided calls in the last {since}")
        return
    stdout.print(summary_table(rows))


def summary_table(rows: list[SummaryRow]) -> Table:
    """The summary as ``logs summary`` prints it (``mcpwall demo`` prints the same)."""
    table = Table(
        "upstream", "tool", "decision", "rule", Column("count", justify="right"), "last seen (UTC)",
        box=None, pad_edge=False,
    )  # fmt: skip
    for row in rows:
        table.add_row(
            row.upstream, row.tool, _decision(row.decision), row.rule,
            str(row.count), row.last_seen.strftime("%Y-%m-%d %H:%M:%S"),
        )  # fmt: skip
    return table


def _decision(decision: str) -> Text:
    return Text(decision or "-", style=DECISION_STYLES.get(decision, ""))


def _json_lines(values: Iterable[dict[str, object]]) -> None:
    for value in values:
        click.echo(orjson.dumps(value).decode())
