"""Counting stdio upstream processes: in all and per grant, and the FIFO queue of openers."""

from __future__ import annotations

import asyncio

import pytest

from mcpwall.gateway.processes import ProcessSlot, ProcessSlots

pytestmark = pytest.mark.anyio

LONG = 30.0  # a wait no test reaches: the queue is served by releases, not by time


async def waiting(slots: ProcessSlots, grant: str) -> asyncio.Task[ProcessSlot | None]:
    """An opener for ``grant`` queued behind those already waiting."""
    before = slots.waiting
    task = asyncio.ensure_future(slots.acquire(grant))
    for _ in range(10):  # it queues at its first step
        await asyncio.sleep(0)
        if slots.waiting > before:
            return task
    raise AssertionError("the opener never queued")


def taken(slots: ProcessSlots, grant: str) -> ProcessSlot:
    slot = slots.take(grant)
    assert slot is not None
    return slot


async def test_processes_are_counted_in_all_and_per_grant() -> None:
    slots = ProcessSlots(3, 2, wait=LONG)
    a1, _a2 = taken(slots, "a"), taken(slots, "a")
    assert slots.take("a") is None  # its share
    taken(slots, "b")
    assert slots.take("c") is None  # all of them
    assert (slots.running, slots.running_for("a"), slots.at_share("a")) == (3, 2, True)
    a1.release()
    a1.release()  # twice is once
    assert (slots.running, slots.running_for("a")) == (2, 1)


async def test_a_process_given_back_goes_to_the_first_waiter() -> None:
    slots = ProcessSlots(1, 1, wait=LONG)
    held = taken(slots, "a")
    first, second = await waiting(slots, "b"), await waiting(slots, "c")
    held.release()
    given = await first
    assert given is not None
    assert given.grant == "b"
    assert not second.done()
    given.release()
    assert (await second) is not None
    assert slots.waiting == 0


async def test_a_waiter_at_its_grants_share_does_not_hold_up_the_next() -> None:
    slots = ProcessSlots(2, 1, wait=LONG)
    taken(slots, "a")
    b = taken(slots, "b")
    blocked = await waiting(slots, "a")  # first in line, but "a" runs its one already
    served = await waiting(slots, "c")
    b.release()
    assert (await served) is not None
    assert not blocked.done()
    blocked.cancel()
    with pytest.raises(asyncio.CancelledError):
        await blocked
    assert slots.waiting == 0


async def test_an_opener_that_waits_in_vain_gets_none_and_leaves_the_queue() -> None:
    slots = ProcessSlots(1, 1, wait=0.01)
    taken(slots, "a")
    assert await slots.acquire("b") is None
    assert slots.waiting == 0


async def test_a_process_given_to_an_opener_gone_meanwhile_is_given_back() -> None:
    slots = ProcessSlots(1, 1, wait=LONG)
    held = taken(slots, "a")
    gone = await waiting(slots, "b")
    held.release()  # given to "b", whose task has not run since
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert (slots.running, slots.waiting) == (0, 0)
