"""The stdio transport: an upstream spawned as a process, newline-delimited JSON-RPC on its
stdin and stdout, its stderr to the log ``mcpwall.upstream.<name>`` (research/mcp-protocol.md
§1.6)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from mcpwall.adapters.upstream import process as processes
from mcpwall.adapters.upstream.channel import ChannelSession, Mode, open_channel
from mcpwall.core.errors import UpstreamClosed, UpstreamProtocolError
from mcpwall.core.registry import Upstream
from mcpwall.ports.upstream import ClientOffer, Receiver


class StdioWire:
    """A running upstream process, as a :class:`~mcpwall.adapters.upstream.channel.Wire`
    (its stderr logged since it was started)."""

    def __init__(
        self, name: str, started: processes.Started, *, grace: float, max_line_bytes: int
    ) -> None:
        assert started.process.stdin is not None
        assert started.process.stdout is not None
        self.name = name
        self.process = started.process
        self._started = started
        self._grace = grace
        self._max_line_bytes = max_line_bytes
        self._ended = ""
        self._stopping: asyncio.Task[None] | None = None

    @property
    def ended(self) -> str:
        return self._ended

    async def messages(self) -> AsyncIterator[bytes]:
        stdout = self.process.stdout
        assert stdout is not None
        while True:
            try:
                line = await stdout.readline()
            except ValueError:  # asyncio's way of saying a line is over the limit
                reason = f"it sent a line over the limit of {self._max_line_bytes} bytes"
                raise UpstreamProtocolError(self.name, reason) from None
            if not line:
                break
            line = line.strip()
            if line:
                yield line
        self._ended = await self._exit_reason()

    async def send(self, message: bytes) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        if stdin.is_closing():  # nothing of this message was written
            raise UpstreamClosed(self.name, self._ended or "its stdin is closed", unsent=True)
        try:
            stdin.writelines((message, b"\n"))
            await stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            raise UpstreamClosed(self.name, self._ended or "its stdin is closed") from None

    async def aclose(self) -> None:
        # Idempotent and shared: the session's reader and its owner may both close it.
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._started.stop(self._grace))
        await asyncio.shield(self._stopping)

    async def _exit_reason(self) -> str:
        # Closing stdout almost always means exiting: wait briefly for the code to report.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(min(self._grace, 1.0)):
                await self.process.wait()
        return processes.exit_reason(self.process.returncode)


async def connect_stdio(
    upstream: Upstream,
    offer: ClientOffer,
    on_unsolicited: Receiver,
    *,
    mode: Mode = "auto",
    timeout: float = 30.0,
    probe_timeout: float = 10.0,
    grace: float = processes.STOP_GRACE_SECONDS,
    max_message_bytes: int = processes.MAX_MESSAGE_BYTES,
    started: processes.Started | None = None,
) -> ChannelSession:
    """Spawn ``upstream`` (or take ``started``, spawned for it already: ``early.py``) and
    negotiate a session with it.

    :class:`~mcpwall.core.errors.UpstreamUnavailable` when it can't be started or does not
    negotiate within ``timeout`` seconds (``probe_timeout`` for the ``server/discover``
    probe). ``grace`` bounds each step of stopping it; ``max_message_bytes`` one message.
    """
    if started is None:
        started = await processes.start(upstream, max_line_bytes=max_message_bytes)
    wire = StdioWire(upstream.name, started, grace=grace, max_line_bytes=max_message_bytes)
    return await open_channel(
        upstream.name,
        wire,
        offer,
        on_unsolicited,
        mode=mode,
        timeout=timeout,
        probe_timeout=probe_timeout,
    )
