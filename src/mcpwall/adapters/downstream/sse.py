"""SSE on the ASGI ``send``: the headers and framing of streamed answers, and the
:class:`~mcpwall.ports.downstream.Responder` a handler pushes an answer through."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

SSE_HEADERS: Final = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # so a proxy in front passes each event on as it comes
]


def encode_headers(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    """Header pairs as ASGI wants them."""
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]


def frame(message: bytes) -> bytes:
    """One encoded JSON-RPC message as an SSE event."""
    return b"event: message\ndata: " + message + b"\n\n"


class SseResponder:
    """A :class:`~mcpwall.ports.downstream.Responder` writing to one ASGI response.

    It never ends the stream: the server does, once the handler returned (``more_body``
    False), or not at all when the client went away.
    """

    __slots__ = ("_send", "started")

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False

    async def start(self, status: int, headers: list[tuple[str, str]]) -> None:
        self.started = True
        head = encode_headers(headers) + SSE_HEADERS
        await self._send({"type": "http.response.start", "status": status, "headers": head})

    async def send(self, message: bytes) -> None:
        await self._send({"type": "http.response.body", "body": frame(message), "more_body": True})
