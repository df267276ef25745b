"""Tickets: rate-limit budget a SQLite counter store claims ahead of its calls.

Without tickets, a limited call on the embedded store runs a write transaction before it is
forwarded (``sql.py``): exact, but a transaction on every call's critical path. With them, a
store that sees a log called again within its horizon (:func:`horizon`: a sixtieth of the
window, 1 s to 60 s), with a ``max`` of at least :data:`MIN_MAX`, claims a few of its calls
ahead, in one transaction off the critical path: each ticket is a row of ``counter_events``
dated a horizon ahead (``until``), checked against the log's ``max`` like any call. A call that
finds a usable ticket for every log it draws on takes them, in memory, and is forwarded at
once; a sync in a worker thread later moves each used ticket's row to the call's own time,
gives back the tickets of logs left idle, and claims more for logs still in use.

**Why this stays exact.** Every call has a row by the time it is forwarded (a ticket's row
was committed when the ticket was claimed), dated at or after the call (a ticket serves only
calls before its ``until``). A check counts every row dated after ``now - window``, later
ones included, so each check counts every call still in its window, and every row was
inserted under a check that left the log at most ``max`` at its time: a ticket serves no
call dated before its claim's check, whose window may hold older calls that check no longer
counted. Moving a row to an earlier time,
or deleting one, only frees room. So no window ever holds more than ``max`` calls, however
processes interleave; nothing here depends on timing. Timing decides only how pessimistic
the count is: a ticket not yet moved to its call's time, or not yet given back, counts as a
call at its ``until``.

**What a SIGKILL loses.** Nothing counted. The unused tickets of a killed process, and its
used ones not yet moved (at most :data:`SYNC_EVERY <mcpwall.adapters.counters.sql>` seconds
of calls), stay in the table as calls at their ``until``: at most :data:`MAX_BATCH` per log,
counted up to a horizon longer than a call made then (1/60 of the window). It errs towards
refusing, never towards a fresh budget.

**Sharing the store.** A store claims for two seconds at a log's current rate (at least 8), and
never more than half the room the log has left, so that other processes sharing the store keep
room of their own. Another process's unused tickets still count in its checks, so a check that
would refuse while another store holds tickets on that log asks for them (``sql.py``): it
writes a *want* (a row of the log :func:`want_log`, live for :data:`WANT_FOR` seconds) and
checks again while it waits. A store holding tickets reads the live wants in each sync
(:meth:`TicketBook.wanted`), gives back its unused tickets of the wanted logs and claims none
for them while the want lives; so a refusal comes only once the calls themselves fill the
window. A store that cannot answer (killed, or stalled longer than the asker waits) leaves its
tickets counted until they fall due: a refusal then is early, by at most the tickets it
holds, for at most a horizon.

This module is the bookkeeping alone, with no I/O: which tickets a store holds, which it used
when, and what its next transaction must write (:class:`SyncPlan`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from mcpwall.core.windows import Budget

# A ticket's row is dated a horizon ahead of its claim, and serves calls until then: a
# sixtieth of the log's window, within these bounds. It is also how much longer than the
# call a SIGKILL can leave a ticket counted: at most 1/60 of an hour's window.
MIN_HORIZON = 1.0
MAX_HORIZON = 60.0
MARGIN = 0.25  # a ticket stops serving this long before its ``until``, and is given back
RATE_WINDOW = 1.0  # a log's rate is its calls in the last second: it claims for two of them
MIN_CLAIM = 8  # ... and at least this many: a claim costs a check, whatever its size
WAKE_RATE = 10  # calls in the last second from which an empty pool is refilled at once
# The unused tickets of a log not called for half its horizon are given back: an agent that
# thinks for seconds between calls keeps its tickets, and another process that finds the
# log full because of them waits at most that long (0.5 s to 30 s).
IDLE_SHARE = 0.5
MAX_BATCH = 256  # the most tickets a store holds of one log: what a SIGKILL can leave counted
# Only a log whose max is at least this takes tickets. A small budget is no load worth taking
# off the call's path, and tickets held by one process can keep another from its last calls
# until they are given back (see "Sharing the store"): with 5 an hour, that is felt at once.
MIN_MAX = 100
# A want (a store refused only because of others' tickets asks for them) lives this long:
# holders give back their unused tickets of the log and claim none for it meanwhile.
WANT_FOR = 4.0
WANT_PREFIX = "want:"  # a log name never starts so: it starts with its window, a number


def horizon(window: float) -> float:
    """How far ahead a log of this window dates its tickets."""
    return min(max(window / 60, MIN_HORIZON), MAX_HORIZON)


def want_log(log: str) -> str:
    """The log in which stores ask for the tickets others hold of ``log``."""
    return WANT_PREFIX + log


@dataclass(frozen=True, slots=True)
class Ticket:
    """A call claimed ahead: row ``id`` of ``counter_events``, in ``log``, dated ``until``."""

    id: int
    log: str
    claimed: float  # when its check ran: it serves no call before (the window was not checked)
    until: float
    maximum: int  # the log's max when claimed: a policy that lowers it retires the ticket


@dataclass(frozen=True, slots=True)
class Used:
    """A ticket a call took at ``at``: its row is to be dated ``at`` and expire at
    ``expires_at``."""

    ticket: Ticket
    at: float
    expires_at: float


@dataclass(frozen=True, slots=True)
class Claim:
    """Up to ``wanted`` tickets to claim for ``log`` at ``at``, dated ``until``, leaving the
    log at least as much room as it takes."""

    log: str
    window: float
    maximum: int
    wanted: int
    at: float
    until: float


@dataclass(frozen=True, slots=True)
class SyncPlan:
    """What one transaction writes: used tickets to move, unused ones to delete, claims."""

    used: tuple[Used, ...] = ()
    returned: tuple[Ticket, ...] = ()
    claims: tuple[Claim, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.used or self.returned or self.claims)


@dataclass(slots=True)
class _Log:
    """What a book knows of one log."""

    window: float
    maximum: int
    horizon: float
    pool: deque[Ticket] = field(default_factory=deque)
    recent: deque[float] = field(default_factory=deque)  # its calls in the last RATE_WINDOW
    last_call: float = float("-inf")
    claiming: bool = False
    wants: bool = False  # hot, and its pool is low: claim at the next sync
    shy_until: float = float("-inf")  # another store wants room: claim nothing until then


class TicketBook:
    """One store's tickets, the calls that used them, and what to write next.

    Times are the callers' (the pipeline's wall clock), given; between calls, the store
    passes its own estimate of the callers' time (:meth:`plan`), so that tickets fall due
    while no call comes.
    """

    def __init__(self, min_max: int = MIN_MAX) -> None:
        """A book that claims tickets for logs whose max is at least ``min_max``."""
        self._min_max = min_max
        self._logs: dict[str, _Log] = {}
        self._used: list[Used] = []
        self._returned: list[Ticket] = []
        self.wanting = False  # a busy log ran dry: claim now rather than at the next sync
        self._wanted = 0  # logs that want tickets at the next sync

    @property
    def owing(self) -> bool:
        """Whether a sync has something to write or claim (cheap: checked on every call)."""
        return bool(self._used or self._returned or self._wanted)

    @property
    def busy(self) -> bool:
        """Whether anything is held or waits to be written (the store keeps syncing)."""
        return self.owing or any(entry.pool or entry.claiming for entry in self._logs.values())

    @property
    def holding(self) -> bool:
        """Whether this book holds unused tickets (which other stores may want)."""
        return any(entry.pool for entry in self._logs.values())

    def wanted(self, wants: dict[str, float]) -> bool:
        """Other stores want room on these logs, each until the time given: give back this
        book's unused tickets of them at the next sync, and claim none until then. Returns
        whether there is anything to give back."""
        gave = False
        for name, until in wants.items():
            entry = self._logs.get(name)
            if entry is None:
                continue
            entry.shy_until = max(entry.shy_until, until)
            if entry.pool:
                self._returned.extend(entry.pool)
                entry.pool.clear()
                gave = True
        return gave

    def miscounted(self, log: str, since: float) -> int:
        """What a count of ``log``'s rows dated after ``since`` gets wrong about this book's
        tickets while no write is under way (their rows are all at their ``until``): it
        counts the unused ones, and the used ones at ``until`` rather than at their call."""
        held = [t for t in self._returned if t.log == log]
        if log in self._logs:
            held.extend(self._logs[log].pool)
        used = [u for u in self._used if u.ticket.log == log]
        wrong = sum(t.until > since for t in held) + sum(u.ticket.until > since for u in used)
        return wrong - sum(u.at > since for u in used)

    def take(self, budgets: Sequence[Budget], now: float) -> tuple[Ticket, ...] | None:
        """One usable ticket for each log the budgets draw on, recorded as used at ``now``;
        or None, taking nothing, when a log has none. (The hot path: kept short.)"""
        if len(budgets) == 1:  # the common case, without the general case's bookkeeping
            budget = budgets[0]
            entry = self._logs.get(budget.log)
            if entry is None or not self._usable(entry, budget.maximum, now):
                return None
            ticket = entry.pool.popleft()
            self._used.append(Used(ticket, now, now + budget.window))
            self._heat(entry, now)
            return (ticket,)
        found = self._usable_entries(budgets, now)
        if found is None:
            return None
        taken = tuple(entry.pool.popleft() for entry in found.values())
        windows = _logs_of(budgets)
        self._used.extend(Used(t, now, now + windows[t.log]) for t in taken)
        for entry in found.values():
            self._heat(entry, now)
        return taken

    def take_some(self, budgets: Sequence[Budget], now: float) -> dict[str, Ticket]:
        """A usable ticket for each log of the budgets that has one (for a call that must
        check the others in a transaction); give them back if the call is refused."""
        taken: dict[str, Ticket] = {}
        for name, window in _logs_of(budgets).items():
            entry = self._entry(name, window, budgets)
            if self._usable(entry, entry.maximum, now):
                taken[name] = entry.pool.popleft()
        return taken

    def used(self, tickets: Iterable[Ticket], budgets: Sequence[Budget], now: float) -> None:
        """Record tickets from :meth:`take_some` as used by a call at ``now``."""
        windows = _logs_of(budgets)
        self._used.extend(Used(t, now, now + windows[t.log]) for t in tickets)

    def put_back(self, tickets: Iterable[Ticket]) -> None:
        """Return tickets from :meth:`take_some` unused (their call was refused)."""
        for ticket in tickets:
            self._logs[ticket.log].pool.appendleft(ticket)

    def called(self, budgets: Sequence[Budget], now: float) -> None:
        """Note a call that went through a transaction (a log it made hot claims tickets)."""
        for name, window in _logs_of(budgets).items():
            self._heat(self._entry(name, window, budgets), now)

    def give_back(self, tickets: Iterable[Ticket]) -> tuple[int, ...]:
        """Undo used tickets (their call produced no result). Those not yet written go back
        to their pools; returns the rows already moved to their call's time, to delete."""
        pending = {used.ticket.id: used for used in self._used}
        written: list[int] = []
        for ticket in tickets:
            used = pending.pop(ticket.id, None)
            if used is None:
                written.append(ticket.id)
            else:
                self._used.remove(used)
                self._logs[ticket.log].pool.appendleft(ticket)
        return tuple(written)

    def pending_for(self, logs: Iterable[str], now: float) -> SyncPlan:
        """What a transaction on ``logs`` writes first, so that its check counts this store's
        own calls at their own times: their used tickets, and their tickets fallen due."""
        names = set(logs)
        used = tuple(u for u in self._used if u.ticket.log in names)
        self._used = [u for u in self._used if u.ticket.log not in names]
        returned = [*self._returned]  # any log's: what falls due is never needed again
        self._returned.clear()
        for name in names & self._logs.keys():
            returned.extend(self._fall_due(self._logs[name], now))
        return SyncPlan(used, tuple(returned))

    def plan(self, now: float) -> SyncPlan:
        """The next sync: every used ticket, every ticket fallen due, and claims for hot logs
        whose pools are low. Until :meth:`synced` or :meth:`failed`, it is under way."""
        returned = list(self._returned)
        self._returned.clear()
        self.wanting = False
        self._wanted = 0
        claims: list[Claim] = []
        idle: list[str] = []
        for name, entry in self._logs.items():
            returned.extend(self._fall_due(entry, now))
            if entry.shy_until > now:
                entry.wants = False  # another store wants room: asked for again after
            if entry.wants and not entry.claiming:
                entry.wants, entry.claiming = False, True
                # Enough for two seconds at the last second's rate.
                wanted = min(max(MIN_CLAIM, 2 * len(entry.recent)), MAX_BATCH) - len(entry.pool)
                # Checked as of the log's latest call, not the estimate of now: a call dated
                # before the check could not take them, and would count them against itself.
                at = entry.last_call
                claims.append(
                    Claim(name, entry.window, entry.maximum, wanted, at, at + entry.horizon)
                )
            elif not (entry.pool or entry.claiming or _recent(entry, now)):
                idle.append(name)
        for name in idle:  # forgotten until it is used again: the book stays small
            del self._logs[name]
        used = tuple(self._used)
        self._used.clear()
        return SyncPlan(used, tuple(returned), tuple(claims))

    def synced(self, plan: SyncPlan, claimed: dict[str, list[int]]) -> None:
        """A plan's transaction committed; ``claimed`` holds the new tickets' rows per log."""
        for claim in plan.claims:
            entry = self._logs[claim.log]
            entry.claiming = False
            entry.pool.extend(
                Ticket(row, claim.log, claim.at, claim.until, claim.maximum)
                for row in claimed.get(claim.log, [])
            )

    def failed(self, plan: SyncPlan) -> None:
        """A plan's transaction failed: write its moves and deletions with the next one."""
        self._used[:0] = plan.used
        self._returned.extend(plan.returned)
        for claim in plan.claims:
            self._logs[claim.log].claiming = False

    def drain(self) -> SyncPlan:
        """Everything to write before the store closes: used tickets moved, unused ones given
        back, nothing claimed."""
        returned = [*self._returned, *(t for e in self._logs.values() for t in e.pool)]
        for entry in self._logs.values():
            entry.pool.clear()
            entry.wants = False
        self._wanted = 0
        self._returned.clear()
        used = tuple(self._used)
        self._used.clear()
        return SyncPlan(used, tuple(returned))

    def holds(self, log: str) -> bool:
        """Whether this book holds unused tickets of ``log`` (its rows are not others')."""
        entry = self._logs.get(log)
        return entry is not None and bool(entry.pool)

    # -- helpers -------------------------------------------------------------------------------

    def _entry(self, name: str, window: float, budgets: Sequence[Budget]) -> _Log:
        # Two limits on one log are one budget: the smaller max decides what is claimed.
        maximum = min(b.maximum for b in budgets if b.log == name)
        entry = self._logs.get(name)
        if entry is None:
            entry = self._logs[name] = _Log(window, maximum, horizon(window))
        entry.maximum = maximum
        return entry

    def _usable_entries(self, budgets: Sequence[Budget], now: float) -> dict[str, _Log] | None:
        found: dict[str, _Log] = {}
        for budget in budgets:
            entry = found.get(budget.log) or self._logs.get(budget.log)
            if entry is None or not self._usable(entry, budget.maximum, now):
                return None
            found[budget.log] = entry
        return found

    def _usable(self, entry: _Log, maximum: int, now: float) -> bool:
        """Whether the log's pool has a ticket for a call at ``now`` under ``maximum``;
        tickets fallen due, or claimed under a larger max, are given back on the way. A call
        dated before the claim's check gets none: its window holds calls the check did not."""
        pool = entry.pool
        while pool and (pool[0].until - MARGIN <= now or pool[0].maximum > maximum):
            self._returned.append(pool.popleft())
        return bool(pool) and pool[0].claimed <= now

    def _heat(self, entry: _Log, now: float) -> None:
        """Count a call of the log; one called again within its horizon wants tickets for
        its rate, and an empty pool wants them now."""
        hot = now - entry.last_call < entry.horizon
        entry.last_call = max(entry.last_call, now)
        recent = entry.recent
        recent.append(now)
        while recent[0] <= now - RATE_WINDOW:
            recent.popleft()
        if (
            hot
            and entry.shy_until <= now
            and entry.maximum >= self._min_max
            and len(entry.pool) < len(recent)
            and not entry.claiming
        ):
            if not entry.wants:
                entry.wants = True
                self._wanted += 1
            if not entry.pool and len(recent) >= WAKE_RATE:
                # Its next call comes before the store's next sync: claim now. A slower log
                # waits for that sync, without a transaction of its own.
                self.wanting = True

    def _fall_due(self, entry: _Log, now: float) -> list[Ticket]:
        if now - entry.last_call >= entry.horizon * IDLE_SHARE:  # idle: give its tickets back
            fallen = list(entry.pool)
        else:
            fallen = [t for t in entry.pool if t.until - MARGIN <= now]
        if fallen:
            gone = {t.id for t in fallen}
            entry.pool = deque(t for t in entry.pool if t.id not in gone)
        return fallen


def _logs_of(budgets: Sequence[Budget]) -> dict[str, float]:
    """Each log the budgets draw on, once, with its window (a call is one row per log)."""
    return {budget.log: budget.window for budget in budgets}


def _recent(entry: _Log, now: float) -> bool:
    """Whether the log was used within its horizon (else the book may forget it)."""
    return now - entry.last_call < entry.horizon
