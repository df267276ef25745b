"""The documentation is part of the product: its links resolve, its JSON and YAML snippets
parse, and its policy snippets validate.

Commands in the docs are run by ``tests/test_doc_commands.py``; this module checks what
can be checked without running anything.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import click
import pytest

from mcpwall.cli import cli
from mcpwall.core.policy import compile_policy, load_document, load_policy

REPO = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def markdown_files() -> list[Path]:
    """Every page a user reads: the README, the threat model, docs/, the examples."""
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    pages += [p for p in (REPO / "THREAT_MODEL.md",) if p.exists()]
    pages += (
        sorted((REPO / "examples").glob("**/README.md")) if (REPO / "examples").exists() else []
    )
    return pages


def page_id(path: Path) -> str:
    return str(path.relative_to(REPO))


def slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to ``-``."""
    text = heading.strip().lower()
    text = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return {slug(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}


def fenced(kind: str) -> list[tuple[str, str]]:
    """(page, text) of every fenced block of ``kind`` in the docs."""
    return [
        (page_id(page), match.group(2))
        for page in markdown_files()
        for match in FENCE.finditer(page.read_text(encoding="utf-8"))
        if match.group(1) == kind
    ]


@pytest.mark.parametrize("page", markdown_files(), ids=page_id)
def test_every_relative_link_resolves(page: Path) -> None:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    broken = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target):
            continue  # https:, mailto:: not ours to check offline
        path_part, _, anchor = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading with anchor #{anchor}")
    assert not broken, f"{page_id(page)}: " + "; ".join(broken)


def test_the_docs_link_every_page() -> None:
    """No page is an orphan: the README (or another page) links each docs/ page."""
    linked: set[Path] = set()
    for page in markdown_files():
        for target in LINK.findall(FENCE.sub("", page.read_text(encoding="utf-8"))):
            path_part = target.partition("#")[0]
            if path_part and not re.match(r"^[a-z]+:", path_part):
                linked.add((page.parent / path_part).resolve())
    orphans = [page_id(p) for p in (REPO / "docs").glob("*.md") if p.resolve() not in linked]
    assert not orphans


@pytest.mark.parametrize(
    ("page", "text"), fenced("json"), ids=lambda v: v if v.endswith(".md") else ""
)
def test_every_json_snippet_parses(page: str, text: str) -> None:
    value = json.loads(text)
    if isinstance(value, dict) and value.get("version") == "1" and "default" in value:
        compile_policy(load_policy(text.encode()), name=f"{page} snippet")  # a policy: valid


@pytest.mark.parametrize(
    ("page", "text"), fenced("yaml"), ids=lambda v: v if v.endswith(".md") else ""
)
def test_every_yaml_snippet_parses(page: str, text: str) -> None:
    load_document(text.encode(), source=page)


def test_the_cli_page_names_every_command_and_option() -> None:
    """docs/cli.md keeps up with the command line: every command path and every option."""
    page = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    missing: list[str] = []

    def walk(command: click.Command, path: list[str]) -> None:
        line = " ".join(["mcpwall", *path])
        # A group's own options count too: `mcpwall logs` is a group that shows rows itself.
        for option in command.params:
            long_flags = [flag for flag in option.opts if flag.startswith("--")]
            documented = any(flag in page for flag in long_flags)
            if isinstance(option, click.Option) and "--help" not in option.opts and not documented:
                missing.append(f"{line} {option.opts[0]}")
        if isinstance(command, click.Group):
            context = click.Context(command)
            for name in command.list_commands(context):
                sub = command.get_command(context, name)
                assert sub is not None
                walk(sub, [*path, name])
            return
        if f"`{line}" not in page:
            missing.append(line)

    walk(cli, [])
    assert not missing


def test_every_setting_is_in_the_operations_table() -> None:
    """Each ``MCPWALL_*`` variable the code reads has its row in docs/operations.md."""
    source = "\n".join(p.read_text(encoding="utf-8") for p in (REPO / "src").rglob("*.py"))
    variables = set(re.findall(r'"(MCPWALL_[A-Z_]+)"', source))
    page = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `(MCPWALL_[A-Z_]+)` \|", page, re.MULTILINE))
    assert variables - rows == set()
