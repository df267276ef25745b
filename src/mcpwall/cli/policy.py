"""``mcpwall policy …``: validate policies and test them against calls and golden cases."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.text import Text

from mcpwall.cli.output import (
    EXIT_INVALID,
    EXIT_MISMATCH,
    fail,
    print_problems,
    print_warnings,
    stdout,
)
from mcpwall.core.errors import ArgumentsError, DocumentError, PolicyError
from mcpwall.core.jsonvalue import render
from mcpwall.core.policy import (
    HIDDEN,
    CompiledPolicy,
    Decision,
    Step,
    compile_policy,
    load_arguments,
    load_document,
    load_policy,
)
from mcpwall.core.policy.cases import CaseResult, decide, parse_cases, run_case
from mcpwall.core.policy.parse import Format
from mcpwall.core.policy.paths import MISSING

DECISION_STYLES = {"allow": "bold green", "deny": "bold red", "would_deny": "bold yellow"}


@click.group()
def policy() -> None:
    """Validate policies and test them against calls."""


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
@click.argument("source", metavar="FILE")
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
def test(source: str, tool: str | None, args_text: str, as_json: bool, cases: Path | None) -> None:
    """Evaluate one call (--tool, --args) or a file of golden cases (--cases) against a policy.

    Counters are taken as fresh. Exit 0 whenever the call could be evaluated, 1 when a golden
    case does not get its expected decision, 2 on an invalid policy or input.
    """
    if (tool is None) == (cases is None):
        fail("give either --tool (with optional --args) or --cases")
    if cases is not None:
        if as_json:
            fail("--json applies to --tool, not to --cases")
        run_cases_file(read_policy(Path(source)), cases)
        return
    assert tool is not None
    try:
        args = load_arguments(args_text)
    except ArgumentsError as exc:
        fail(f"--args: {exc}")
    compiled = read_policy(Path(source))
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


def read_policy(path: Path) -> CompiledPolicy:
    """Load and compile a policy file; on any problem, print every one and exit 2."""
    try:
        raw = load_policy(read_bytes(path), source=str(path), format=format_of(path))
        return compile_policy(raw, name=path.name)
    except PolicyError as exc:
        stdout.print(
            Text.assemble(("invalid ", "bold red"), f"{path}: {len(exc.problems)} problem(s)")
        )
        print_problems(exc.problems)
        raise SystemExit(EXIT_INVALID) from None


# -- one call --------------------------------------------------------------------------------------


def print_decision(
    compiled: CompiledPolicy, tool: str, decision: Decision, trace: tuple[Step, ...]
) -> None:
    stdout.print(Text.assemble((decision.decision, DECISION_STYLES[decision.decision]), "  ", tool))
    facts = [
        ("rule", decision.rule),
        ("message", decision.message or "-"),
        ("policy", f"{compiled.name} (default {compiled.default}, mode {compiled.mode})"),
    ]
    if decision.rule == HIDDEN:
        facts.append(("agent sees", f"JSON-RPC error -32602 Unknown tool: {tool}"))
    facts += [
        ("limit", f"{limit.counter}: {limit.max} per {limit.window} per {limit.scope} (fresh)")
        for limit in decision.limits
    ]
    width = max(len(label) for label, _ in facts)
    for label, value in facts:
        stdout.print(Text.assemble((label.ljust(width), "dim"), "  ", value))
    if trace:
        stdout.print(Text("trace", style="bold"))
    for step in trace:
        stdout.print(trace_line(step))


def trace_line(step: Step) -> Text:
    """``✓ POINTER  PATH OP VALUE  found VALUE`` for one condition as evaluated."""
    condition = step.condition
    mark = Text("  ✓ ", style="green") if step.held else Text("  ✗ ", style="red")
    found = "(missing)" if step.found is MISSING else render(step.found)
    return Text.assemble(
        mark,
        (condition.pointer, "bold"),
        f"  {condition.path} {condition.op} {render(condition.value)}",
        ("  found ", "dim"),
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
        stdout.print(
            Text.assemble(("invalid ", "bold red"), f"{path}: {len(exc.problems)} problem(s)")
        )
        print_problems(exc.problems)
        raise SystemExit(EXIT_INVALID) from None
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
