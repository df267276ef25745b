"""``BatchingSink``: the proxy log written off the hot path, in batches, losing no row.

::

    pipeline ──write()──▶ queue (bounded) ──one task──▶ batch ──thread──▶ writer 1, writer 2, …

``write`` appends the record to the queue and returns at once (``write_later`` appends what
builds it: the record is then made when its batch is taken, off the request's way back);
only while the queue holds more than ``capacity`` records does it wait for the writer task
to make room (back-pressure, like ``StreamWriter.write`` followed by ``drain``), and for at
most ``room_wait`` seconds: a writer that can't write at all (the database is lost) must not
hold a request for ever. The record is queued before the wait, so a request cancelled while
waiting, or one that stops waiting, loses nothing either. What keeps the queue bounded then
is :attr:`BatchingSink.full`: the gateway refuses new requests while it is true (see
``HttpGateway.admit``), so the queue holds at most ``capacity`` records plus one per request
already in flight (bounded by the server's connection cap).

One background task takes batches in queue order: when a record arrives it lets a batch
gather for ``interval`` seconds (or until ``batch_size`` records are waiting), then writes
everything queued by then, ``batch_size`` at a time, each batch to every writer in turn in a
worker thread; records that arrive meanwhile make the next batch. A writer that fails is
retried with the same batch (backing off up to :data:`RETRY_MAX_SECONDS`) and the queue fills
meanwhile, which is the back-pressure again; writers that already took the batch don't get it
twice.

:meth:`aclose` writes everything queued and closes the writers: a graceful stop loses no row.
A SIGKILL loses what was queued and not yet committed: at most the records of one
``interval`` plus one batch's write (measured by ``bench/proxylog.py``; see the README).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence

from mcpwall.core.proxylog import ProxyLogRecord
from mcpwall.ports.logsink import LogWriter

log = logging.getLogger("mcpwall.proxylog")

CAPACITY = 10_000
ROOM_WAIT_SECONDS = 10.0  # how long a request waits for room in a queue over capacity
BATCH_SIZE = 1_000
BUILT_AT_ONCE = 50  # records made between two turns of the event loop
INTERVAL_SECONDS = 0.1
RETRY_FIRST_SECONDS = 0.1
RETRY_MAX_SECONDS = 5.0
# How long a stop keeps retrying a failing writer before it gives up on the rows left.
CLOSE_RETRY_SECONDS = 30.0


class BatchingSink:
    """A ``LogSink`` that hands records to ``writers`` in batches, from one background task."""

    def __init__(
        self,
        writers: Sequence[LogWriter],
        *,
        capacity: int = CAPACITY,
        batch_size: int = BATCH_SIZE,
        interval: float = INTERVAL_SECONDS,
        close_retry_seconds: float = CLOSE_RETRY_SECONDS,
        room_wait: float = ROOM_WAIT_SECONDS,
    ) -> None:
        if capacity < batch_size:
            raise ValueError(f"capacity {capacity} is below the batch size {batch_size}")
        self.writers = list(writers)
        self.capacity = capacity
        self.batch_size = batch_size
        self.interval = interval
        self.close_retry_seconds = close_retry_seconds
        self.room_wait = room_wait
        self.written = 0  # records every writer has taken
        self._queue: deque[ProxyLogRecord | Callable[[], ProxyLogRecord]] = deque()
        self._task: asyncio.Task[None] | None = None
        self._arrived = asyncio.Event()
        self._full = asyncio.Event()
        self._room = asyncio.Event()
        self._in_flight = 0
        self._closing = False
        self._closed = False

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def waiting(self) -> int:
        """Records not yet written: queued, and in the batch being written."""
        return len(self._queue) + self._in_flight

    @property
    def full(self) -> bool:
        """Whether ``capacity`` records or more wait to be written: new requests are refused
        until the writers catch up (they would only add rows to a queue that can't drain)."""
        return len(self._queue) >= self.capacity

    async def write(self, record: ProxyLogRecord) -> None:
        await self._put(record)

    async def write_later(self, build: Callable[[], ProxyLogRecord]) -> None:
        await self._put(build)

    async def _put(self, item: ProxyLogRecord | Callable[[], ProxyLogRecord]) -> None:
        if self._closing and (self._task is None or self._task.done()):
            # A request that outlived the stop: write its record here and now.
            await asyncio.to_thread(self._write_now, _built([item]))
            return
        self._queue.append(item)
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="mcpwall proxy log")
        self._arrived.set()
        if len(self._queue) >= self.batch_size:
            self._full.set()
        if len(self._queue) > self.capacity and not self._closing:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.room_wait):
                    await self._wait_for_room()

    async def _wait_for_room(self) -> None:
        while len(self._queue) > self.capacity and not self._closing:
            await self._room.wait()

    async def flush(self) -> None:
        """Return once every record written so far has reached every writer (for tests and
        ``--follow``-style readers; a stop calls :meth:`aclose`)."""
        target = self.written + self._in_flight + len(self._queue)
        while self.written < target and self._task is not None and not self._task.done():
            self._full.set()
            await self._room.wait()

    async def aclose(self) -> None:
        """Write everything queued, then close the writers."""
        if self._closed:
            return
        self._closing = True
        self._arrived.set()
        self._full.set()
        self._room.set()
        if self._task is not None:
            await self._task
        if self._queue:  # written while the task was finishing
            await asyncio.to_thread(self._write_now, _built(self._queue))
            self._queue.clear()
        self._closed = True
        for writer in self.writers:
            await asyncio.to_thread(writer.close)

    async def _run(self) -> None:
        while True:
            await self._arrived.wait()
            if not self._closing and len(self._queue) < self.batch_size:
                # Group commit: let the batch gather, unless it fills first.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.interval):
                        await self._full.wait()
            self._arrived.clear()
            self._full.clear()
            # What is queued now goes out; what arrives while it is written waits for the next
            # interval (``write`` sets the events again), rather than trailing after it in a
            # run of one-record transactions.
            due = len(self._queue)
            while due > 0 or (self._closing and self._queue):
                count = min(len(self._queue), self.batch_size)
                batch = await _made([self._queue.popleft() for _ in range(count)])
                due -= count
                await self._deliver(batch)
                self._pulse_room()
            self._pulse_room()
            if self._closing:
                return

    def _pulse_room(self) -> None:
        # Wakes every waiter (each checks again); clearing does not take the wake-up back.
        self._room.set()
        if not self._closing:
            self._room.clear()

    async def _deliver(self, batch: list[ProxyLogRecord]) -> None:
        """Hand ``batch`` to every writer, retrying one that fails."""
        self._in_flight = len(batch)
        pending = self.writers
        while pending:
            pending = await self._deliver_to(pending, batch)
        self.written += len(batch)
        self._in_flight = 0

    async def _deliver_to(
        self, writers: list[LogWriter], batch: list[ProxyLogRecord]
    ) -> list[LogWriter]:
        """Hand ``batch`` to ``writers`` in turn, in one worker thread while none fails (a
        hop per writer cost the event loop a thread hand-over each); the first that fails is
        retried, backing off, until it takes the batch (or, stopping, until the stop gives
        up on it). The writers after it are returned, still to be given the batch."""
        delay = RETRY_FIRST_SECONDS
        give_up_at: float | None = None
        while True:
            taken, error = await asyncio.to_thread(_write_each, writers, batch)
            if error is None:
                return []
            writer = writers[taken]
            name = type(writer).__name__
            if self._closing:
                give_up_at = give_up_at or time.monotonic() + self.close_retry_seconds
                if time.monotonic() >= give_up_at:
                    lost = len(batch)
                    log.error("proxy log: %s lost %d records: %s", name, lost, _why(error))
                    return writers[taken + 1 :]
            log.warning(
                "proxy log: %s could not write %d records (%s); retrying in %.1f s",
                name, len(batch), _why(error), delay,
            )  # fmt: skip
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)
            writers = writers[taken:]  # those before it have the batch: never twice

    def _write_now(self, batch: list[ProxyLogRecord]) -> None:
        for writer in self.writers:
            writer.write_batch(batch)
        self.written += len(batch)


def _write_each(
    writers: Sequence[LogWriter], batch: list[ProxyLogRecord]
) -> tuple[int, Exception | None]:
    """Write ``batch`` to each of ``writers`` in turn, up to the first that fails: how many
    took it, and that one's error (None when all did)."""
    for taken, writer in enumerate(writers):
        try:
            writer.write_batch(batch)
        except Exception as error:  # noqa: BLE001 (whatever failed, keep the rows and retry)
            return taken, error
    return len(writers), None


def _built(
    items: Iterable[ProxyLogRecord | Callable[[], ProxyLogRecord]],
) -> list[ProxyLogRecord]:
    """The records, those queued by ``write_later`` made now. One that fails to be made (a
    bug) is logged and left out, rather than ending the task that writes all the others."""
    records: list[ProxyLogRecord] = []
    for item in items:
        if not callable(item):  # a record (a named tuple) is never callable
            records.append(item)
            continue
        try:
            records.append(item())
        except Exception:
            log.exception("proxy log: a record could not be made and is left out")
    return records


async def _made(
    items: list[ProxyLogRecord | Callable[[], ProxyLogRecord]],
) -> list[ProxyLogRecord]:
    """:func:`_built`, :data:`BUILT_AT_ONCE` at a time: a full batch (a thousand records
    under load) made in one go would hold the event loop, every request waiting meanwhile."""
    records: list[ProxyLogRecord] = []
    for start in range(0, len(items), BUILT_AT_ONCE):
        if start:
            await asyncio.sleep(0)  # let requests run between chunks
        records += _built(items[start : start + BUILT_AT_ONCE])
    return records


def _why(error: BaseException) -> str:
    """The first line of what went wrong: database errors carry their SQL after it."""
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__
