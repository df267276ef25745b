"""``BatchingSink``: batches off the event loop, back-pressure instead of drops, a stop that
writes every row, and a failing writer retried without duplicating rows elsewhere."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from functools import partial

import pytest

from mcpwall.adapters.proxylog.batching import BUILT_AT_ONCE, BatchingSink
from mcpwall.core.proxylog import ProxyLogRecord
from tests.adapters.proxylog.records import record

pytestmark = pytest.mark.anyio


class Collecting:
    """A writer that keeps every batch; it can be held shut, or fail a number of times."""

    def __init__(self, failures: int = 0) -> None:
        self.batches: list[list[ProxyLogRecord]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.failures = failures
        self.closed = False

    @property
    def records(self) -> list[ProxyLogRecord]:
        return [r for batch in self.batches for r in batch]

    def write_batch(self, records: Sequence[ProxyLogRecord]) -> None:
        assert self.gate.wait(timeout=10), "the test never opened the gate"
        if self.failures:
            self.failures -= 1
            raise OSError("disk full")
        self.batches.append(list(records))

    def close(self) -> None:
        self.closed = True


async def test_every_record_is_written_in_order_in_batches() -> None:
    writer = Collecting()
    sink = BatchingSink([writer], capacity=100, batch_size=10, interval=0.01)
    made = [record(n) for n in range(95)]
    for item in made:
        await sink.write(item)
    await sink.aclose()
    assert writer.records == made
    assert all(len(batch) <= 10 for batch in writer.batches)
    assert writer.closed


async def test_a_full_queue_makes_writers_wait_and_drops_nothing() -> None:
    writer = Collecting()
    writer.gate.clear()  # the database is stuck
    sink = BatchingSink([writer], capacity=20, batch_size=5, interval=0.0)
    writes = [asyncio.create_task(sink.write(record(n))) for n in range(60)]
    while sink.queued + 5 < 60:  # the first batch is taken (and stuck), the rest queue
        await asyncio.sleep(0)
    await asyncio.sleep(0)
    finished = sum(task.done() for task in writes)
    assert finished <= 20 + 5, "writes past the bound must wait for room"
    assert sink.queued == 55  # waiting, not dropped
    writer.gate.set()
    await asyncio.gather(*writes)
    await sink.aclose()
    assert [r.request_id for r in writer.records] == [str(n) for n in range(60)]


async def test_a_cancelled_wait_for_room_keeps_the_record() -> None:
    writer = Collecting()
    writer.gate.clear()
    sink = BatchingSink([writer], capacity=2, batch_size=1, interval=0.0)
    writes = [asyncio.create_task(sink.write(record(n))) for n in range(6)]
    while sink.queued < 5:
        await asyncio.sleep(0)
    writes[-1].cancel()  # the agent went away while its request waited for room
    writer.gate.set()
    await asyncio.gather(*writes, return_exceptions=True)
    await sink.aclose()
    assert len(writer.records) == 6


async def test_a_failing_writer_is_retried_and_the_others_get_each_batch_once() -> None:
    first, flaky = Collecting(), Collecting(failures=2)
    sink = BatchingSink([first, flaky], capacity=10, batch_size=10, interval=0.0)
    made = [record(n) for n in range(3)]
    for item in made:
        await sink.write(item)
    await sink.aclose()
    assert first.records == made
    assert flaky.records == made


async def test_writers_after_a_failing_one_wait_for_it_and_get_each_batch_once() -> None:
    flaky, middle, last = Collecting(failures=2), Collecting(), Collecting()
    sink = BatchingSink([flaky, middle, last], capacity=10, batch_size=10, interval=0.0)
    made = [record(n) for n in range(3)]
    for item in made:
        await sink.write(item)
    await sink.aclose()
    assert flaky.records == middle.records == last.records == made


async def test_writers_after_one_a_stop_gives_up_on_still_get_the_batch(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken, after = Collecting(failures=10**6), Collecting()
    sink = BatchingSink(
        [broken, after], capacity=10, batch_size=10, interval=0.0, close_retry_seconds=0.0
    )
    await sink.write(record(1))
    await sink.aclose()
    assert "lost 1 records" in caplog.text
    assert after.records == [record(1)]


async def test_a_stop_gives_up_on_a_writer_that_never_recovers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = Collecting(failures=10**6)
    sink = BatchingSink([broken], capacity=10, batch_size=10, interval=0.0, close_retry_seconds=0.0)
    await sink.write(record(1))
    await sink.aclose()
    assert "lost 1 records" in caplog.text


async def test_flush_returns_once_everything_written_so_far_is_written() -> None:
    writer = Collecting()
    sink = BatchingSink([writer], capacity=100, batch_size=50, interval=60.0)
    for n in range(7):
        await sink.write(record(n))
    await sink.flush()  # does not wait out the 60 s interval
    assert len(writer.records) == 7
    await sink.aclose()


async def test_a_graceful_stop_under_load_loses_no_record() -> None:
    writer = Collecting()
    sink = BatchingSink([writer], capacity=50, batch_size=20, interval=0.001)

    async def agent(index: int) -> None:
        for n in range(100):
            await sink.write(record(index * 1000 + n))

    agents = [asyncio.create_task(agent(i)) for i in range(20)]
    while writer.records == []:
        await asyncio.sleep(0)
    await asyncio.gather(*agents)
    await sink.aclose()  # SIGTERM's path: requests finished, then the sink closes
    ids = [r.request_id for r in writer.records]
    assert len(ids) == len(set(ids)) == 2000


async def test_a_record_written_after_the_stop_is_still_written() -> None:
    writer = Collecting()
    sink = BatchingSink([writer], capacity=10, batch_size=10, interval=0.0)
    await sink.aclose()
    await sink.write(record(1))
    assert len(writer.records) == 1


async def test_records_that_arrive_during_a_write_wait_for_the_next_interval() -> None:
    """One transaction per interval: no trail of small batches right behind each batch."""
    writer = Collecting()
    writer.gate.clear()  # the first batch's write is under way until the gate opens
    sink = BatchingSink([writer], capacity=100, batch_size=50, interval=60.0)
    for n in range(3):
        await sink.write(record(n))
    flushed = asyncio.create_task(sink.flush())  # the first batch goes now, not in 60 s
    await taken(sink)  # the task has taken the first batch and is writing it
    for n in range(3, 8):
        await sink.write(record(n))
    writer.gate.set()
    await flushed
    assert [len(batch) for batch in writer.batches] == [3]
    assert sink.queued == 5  # waiting for the next interval (or the stop)
    await sink.aclose()
    assert [len(batch) for batch in writer.batches] == [3, 5]
    assert writer.records == [record(n) for n in range(8)]


async def taken(sink: BatchingSink) -> None:
    """Let the loop run until the sink's task has taken everything queued."""
    while sink.queued:
        await asyncio.sleep(0)


async def test_a_record_written_later_is_made_when_its_batch_is_taken() -> None:
    writer = Collecting()
    sink = BatchingSink([writer], capacity=100, batch_size=50, interval=60.0)
    made: list[int] = []

    def build() -> ProxyLogRecord:
        made.append(1)
        return record(7)

    await sink.write_later(build)
    await sink.write(record(8))
    assert made == []  # queued as it is, not made yet
    await sink.flush()
    assert made == [1]
    assert writer.records == [record(7), record(8)]
    await sink.aclose()


async def test_a_record_written_later_after_the_stop_is_still_written() -> None:
    writer = Collecting()
    sink = BatchingSink([writer], capacity=100, batch_size=50, interval=60.0)
    await sink.aclose()
    await sink.write_later(lambda: record(9))
    assert writer.records == [record(9)]


async def test_a_batch_written_later_is_made_in_chunks_in_order() -> None:
    writer = Collecting()
    sink = BatchingSink([writer], capacity=1000, batch_size=500, interval=60.0)
    count = BUILT_AT_ONCE * 3 + 7
    for n in range(count):
        await sink.write_later(partial(record, n))
    await sink.flush()
    assert writer.records == [record(n) for n in range(count)]
    assert [len(batch) for batch in writer.batches] == [count]
    await sink.aclose()


async def test_a_record_that_fails_to_be_made_is_left_out_and_the_rest_written(
    caplog: pytest.LogCaptureFixture,
) -> None:
    writer = Collecting()
    sink = BatchingSink([writer], capacity=100, batch_size=50, interval=60.0)

    def broken() -> ProxyLogRecord:
        raise ValueError("a bug")

    await sink.write(record(1))
    await sink.write_later(broken)
    await sink.write_later(partial(record, 2))
    await sink.aclose()
    assert writer.records == [record(1), record(2)]
    assert "could not be made" in caplog.text


async def test_a_writer_that_cannot_write_at_all_holds_no_request_for_ever() -> None:
    writer = Collecting()
    writer.gate.clear()  # the database is lost
    sink = BatchingSink([writer], capacity=4, batch_size=1, interval=0.0, room_wait=0.0)
    for n in range(10):
        await sink.write(record(n))  # each returns after its (here: no) wait for room
    assert sink.full  # what makes the gateway refuse new requests
    assert sink.queued == 9  # one batch taken (stuck in the writer), nothing dropped
    writer.gate.set()  # the database is back
    await sink.aclose()
    assert [r.request_id for r in writer.records] == [str(n) for n in range(10)]
    assert not sink.full
