"""The data plane's HTTP/1.1 server: a listener serving an ASGI app, and its graceful stop.

Why not uvicorn, which serves the admin API: the data plane needs a body timeout (a client
holding its request body would hold its connection for ever), one write per answer, and its
costs under control on a 0.3 ms budget (DESIGN §7); ``bench/relay.py`` measures a bare relay
on this server against the same on uvicorn (about 10 µs less per call on the development
machine). Parsing is ``httptools``' here too (:mod:`.connection`);
what this server leaves out — lifespan, websockets, HTTP/2, proxy headers, an access log — the
data plane does not use (its record of every request is the proxy log).

The ASGI boundary stays, so the app (:class:`~mcpwall.adapters.downstream.http.DownstreamApp`)
is the same whichever server runs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from mcpwall.adapters.downstream.connection import HttpConnection, Limits, Shared
from mcpwall.adapters.downstream.exchange import App

BACKLOG = 2048  # uvicorn's

logger = logging.getLogger(__name__)


class HttpServer:
    """Serves ``app`` on one address: :meth:`start`, then :meth:`shutdown` (or :meth:`serve`
    for both around an event)."""

    def __init__(self, app: App, limits: Limits | None = None) -> None:
        self._shared = Shared(app, limits or Limits())
        self._server: asyncio.Server | None = None
        self.port = 0  # once started, the port listened on (the one chosen for port 0)

    @property
    def connections(self) -> int:
        """How many connections are open."""
        return len(self._shared.connections)

    async def start(self, host: str, port: int) -> None:
        """Listen on ``host:port``; OSError if the address cannot be bound."""
        loop = asyncio.get_running_loop()
        shared = self._shared
        # TCP_NODELAY is set on every accepted socket by asyncio and uvloop alike.
        self._server = await loop.create_server(
            lambda: HttpConnection(shared), host, port, backlog=BACKLOG, reuse_address=True
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def serve(self, host: str, port: int, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set, then stop gracefully."""
        await self.start(host, port)
        await stop.wait()
        await self.shutdown()

    async def shutdown(self) -> None:
        """Stop accepting; close idle connections now and the others once their answer in
        flight is written (streams end when the app ends them); past the limits'
        ``shutdown_timeout``, close what remains and cancel the app where it still runs.

        Every wait is bounded: the app gets ``cancel_grace`` to end once cancelled (code that
        loses its cancel is left behind, and said so), and so do the closed connections to
        let go of the listener."""
        shared = self._shared
        shared.stopping = True
        if self._server is not None:
            self._server.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + shared.limits.shutdown_timeout
        empty: asyncio.Future[None] = loop.create_future()

        def on_empty() -> None:
            if not empty.done():
                empty.set_result(None)

        shared.on_empty = on_empty
        for connection in list(shared.connections):
            connection.shutdown()
        if shared.connections:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(deadline):
                    await empty
        for connection in list(shared.connections):
            connection.abort()
        await self._finish_tasks(max(deadline - loop.time(), 0.0))
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(shared.limits.cancel_grace):
                    await self._server.wait_closed()

    async def _finish_tasks(self, timeout: float) -> None:
        """Let the app finish what it does after answering (closing streams), up to
        ``timeout``; then cancel it."""
        tasks = set(self._shared.tasks)
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            _, deaf = await asyncio.wait(pending, timeout=self._shared.limits.cancel_grace)
            if deaf:
                logger.warning(
                    "%d requests did not end when cancelled at the stop: left running", len(deaf)
                )
