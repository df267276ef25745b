"""Reading the repository's Dockerfile, so that tests check and run what it says.

Only what the Dockerfile uses is understood: instructions (with ``\\`` continuations and
comments), stages, ``ENV KEY=VALUE ...``, exec-form ``CMD``/``ENTRYPOINT``/``HEALTHCHECK``.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"


@dataclass(frozen=True)
class Instruction:
    """One instruction: its keyword in upper case and the rest of its (joined) line."""

    keyword: str
    arguments: str


def instructions(text: str) -> list[Instruction]:
    """The instructions of a Dockerfile, continuation lines joined, comments dropped."""
    logical: list[str] = []
    current = ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") or (not line.strip() and not current):
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    assert not current, "the Dockerfile ends inside a continued line"
    parsed = []
    for line in logical:
        keyword, _, arguments = line.strip().partition(" ")
        parsed.append(Instruction(keyword.upper(), re.sub(r"\s+", " ", arguments).strip()))
    return parsed


def stages(text: str) -> list[list[Instruction]]:
    """Each stage's instructions, its ``FROM`` first; what precedes the first ``FROM`` (global
    ``ARG``s) is left out."""
    found: list[list[Instruction]] = []
    for instruction in instructions(text):
        if instruction.keyword == "FROM":
            found.append([])
        if found:
            found[-1].append(instruction)
    return found


def global_args(text: str) -> dict[str, str]:
    """The ``ARG NAME=DEFAULT`` lines before the first ``FROM``."""
    args: dict[str, str] = {}
    for instruction in instructions(text):
        if instruction.keyword == "FROM":
            break
        if instruction.keyword == "ARG":
            name, _, default = instruction.arguments.partition("=")
            args[name] = default
    return args


def of(stage: list[Instruction], keyword: str) -> list[str]:
    """The arguments of every ``keyword`` instruction in ``stage``, in order."""
    return [i.arguments for i in stage if i.keyword == keyword]


def environment(stage: list[Instruction]) -> dict[str, str]:
    """What the stage's ``ENV KEY=VALUE ...`` instructions set (values as written)."""
    env: dict[str, str] = {}
    for arguments in of(stage, "ENV"):
        for pair in shlex.split(arguments):
            key, sep, value = pair.partition("=")
            assert sep, f"ENV {arguments}: only the KEY=VALUE form is understood"
            env[key] = value
    return env


def exec_form(arguments: str) -> list[str]:
    """A JSON-array (exec form) instruction's command; AssertionError for the shell form."""
    command = json.loads(arguments)
    assert isinstance(command, list), f"{arguments}: not the exec form"
    assert all(isinstance(part, str) for part in command)
    return command


def healthcheck(stage: list[Instruction]) -> tuple[dict[str, str], list[str]]:
    """The final ``HEALTHCHECK``'s options and its exec-form command."""
    (arguments,) = of(stage, "HEALTHCHECK")
    options_text, _, command = arguments.partition("CMD ")
    options = dict(option.removeprefix("--").split("=", 1) for option in options_text.split())
    return options, exec_form(command)
