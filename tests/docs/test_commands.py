"""Every ``mcpwall`` command the docs show in a ``console`` block runs as shown.

Each page's blocks run in order, against a throwaway ``MCPWALL_HOME`` of the page's own, in
a scratch folder holding the files the docs name (``seed.json`` is the seed's policy,
``bad.json`` the invalid one ``docs/policy.md`` validates, ``examples/`` the repository's).
Blocks marked ``<!-- file: NAME -->`` are saved
under that name first, as a reader would. A command exits 0 unless the block shows ``$ echo $?`` after it; the output lines a block
shows after a command must appear in its output, in order, once ids, tokens and spacing are
set aside (unless the block follows ``<!-- sample output -->``: the output of a gateway that
has served, which a fresh home can't reproduce). Commands that serve until stopped (``serve``, ``stdio``, ``--follow``) and other
programs (``make``, ``claude``, ``npx``, ``curl``) are not run here: the end-to-end tests run
the gateway, and ``tests/e2e/test_doc_snippets.py`` the agent snippets against it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.docs.test_pages import FENCE, REPO, markdown_files, page_id

MCPWALL = str(Path(sys.executable).with_name("mcpwall"))
FILES = Path(__file__).with_name("files")
SEED_POLICY = REPO / "tests" / "core" / "policy" / "cases" / "seed.policy.json"
NOT_RUN = ("mcpwall serve", "mcpwall stdio")
FOLLOWS = re.compile(r"(^|\s)(--follow|-f)(\s|$)")
# What differs from run to run: ids, tokens, times; and table padding.
VARYING = [
    (re.compile(r"mcpwa?_[A-Za-z0-9_-]{20,}"), "TOKEN"),
    (re.compile(r"\b(grt|adm)_[0-9a-f]{8,}"), "ID"),
    (re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)?"), "TIME"),
]
ENVIRONMENT = {"DOCS_TOKEN": "docs-token-for-the-test", "KUBECONFIG": "/nonexistent/kubeconfig"}
CLI_TIMEOUT = 60.0
SAMPLE = "<!-- sample output -->"
FILE_MARK = re.compile(r"<!-- file: ([\w.-]+) -->\s*$")


@dataclass
class Command:
    """One ``$ …`` line of a console block, what it should print, and its exit status."""

    text: str
    shown: list[str] = field(default_factory=list)
    status: int = 0

    @property
    def runnable(self) -> bool:
        return (
            self.text.startswith("mcpwall ")
            and not self.text.startswith(NOT_RUN)
            and not FOLLOWS.search(self.text)
        )


def commands(page: Path) -> list[Command]:
    """The commands of a page's console blocks, in order. A block after the comment
    ``<!-- sample output -->`` shows what a gateway that has served prints: its commands are
    run, their output is not compared."""
    text = page.read_text(encoding="utf-8")
    found: list[Command] = []
    for match in FENCE.finditer(text):
        if match.group(1) == "console":
            block = _block(match.group(2))
            if text[: match.start()].rstrip().endswith(SAMPLE):
                for command in block:
                    command.shown = []
            found += block
    return found


def _block(text: str) -> list[Command]:
    found: list[Command] = []
    lines = iter(text.splitlines())
    for line in lines:
        if not line.startswith("$ "):
            if found:
                found[-1].shown.append(line)
            continue
        command = line[2:]
        while command.endswith("\\"):
            command = command[:-1] + next(lines, "")
        if command.strip() == "echo $?":
            found[-1].status = int(next(lines))
            continue
        found.append(Command(command.strip()))
    return found


def files(page: Path) -> dict[str, str]:
    """The blocks a page offers as files (after ``<!-- file: NAME -->``), by name: its
    commands read them as the reader would have saved them."""
    text = page.read_text(encoding="utf-8")
    found: dict[str, str] = {}
    for match in FENCE.finditer(text):
        marked = FILE_MARK.search(text[: match.start()].rstrip() + "\n")
        if marked is not None:
            found[marked.group(1)] = match.group(2)
    return found


def normalized(line: str) -> str:
    for pattern, stand_in in VARYING:
        line = pattern.sub(stand_in, line)
    return " ".join(line.split())


def pages_with_commands() -> list[Path]:
    return [page for page in markdown_files() if any(c.runnable for c in commands(page))]


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """A folder holding the files the docs' commands name."""
    shutil.copy(SEED_POLICY, tmp_path / "seed.json")
    shutil.copy(FILES / "bad.json", tmp_path / "bad.json")
    (tmp_path / "examples").symlink_to(REPO / "examples", target_is_directory=True)
    return tmp_path


@pytest.mark.parametrize("page", pages_with_commands(), ids=page_id)
def test_every_command_runs_as_shown(page: Path, scratch: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCPWALL_")}
    env |= ENVIRONMENT | {"MCPWALL_HOME": str(scratch / "home")}
    env["PATH"] = f"{Path(MCPWALL).parent}{os.pathsep}{env.get('PATH', '')}"
    for name, content in files(page).items():
        (scratch / name).write_text(content, encoding="utf-8")
    for command in (c for c in commands(page) if c.runnable):
        done = subprocess.run(
            ["bash", "-c", command.text], cwd=scratch, env=env, capture_output=True,
            text=True, timeout=CLI_TIMEOUT, check=False,
        )  # fmt: skip
        where = f"{page_id(page)}: $ {command.text}"
        assert done.returncode == command.status, f"{where}\n{done.stdout}{done.stderr}"
        _assert_shown(where, command.shown, done.stdout + done.stderr)


def _assert_shown(where: str, shown: list[str], output: str) -> None:
    """Each shown line appears in ``output``, in order (other lines may come between)."""
    actual = [normalized(line) for line in output.splitlines()]
    position = 0
    for line in (normalized(s) for s in shown if s.strip()):
        try:
            position = actual.index(line, position) + 1
        except ValueError:
            raise AssertionError(f"{where}\nshown: {line!r}\nprinted:\n{output}") from None
