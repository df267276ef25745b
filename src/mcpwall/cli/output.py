"""Terminal output for the CLI: two rich consoles and a few shared ways of printing.

Markup is off everywhere: policy text and messages routinely contain ``[`` and ``]``, which rich
would otherwise read as style tags. Lines never wrap, so each problem stays on one line.

The consoles (``stdout``, ``stderr``) and rich itself load on first use: ``mcpwall stdio``
prints nothing of its own unless it fails, and a desktop agent waits for its start (issue 16
§3).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, NoReturn

from mcpwall.core.errors import Problem

if TYPE_CHECKING:
    from rich.console import Console

    stdout: Console
    stderr: Console

# Piped into a file or another program there is no terminal width to respect: don't let rich
# fall back to 80 columns and truncate ids in tables.
_PIPE_WIDTH = 200


def __getattr__(name: str) -> object:
    """``stdout`` and ``stderr``, the consoles, made on first use."""
    if name in ("stdout", "stderr"):
        return _console(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _console(name: str) -> Console:
    """The console ``name`` (``stdout`` or ``stderr``), made once."""
    made: Console | None = globals().get(name)
    if made is None:
        from rich.console import Console

        stream = sys.stdout if name == "stdout" else sys.stderr
        made = Console(
            stderr=name == "stderr", highlight=False, markup=False, soft_wrap=True,
            width=None if stream.isatty() else _PIPE_WIDTH,
        )  # fmt: skip
        globals()[name] = made  # found as a module attribute from now on
    return made


# Exit codes shared by every command.
EXIT_OK = 0
EXIT_MISMATCH = 1  # the command ran and found a difference (a failed golden case)
EXIT_INVALID = 2  # invalid input: a bad policy, file, flag or argument


def print_problems(problems: Iterable[Problem], *, console: Console | None = None) -> None:
    """One line per problem, pointer first, as ``policy validate`` promises (on stdout unless
    ``console`` says otherwise)."""
    from rich.text import Text

    console = _console("stdout") if console is None else console
    for problem in problems:
        console.print(
            Text.assemble((problem.pointer or "(root)", "bold red"), ": ", problem.message)
        )


def print_warnings(warnings: Iterable[Problem], *, console: Console | None = None) -> None:
    from rich.text import Text

    console = _console("stdout") if console is None else console
    for warning in warnings:
        console.print(
            Text.assemble(
                ("warning ", "yellow"), (warning.pointer or "(root)", "bold"), ": ", warning.message
            )
        )


def fail(message: str, code: int = EXIT_INVALID) -> NoReturn:
    """Print ``message`` to stderr and exit with ``code``."""
    from rich.text import Text

    _console("stderr").print(Text.assemble(("error: ", "bold red"), message))
    raise SystemExit(code)
