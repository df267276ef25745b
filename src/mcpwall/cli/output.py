"""Terminal output for the CLI: two rich consoles and a few shared ways of printing.

Markup is off everywhere: policy text and messages routinely contain ``[`` and ``]``, which rich
would otherwise read as style tags. Lines never wrap, so each problem stays on one line.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import NoReturn

from rich.console import Console
from rich.text import Text

from mcpwall.core.errors import Problem

# Piped into a file or another program there is no terminal width to respect: don't let rich
# fall back to 80 columns and truncate ids in tables.
_PIPE_WIDTH = 200
stdout = Console(
    highlight=False,
    markup=False,
    soft_wrap=True,
    width=None if sys.stdout.isatty() else _PIPE_WIDTH,
)
stderr = Console(
    stderr=True, highlight=False, markup=False, soft_wrap=True,
    width=None if sys.stderr.isatty() else _PIPE_WIDTH,
)  # fmt: skip

# Exit codes shared by every command.
EXIT_OK = 0
EXIT_MISMATCH = 1  # the command ran and found a difference (a failed golden case)
EXIT_INVALID = 2  # invalid input: a bad policy, file, flag or argument


def print_problems(problems: Iterable[Problem], *, console: Console = stdout) -> None:
    """One line per problem, pointer first, as ``policy validate`` promises."""
    for problem in problems:
        console.print(
            Text.assemble((problem.pointer or "(root)", "bold red"), ": ", problem.message)
        )


def print_warnings(warnings: Iterable[Problem], *, console: Console = stdout) -> None:
    for warning in warnings:
        console.print(
            Text.assemble(
                ("warning ", "yellow"), (warning.pointer or "(root)", "bold"), ": ", warning.message
            )
        )


def fail(message: str, code: int = EXIT_INVALID) -> NoReturn:
    """Print ``message`` to stderr and exit with ``code``."""
    stderr.print(Text.assemble(("error: ", "bold red"), message))
    raise SystemExit(code)
