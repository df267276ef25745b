"""The data plane's HTTP server: a lean ASGI app in front of the gateway.

It owns what is HTTP: routes (``/mcp``, ``/mcp/{upstream}``, ``/healthz``, ``/readyz``), the
``Origin`` and ``Host`` checks against DNS rebinding, the body limit (413 before reading past
it), and SSE framing of streamed replies. Everything MCP is the gateway's, behind the
:class:`~mcpwall.ports.downstream.HttpHandler` port: the handler admits a request from its
headers before the body is read (a request it refuses has its body left unread), and the
server is told through the scope's :data:`~.capacity.VOUCH`, where it has one, whether the
request was admitted (:mod:`.capacity` keeps room for connections that were).

It is plain ASGI rather than a Starlette app because this is the hot path: measured on this
machine, a bare ASGI app served about 20,800 trivial requests/s on one core, a minimal
Starlette app markedly fewer (DESIGN §2); routing four fixed paths needs no framework.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from mcpwall.adapters.downstream.capacity import VOUCH
from mcpwall.adapters.downstream.connection import TIMER_SLACK
from mcpwall.adapters.downstream.exchange import CUT_SHORT, CUT_SHORT_STATUS
from mcpwall.adapters.downstream.sse import SSE_HEADERS, SseResponder, encode_headers, frame
from mcpwall.core.names import NAME_PATTERN
from mcpwall.core.strictjson import MAX_BODY_BYTES
from mcpwall.ports.downstream import HttpExchange, HttpHandler, HttpReply, Readiness

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
METHODS = ("POST", "GET", "DELETE")
PROBE_HEADERS = (("content-type", "application/json"), ("cache-control", "no-store"))
# A request still running this long gets a watcher for its client going away (see
# _unless_disconnected); answers that come sooner never need one.
WATCH_AFTER_SECONDS = 0.05


@dataclass(frozen=True, slots=True)
class BodyRefusal:
    """Why a request's body was refused: the HTTP status and the message to answer with."""

    status: int
    message: str


def error_reply(
    status: int, message: str, headers: list[tuple[str, str]] | None = None
) -> HttpReply:
    """A plain JSON error for requests refused before MCP is involved."""
    body = orjson.dumps({"error": {"code": status, "message": message}})
    return HttpReply(status, [("content-type", "application/json"), *(headers or [])], body)


class DownstreamApp:
    """ASGI app serving agents.

    ``allowed_origins`` are exact origins (``https://agent.example``) allowed besides loopback
    ones; ``allowed_hosts`` None allows any ``Host`` (when bound beyond loopback), else only
    those names (any port).
    """

    def __init__(
        self,
        handler: HttpHandler,
        *,
        max_body: int = MAX_BODY_BYTES,
        allowed_origins: frozenset[str] = frozenset(),
        allowed_hosts: frozenset[str] | None = LOOPBACK_HOSTS,
        on_shutdown: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.handler = handler
        self.max_body = max_body
        self.allowed_origins = allowed_origins
        self.allowed_hosts = allowed_hosts
        self.on_shutdown = on_shutdown
        self._late = _LateRequests()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            reply = await self._reply(scope, receive, send)
            if reply is not None:
                await _send_reply(reply, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.on_shutdown is not None:
                    await self.on_shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _reply(self, scope: Scope, receive: Receive, send: Send) -> HttpReply | None:
        path: str = scope["path"]
        method: str = scope["method"]
        if path == "/healthz":
            return HttpReply(200, list(PROBE_HEADERS), orjson.dumps({"status": "ok"}))
        if path == "/readyz":
            return readiness_reply(await self.handler.readiness())
        upstream = _route(path)
        if upstream is None:
            return error_reply(404, f"no such endpoint {path!r} (expected /mcp or /mcp/UPSTREAM)")
        if method not in METHODS:
            return error_reply(
                405, f"method {method} is not allowed here", [("allow", ", ".join(METHODS))]
            )
        headers, duplicated = _headers(scope)
        refusal = self._check_origin(headers)
        if refusal is not None:
            return refusal
        admitted = await self.handler.admit(headers, duplicated)
        vouch = scope.get(VOUCH)
        if vouch is not None:
            vouch(not isinstance(admitted, HttpReply))
        if isinstance(admitted, HttpReply):
            return admitted  # its body unread: the server closes the connection after
        body = b""
        if method == "POST":
            read = await self._body(headers, receive)
            if isinstance(read, BodyRefusal):
                unread = HttpExchange(
                    method, upstream or None, headers, b"", duplicated, None, admitted
                )
                await self.handler.refused(unread, read.status, read.message)
                return error_reply(read.status, read.message)
            body = read
        exchange = HttpExchange(
            method, upstream or None, headers, body, duplicated, SseResponder(send), admitted
        )
        return await _unless_disconnected(self.handler.handle(exchange), receive, self._late)

    def _check_origin(self, headers: dict[str, str]) -> HttpReply | None:
        if self.allowed_hosts is not None:
            host = headers.get("host", "")
            if _hostname(host) not in self.allowed_hosts:
                return error_reply(
                    421, f"host {host!r} is not served here (DNS rebinding protection)"
                )
        origin = headers.get("origin")
        if origin is None or origin in self.allowed_origins:
            return None
        if _hostname(urlsplit(origin).netloc) in LOOPBACK_HOSTS:
            return None
        return error_reply(403, f"origin {origin!r} is not allowed (set it in the allowed origins)")

    async def _body(self, headers: dict[str, str], receive: Receive) -> bytes | BodyRefusal:
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            return BodyRefusal(
                413, f"body of {declared} bytes is over the limit of {self.max_body}"
            )
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                cut_short = message.get(CUT_SHORT)
                if cut_short is not None:
                    return BodyRefusal(message.get(CUT_SHORT_STATUS, 408), cut_short)
                return BodyRefusal(400, "the client went away before sending the whole body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return BodyRefusal(413, f"body is over the limit of {self.max_body} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def readiness_reply(readiness: Readiness) -> HttpReply:
    """``/readyz``'s answer: 200 when ready, else 503; either way every check, as
    ``{"ready": …, "checks": {NAME: {"ok": …, "detail": …}}}``."""
    checks = {
        name: {"ok": check.ok, "detail": check.detail} for name, check in readiness.checks.items()
    }
    body = orjson.dumps({"ready": readiness.ready, "checks": checks})
    return HttpReply(200 if readiness.ready else 503, list(PROBE_HEADERS), body)


def _route(path: str) -> str | None:
    """``""`` for ``/mcp``, the name for ``/mcp/{name}``, None for anything else."""
    if path in ("/mcp", "/mcp/"):
        return ""
    prefix, _, name = path.partition("/mcp/")
    name = name.removesuffix("/")
    if prefix == "" and NAME_PATTERN.fullmatch(name):
        return name
    return None


def _headers(scope: Scope) -> tuple[dict[str, str], tuple[str, ...]]:
    headers: dict[str, str] = {}
    duplicated: list[str] = []
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1")  # ASGI servers give header names in lowercase
        if name in headers:
            duplicated.append(name)
            continue
        headers[name] = raw_value.decode("latin-1")
    return headers, tuple(duplicated)


def _hostname(host: str) -> str:
    """``example.com:8700`` → ``example.com``; ``[::1]:8700`` → ``[::1]``."""
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


async def _send_reply(reply: HttpReply, receive: Receive, send: Send) -> None:
    if reply.pushed:  # the handler sent all but the stream's end through its responder
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    headers = encode_headers(reply.headers)
    if reply.stream is None:
        headers.append((b"content-length", str(len(reply.body)).encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body})
        return
    headers += SSE_HEADERS
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    stream = reply.stream
    # A client that goes away cancels what it asked for (2026-07-28: closing the stream is
    # the cancellation signal), so each wait for the next message races the disconnect.
    watcher = asyncio.ensure_future(_disconnected(receive))
    iterator = stream.__aiter__()
    try:
        while True:
            following = asyncio.ensure_future(iterator.__anext__())
            await asyncio.wait({following, watcher}, return_when=asyncio.FIRST_COMPLETED)
            if not following.done():
                following.cancel()
                return
            try:
                message = following.result()
            except StopAsyncIteration:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            await send({"type": "http.response.body", "body": frame(message), "more_body": True})
    finally:
        watcher.cancel()
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()


class _LateRequests:
    """Calls each request's ``start_watch`` once it has run :data:`WATCH_AFTER_SECONDS`,
    unless it ended before: one event-loop timer for all the requests in flight, where a
    timer made and cancelled per request cost every refused call a few microseconds."""

    def __init__(self) -> None:
        self._due: dict[Callable[[], None], float] = {}  # in the order requests began
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def add(self, loop: asyncio.AbstractEventLoop, start_watch: Callable[[], None]) -> None:
        if loop is not self._loop:  # a new event loop (tests run several): start afresh
            self._due.clear()
            self._timer, self._loop = None, loop
        self._due[start_watch] = loop.time() + WATCH_AFTER_SECONDS
        if self._timer is None:
            self._timer = loop.call_later(WATCH_AFTER_SECONDS, self._sweep)

    def discard(self, start_watch: Callable[[], None]) -> None:
        self._due.pop(start_watch, None)

    def _sweep(self) -> None:
        self._timer = None
        loop = self._loop
        assert loop is not None
        now = loop.time() + TIMER_SLACK
        due = self._due
        while due:
            start_watch, at = next(iter(due.items()))
            if at > now:  # the earliest still to come: all later ones began after it
                self._timer = loop.call_at(at, self._sweep)
                return
            del due[start_watch]
            start_watch()


async def _unless_disconnected(
    handling: Awaitable[HttpReply], receive: Receive, late: _LateRequests
) -> HttpReply | None:
    """The handler's reply, or None if the client goes away first, which cancels the request
    (2026-07-28: closing the stream is the cancellation signal; a legacy client that is gone
    could never get the answer either, as nothing here is resumable).

    The handler runs in this task, and only one still running after
    :data:`WATCH_AFTER_SECONDS` gets a task watching for the disconnect: most answers (every
    refusal) come sooner, and a task and a wait per request were a fifth of the deny path.
    """
    loop = asyncio.get_running_loop()
    request = asyncio.current_task(loop)  # with the loop: one getpid() less on Python 3.11
    assert request is not None
    gone = False
    watchers: list[asyncio.Task[None]] = []

    async def watch() -> None:
        nonlocal gone
        await _disconnected(receive)
        gone = True
        request.cancel()  # raised in the handler where it waits, which cancels its work

    def start_watch() -> None:
        watchers.append(loop.create_task(watch()))

    late.add(loop, start_watch)
    try:
        reply = await handling
    except asyncio.CancelledError:
        if gone and request.uncancel() == 0:
            return None
        raise
    finally:
        late.discard(start_watch)
        for watcher in watchers:
            watcher.cancel()
    if gone:  # the handler answered despite its cancellation: nobody is left to hear it
        request.uncancel()
        aclose = getattr(reply.stream, "aclose", None)
        if aclose is not None:
            await aclose()  # a stream never sent must still let go of what it holds
        return None
    return reply


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
