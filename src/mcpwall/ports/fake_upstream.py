"""An in-memory upstream for tests: sessions driven by a handler function.

The counterpart of httpx's ``MockTransport``: instead of a server, an async function answers
each request. It gets the method, the params, and a :class:`Related` to send what a server
would send about that request (progress, log messages, server→client requests)::

    async def handler(method, params, related):
        if method == "tools/call":
            await related.notify("notifications/progress", {"progressToken": 1, "progress": 1})
            answer = await related.ask("sampling/createMessage", {"messages": [], "maxTokens": 9})
            return result({"content": [{"type": "text", "text": str(answer["result"])}]})
        return error(-32601, f"Method not found: {method}")

    connector = FakeConnector(handler)
    session = await connector.connect(upstream, ClientOffer(), on_unsolicited)

Sessions behave as the real ones do at the port: ids are the session's own integers, a
request past its timeout is cancelled (the handler sees ``CancelledError``) and raises
:class:`UpstreamTimeout`, :meth:`FakeSession.crash` fails what is in flight with
:class:`UpstreamClosed`. They record what they were sent, for assertions.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from mcpwall.core.errors import UpstreamClosed, UpstreamTimeout, UpstreamUnavailable
from mcpwall.core.registry import Upstream
from mcpwall.ports.upstream import ClientOffer, Message, Negotiated, Receiver, SessionEnd

LEGACY = Negotiated(
    protocol_version="2025-11-25",
    era="legacy",
    capabilities={"tools": {}},
    server_info={"name": "fake", "version": "1.0.0"},
)


def result(value: object) -> Message:
    """A successful answer carrying ``value``."""
    return {"result": value}


def error(code: int, message: str, data: object = None) -> Message:
    """A JSON-RPC error answer."""
    body: dict[str, object] = {"code": code, "message": message}
    if data is not None:
        body["data"] = data
    return {"error": body}


@dataclass(frozen=True, slots=True)
class Sent:
    """A request or notification a fake session was sent (``id`` None: a notification)."""

    method: str
    params: Mapping[str, object] | None
    id: int | None = None


class Related:
    """How a handler sends what a server sends about the request it is answering."""

    def __init__(self, session: FakeSession, receiver: Receiver) -> None:
        self._session = session
        self._receiver = receiver

    async def __call__(self, message: Message) -> None:
        """Deliver ``message`` as it is."""
        await self._receiver(message)

    async def notify(self, method: str, params: Mapping[str, object] | None = None) -> None:
        """Send a notification about the request."""
        await self._receiver(_message(method, params))

    async def ask(self, method: str, params: Mapping[str, object] | None = None) -> Message:
        """Send a server→client request and wait for the answer the caller gives through
        :meth:`FakeSession.respond`."""
        return await self._session.ask(self._receiver, method, params)


Handler = Callable[[str, Mapping[str, object] | None, Related], Awaitable[Message]]
"""Answers one request: ``(method, params, related) -> {"result": …}`` or ``{"error": …}``."""


class FakeSession(SessionEnd):
    """One open fake session (an :class:`~mcpwall.ports.upstream.UpstreamSession`)."""

    def __init__(
        self,
        name: str,
        handler: Handler,
        on_unsolicited: Receiver,
        negotiated: Negotiated = LEGACY,
    ) -> None:
        self.name = name
        self.sent: list[Sent] = []
        self.responses: list[tuple[str | int, Message]] = []
        self.cancelled: list[int] = []
        self._handler = handler
        self._on_unsolicited = on_unsolicited
        self._negotiated = negotiated
        self._ids = itertools.count(1)
        self._asks = itertools.count(1)
        self._asked: dict[str | int, asyncio.Future[Message]] = {}
        self._inflight: dict[int, asyncio.Task[Message]] = {}
        SessionEnd.__init__(self)

    @property
    def negotiated(self) -> Negotiated:
        return self._negotiated

    async def request(
        self,
        method: str,
        params: Mapping[str, object] | None,
        *,
        related: Receiver | None = None,
        timeout: float,
    ) -> Message:
        self._check_open()
        request_id = next(self._ids)
        self.sent.append(Sent(method, params, request_id))
        receiver = Related(self, related or self._on_unsolicited)
        work = asyncio.ensure_future(self._handler(method, params, receiver))
        self._inflight[request_id] = work
        try:
            async with asyncio.timeout(timeout):
                answer = await work
        except TimeoutError:
            self.cancelled.append(request_id)
            reason = f"no answer to {method} within {timeout:g} s"
            raise UpstreamTimeout(self.name, reason) from None
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self.closed and task is not None and task.cancelling() == 0:
                raise UpstreamClosed(self.name, self._close_reason) from None
            self.cancelled.append(request_id)
            raise
        finally:
            self._inflight.pop(request_id, None)
        return {"jsonrpc": "2.0", "id": request_id, **answer}

    async def notify(self, method: str, params: Mapping[str, object] | None) -> None:
        self._check_open()
        self.sent.append(Sent(method, params))

    async def respond(self, request_id: str | int, response: Message) -> None:
        self._check_open()
        self.responses.append((request_id, response))
        waiting = self._asked.pop(request_id, None)
        if waiting is not None and not waiting.done():
            answer = {key: value for key, value in response.items() if key != "id"}
            waiting.set_result({"jsonrpc": "2.0", "id": request_id, **answer})

    async def aclose(self) -> None:
        self._end("the session was closed")

    async def push(self, message: Message) -> None:
        """Send ``message`` unsolicited, as an upstream's ``list_changed`` would be."""
        await self._on_unsolicited(message)

    def crash(self, reason: str = "the process exited with code 1") -> None:
        """End the session as a dying upstream would: what is in flight fails."""
        self._end(reason)

    async def ask(
        self, receiver: Receiver, method: str, params: Mapping[str, object] | None
    ) -> Message:
        """Send a server→client request to ``receiver``; return the answer given to it."""
        request_id = next(self._asks)
        waiting: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._asked[request_id] = waiting
        await receiver({**_message(method, params), "id": request_id})
        return await waiting

    def _check_open(self) -> None:
        if self.closed:
            raise UpstreamClosed(self.name, self._close_reason, unsent=True)

    def _end(self, reason: str) -> None:
        if self.closed:
            return
        self._mark_closed(reason)
        for work in self._inflight.values():
            work.cancel()


@dataclass
class FakeConnector:
    """Opens :class:`FakeSession` values answering with ``handler`` (an
    :class:`~mcpwall.ports.upstream.UpstreamConnector`).

    ``unavailable`` makes every connect fail with that reason. ``sessions`` and ``offers``
    record what was opened, in order.
    """

    handler: Handler
    negotiated: Negotiated = LEGACY
    unavailable: str | None = None
    sessions: list[FakeSession] = field(default_factory=list)
    offers: list[ClientOffer] = field(default_factory=list)

    async def connect(
        self, upstream: Upstream, offer: ClientOffer, on_unsolicited: Receiver
    ) -> FakeSession:
        if self.unavailable is not None:
            raise UpstreamUnavailable(upstream.name, self.unavailable, unsent=True)
        session = FakeSession(upstream.name, self.handler, on_unsolicited, self.negotiated)
        self.sessions.append(session)
        self.offers.append(offer)
        return session


def _message(method: str, params: Mapping[str, object] | None) -> Message:
    message: Message = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        message["params"] = dict(params)
    return message
