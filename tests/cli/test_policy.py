"""``mcpwall policy validate`` and ``mcpwall policy test``, as a user runs them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mcpwall.cli import cli
from mcpwall.core.policy import load_document
from mcpwall.core.policy.cases import parse_cases

CASES_DIR = Path(__file__).parents[1] / "core" / "policy" / "cases"
SEED = CASES_DIR / "seed.policy.json"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- validate ----------------------------------------------------------------------------------------


def test_validate_accepts_the_seed_policy() -> None:
    result = run("policy", "validate", str(SEED))
    assert result.exit_code == 0, result.output
    assert "valid" in result.output
    assert "5 tools with rules, 4 hidden" in result.output


def test_validate_prints_every_error_on_its_own_line_pointer_first(tmp_path: Path) -> None:
    bad = {
        "version": "1",
        "default": "alow",
        "tools": {
            "delete_pod": {
                "deney_if": [],
                "require": [
                    {"conditions": [{"path": "args.namespace", "op": "in_list", "value": []}]}
                ],
            }
        },
    }
    result = run("policy", "validate", str(write(tmp_path, "bad.json", json.dumps(bad))))
    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert '/default: found "alow" (expected one of allow, deny; did you mean "allow"?)' in lines
    assert any(
        line.startswith('/tools/delete_pod/deney_if: unknown key "deney_if"') for line in lines
    )
    assert (
        '/tools/delete_pod/require/0/conditions/0/op: unknown operator "in_list" (expected one of '
        "eq, neq, lt, lte, gt, gte, in, not_in, exists, regex, contains)"
    ) in lines


def test_validate_prints_lint_warnings_and_still_passes(tmp_path: Path) -> None:
    policy = {
        "version": "1",
        "default": "allow",
        "tools": {
            "run": {
                "require": [{"conditions": [{"path": "args.cmd", "op": "regex", "value": "ls"}]}]
            }
        },
    }
    result = run("policy", "validate", str(write(tmp_path, "p.json", json.dumps(policy))))
    assert result.exit_code == 0
    assert "warning /tools/run/require/0/conditions/0/value" in result.output
    assert "not anchored" in result.output


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("binary.json", "\x00\x01garbage{", "not valid JSON"),
        ("text.yaml", "just some words", "expected an object, found string"),
        ("broken.yaml", "tools: [unclosed", "neither JSON nor valid YAML"),
        (
            "dupes.json",
            '{"version": "1", "version": "1", "default": "allow"}',
            'duplicate key "version"',
        ),
        ("nan.json", '{"version": "1", "default": "allow", "x": NaN}', "NaN is not a JSON number"),
    ],
)
def test_validate_refuses_what_is_not_a_policy(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    result = run("policy", "validate", str(write(tmp_path, name, text)))
    assert result.exit_code == 2
    assert expected in result.output


def test_validate_of_a_missing_file_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["policy", "validate", str(tmp_path / "nope.json")])
    assert result.exit_code == 2
    assert "cannot read" in result.output


# -- test one call -----------------------------------------------------------------------------------


def test_json_output_is_exactly_decision_rule_message() -> None:
    args = json.dumps({"namespace": "payments-prod", "name": "checkout-7f9"})
    result = run("policy", "test", str(SEED), "--tool", "delete_pod", "--args", args, "--json")
    assert result.exit_code == 0
    assert json.loads(result.output) == {
        "decision": "deny",
        "rule": "/tools/delete_pod/require/0/conditions/0",
        "message": "Namespace is outside the allowed non-production set.",
    }


def test_human_output_shows_decision_rule_message_and_trace() -> None:
    args = json.dumps({"namespace": "dev", "kind": "ClusterRole"})
    result = run("policy", "test", str(SEED), "--tool", "apply_manifest", "--args", args)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == "deny  apply_manifest"
    assert "rule     /tools/apply_manifest/require/0/conditions/1" in lines
    trace = [line for line in lines if line.startswith("  ")]
    assert trace[0].startswith(
        "  ✓ /tools/apply_manifest/require/0/conditions/0  args.namespace in"
    )
    assert trace[1].startswith("  ✗ /tools/apply_manifest/require/0/conditions/1  args.kind not_in")
    assert trace[1].endswith('found "ClusterRole"')


def test_an_allowed_call_lists_its_limits_with_fresh_counters() -> None:
    result = run(
        "policy", "test", str(SEED), "--tool", "delete_pod", "--args", '{"namespace": "staging"}'
    )
    assert result.exit_code == 0
    assert result.output.startswith("allow  delete_pod")
    assert "delete_pod: 5 per hour per grant (fresh)" in result.output


@pytest.mark.parametrize("args", ["[1, 2]", '"text"', "{nope", '{"a": 1, "a": 2}', "null"])
def test_args_that_are_not_one_json_object_exit_2(args: str) -> None:
    result = CliRunner().invoke(cli, ["policy", "test", str(SEED), "--tool", "x", "--args", args])
    assert result.exit_code == 2
    assert "--args" in result.output


def test_an_invalid_policy_exits_2_with_its_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "p.json", '{"version": "2", "default": "allow"}')
    result = run("policy", "test", str(path), "--tool", "x", "--json")
    assert result.exit_code == 2
    assert '/version: found "2" (expected the string "1")' in result.output


def test_tool_and_cases_are_mutually_exclusive() -> None:
    cases = str(CASES_DIR / "seed.cases.yaml")
    assert CliRunner().invoke(cli, ["policy", "test", str(SEED)]).exit_code == 2
    assert (
        CliRunner()
        .invoke(cli, ["policy", "test", str(SEED), "--tool", "x", "--cases", cases])
        .exit_code
        == 2
    )


# -- golden cases -------------------------------------------------------------------------------------


@pytest.mark.parametrize("cases", sorted(CASES_DIR.glob("*.cases.yaml")), ids=lambda p: p.name)
def test_every_golden_file_passes_through_the_cli(cases: Path) -> None:
    """The CLI runs the very files the test suite runs, and they all pass."""
    policy_name = parse_cases(load_document(cases.read_bytes())).policy
    assert policy_name is not None
    result = run("policy", "test", str(cases.parent / policy_name), "--cases", str(cases))
    assert result.exit_code == 0, result.output
    assert " passed, 0 failed" in result.output


def test_a_mismatching_case_exits_1_and_says_what_differs(tmp_path: Path) -> None:
    cases = write(
        tmp_path,
        "c.yaml",
        "cases:\n"
        "  - name: prod delete is allowed (wrong on purpose)\n"
        "    tool: delete_pod\n"
        "    args: {namespace: payments-prod}\n"
        "    expect: {decision: allow, rule: '(allowed)'}\n"
        "  - name: staging delete is allowed\n"
        "    tool: delete_pod\n"
        "    args: {namespace: staging}\n"
        "    expect: {decision: allow, rule: '(allowed)'}\n",
    )
    result = run("policy", "test", str(SEED), "--cases", str(cases))
    assert result.exit_code == 1
    assert "✗ prod delete is allowed (wrong on purpose)" in result.output
    assert 'decision: expected "allow", got "deny"' in result.output
    assert "1 passed, 1 failed" in result.output


def test_a_malformed_cases_file_exits_2(tmp_path: Path) -> None:
    cases = write(
        tmp_path,
        "c.yaml",
        "cases:\n  - name: x\n    tol: delete_pod\n    expect: {decision: maybe}\n",
    )
    result = run("policy", "test", str(SEED), "--cases", str(cases))
    assert result.exit_code == 2
    assert '/cases/0/tol: unknown key "tol"' in result.output
    assert '/cases/0/expect/decision: found "maybe"' in result.output


# -- the installed console script ----------------------------------------------------------------------


def test_the_console_script_runs_as_a_user_would_run_it() -> None:
    script = shutil.which("mcpwall", path=str(Path(sys.executable).parent))
    assert script is not None, "the mcpwall console script is not installed in this environment"
    completed = subprocess.run(
        [script, "policy", "test", str(SEED), "--tool", "get_secret", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["rule"] == "(hidden)"


def test_checking_a_policy_loads_no_database_driver_or_server() -> None:
    """Commands are imported when they run: validating a file stays quick to start."""
    code = (
        "import sys; from mcpwall.cli import cli; "
        "cli(['policy', 'validate', sys.argv[1]], standalone_mode=False); "
        "print(sorted(m for m in ('sqlalchemy', 'aiohttp', 'uvicorn', 'starlette') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(SEED)], capture_output=True, text=True, check=True
    )
    assert done.stdout.splitlines()[-1] == "[]"
