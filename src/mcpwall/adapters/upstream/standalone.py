"""The standalone GET stream of a legacy Streamable HTTP session.

It carries what the upstream sends outside any request — ``…/list_changed``,
``resources/updated``, requests such as ``roots/list`` — and is kept open for the session's
life: reconnected (from the last event id) when it ends or breaks, after the upstream's
``retry`` or a growing pause. A 405 says the upstream has none; a 404 says the session is
gone (research/mcp-protocol.md §1.7).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Final

from mcpwall.adapters.upstream import httpio
from mcpwall.adapters.upstream.http11 import Response
from mcpwall.adapters.upstream.httpclient import HttpClient
from mcpwall.adapters.upstream.sse import Event, EventDecoder
from mcpwall.core.errors import UpstreamError

# Pauses between reconnections, in seconds: the first, and the most it grows to.
BACKOFF: Final = (1.0, 30.0)


class StandaloneStream:
    """Reads one session's GET stream in a task of its own, until :meth:`aclose`.

    ``headers()`` gives the session's current headers, ``on_event`` takes each event, and
    ``on_gone`` is told when the upstream says the session no longer exists.
    """

    def __init__(
        self,
        name: str,
        client: HttpClient,
        url: str,
        *,
        headers: Callable[[], dict[str, str]],
        on_event: Callable[[Event], Awaitable[None]],
        on_gone: Callable[[str], None],
        max_event_bytes: int,
    ) -> None:
        self.name = name
        self.url = url
        self.logger = logging.getLogger(f"mcpwall.upstream.{name}")
        self._client = client
        self._headers = headers
        self._on_event = on_event
        self._on_gone = on_gone
        self._decoder = EventDecoder(max_event_bytes)
        self._answered = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Open the stream; return once the upstream has answered the GET (or failed to)."""
        self._task = asyncio.create_task(self._run(), name=f"mcpwall.upstream.{self.name}.get")
        await self._answered.wait()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        backoff = BACKOFF[0]
        while True:
            try:
                if not await self._read_once():
                    break
                backoff = BACKOFF[0]
            except UpstreamError as error:
                self.logger.debug("the standalone stream broke: %s", error.reason)
            self._answered.set()
            retry = self._decoder.retry
            await asyncio.sleep(retry / 1000 if retry is not None else backoff)
            backoff = min(backoff * 2, BACKOFF[1])
        self._answered.set()

    async def _read_once(self) -> bool:
        """Read the stream until it ends; False when reconnecting is pointless."""
        headers = {**self._headers(), "Accept": httpio.EVENT_STREAM}
        if self._decoder.last_event_id is not None:
            headers["Last-Event-ID"] = self._decoder.last_event_id
        with httpio.http_errors(self.name, self.url):
            async with self._client.get(self.url, headers=headers) as response:
                self._answered.set()
                if response.status != 200 or httpio.content_type(response) != httpio.EVENT_STREAM:
                    return self._refused(response)
                async for event in httpio.events(self.name, response, self._decoder):
                    await self._on_event(event)
        return True

    def _refused(self, response: Response) -> bool:
        if response.status == 405:
            self.logger.debug("the upstream offers no standalone stream (HTTP 405)")
        elif response.status == 409:
            # A session carried on from another process (gateway/sealing.py): that one holds
            # the session's stream, and what the upstream sends unasked goes there.
            self.logger.info("the session's standalone stream is held elsewhere (HTTP 409)")
        elif response.status == 404:
            self._on_gone("the upstream ended the session (HTTP 404 to the standalone stream)")
        elif response.status >= 500:
            return True  # may pass: try again later
        else:
            problem = httpio.status_problem("the standalone stream GET", response)
            self.logger.warning("no standalone stream: %s", problem)
        return False
