"""Counters persisted in the store's database, SQLite or PostgreSQL: the embedded default.

Every call a limit counted is a row of ``counter_events``: the log it counts in
(:func:`~mcpwall.core.windows.log_name`), its time, and when it leaves the window. A restart
finds them all, so it gives a runaway loop no fresh budget.

**Exact.** Checking a call's logs and recording the call happen in one transaction that first
takes the lock guarding those logs; the next reservation on them starts only after it
committed, and sees its rows. That holds within one process and across processes sharing the
database:

- SQLite has one lock, the database's write lock. The transaction opens with
  ``BEGIN IMMEDIATE``, which takes it at once, and in WAL mode a write transaction reads the
  newest committed state. Another writer, in any process, waits its turn (below).
- PostgreSQL: the transaction first takes ``pg_advisory_xact_lock`` on each log it draws on,
  in ascending key order (no deadlock). Under READ COMMITTED each statement after that sees
  what the previous holder committed, which it did before its lock was released. Only
  reservations on the same log wait for each other. Row locks were the other candidate; but a
  log has no row until its first call, so ``SELECT … FOR UPDATE`` has nothing to lock for two
  first calls, and a table of one row per log to lock would need an upsert per call and
  collect dead rows. SERIALIZABLE would be exact too, but turns every conflict into a
  failure to retry.

The transaction commits before ``reserve`` returns, so before the call is forwarded: a
SIGKILL at any point after leaves the call counted (it errs towards refusing, never towards a
fresh budget); one before leaves nothing half-done.

**Hot logs on SQLite: tickets.** A reservation is on the hot path of every limited call
(DESIGN §7: a call passing a limit adds at most 1.1× what the same call without it adds).
On SQLite, a log called again within its horizon is served from tickets: rows claimed ahead
in a background sync, which a call takes in memory, with no transaction
(``tickets.py``, which says why that stays exact, and what a SIGKILL leaves). A sync runs
every :data:`SYNC_EVERY` seconds while this store holds tickets, in a worker thread, in line
with the other writes; it also reads the *wants* of stores that other processes' tickets keep
from a log's last room, and gives back its own (``tickets.py``, "Sharing the store"). The
rest of this section is the transaction that a log's first calls, and a call that finds no
ticket, still run.

**Fast on SQLite: on the event loop's thread while the lock is free.** Its transaction —
``BEGIN IMMEDIATE``, one indexed ``SELECT`` per budget, one ``INSERT`` per log, ``COMMIT`` —
takes some 40 µs on plain ``sqlite3``, less than a hop to a worker thread and back. So it runs
inline, on a connection of the event loop's own (:class:`_Inline`) whose busy timeout is 0:
``BEGIN IMMEDIATE`` takes the write lock at once or fails at once with SQLITE_BUSY, having done
nothing, and only then does the reservation take the old way — it queues on an asyncio lock
(reservations wait in line, not in SQLite's busy handler, which sleeps between retries) for a
worker thread whose connection waits for the lock (busy timeout). Another process, or this
process's proxy-log writer, holding the lock sends a reservation that way; while any wait in
line, new ones join the end. Nothing slow stays on the loop: the inline connection never
checkpoints the WAL (a worker thread does, every :data:`CHECKPOINT_EVERY` inline commits and
after each pruning), pruning runs in a worker thread, and a budget whose ``max`` is over
:data:`INLINE_MAX` is reserved in a worker thread, since finding the ``max``-th newest call
steps over up to ``max - 1`` index entries (measured: about 8 µs at 100, 45 µs at 1,000, 600 µs
at 10,000).

**PostgreSQL** reservations run in a worker thread on a pooled connection (psycopg is
blocking), and ``BEGIN``, one advisory lock per log, one ``SELECT`` per budget, one
``INSERT`` per log and ``COMMIT`` are a round trip each: five for one limit, plus the hop.
On loopback a round trip is tens of µs and psycopg prepares each statement after a few uses;
fewer round trips were measured slower here (the same run, interleaved, ``synchronous_commit``
off to see past the disk): the whole reservation as one multi-statement script, one round
trip, 1.9× (the server plans it afresh each time); the statements pipelined with one
check-and-record statement, two round trips, 1.2×. With ``synchronous_commit`` on (the
default, kept: a PostgreSQL crash must not hand back counted calls) the ``COMMIT``'s WAL flush
dominates: 0.5 ms to several ms on this machine, depending on its disk's load. Every
statement runs as plain SQL on the driver's connection, not through SQLAlchemy's statement
layer. ``schema.counter_events`` remains the table's definition.

**Pruning.** A check reads only the rows still in its window (an index on ``(log, at)``);
once a minute, a chore in a worker thread deletes the rows whose window ended a minute ago or
more (index on ``expires_at``), so the table holds about one window of calls per counter.

**Reading usage** (:meth:`SQLCounters.usage`, for the dashboard) counts each log's rows in its
window in one read-only transaction: no lock, no write, so it never holds up a reservation
(SQLite in WAL mode reads beside the writer; PostgreSQL reads take no advisory lock).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sqlite3
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, TypeVar

from sqlalchemy import URL, Engine, create_engine, event, exc
from sqlalchemy.engine.interfaces import DBAPICursor

from mcpwall.adapters.counters.tickets import (
    MIN_HORIZON,
    MIN_MAX,
    WANT_FOR,
    WANT_PREFIX,
    SyncPlan,
    Ticket,
    TicketBook,
    want_log,
)
from mcpwall.adapters.store.embedded import WAIT_SECONDS
from mcpwall.adapters.store.engine import create, psycopg_error
from mcpwall.core.errors import LimitsUnavailable
from mcpwall.core.windows import Budget, Refusal, wait_for
from mcpwall.ports.counters import Reservation

log = logging.getLogger("mcpwall.limits")

Cursor = DBAPICursor | sqlite3.Cursor  # a worker thread's (through the pool), or the inline one

PRUNE_EVERY_SECONDS = 60.0
# A reservation runs on the event loop's thread only when every budget's max is at most this:
# finding the max-th newest call steps over up to max - 1 index entries (about 45 µs at 1,000
# here, 600 µs at 10,000; ``bench/limits.py``), too long to hold the loop beyond.
INLINE_MAX = 1000
# Inline commits between two WAL checkpoints in a worker thread: about SQLite's default of
# 1,000 pages (a reservation writes three or four: the row and its two index entries).
CHECKPOINT_EVERY = 250
# While a store holds tickets, it writes their calls' times, gives back those fallen due and
# claims more this often (sooner when a log runs low).
SYNC_EVERY = 0.1
# How long a check that would refuse only because another store holds tickets on the log
# waits for them, asking for them back (tickets.py, "Sharing the store"): a holder alive
# answers at its next sync, within SYNC_EVERY; tickets a second or two ahead, those of logs
# whose window is up to two minutes, fall due meanwhile anyway. Checked again every POLL_EVERY.
PATIENCE = 2 * MIN_HORIZON + 2 * SYNC_EVERY
POLL_EVERY = 2 * SYNC_EVERY
STALE_KEPT = 10_000  # logs whose tickets stayed after a wait, remembered so as not to wait again

T = TypeVar("T")
Synchronous = Literal["NORMAL", "FULL"]


class _Statements(NamedTuple):
    """The statements a reservation runs, in SQLite's parameter style (``?``)."""

    blocking: str = (  # the max-th newest call still in the window (OFFSET max - 1)
        "SELECT at FROM counter_events WHERE log = ? AND at > ? ORDER BY at DESC LIMIT 1 OFFSET ?"
    )
    record: str = "INSERT INTO counter_events (log, at, expires_at) VALUES (?, ?, ?) RETURNING id"
    used: str = "SELECT count(*) FROM counter_events WHERE log = ? AND at > ?"
    counted: str = (  # how many calls the window holds, counting no further than max
        "SELECT count(*) FROM (SELECT 1 FROM counter_events WHERE log = ? AND at > ? LIMIT ?)"
    )
    ahead: str = "SELECT max(at) FROM counter_events WHERE log = ? AND at > ?"
    want: str = (  # unless a want of the log lives on for half its life or more
        "INSERT INTO counter_events (log, at, expires_at) SELECT ?, ?, ? WHERE NOT EXISTS"
        " (SELECT 1 FROM counter_events WHERE log = ? AND expires_at > ?)"
    )
    wants: str = (  # the live wants, one row per log wanted (want_log): usually none
        "SELECT log, max(expires_at) FROM counter_events"
        " WHERE log > ? AND log < ? AND expires_at > ? GROUP BY log"
    )
    move: str = "UPDATE counter_events SET at = ?, expires_at = ? WHERE id = ?"
    prune: str = "DELETE FROM counter_events WHERE expires_at <= ?"
    give_back: str = "DELETE FROM counter_events WHERE id = ?"
    lock: str = "SELECT pg_advisory_xact_lock(?)"

    def for_psycopg(self) -> _Statements:
        """The same in psycopg's style (``%s``); no statement has a literal ``?`` or ``%``."""
        return _Statements(*(sql.replace("?", "%s") for sql in self))


class SQLCounters:
    """A ``CounterStore`` in the ``counter_events`` table; open it with :meth:`open`."""

    def __init__(
        self,
        engine: Engine,
        shown_url: str,
        *,
        synchronous: Synchronous = "FULL",
        patience: float = PATIENCE,
        ticket_min_max: int = MIN_MAX,
    ) -> None:
        """Counters on ``engine``; ``synchronous`` is the SQLite mode its connections are in
        (what the inline connection sets too; :meth:`open` chooses ``NORMAL``). A check that
        would refuse while another store holds tickets on the log waits at most ``patience``
        seconds for them (tests that interleave stores on a clock of their own choose 0). Logs
        whose max is under ``ticket_min_max`` take no tickets (tests lower it)."""
        self._engine = engine
        self._url = shown_url
        self._sqlite = engine.dialect.name == "sqlite"
        self._queue = asyncio.Lock() if self._sqlite else None
        self._pruned_at = float("-inf")
        self._sql = _Statements() if self._sqlite else _Statements().for_psycopg()
        self._inline = _Inline(engine.url.database or "", synchronous) if self._sqlite else None
        self._chores: set[asyncio.Task[None]] = set()
        self._checkpointing = False
        self._book = TicketBook(ticket_min_max) if self._sqlite else None
        self._syncer: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._outcomes: list[_Outcome] = []  # syncs sent to a thread, not yet taken in
        self._wake = asyncio.Event()
        self._closing = False
        self._latest = float("-inf")  # the newest ``now`` a reservation was given
        self._latest_clock = 0.0  # time.monotonic() then
        self._patience = patience
        self._stale: dict[str, float] = {}  # log: tickets waited for once that stayed
        self.ticketed = 0  # reservations served by tickets, with no transaction

    @classmethod
    def open(
        cls, url: URL, shown_url: str, *, patience: float = PATIENCE, ticket_min_max: int = MIN_MAX
    ) -> SQLCounters:
        """Counters in the (migrated) database at ``url``, on an engine of their own."""
        if url.get_backend_name() == "sqlite":
            engine = create(url)  # WAL, busy timeout, transactions left to us
            event.listen(engine, "connect", _sync_normal)
        else:
            # No pre-ping (a round trip per checkout): a connection that fails is dropped.
            timeout = {} if "connect_timeout" in url.query else {"connect_timeout": WAIT_SECONDS}
            engine = create_engine(url, connect_args=timeout)
        return cls(
            engine,
            shown_url,
            synchronous="NORMAL",
            patience=patience,
            ticket_min_max=ticket_min_max,
        )

    @property
    def waited(self) -> int:
        """How many writes found the SQLite write lock taken and waited their turn in a thread."""
        return 0 if self._inline is None else self._inline.busy

    async def reserve(self, requests: Sequence[Budget], now: float) -> Reservation | Refusal:
        if not requests:
            return Reservation((), now)
        budgets = tuple(requests)
        self._housekeep(now)
        if self._book is None:
            self._bind()
            done = await self._write(self._reserve, budgets, now, {}, SyncPlan(), inline=False)
            assert not isinstance(done, _Held)  # only a patient check waits for tickets
            return done
        if now > self._latest:
            self._latest, self._latest_clock = now, time.monotonic()
        tickets = self._book.take(budgets, now)
        if tickets is not None:  # the fast path: budget claimed ahead, no transaction
            self.ticketed += 1
            self._sync_soon()
            return Reservation(budgets, now, token=tickets)
        self._bind()
        return await self._reserve_checked(self._book, budgets, now)

    async def release(self, reservation: Reservation) -> None:
        token = reservation.token
        if not isinstance(token, tuple) or not token:
            return
        ids = tuple(item for item in token if isinstance(item, int))
        tickets = [item for item in token if isinstance(item, Ticket)]
        if tickets and self._book is not None:
            ids += self._book.give_back(tickets)  # unwritten ones go back to their pools
        if not ids:
            return
        self._bind()
        try:
            await self._write(self._give_back, ids)
        except LimitsUnavailable as error:
            log.warning("a reservation could not be given back, it stays counted: %s", error)

    async def usage(self, requests: Sequence[Budget], now: float) -> list[int]:
        if not requests:
            return []
        book, budgets = self._book, tuple(requests)
        self._bind()
        if book is None or self._queue is None:
            return await asyncio.to_thread(self._usage, budgets, now)
        # In line with the writes, so that this store's ticket rows stay where its book says
        # while they are counted; then each is counted at its call's time, or not at all.
        async with self._queue:
            self._take_outcomes(book)  # a sync whose loop ended: its tickets are the book's
            counts = await asyncio.to_thread(self._usage, budgets, now)
            return [
                n - book.miscounted(b.log, now - b.window)
                for n, b in zip(counts, budgets, strict=True)
            ]

    async def ping(self) -> None:
        await asyncio.to_thread(self._ping)

    async def settle(self) -> None:
        """Wait for the chores under way (pruning, a WAL checkpoint) to end."""
        while self._chores:
            await asyncio.gather(*self._chores, return_exceptions=True)

    async def aclose(self) -> None:
        self._bind()
        await self._stop_syncing()
        await self.settle()
        if self._inline is not None:
            self._inline.close()
        self._engine.dispose()

    # -- tickets (SQLite) ----------------------------------------------------------------------

    async def _reserve_checked(
        self, book: TicketBook, budgets: tuple[Budget, ...], now: float
    ) -> Reservation | Refusal:
        """A reservation in a transaction: the logs without a usable ticket are checked and
        recorded there. Refused while another process holds tickets on the full log, it asks
        for them (a want, ``tickets.py``) and checks again every :data:`POLL_EVERY` for at
        most its patience; tickets that stayed all along (a process killed while holding
        them) are not waited for again."""
        patient, retries, waited, held_by = True, 0, 0.0, None
        while True:
            held = book.take_some(budgets, now)
            checked = {b.log for b in budgets if b.log not in held}
            pending = book.pending_for(checked, now)
            inline = all(b.maximum <= INLINE_MAX for b in budgets if b.log in checked)
            try:
                done = await self._write(
                    self._reserve, budgets, now, held, pending, patient, inline=inline
                )
            except LimitsUnavailable:
                book.put_back(held.values())
                book.failed(pending)
                raise
            if isinstance(done, Reservation):
                book.used(held.values(), budgets, now)
            else:
                book.put_back(held.values())
            book.called(budgets, now)
            self._sync_soon()
            if isinstance(done, _Held):
                held_by = (budgets[done.index].log, done.ahead)
            elif held_by is not None:  # decided after a wait: were they worth waiting for?
                self._note_stale(*held_by, stayed=isinstance(done, Refusal))
            if isinstance(done, Reservation):
                return done
            if book.holds(budgets[done.index].log) and retries < 2:
                # This store's own sync claimed tickets of that log while the call waited.
                retries += 1
                continue
            if isinstance(done, Refusal):
                return done
            # A holder alive gives its tickets back at its next sync; others' fall due by
            # their ``until``. The last check is not patient: it refuses, or allows.
            step = min(POLL_EVERY, self._patience - waited)
            if step > 0:
                await asyncio.sleep(step)
                waited += step
            patient = waited < self._patience

    def _note_stale(self, name: str, ahead: float, *, stayed: bool) -> None:
        if not stayed:
            self._stale.pop(name, None)
            return
        if len(self._stale) >= STALE_KEPT:
            self._stale.clear()  # a bound, not a cache policy: forgetting costs one wait
        self._stale[name] = ahead

    def _sync_soon(self) -> None:
        """Keep the tickets synced: start the syncing task, or wake it when a log runs low."""
        book = self._book
        if book is None or self._closing:
            return
        if self._outcomes:
            self._take_outcomes(book)
        idle = self._syncer is None or self._syncer.done()
        if not (book.owing if idle else book.wanting):
            return  # the usual case on the fast path: no event loop asked for
        loop = self._bind()  # (on a new loop it forgets the old loop's task)
        if self._syncer is None or self._syncer.done():
            if book.owing:
                self._syncer = loop.create_task(self._sync_loop(book))
        elif book.wanting:
            self._wake.set()

    async def sync_now(self) -> None:
        """Write what the tickets owe now, and claim what hot logs want (else a background
        task does it every :data:`SYNC_EVERY` seconds while tickets are held)."""
        if self._book is not None:
            self._bind()
            if await self._sync_pass(self._book):
                await self._sync_pass(self._book)  # give back what another store wants

    def _bind(self) -> asyncio.AbstractEventLoop:
        """The running event loop, to which the store's lock, wake-up event and tasks belong.

        A gateway runs one loop for its life; tools and tests may use the store from one
        loop after another. On a new loop, what belonged to the old one is made afresh; the
        book is plain data and carries over, and syncs still running in a thread when their
        loop ended are taken in once done (``_take_outcomes``).
        """
        loop = asyncio.get_running_loop()
        if loop is self._loop:
            return loop
        if self._loop is not None:
            self._queue = asyncio.Lock() if self._sqlite else None
            self._wake = asyncio.Event()
            self._syncer = None
            self._chores = set()
            self._checkpointing = False
        self._loop = loop
        return loop

    async def _sync_loop(self, book: TicketBook) -> None:
        while True:
            again = await self._sync_pass(book)
            if self._closing or not book.busy:
                return
            if again:
                continue
            self._wake.clear()
            with suppress(TimeoutError):
                async with asyncio.timeout(SYNC_EVERY):  # asyncio.wait_for can lose a cancel (3.11)
                    await self._wake.wait()

    async def _sync_pass(self, book: TicketBook) -> bool:
        """One sync; returns whether it heard of a want for tickets it holds (to give back
        at once, rather than at the next sync)."""
        assert self._queue is not None
        async with self._queue:  # planned in line: a usage reading sees it done or not
            # The callers' time now, as far as the loop's clock tells since the last call.
            now = self._latest + time.monotonic() - self._latest_clock
            plan = book.plan(now)
            if not (plan or book.holding):  # nothing to write, nor to give back if wanted
                return False
            outcome = _Outcome(plan, now)
            self._outcomes.append(outcome)
            try:
                await asyncio.to_thread(self._run_sync, outcome)
            finally:
                # Cancelled (its event loop ending), the thread still finishes: its outcome
                # is taken in later, by whichever loop uses the store next.
                heard = self._take_outcomes(book)
        return heard

    def _run_sync(self, outcome: _Outcome) -> None:
        """In a worker thread: write a plan (or, with nothing to write, read the wants), and
        leave what came of it in ``outcome``."""
        try:
            if outcome.plan:
                outcome.synced = self._in_transaction(self._sync, outcome.plan, outcome.now)
            else:
                with self._transaction(write=False) as cursor:
                    outcome.synced = _Synced({}, self._wants(cursor, outcome.now))
        except LimitsUnavailable as error:
            outcome.error = error
        finally:  # whatever happened, the book must hear of it (else its claims stay open)
            outcome.done = True

    def _take_outcomes(self, book: TicketBook) -> bool:
        """Tell the book how the finished syncs went (the new tickets, or what to redo, and
        the wants they read); returns whether it now has tickets to give back to others."""
        heard = False
        for outcome in [o for o in self._outcomes if o.done]:
            self._outcomes.remove(outcome)
            if outcome.error is None:
                book.synced(outcome.plan, outcome.synced.claimed)
                heard = book.wanted(outcome.synced.wants) or heard
            else:
                book.failed(outcome.plan)
                log.warning("rate-limit tickets could not be synced (retrying): %s", outcome.error)
        return heard

    async def _stop_syncing(self) -> None:
        """Let the syncing task end, then write what is pending and give back every unused
        ticket (a store that closes keeps nothing claimed)."""
        self._closing = True
        self._wake.set()
        if self._syncer is not None:
            await asyncio.gather(self._syncer, return_exceptions=True)
        if self._book is None:
            return
        self._take_outcomes(self._book)
        plan = self._book.drain()
        if plan:
            try:
                await self._queued(self._in_transaction, self._sync, plan, float("inf"))
            except LimitsUnavailable as error:
                log.warning("unused rate-limit tickets stay counted until they expire: %s", error)

    async def _write(self, work: Callable[..., T], *args: object, inline: bool = True) -> T:
        """Run ``work(cursor, *args)`` in a write transaction: on the event loop's thread when
        SQLite's write lock is free at once, else in line for a worker thread."""
        if inline and self._inline is not None and not self._queue_busy():
            done = self._inline.attempt(self._url, work, *args)
            if not isinstance(done, _Busy):
                self._inline_committed()
                return done
        return await self._queued(self._in_transaction, work, *args)

    def _queue_busy(self) -> bool:
        # Writes already waiting keep their place in line: a new one joins the end.
        return self._queue is not None and self._queue.locked()

    async def _queued(self, work: Callable[..., T], *args: object) -> T:
        if self._queue is None:
            return await asyncio.to_thread(work, *args)
        async with self._queue:
            return await asyncio.to_thread(work, *args)

    # -- chores, off the event loop ------------------------------------------------------------

    def _housekeep(self, now: float) -> None:
        if now - self._pruned_at >= PRUNE_EVERY_SECONDS:
            self._pruned_at = now
            # A minute's grace: a replica whose clock is behind still counts what it should.
            self._bind()
            self._chore(self._prune(now - PRUNE_EVERY_SECONDS))

    def _inline_committed(self) -> None:
        assert self._inline is not None
        if self._inline.commits >= CHECKPOINT_EVERY and not self._checkpointing:
            self._inline.commits = 0
            self._checkpointing = True
            self._chore(self._checkpoint())

    def _chore(self, work: Coroutine[object, object, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)

    async def _prune(self, before: float) -> None:
        try:
            await self._queued(self._in_transaction, self._delete_expired, before)
            if self._sqlite:
                await asyncio.to_thread(self._wal_checkpoint)
        except LimitsUnavailable as error:
            log.warning("expired rate-limit rows could not be pruned (next minute): %s", error)

    async def _checkpoint(self) -> None:
        try:
            await asyncio.to_thread(self._wal_checkpoint)
        except LimitsUnavailable as error:
            log.warning("the counters' WAL could not be checkpointed: %s", error)
        finally:
            self._checkpointing = False

    # -- statements, given a cursor in a transaction ------------------------------------------

    def _reserve(
        self,
        cursor: Cursor,
        budgets: tuple[Budget, ...],
        now: float,
        held: dict[str, Ticket],
        pending: SyncPlan,
        patient: bool = False,
    ) -> Reservation | Refusal | _Held:
        """Check and record the call in the logs it holds no ticket of, after writing this
        store's pending moves of those logs (so that its own calls count at their times).
        A ``patient`` check refused while rows are dated ahead (tickets) asks for them, and
        says so (``_Held``) unless they are tickets it already waited for once in vain."""
        logs = {b.log: b.window for b in budgets if b.log not in held}  # one row per log
        if not self._sqlite:
            for key in sorted({_lock_key(name) for name in logs}):
                cursor.execute(self._sql.lock, (key,))
        self._write_moves(cursor, pending)
        for index, budget in enumerate(budgets):
            if budget.log in held:
                continue
            wait = wait_for(self._blocking(cursor, budget, now), now, budget.window, budget.maximum)
            if wait is None:
                continue
            ahead = self._ahead(cursor, budget.log, now) if patient else None
            if ahead is None:
                return Refusal(index, wait)
            self._ask(cursor, budget.log, now)
            if self._stale.get(budget.log) == ahead:  # they stayed once: asked, not waited for
                return Refusal(index, wait)
            return _Held(index, ahead)
        ids = tuple(self._record(cursor, name, now, now + window) for name, window in logs.items())
        return Reservation(budgets, now, token=(*held.values(), *ids))

    def _ask(self, cursor: Cursor, name: str, now: float) -> None:
        """Write a want for the tickets others hold of a log (``tickets.py``), unless one
        lives on long enough for every holder's next sync to read it."""
        wanted = want_log(name)
        cursor.execute(self._sql.want, (wanted, now, now + WANT_FOR, wanted, now + WANT_FOR / 2))

    def _ahead(self, cursor: Cursor, name: str, now: float) -> float | None:
        """The latest row of a log dated after ``now``: tickets, or None. Not this store's
        unused ones unless its sync claimed them meanwhile (it took or gave back the others,
        and wrote its used ones first); the caller tells."""
        cursor.execute(self._sql.ahead, (name, now))
        row = cursor.fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def _write_moves(self, cursor: Cursor, plan: SyncPlan) -> None:
        """Date used tickets' rows at their calls, and delete the tickets given back."""
        if plan.used:
            cursor.executemany(
                self._sql.move, [(u.at, u.expires_at, u.ticket.id) for u in plan.used]
            )
        if plan.returned:
            cursor.executemany(self._sql.give_back, [(t.id,) for t in plan.returned])

    def _sync(self, cursor: Cursor, plan: SyncPlan, now: float) -> _Synced:
        """Write a plan: moves and deletions, then each claim, checked like a call and for
        no more than half the room its log has left; none for a log another store wants.
        Returns the claimed rows and the live wants."""
        wants = self._wants(cursor, now)
        self._write_moves(cursor, plan)
        claimed: dict[str, list[int]] = {}
        for claim in plan.claims:
            if claim.log in wants:
                continue
            since = claim.at - claim.window
            cursor.execute(self._sql.counted, (claim.log, since, claim.maximum))
            row = cursor.fetchone()
            count = claim.maximum if row is None else int(row[0])
            room = min(claim.wanted, (claim.maximum - count) // 2)
            expires_at = claim.until + claim.window
            claimed[claim.log] = [
                self._record(cursor, claim.log, claim.until, expires_at) for _ in range(room)
            ]
        return _Synced(claimed, wants)

    def _wants(self, cursor: Cursor, now: float) -> dict[str, float]:
        """The logs other stores want room on (``tickets.want_log``), each until when."""
        end = WANT_PREFIX[:-1] + chr(ord(WANT_PREFIX[-1]) + 1)  # every name that starts so
        cursor.execute(self._sql.wants, (WANT_PREFIX, end, now))
        found = cursor.fetchall()
        return {str(name).removeprefix(WANT_PREFIX): float(until) for name, until in found}

    def _blocking(self, cursor: Cursor, budget: Budget, now: float) -> float | None:
        """The ``max``-th newest call in the budget's window, None if fewer are in it."""
        if budget.maximum <= 0:
            return None
        cursor.execute(self._sql.blocking, (budget.log, now - budget.window, budget.maximum - 1))
        row = cursor.fetchone()
        return None if row is None else float(row[0])

    def _record(self, cursor: Cursor, name: str, at: float, expires_at: float) -> int:
        cursor.execute(self._sql.record, (name, at, expires_at))
        row = cursor.fetchone()
        assert row is not None
        return int(row[0])

    def _give_back(self, cursor: Cursor, ids: tuple[int, ...]) -> None:
        cursor.executemany(self._sql.give_back, [(row_id,) for row_id in ids])

    def _delete_expired(self, cursor: Cursor, before: float) -> None:
        cursor.execute(self._sql.prune, (before,))

    # -- in a worker thread --------------------------------------------------------------------

    def _in_transaction(self, work: Callable[..., T], *args: object) -> T:
        with self._transaction() as cursor:
            return work(cursor, *args)

    def _usage(self, budgets: tuple[Budget, ...], now: float) -> list[int]:
        logs = {budget.log: budget.window for budget in budgets}  # one query per log
        counts: dict[str, int] = {}
        with self._transaction(write=False) as cursor:
            for name, window in logs.items():
                cursor.execute(self._sql.used, (name, now - window))
                row = cursor.fetchone()
                counts[name] = 0 if row is None else int(row[0])
        return [counts[budget.log] for budget in budgets]

    def _ping(self) -> None:
        with self._transaction(write=False) as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchall()

    def _wal_checkpoint(self) -> None:
        # PASSIVE: copies what it can without waiting for, or blocking, readers and writers.
        with self._transaction(write=False, begin=False) as cursor:
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
            cursor.fetchall()

    @contextmanager
    def _transaction(self, *, write: bool = True, begin: bool = True) -> Iterator[DBAPICursor]:
        """A cursor in a transaction (a write transaction unless ``write`` is false), committed
        at the end; driver errors become :class:`LimitsUnavailable` (and the connection is
        dropped, it may be broken)."""
        try:
            connection = self._engine.raw_connection()
        except exc.DBAPIError as error:
            raise LimitsUnavailable(self._url, _first_line(error.orig)) from error
        except (sqlite3.Error, psycopg_error()) as error:  # raised by a connect hook
            raise LimitsUnavailable(self._url, _first_line(error)) from error
        try:
            cursor = connection.cursor()
            if self._sqlite and begin:
                # A writer takes the write lock now; a reader sees one snapshot throughout.
                cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            yield cursor
            connection.commit()
        except (sqlite3.Error, psycopg_error()) as error:
            connection.invalidate(error)
            raise LimitsUnavailable(self._url, _first_line(error)) from error
        finally:
            connection.close()  # back to the pool (rolled back, if it was not committed)


class _Synced(NamedTuple):
    """What a sync's transaction found: the rows it claimed per log, and the live wants."""

    claimed: dict[str, list[int]]
    wants: dict[str, float]


@dataclass(slots=True)
class _Outcome:
    """A sync's plan and its time, and once its thread is done, what it found or its error."""

    plan: SyncPlan
    now: float
    synced: _Synced = field(default_factory=lambda: _Synced({}, {}))
    error: LimitsUnavailable | None = None
    done: bool = False


@dataclass(frozen=True, slots=True)
class _Held:
    """A check that would refuse while another store holds tickets on the log, the latest
    dated ``ahead``: wait for that store to use or give them back, and check again."""

    index: int  # of the budget refused
    ahead: float


class _Busy:
    """What an inline attempt returns when the write lock was taken: wait in line instead."""


BUSY = _Busy()


class _Inline:
    """A SQLite connection of the event loop's own, that never waits for the write lock.

    ``busy_timeout`` 0: ``BEGIN IMMEDIATE`` takes the lock at once or fails with SQLITE_BUSY,
    and then nothing was done (the caller queues for a worker thread, which waits). Its
    commits never checkpoint the WAL (``wal_autocheckpoint = 0``): copying a thousand pages
    into the database and syncing it is for a worker thread (:meth:`SQLCounters._checkpoint`).
    """

    def __init__(self, path: str, synchronous: Synchronous) -> None:
        self._path = path
        self._synchronous = synchronous
        self._connection: sqlite3.Connection | None = None
        self.commits = 0  # since the last checkpoint was asked for
        self.busy = 0  # attempts that found the lock taken

    def attempt(self, url: str, work: Callable[..., T], *args: object) -> T | _Busy:
        """``work(cursor, *args)`` in a transaction committed before this returns, or
        :data:`BUSY` with nothing done."""
        try:
            connection = self._connect()
            cursor = connection.cursor()
            cursor.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            return self._failed(url, error)
        try:
            done = work(cursor, *args)
            cursor.execute("COMMIT")
        except sqlite3.Error as error:
            _roll_back(connection)
            return self._failed(url, error)
        except BaseException:
            _roll_back(connection)
            raise
        self.commits += 1
        return done

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            connection = sqlite3.connect(
                self._path, timeout=0, isolation_level=None, check_same_thread=False
            )
            connection.execute(f"PRAGMA synchronous = {self._synchronous}")  # see _sync_normal
            connection.execute("PRAGMA wal_autocheckpoint = 0")
            self._connection = connection
        return self._connection

    def _failed(self, url: str, error: sqlite3.Error) -> _Busy:
        if error.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY:
            self.busy += 1
            return BUSY
        self.close()  # it may be broken: the next attempt opens another
        raise LimitsUnavailable(url, _first_line(error)) from error


def _roll_back(connection: sqlite3.Connection) -> None:
    if connection.in_transaction:
        with suppress(sqlite3.Error):
            connection.rollback()


def _lock_key(name: str) -> int:
    """The advisory lock guarding a log: a signed 64-bit hash of its name.

    A collision only makes two logs wait for each other. The one-number form of advisory
    locks is a key space apart from the two-number one the migrations lock with.
    """
    digest = hashlib.blake2b(name.encode(), digest_size=8, person=b"mcpwall-limits").digest()
    return int.from_bytes(digest, "big", signed=True)


def _sync_normal(connection: sqlite3.Connection, _record: object) -> None:
    # In WAL mode, NORMAL keeps every commit through a crash of the process (the case that
    # matters: a restart must not reset a counter); only a power loss may take back the
    # newest ones. It spares a file sync per call. (SQLite docs, "PRAGMA synchronous".)
    connection.execute("PRAGMA synchronous = NORMAL")


def _first_line(error: BaseException | None) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
