"""The worked examples under ``examples/``: one directory per MCP server.

Each holds a policy, its golden cases, the server's tool list as read from the pinned version
(``tools.json``: names and argument names), an ``mcpwall.yaml`` for ``mcpwall apply -f`` and a
README. Here every policy validates with no warnings, passes its cases (in process, and through
``mcpwall policy test --cases`` as a user runs it), names only tools and arguments the server
has, and has a case for every guard it sets; every ``mcpwall.yaml`` applies to a fresh store,
and a second time changes nothing; every README's relative links resolve.

``examples/seed`` is the seed's policy, verbatim, in front of ``mcpwall sandbox``: its policy
stays byte-identical to the engine's own copy, and its ``tools.json`` to the sandbox's tools.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import anyio
import pytest
from click.testing import CliRunner, Result
from mcp import Client

from mcpwall.cli import cli
from mcpwall.core.policy import CompiledPolicy, compile_policy, load_document, load_policy
from mcpwall.core.policy.cases import Case, parse_cases, run_case
from mcpwall.core.policy.paths import parse_path
from mcpwall.sandbox.scenario import crashloop_cluster
from mcpwall.sandbox.server import build_server

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES_DIR = ROOT / "examples"
EXAMPLE_DIRS = sorted(path for path in EXAMPLES_DIR.iterdir() if path.is_dir())
NAMES = [path.name for path in EXAMPLE_DIRS]
# The servers issue 12 asks for; a new example joins the checks below by being a directory.
REQUIRED = {
    "seed",
    "mcp-server-kubernetes",
    "kubernetes-mcp-server",
    "server-filesystem",
    "github-mcp-server",
}
# The seed's policy as the engine's golden cases hold it (a copy of seed/seed-policy.json).
SEED_POLICY = ROOT / "tests" / "core" / "policy" / "cases" / "seed.policy.json"
SANDBOX = "mcpwall sandbox"  # the one server that ships with mcpwall, with no version of its own
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# [text](target) and [label]: target; the target stops at whitespace or the closing parenthesis.
INLINE_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.MULTILINE)

Run = Callable[..., Result]


@dataclass(frozen=True)
class Example:
    """One example directory, read."""

    directory: Path
    policy_path: Path
    policy: CompiledPolicy
    cases: tuple[Case, ...]
    cases_policy: str | None
    server: str
    version: str | None  # None for the sandbox alone
    tools: dict[str, list[str]]


@cache
def example(name: str) -> Example:
    directory = EXAMPLES_DIR / name
    [policy_path] = [
        p for p in (directory / "policy.yaml", directory / "policy.json") if p.exists()
    ]
    policy = compile_policy(load_policy(policy_path.read_bytes()), name=policy_path.name)
    cases_path = directory / "cases.yaml"
    parsed = parse_cases(load_document(cases_path.read_bytes()), source=str(cases_path))
    listing = json.loads((directory / "tools.json").read_text(encoding="utf-8"))
    return Example(
        directory,
        policy_path,
        policy,
        parsed.cases,
        parsed.policy,
        listing["server"],
        listing.get("version"),
        listing["tools"],
    )


def all_cases() -> list[Any]:  # pytest.param values
    return [
        pytest.param(name, case, id=f"{name}::{case.name}")
        for name in NAMES
        for case in example(name).cases
    ]


def relative_links(markdown: str) -> list[str]:
    """Link targets that point into the repository: no scheme, not a bare #fragment."""
    targets = INLINE_LINK.findall(markdown) + REFERENCE_LINK.findall(markdown)
    return [t for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]


@pytest.fixture
def mcpwall(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """``mcpwall(*args)`` runs the command line against a fresh store of its own."""
    monkeypatch.setenv("MCPWALL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MCPWALL_DATABASE_URL", raising=False)
    monkeypatch.delenv("MCPWALL_SECRET_KEY", raising=False)
    for directory in EXAMPLE_DIRS:  # the secrets each apply file reads from the environment
        for variable in VARIABLE.findall((directory / "mcpwall.yaml").read_text(encoding="utf-8")):
            monkeypatch.setenv(variable, f"example-value-of-{variable}")

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args))

    return run


# -- the set of examples --------------------------------------------------------------------------


def test_every_server_of_the_issue_has_an_example() -> None:
    assert set(NAMES) >= REQUIRED


@pytest.mark.parametrize("name", NAMES)
def test_an_example_has_its_five_files(name: str) -> None:
    directory = EXAMPLES_DIR / name
    for file in ("cases.yaml", "mcpwall.yaml", "README.md", "tools.json"):
        assert (directory / file).is_file(), f"{name} has no {file}"
    assert example(name).policy_path.is_file()


# -- the policy and its cases -----------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_the_policy_validates_with_no_warnings(name: str) -> None:
    assert example(name).policy.warnings == ()


@pytest.mark.parametrize("name", NAMES)
def test_the_cases_file_names_the_example_policy(name: str) -> None:
    assert example(name).cases_policy == example(name).policy_path.name


@pytest.mark.parametrize(("name", "case"), all_cases())
def test_golden_case(name: str, case: Case) -> None:
    result = run_case(example(name).policy, case)
    assert result.passed, "\n".join(result.mismatches)


@pytest.mark.parametrize("name", NAMES)
def test_the_cases_pass_through_the_command_line(name: str) -> None:
    """``mcpwall policy validate`` and ``policy test --cases``, as the README tells a user."""
    ex = example(name)
    cases_path = ex.directory / "cases.yaml"
    command = [sys.executable, "-m", "mcpwall", "policy"]
    env = {**os.environ, "COLUMNS": "400", "NO_COLOR": "1"}
    validated = subprocess.run(
        [*command, "validate", str(ex.policy_path)], capture_output=True, text=True, env=env
    )
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "valid" in validated.stdout
    assert "0 warnings" in validated.stdout
    tested = subprocess.run(
        [*command, "test", str(ex.policy_path), "--cases", str(cases_path)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert f"{len(ex.cases)} passed, 0 failed" in " ".join(tested.stdout.split())


@pytest.mark.parametrize("name", NAMES)
def test_every_guard_has_a_case(name: str) -> None:
    """Each require condition and deny_if entry is the decided rule of some case; each tool
    that can be allowed has an allowed case; each hidden tool and each counter is exercised."""
    ex = example(name)
    rules = {case.expect.rule for case in ex.cases}
    allowed = {case.tool for case in ex.cases if case.expect.decision == "allow"}
    hidden = {case.tool for case in ex.cases if case.expect.rule == "(hidden)"}
    counters = {counter for case in ex.cases for counter in case.expect.limits or ()}
    missing = []
    for tool in ex.policy.tools.values():
        pointers = [c.pointer for r in tool.require for c in r.conditions]
        pointers += [p.pointer for p in tool.deny_if]
        missing += [pointer for pointer in pointers if pointer not in rules]
        always_denied = any(not p.conditions for p in tool.deny_if)
        if not always_denied and tool.name not in allowed:
            missing.append(f"an allowed call of {tool.name}")
        missing += [
            f"counter {limit.counter}" for limit in tool.limits if limit.counter not in counters
        ]
    missing += [f"hidden {tool}" for tool in sorted(ex.policy.hidden) if tool not in hidden]
    assert missing == []


# -- the server's real tools ------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_the_policy_names_only_the_servers_tools_and_arguments(name: str) -> None:
    ex = example(name)
    unknown = [
        tool for tool in sorted(ex.policy.hidden | set(ex.policy.tools)) if tool not in ex.tools
    ]
    for tool in ex.policy.tools.values():
        conditions = [c for r in tool.require for c in r.conditions]
        conditions += [c for p in tool.deny_if for c in p.conditions]
        unknown += [
            f"{tool.name} {c.path}"
            for c in conditions
            if parse_path(c.path).keys[0] not in ex.tools.get(tool.name, [])
        ]
    assert unknown == []


@pytest.mark.parametrize("name", NAMES)
def test_a_default_deny_policy_decides_every_tool_of_the_server(name: str) -> None:
    """Hidden or listed: no tool of the pinned version is refused only for being forgotten."""
    policy = example(name).policy
    if policy.default == "deny":
        assert set(example(name).tools) == policy.hidden | set(policy.tools)


@pytest.mark.parametrize("name", NAMES)
def test_the_cases_call_real_tools_with_real_arguments(name: str) -> None:
    """A misspelt argument in a case would be denied for the wrong reason and still pass."""
    ex = example(name)
    wrong = []
    for case in ex.cases:
        if case.expect.rule == "(default deny)" and case.tool not in ex.tools:
            continue  # a deliberately unknown tool
        known = ex.tools.get(case.tool)
        if known is None:
            wrong.append(f"{case.name}: no tool {case.tool}")
        elif isinstance(case.args, dict):
            wrong += [f"{case.name}: no argument {key}" for key in case.args if key not in known]
    assert wrong == []


@pytest.mark.parametrize("name", NAMES)
def test_every_server_but_the_sandbox_is_pinned_to_the_version_read(name: str) -> None:
    ex = example(name)
    assert (ex.version is None) == (ex.server == SANDBOX), ex.server


# -- the seed ---------------------------------------------------------------------------------------


def test_the_seed_example_holds_the_seeds_policy_byte_for_byte() -> None:
    seed = example("seed")
    assert seed.policy_path.name == "policy.json"
    assert seed.policy_path.read_bytes() == SEED_POLICY.read_bytes()


def test_the_seed_example_lists_the_sandboxs_tools_and_arguments() -> None:
    """Its tools.json is what ``mcpwall sandbox`` answers to ``tools/list``, in its order."""

    async def listed() -> dict[str, list[str]]:
        async with Client(build_server(crashloop_cluster()), mode="legacy") as client:
            tools = (await client.list_tools()).tools
        return {tool.name: sorted(tool.input_schema.get("properties", {})) for tool in tools}

    seed = example("seed")
    assert seed.server == SANDBOX
    assert list(seed.tools.items()) == list(anyio.run(listed).items())


def test_the_seed_readme_gives_the_command_the_project_readme_uses() -> None:
    text = (EXAMPLES_DIR / "seed" / "README.md").read_text(encoding="utf-8")
    assert "mcpwall policy set seed examples/seed/policy.json" in text


# -- installing it ----------------------------------------------------------------------------------


def config(name: str) -> dict[str, Any]:
    raw = load_document((EXAMPLES_DIR / name / "mcpwall.yaml").read_bytes(), format="yaml")
    assert isinstance(raw, dict)
    return raw


@pytest.mark.parametrize("name", NAMES)
def test_the_apply_file_installs_the_example_policy_once(name: str, mcpwall: Run) -> None:
    ex = example(name)
    wanted = config(name)
    [(policy_name, policy_file)] = wanted["policies"].items()
    assert policy_file == ex.policy_path.name
    [upstream] = wanted["upstreams"]
    [grant] = wanted["grants"]
    command = wanted["upstreams"][upstream]["command"]
    if ex.version is None:
        assert command == SANDBOX
    else:
        assert ex.version in command, "launch the version read"

    path = str(ex.directory / "mcpwall.yaml")
    first = mcpwall("apply", "--pin-later", "-f", path)
    assert first.exit_code == 0, first.output
    lines = first.output.splitlines()
    assert any(line.startswith(f"+ upstream {upstream}  stdio") for line in lines), first.output
    assert any(line.startswith(f"+ policy {policy_name}  version 1") for line in lines)
    assert any(line.startswith(f"+ grant {grant['label']}  ") for line in lines)
    assert any(line.startswith(f"token {grant['label']}: mcpw_") for line in lines)

    second = mcpwall("apply", "--pin-later", "-f", path)
    assert (second.exit_code, second.output) == (0, "no changes\n")
    stored = mcpwall("policy", "show", policy_name)
    assert stored.output == ex.policy_path.read_text(encoding="utf-8")


def test_every_example_applies_into_one_store_without_touching_another(mcpwall: Run) -> None:
    """Their upstream, policy and grant names don't collide: a second round changes nothing."""
    for name in NAMES:
        result = mcpwall("apply", "--pin-later", "-f", str(EXAMPLES_DIR / name / "mcpwall.yaml"))
        assert result.exit_code == 0, result.output
        assert "~" not in [line[:1] for line in result.output.splitlines()], result.output
    for name in NAMES:
        result = mcpwall("apply", "--pin-later", "-f", str(EXAMPLES_DIR / name / "mcpwall.yaml"))
        assert (result.exit_code, result.output) == (0, "no changes\n")


# -- the READMEs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_the_readme_says_how_to_install_and_try_it(name: str) -> None:
    ex = example(name)
    text = (ex.directory / "README.md").read_text(encoding="utf-8")
    assert f"mcpwall apply -f examples/{name}/mcpwall.yaml" in text
    assert f"--cases examples/{name}/cases.yaml" in text
    assert (ex.version or SANDBOX) in text


@pytest.mark.parametrize("readme", [*NAMES, "."])
def test_relative_links_in_a_readme_resolve(readme: str) -> None:
    path = EXAMPLES_DIR / readme / "README.md"
    links = relative_links(path.read_text(encoding="utf-8"))
    broken = [link for link in links if not (path.parent / link.split("#")[0]).exists()]
    assert broken == []


def test_the_index_links_every_example() -> None:
    links = relative_links((EXAMPLES_DIR / "README.md").read_text(encoding="utf-8"))
    assert {link.strip("/").split("/")[0] for link in links} >= set(NAMES)


def test_the_link_finder_finds_inline_and_reference_links() -> None:
    markdown = (
        '[a](policy.yaml) [b](https://x.org/y) [c](#top) [d](../docs/t.md#s "T")\n[e]: cases.yaml\n'
    )
    assert relative_links(markdown) == ["policy.yaml", "../docs/t.md#s", "cases.yaml"]
