"""Did-you-mean suggestions for misspelt keys, operators and choices."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(found: str, choices: Iterable[str]) -> str:
    """``'; did you mean "x"?'`` for the closest choice, or ``""`` when nothing is close."""
    close = difflib.get_close_matches(found, list(choices), n=1, cutoff=0.6)
    if not close:
        close = [c for c in choices if c.lower() == found.lower().strip()]
    return f'; did you mean "{close[0]}"?' if close else ""


def expected_one_of(choices: Iterable[str]) -> str:
    """``"expected one of a, b, c"``."""
    return "expected one of " + ", ".join(choices)
