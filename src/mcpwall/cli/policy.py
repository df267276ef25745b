"""``mcpwall policy …``: validate, store and show policies; test them against calls and cases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NoReturn

import click
from rich.table import Table
from rich.text import Text

from mcpwall.cli.context import actor, control, reports_errors
from mcpwall.cli.output import (
    EXIT_INVALID,
    EXIT_MISMATCH,
    fail,
    print_problems,
    print_warnings,
    stdout,
)
from mcpwall.control.views import policy_view
from mcpwall.core.errors import ArgumentsError, DocumentError, PolicyError
from mcpwall.core.jsonvalue import render
from mcpwall.core.names import NAME_PATTERN
from mcpwall.core.policy import (
    CompiledPolicy,
    Decision,
    Step,
    compile_policy,
    load_arguments,
    load_document,
    load_policy,
)
from mcpwall.core.policy.cases import CaseResult, decide, parse_cases, run_case
from mcpwall.core.policy.explain import TraceLine, decision_facts, trace_line
from mcpwall.core.policy.parse import Format

DECISION_STYLES = {"allow": "bold green", "deny": "bold red", "would_deny": "bold yellow"}


@click.group()
def policy() -> None:
    """Validate, store, show and test policies."""


@policy.command("set")
@click.argument("name")
@click.argument("file", type=click.Path(path_type=Path))
@reports_errors
def set_(name: str, file: Path) -> None:
    """Validate FILE and store it as the next version of policy NAME.

    An invalid policy is never stored (exit 2): the last good version keeps serving.
    """
    data = read_bytes(file)
    try:
        result = control().set_policy(name, data, actor=actor(), source=str(file))
    except PolicyError as exc:
        report_invalid(str(file), exc)
    print_warnings(result.warnings)
    stdout.print(f"set policy {name} version {result.version.version}")


@policy.command("list")
@click.option("--json", "as_json", is_flag=True)
@reports_errors
def list_(as_json: bool) -> None:
    """List policies: current version, when it was set and by whom."""
    policies = control().store.list_policies()
    if as_json:
        click.echo(json.dumps([policy_view(p) for p in policies], indent=2))
        return
    table = Table("name", "version", "set at", "set by", box=None, pad_edge=False)
    for item in policies:
        table.add_row(
            item.name,
            str(item.version),
            item.created_at.isoformat(timespec="seconds"),
            item.created_by,
        )
    stdout.print(
        table if policies else "no policies (store one with: mcpwall policy set NAME FILE)"
    )


@policy.command()
@click.argument("name")
@click.option(
    "--version", "version", type=click.IntRange(min=1), help="A version (default: current)."
)
@reports_errors
def show(name: str, version: int | None) -> None:
    """Print a stored version of policy NAME exactly as it was set."""
    click.echo(control().store.get_policy(name, version).text, nl=False)


@policy.command()
@click.argument("file", type=click.Path(path_type=Path))
def validate(file: Path) -> None:
    """Check a policy FILE (JSON or YAML). Exit 0 when valid, 2 when invalid.

    Every error is printed on its own line, pointer first. Lint warnings are printed too and
    do not fail the check.
    """
    compiled = read_policy(file)
    print_warnings(compiled.warnings)
    hidden = "every tool" if compiled.hide_all else f"{len(compiled.hidden)} hidden"
    stdout.print(
        Text.assemble(
            ("valid ", "bold green"),
            f"{file}: {len(compiled.tools)} tools with rules, {hidden}, "
            f"default {compiled.default}, mode {compiled.mode}, {len(compiled.warnings)} warnings",
        )
    )


@policy.command()
@click.argument("source", metavar="FILE|NAME")
@click.option("--tool", help="The tool the agent calls.")
@click.option(
    "--args",
    "args_text",
    default="{}",
    show_default=True,
    help="The call's arguments, a JSON object.",
)
@click.option(
    "--json", "as_json", is_flag=True, help='Print {"decision", "rule", "message"} as JSON.'
)
@click.option(
    "--cases", type=click.Path(path_type=Path), help="Run the golden cases in this YAML file."
)
@click.option("--version", type=click.IntRange(min=1), help="For a stored policy: its version.")
@reports_errors
def test(
    source: str,
    tool: str | None,
    args_text: str,
    as_json: bool,
    cases: Path | None,
    version: int | None,
) -> None:
    """Evaluate one call (--tool, --args) or a file of golden cases (--cases) against a policy.

    FILE is a policy file; a NAME that is not a file is a stored policy. Counters are taken as
    fresh. Exit 0 whenever the call could be evaluated, 1 when a golden
    case does not get its expected decision, 2 on an invalid policy or input.
    """
    if (tool is None) == (cases is None):
        fail("give either --tool (with optional --args) or --cases")
    if cases is not None:
        if as_json:
            fail("--json applies to --tool, not to --cases")
        run_cases_file(resolve_policy(source, version), cases)
        return
    assert tool is not None
    try:
        args = load_arguments(args_text)
    except ArgumentsError as exc:
        fail(f"--args: {exc}")
    compiled = resolve_policy(source, version)
    decision, trace = decide(compiled, tool, args)
    if as_json:
        click.echo(
            json.dumps(
                {"decision": decision.decision, "rule": decision.rule, "message": decision.message}
            )
        )
    else:
        print_decision(compiled, tool, decision, trace)


# -- reading ---------------------------------------------------------------------------------------


def format_of(path: Path) -> Format | None:
    """The format a file's extension promises; None lets the content decide."""
    return {".json": "json", ".yaml": "yaml", ".yml": "yaml"}.get(path.suffix.lower())  # type: ignore[return-value]


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or exc}")


def report_invalid(source: str, exc: DocumentError) -> NoReturn:
    """Print every problem of an invalid document and exit 2."""
    count = len(exc.problems)
    stdout.print(Text.assemble(("invalid ", "bold red"), f"{source}: {count} problem(s)"))
    print_problems(exc.problems)
    raise SystemExit(EXIT_INVALID)


def read_policy(path: Path) -> CompiledPolicy:
    """Load and compile a policy file; on any problem, print every one and exit 2."""
    try:
        raw = load_policy(read_bytes(path), source=str(path), format=format_of(path))
        return compile_policy(raw, name=path.name)
    except PolicyError as exc:
        report_invalid(str(path), exc)


def resolve_policy(source: str, version: int | None) -> CompiledPolicy:
    """A policy file, or else the stored policy of that name."""
    path = Path(source)
    if path.exists() or NAME_PATTERN.fullmatch(source) is None:
        if version is not None:
            fail("--version applies to a stored policy, not to a file")
        return read_policy(path)
    try:
        return control().compiled_policy(source, version)
    except PolicyError as exc:
        report_invalid(f"stored policy {source}", exc)


# -- one call --------------------------------------------------------------------------------------


def print_decision(
    compiled: CompiledPolicy, tool: str, decision: Decision, trace: tuple[Step, ...]
) -> None:
    stdout.print(Text.assemble((decision.decision, DECISION_STYLES[decision.decision]), "  ", tool))
    facts = decision_facts(compiled, tool, decision)
    width = max(len(label) for label, _ in facts)
    for label, value in facts:
        stdout.print(Text.assemble((label.ljust(width), "dim"), "  ", value))
    if trace:
        stdout.print(Text("trace", style="bold"))
    for step in trace:
        stdout.print(trace_text(trace_line(step)))


def trace_text(line: TraceLine) -> Text:
    """A trace line in colour: ``✓ POINTER  PATH OP VALUE  found VALUE``."""
    mark = Text("  ✓ ", style="green") if line.held else Text("  ✗ ", style="red")
    found = Text(line.found, style="red") if line.unreadable else Text(line.found)
    return Text.assemble(
        mark,
        (line.pointer, "bold"),
        f"  {line.test}",
        ("  " if line.unreadable else "  found ", "dim"),
        found,
    )


# -- golden cases ----------------------------------------------------------------------------------


def run_cases_file(compiled: CompiledPolicy, path: Path) -> None:
    try:
        loaded = parse_cases(
            load_document(read_bytes(path), source=str(path), format=format_of(path)),
            source=str(path),
        )
    except DocumentError as exc:
        report_invalid(str(path), exc)
    results = [run_case(compiled, case) for case in loaded.cases]
    failures = [result for result in results if not result.passed]
    for result in failures:
        print_failure(result)
    passed = len(results) - len(failures)
    style = "bold red" if failures else "bold green"
    stdout.print(
        Text.assemble(
            (f"{passed} passed, {len(failures)} failed", style),
            f" ({path} against {compiled.name})",
        )
    )
    if failures:
        raise SystemExit(EXIT_MISMATCH)


def print_failure(result: CaseResult) -> None:
    stdout.print(
        Text.assemble(
            ("✗ ", "bold red"),
            result.case.name,
            f"  ({result.case.tool} {render(result.case.args)})",
        )
    )
    for mismatch in result.mismatches:
        stdout.print(f"    {mismatch}")
