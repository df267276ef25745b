"""Sliding-window arithmetic for rate limits (DESIGN §3, "Limits"). Time is passed in.

A counter allows at most ``max`` calls in any ``window``-long interval. It keeps the times of
the calls it allowed (a log); a new call at ``now`` fits when fewer than ``max`` of them fall in
``(now - window, …]``. Exact, with no boundary burst: a fixed-window counter would let
``2 × max`` calls through around a window edge.

Everything a store needs to agree on lives here, so that the in-memory, SQL and Redis stores
count alike: which log a limit draws on (:func:`budgets_for`, :func:`log_name`), when a log is
full and for how long (:func:`retry_after`, :func:`wait_for`), and the reference
implementation of reserving a call's limits all or none (:class:`Ledger`).
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from mcpwall.core.policy.model import Decision, Limit

UNCHECKED_MESSAGE = (
    "Rate limits can't be checked right now (the counter store is unreachable), so calls "
    "with limits are refused; try again shortly."
)


@dataclass(frozen=True, slots=True)
class CounterKey:
    """Which budget a call draws on: a counter name in a scope.

    ``subject`` is the grant id (scope ``grant``), the upstream name (``upstream``) or ``""``
    (``global``). Never a token: keys end up in logs and in Redis.
    """

    counter: str
    scope: str
    subject: str


@dataclass(frozen=True, slots=True)
class Budget:
    """One limit to reserve: its key, its ``max`` and its window in seconds."""

    key: CounterKey
    maximum: int
    window: float
    log: str = field(init=False, repr=False, compare=False)
    """The name of the log this budget counts in (see :func:`log_name`); named once, since
    every store looks it up on every call."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "log", log_name(self.key, self.window))


@dataclass(frozen=True, slots=True)
class Refusal:
    """The first limit (in the order asked) that had no room, and when it will."""

    index: int
    retry_after_s: float


def budgets_for(limits: Iterable[Limit], grant_id: str, upstream: str) -> tuple[Budget, ...]:
    """The budgets a call of ``grant_id`` on ``upstream`` draws on, one per limit, in order.

    Scope ``grant`` gives each grant its own budget (revoke one agent without touching
    another), ``upstream`` one shared by every grant on that upstream, ``global`` one for all.
    """
    return tuple(
        Budget(
            CounterKey(limit.counter, limit.scope, _subject(limit.scope, grant_id, upstream)),
            limit.max,
            limit.window_seconds,
        )
        for limit in limits
    )


def _subject(scope: str, grant_id: str, upstream: str) -> str:
    if scope == "grant":
        return grant_id
    return upstream if scope == "upstream" else ""


def log_name(key: CounterKey, window: float) -> str:
    """The text naming a counter's log in a store: ``WINDOW:SCOPE:SUBJECT:COUNTER``.

    The window is part of the name: within one policy the compiler makes tools that share a
    counter agree on its window and scope, so they share one log; a counter of the same name
    counted over another window (another policy, or a later version) keeps a log of its own,
    which every store can then prune by its window alone. ``%`` and ``:`` are escaped, so two
    different keys never share a name.
    """
    parts = (_number(window), key.scope, key.subject, key.counter)
    return ":".join(part.replace("%", "%25").replace(":", "%3A") for part in parts)


def _number(window: float) -> str:
    return str(int(window)) if float(window).is_integer() else repr(float(window))


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
    blocking = times[len(times) - maximum] if maximum > 0 else None
    return wait_for(blocking, now, window, maximum)


def wait_for(blocking: float | None, now: float, window: float, maximum: int) -> float | None:
    """The seconds until a call fits, from the one time that decides it.

    ``blocking`` is the ``maximum``-th newest call still in the window — the call that must
    leave the window before a new one fits — or None when fewer than ``maximum`` are in it.
    Stores that keep their log elsewhere fetch just that one time (SQL: ``ORDER BY at DESC
    OFFSET max - 1``; Redis: ``ZRANGE count - max``).
    """
    if maximum <= 0:
        return window  # a budget of nothing never frees up; say "try after a window"
    if blocking is None:
        return None
    return max(blocking + window - now, 0.0)


def unchecked_denial(limits: Sequence[Limit]) -> Decision:
    """The decision for a call whose limits can't be checked: refused, naming its first limit.

    The text is the same whatever the limit's ``on_deny`` says: the limit was not exceeded,
    it could not be counted. In shadow mode the limit's denial is ``would_deny``, and so is
    this one.
    """
    first = limits[0]
    return replace(first.denial, message=UNCHECKED_MESSAGE, retry_after_s=None)


class Ledger:
    """The reference counter store: every log in memory, reserved all or none.

    A pure, synchronous state machine (no clock, no lock): ``reserve`` and ``release`` are
    given the time. A call that draws twice on one log (two of its limits name the same
    counter, scope and window) is recorded in it once: it is one call.
    """

    def __init__(self) -> None:
        self._logs: dict[str, list[float]] = {}

    def reserve(self, budgets: Sequence[Budget], now: float) -> Refusal | None:
        """Record a call at ``now`` in every budget's log, or in none if one is full."""
        for index, budget in enumerate(budgets):
            times = self._live(budget, now)
            wait = retry_after(times, now, budget.window, budget.maximum)
            if wait is not None:
                return Refusal(index, wait)
        for log in dict.fromkeys(budget.log for budget in budgets):
            insort(self._logs.setdefault(log, []), now)  # `now` may come out of order
        return None

    def release(self, budgets: Sequence[Budget], at: float) -> None:
        """Take back a call recorded at ``at`` (the upstream produced no result)."""
        for log in dict.fromkeys(budget.log for budget in budgets):
            times = self._logs.get(log)
            if times is not None and at in times:
                times.remove(at)

    def count(self, budget: Budget, now: float) -> int:
        """How many calls ``budget``'s log holds in the window ending at ``now`` (a reading:
        it changes nothing, and a log never used counts 0)."""
        times = self._logs.get(budget.log, [])
        return len(times) - live(times, now, budget.window)

    def _live(self, budget: Budget, now: float) -> list[float]:
        times = self._logs.setdefault(budget.log, [])
        # The log is this window's alone, so what left the window is never needed again.
        del times[: live(times, now, budget.window)]
        return times
