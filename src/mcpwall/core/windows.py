"""Sliding-window arithmetic for rate limits (DESIGN §3, "Limits"). Time is passed in.

A counter allows at most ``max`` calls in any ``window``-long interval. It keeps the times of
the calls it allowed; a new call at ``now`` fits when fewer than ``max`` of them fall in
``(now - window, now]``. Exact, with no boundary burst: a fixed-window counter would let
``2 × max`` calls through around a window edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CounterKey:
    """Which budget a call draws on: a counter name in a scope.

    ``subject`` is the grant id (scope ``grant``), the upstream name (``upstream``) or ``""``
    (``global``). Never a token: keys end up in logs and in Redis.
    """

    counter: str
    scope: str
    subject: str


def live(times: Sequence[float], now: float, window: float) -> int:
    """Index of the first time still inside the window ending at ``now`` (``times`` sorted)."""
    start = now - window
    low, high = 0, len(times)
    while low < high:  # bisect, by hand to keep the comparison "strictly after start"
        middle = (low + high) // 2
        if times[middle] <= start:
            low = middle + 1
        else:
            high = middle
    return low


def retry_after(times: Sequence[float], now: float, window: float, maximum: int) -> float | None:
    """None when one more call fits at ``now``; else the seconds until one would.

    ``times`` are the allowed calls still in the window, oldest first.
    """
    if len(times) < maximum:
        return None
    if maximum == 0:
        return window  # a budget of nothing never frees up; say "try after a window"
    # The call that must leave the window before a new one fits is the max-th newest.
    return max(times[len(times) - maximum] + window - now, 0.0)
