"""The downstream port: what the HTTP server hands the gateway, and what it gets back.

The server (an adapter) owns sockets, HTTP parsing, body limits and SSE framing; the gateway
owns MCP semantics. Between them is one call: an :class:`HttpExchange` in, an
:class:`HttpReply` out. A streamed reply is an async iterator of JSON-RPC messages (encoded);
when the client goes away the server closes it, which the gateway takes as cancellation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class HttpExchange:
    """One HTTP request to ``/mcp`` (``upstream`` None) or ``/mcp/{upstream}``.

    Header names are lowercase; a header sent more than once is named in ``duplicated``
    (its value here is the first).
    """

    method: str
    upstream: str | None
    headers: Mapping[str, str]
    body: bytes = b""
    duplicated: tuple[str, ...] = ()


@dataclass(slots=True)
class HttpReply:
    """What to answer: a status, headers and either a body or a stream of messages."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None


class HttpHandler(Protocol):
    async def handle(self, exchange: HttpExchange) -> HttpReply: ...

    def ready(self) -> bool:
        """Whether the gateway can serve (``/readyz``)."""
        ...
