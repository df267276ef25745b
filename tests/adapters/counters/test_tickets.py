"""The ticket book alone (``adapters/counters/tickets.py``): no database, times given.

What it claims, when a ticket serves a call and when it is given back, and how a count of
the table is corrected for the book's own tickets.
"""

from __future__ import annotations

from mcpwall.adapters.counters.tickets import (
    MARGIN,
    MAX_BATCH,
    MIN_CLAIM,
    MIN_MAX,
    WAKE_RATE,
    TicketBook,
    horizon,
)
from mcpwall.core.windows import Budget, CounterKey

T0 = 1_800_000_000.0
LIMIT = Budget(CounterKey("delete_pod", "grant", "grt_a"), 100, 3600.0)
OTHER = Budget(CounterKey("scale", "grant", "grt_a"), 100, 60.0)


def hot(book: TicketBook, budgets: list[Budget], now: float = T0) -> None:
    """Two calls through a transaction within a horizon: the log wants tickets."""
    book.called(budgets, now)
    book.called(budgets, now + 0.1)


def claim(book: TicketBook, rows: int, now: float = T0 + 0.1, first_id: int = 1) -> None:
    """Run a sync whose claims each got ``rows`` tickets."""
    plan = book.plan(now)
    claimed = {c.log: list(range(first_id, first_id + rows)) for c in plan.claims}
    book.synced(plan, claimed)


def test_a_log_used_once_wants_no_tickets() -> None:
    book = TicketBook()
    book.called([LIMIT], T0)
    assert not book.owing
    assert book.plan(T0).claims == ()
    assert book.take([LIMIT], T0) is None


def test_a_log_used_twice_within_a_horizon_claims_for_twice_its_rate() -> None:
    book = TicketBook()
    hot(book, [LIMIT])
    assert book.owing  # the next sync claims
    assert not book.wanting  # ... and none is needed sooner: the log is not that busy
    (wanted,) = book.plan(T0 + 0.1).claims
    assert (wanted.log, wanted.wanted, wanted.maximum) == (LIMIT.log, MIN_CLAIM, 100)
    assert wanted.until == T0 + 0.1 + 60  # an hour's window: a minute ahead
    # Calls spread wider than a horizon never make a log hot.
    cold = TicketBook()
    cold.called([OTHER], T0)
    cold.called([OTHER], T0 + horizon(OTHER.window))
    assert cold.plan(T0 + 1).claims == ()


def test_a_budget_under_min_max_never_wants_tickets() -> None:
    small = Budget(LIMIT.key, MIN_MAX - 1, LIMIT.window)
    book = TicketBook()
    hot(book, [small])
    assert not book.owing
    assert book.plan(T0 + 0.1).claims == ()
    lowered = TicketBook(min_max=1)
    hot(lowered, [small])
    assert lowered.owing


def test_a_horizon_is_a_sixtieth_of_the_window_within_bounds() -> None:
    assert [horizon(w) for w in (1.0, 60.0, 600.0, 3600.0, 86400.0)] == [1, 1, 10, 60, 60]


def test_a_log_claims_twice_its_last_seconds_calls_and_at_least_min_claim() -> None:
    slow, fast = TicketBook(), TicketBook()
    for second in range(3):
        slow.called([LIMIT], T0 + second)
    for i in range(20):
        fast.called([LIMIT], T0 + i / 20)
    assert [c.wanted for c in slow.plan(T0 + 2).claims] == [MIN_CLAIM]
    assert [c.wanted for c in fast.plan(T0 + 1).claims] == [40]


def test_a_busy_log_whose_pool_runs_dry_wants_tickets_at_once() -> None:
    book = TicketBook()
    for i in range(WAKE_RATE - 1):
        book.called([LIMIT], T0 + i / 100)
    assert not book.wanting
    book.called([LIMIT], T0 + 0.5)
    assert book.wanting


def test_claims_are_capped_per_log() -> None:
    book = TicketBook()
    for i in range(1000):
        book.called([LIMIT], T0 + i / 1000)
    (wanted,) = book.plan(T0 + 1).claims
    assert wanted.wanted == MAX_BATCH


def test_a_ticket_serves_a_call_and_is_written_at_the_calls_time() -> None:
    book = TicketBook()
    hot(book, [LIMIT])
    claim(book, 2)
    taken = book.take([LIMIT], T0 + 0.2)
    assert taken is not None
    assert [t.id for t in taken] == [1]
    plan = book.plan(T0 + 0.2)
    assert [(u.ticket.id, u.at, u.expires_at) for u in plan.used] == [(1, T0 + 0.2, T0 + 3600.2)]
    assert book.take([LIMIT], T0 + 0.3) is not None
    assert book.take([LIMIT], T0 + 0.3) is None  # the pool is empty: a transaction, then


def test_a_ticket_stops_serving_before_its_until_and_is_given_back() -> None:
    book = TicketBook()
    hot(book, [OTHER])  # a minute's window: tickets a second ahead
    claim(book, 1)
    until = T0 + 0.1 + 1
    assert book.take([OTHER], until - MARGIN) is None
    assert [t.id for t in book.plan(until - MARGIN).returned] == [1]


def test_the_unused_tickets_of_a_log_left_idle_are_given_back() -> None:
    book = TicketBook()
    hot(book, [LIMIT])
    claim(book, 3)
    assert book.take([LIMIT], T0 + 0.5) is not None
    claim(book, 0, T0 + 0.5)  # the used one written (and nothing more claimed)
    idle = horizon(LIMIT.window) / 2  # an hour's window: 30 s
    assert book.plan(T0 + 0.5 + idle - 0.01).returned == ()
    returned = book.plan(T0 + 0.5 + idle).returned
    assert sorted(t.id for t in returned) == [2, 3]
    assert not book.busy


def test_a_lowered_max_retires_the_tickets_claimed_under_the_old_one() -> None:
    book = TicketBook()
    hot(book, [LIMIT])
    claim(book, 2)
    lowered = Budget(LIMIT.key, 10, LIMIT.window)
    assert book.take([lowered], T0 + 0.2) is None
    assert sorted(t.id for t in book.plan(T0 + 0.2).returned) == [1, 2]
    raised = Budget(LIMIT.key, 1000, LIMIT.window)
    hot(book, [LIMIT], T0 + 0.3)
    claim(book, 1, T0 + 0.4, first_id=7)
    assert book.take([raised], T0 + 0.5) is not None  # room only grew


def test_a_call_of_two_logs_takes_a_ticket_of_each_or_none() -> None:
    book = TicketBook()
    hot(book, [LIMIT])
    claim(book, 1)
    assert book.take([LIMIT, OTHER], T0 + 0.2) is None
    assert book.take([LIMIT], T0 + 0.2) is not None  # the refusal above took nothing
    hot(book, [LIMIT, OTHER], T0 + 0.3)
    claim(book, 1, T0 + 0.4, first_id=10)
    taken = book.take([LIMIT, OTHER], T0 + 0.5)
    assert taken is not None
    assert {t.log for t in taken} == {LIMIT.log, OTHER.log}


def test_a_call_given_back_returns_its_ticket_unless_written() -> None:
    book = TicketBook()
    hot(book, [LIMIT])
    claim(book, 2)
    first = book.take([LIMIT], T0 + 0.2)
    assert first is not None
    assert book.give_back(first) == ()  # not written yet: back in the pool
    assert book.take([LIMIT], T0 + 0.2) == first
    written = book.plan(T0 + 0.2)
    assert [u.ticket for u in written.used] == list(first)
    book.synced(written, {})
    assert book.give_back(first) == (first[0].id,)  # its row is the call's: delete it


def test_a_failed_sync_is_written_with_the_next() -> None:
    book = TicketBook()
    hot(book, [LIMIT])
    claim(book, 2)
    assert book.take([LIMIT], T0 + 0.2) is not None
    failed = book.plan(T0 + 0.2)
    book.failed(failed)
    assert book.plan(T0 + 0.2).used == failed.used


def test_drain_gives_back_every_unused_ticket_and_claims_nothing() -> None:
    book = TicketBook()
    hot(book, [LIMIT])
    claim(book, 3)
    assert book.take([LIMIT], T0 + 0.2) is not None
    drained = book.drain()
    assert len(drained.used) == 1
    assert sorted(t.id for t in drained.returned) == [2, 3]
    assert drained.claims == ()
    assert not book.busy


def test_miscounted_corrects_a_count_of_the_table_for_the_books_own_tickets() -> None:
    """Rows of unused tickets are no calls; a used one's row is at ``until``, not its call."""
    book = TicketBook()
    hot(book, [LIMIT])
    claim(book, 3)  # until T0 + 60.1
    assert book.take([LIMIT], T0 + 0.2) is not None
    # Counting from before every row: two unused tickets too many, the used one right.
    assert book.miscounted(LIMIT.log, T0) == 2
    # From just after the call: its row at until is counted, the call is not in the window.
    assert book.miscounted(LIMIT.log, T0 + 0.5) == 3
    # From after until: nothing of the book's is counted, and nothing should be.
    assert book.miscounted(LIMIT.log, T0 + 61) == 0


def test_a_log_left_idle_is_forgotten() -> None:
    book = TicketBook()
    book.called([OTHER], T0)
    book.plan(T0 + 1.1)
    assert not book.busy
    assert book.take([OTHER], T0 + 2) is None
    assert OTHER.log not in book._logs


def test_a_want_gives_back_the_unused_tickets_and_claims_none_while_it_lives() -> None:
    book = TicketBook()
    hot(book, [LIMIT])
    claim(book, 5)
    book.take([LIMIT], T0 + 0.2)  # one used: a call, not to be given back
    assert book.holding
    assert not book.wanted({OTHER.log: T0 + 4})  # a log it holds none of: nothing to do
    assert book.wanted({LIMIT.log: T0 + 4})
    assert not book.holding
    plan = book.plan(T0 + 0.3)
    assert sorted(t.id for t in plan.returned) == [2, 3, 4, 5]
    assert [u.ticket.id for u in plan.used] == [1]
    # Still called, it claims nothing while the want lives, and claims again after.
    book.called([LIMIT], T0 + 1)
    book.called([LIMIT], T0 + 2)
    assert book.plan(T0 + 2).claims == ()
    book.called([LIMIT], T0 + 4.1)
    (again,) = book.plan(T0 + 4.1).claims
    assert again.log == LIMIT.log
