"""The live tail's stream: new proxy-log rows as server-sent events, as they are written.

Rows reach the tail by **polling the proxy-log table**, by id, every :data:`POLL_SECONDS`:
the one mechanism that sees a row whatever wrote it (this process, another replica on the
same PostgreSQL, ``mcpwall stdio`` on the same SQLite file) with nothing more to run. A row
appears at most ``POLL_SECONDS`` after it is written, and rows are written in batches every
``INTERVAL_SECONDS`` of ``adapters/proxylog/batching.py``: ``docs/dashboard.md`` gives the
delay measured end to end. Each poll is one indexed range query on the primary key.

The stream follows the SSE format: each row is an event ``row`` whose ``id`` is the row's id,
so a browser that reconnects sends ``Last-Event-ID`` and misses nothing; a comment every
:data:`HEARTBEAT_SECONDS` keeps proxies from closing an idle stream and shows a dead one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

from starlette.concurrency import run_in_threadpool

from mcpwall.core.logquery import LogFilter, StoredRecord
from mcpwall.ports.logsink import LogReader

POLL_SECONDS = 1.0
HEARTBEAT_SECONDS = 15.0
RECHECK_SECONDS = 60.0  # how often a stream checks that its session is still good
PAGE = 200
MAX_TAILS = 64
RETRY_MS = 3000


class Tails:
    """The open tails of one process: bounded in number, and all ended by :meth:`close`
    (a stopping server must not wait for streams that never end)."""

    def __init__(
        self,
        *,
        poll_seconds: float = POLL_SECONDS,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        recheck_seconds: float = RECHECK_SECONDS,
    ) -> None:
        self.poll_seconds = poll_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self.recheck_seconds = recheck_seconds
        self.open = 0
        self._closing = asyncio.Event()

    @property
    def full(self) -> bool:
        return self.open >= MAX_TAILS

    def close(self) -> None:
        """End every open tail (each ends at its next poll, at once if waiting)."""
        self._closing.set()

    async def stream(
        self,
        reader: LogReader,
        query: LogFilter,
        render: Callable[[StoredRecord], str],
        still_allowed: Callable[[], bool],
    ) -> AsyncIterator[str]:
        """SSE text: every row after ``query.after`` that ``query`` matches, as written.

        ``still_allowed`` is asked (off the loop) every ``recheck_seconds``; when it says no (the
        session ended, the admin token was revoked) the stream ends.
        """
        self.open += 1
        try:
            yield f"retry: {RETRY_MS}\n\n"
            async for text in self._events(
                reader, replace(query, limit=PAGE), render, still_allowed
            ):
                yield text
        finally:
            self.open -= 1

    async def _events(
        self,
        reader: LogReader,
        query: LogFilter,
        render: Callable[[StoredRecord], str],
        still_allowed: Callable[[], bool],
    ) -> AsyncIterator[str]:
        last_sent = time.monotonic()
        last_check = last_sent
        while not self._closing.is_set():
            rows = await run_in_threadpool(reader.read, query)
            for row in rows:
                yield event("row", row.id, render(row))
            if rows:
                query = replace(query, after=rows[-1].id)
                last_sent = time.monotonic()
                if len(rows) == query.limit:
                    continue  # more are waiting: no pause between pages
            now = time.monotonic()
            if now - last_check >= self.recheck_seconds:
                last_check = now
                if not await run_in_threadpool(still_allowed):
                    return
            if now - last_sent >= self.heartbeat_seconds:
                yield ": heartbeat\n\n"
                last_sent = now
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_seconds):
                    await self._closing.wait()


def event(name: str, event_id: int, data: str) -> str:
    """One SSE event; every line of ``data`` gets its own ``data:`` field, as the format asks."""
    lines = "".join(f"data: {line}\n" for line in data.splitlines() or [""])
    return f"event: {name}\nid: {event_id}\n{lines}\n"
