"""The downstream port: what the HTTP server hands the gateway, and what it gets back.

The server (an adapter) owns sockets, HTTP parsing, body limits and SSE framing; the gateway
owns MCP semantics. Between them are two calls. :meth:`HttpHandler.admit` judges a request
from its headers alone, before the server reads its body: a refusal (the gateway's 401 for a
missing or bad token) is answered without the body ever being read, so a client without a
grant can't make the gateway wait for one; what it lets in, an :class:`Admitted`, comes back
to :meth:`HttpHandler.handle` in the :class:`HttpExchange` with the body, so nothing is judged
twice. ``handle`` answers with an :class:`HttpReply`. A streamed reply is an async iterator of
JSON-RPC messages (encoded); when the client goes away the server closes it, which the gateway
takes as cancellation.

A request's answer can also be pushed while the gateway works on it: the exchange's
:class:`Responder` starts an SSE response and writes messages as they come (a request
whose upstream talks first, e.g. progress), and the reply then says it was ``pushed``: the
server only ends the stream. When the client goes away the server cancels the handler.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Check:
    """One readiness check: whether it passed, and a short reason (never a secret)."""

    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Readiness:
    """Whether the gateway can serve now: ready when every check passed."""

    checks: Mapping[str, Check]

    @property
    def ready(self) -> bool:
        return all(check.ok for check in self.checks.values())


ALWAYS_READY = Readiness({})


class Responder(Protocol):
    """The HTTP response of one exchange, written by the handler as an SSE stream."""

    @property
    def started(self) -> bool:
        """Whether :meth:`start` was called."""
        ...

    async def start(self, status: int, headers: list[tuple[str, str]]) -> None:
        """Send the response's head: ``status``, ``headers`` and the SSE ones."""
        ...

    async def send(self, message: bytes) -> None:
        """Send one encoded JSON-RPC message as an SSE event."""
        ...


class MemoryResponder:
    """A :class:`Responder` keeping what was sent (tests, in-process use)."""

    def __init__(self) -> None:
        self.status: int | None = None
        self.headers: list[tuple[str, str]] = []
        self.messages: list[bytes] = []

    @property
    def started(self) -> bool:
        return self.status is not None

    async def start(self, status: int, headers: list[tuple[str, str]]) -> None:
        assert self.status is None, "a response is started once"
        self.status, self.headers = status, headers

    async def send(self, message: bytes) -> None:
        assert self.started, "start the response first"
        self.messages.append(message)


class Admitted:
    """What a handler let in when it admitted a request from its headers (the gateway's is
    the authenticated grant). The server does not look inside: it hands it back with the
    body. Handlers subclass it."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class HttpExchange:
    """One HTTP request to ``/mcp`` (``upstream`` None) or ``/mcp/{upstream}``.

    Header names are lowercase; a header sent more than once is named in ``duplicated``
    (its value here is the first). ``responder`` is where the answer may be pushed as it is
    made; None where it can't be (the answer is then the reply alone). ``admitted`` is what
    :meth:`HttpHandler.admit` returned for these headers; None when the caller did not admit
    the request first (the handler then judges its headers itself).
    """

    method: str
    upstream: str | None
    headers: Mapping[str, str]
    body: bytes = b""
    duplicated: tuple[str, ...] = ()
    responder: Responder | None = None
    admitted: Admitted | None = None


@dataclass(slots=True)
class HttpReply:
    """What to answer: a status, headers and either a body or a stream of messages; or,
    ``pushed``, that the answer went through the exchange's responder (all but the stream's
    end, which is left to the server)."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None
    pushed: bool = False


class HttpHandler(Protocol):
    async def admit(
        self, headers: Mapping[str, str], duplicated: tuple[str, ...]
    ) -> Admitted | HttpReply:
        """Judge a request from its headers, before its body is read: what to hand back to
        :meth:`handle` with the body, or the reply that refuses it (its body is then never
        read, and a connection left with a body unread closes after the reply)."""
        ...

    async def handle(self, exchange: HttpExchange) -> HttpReply:
        """Answer an admitted request (``exchange.admitted``), its body read."""
        ...

    async def refused(self, exchange: HttpExchange, status: int, message: str) -> None:
        """An admitted request that the server refused before :meth:`handle` (its body over
        the limit, or not whole by its deadline, or its client gone): for the record, as
        ``status`` and ``message``; the server answers it. ``exchange`` has no body."""
        ...

    async def readiness(self) -> Readiness:
        """Whether the gateway can serve now, and why not (``/readyz``)."""
        ...
