"""Answering one request: as plain JSON, or as an SSE stream when the upstream talks first.

A request's work runs in the request's own task. Its answer is JSON, unless, before the
response is ready, the upstream sends a message about the request (progress, a log line, a
sampling request for the agent): the answer is then pushed as an SSE stream, those messages
as they come, then the response. Those messages are queued by whoever delivers them (often an
upstream session's reader, which must never wait on an agent) and written by one task of the
request's own, made only when the first one comes. When the agent goes away mid-stream, the
server cancels the request, which cancels it upstream.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Final

import orjson

from mcpwall.core.errors import ProtocolError, StoreUnavailable, UpstreamError
from mcpwall.core.jsonrpc import (
    ABSENT,
    ErrorResponse,
    Request,
    RequestId,
    ResultResponse,
    encode_error,
    encode_refusal,
)
from mcpwall.ports.downstream import HttpReply, Responder
from mcpwall.ports.upstream import Message

JSON_HEADERS: Final = [("content-type", "application/json")]
INTERNAL_ERROR: Final = -32603
STORE_UNAVAILABLE: Final = "the gateway's database is unreachable: retry later"

log = logging.getLogger("mcpwall.gateway")


def encode_response(request_id: RequestId, response: Message) -> bytes:
    """The JSON-RPC response to the agent: its own id, the result or error as they are."""
    body: dict[str, object] = {"jsonrpc": "2.0", "id": request_id}
    if "error" in response:
        body["error"] = response["error"]
    else:
        body["result"] = response.get("result")
    return orjson.dumps(body)


def response_message(message: ResultResponse | ErrorResponse) -> Message:
    """A decoded response as a :data:`Message` without its id (how sessions pass them on)."""
    if isinstance(message, ResultResponse):
        return {"result": message.result}
    error: dict[str, object] = {"code": message.error.code, "message": message.error.message}
    if message.error.data is not ABSENT:
        error["data"] = message.error.data
    return {"error": error}


async def guarded(request: Request, work: Awaitable[Message]) -> bytes:
    """The encoded response to ``request``: what ``work`` answers, or the error it raised.

    This is where exceptions become JSON-RPC errors: a refusal keeps its code, an upstream
    failure is an internal error naming the upstream, a lost database one saying so (opening
    an upstream this replica never read while the database is lost: the grant cache has said
    it is lost, and the agent is not told where it is), anything else is logged and answered
    with a generic internal error (the gateway keeps serving).
    """
    try:
        return encode_response(request.id, await work)
    except ProtocolError as error:
        return encode_refusal(error, request.id)
    except UpstreamError as error:
        return encode_error(request.id, INTERNAL_ERROR, str(error))
    except StoreUnavailable:
        return encode_error(request.id, INTERNAL_ERROR, STORE_UNAVAILABLE)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("request %s failed", request.method)
        return encode_error(request.id, INTERNAL_ERROR, "internal error in the gateway")


class Outbox:
    """Messages for the agent about one request, pushed to its HTTP response as they come.

    The first one turns the answer into an SSE stream (status 200, ``headers``) and the
    request's response is then the stream's last message (:meth:`finish`).

    Messages come from whoever delivers them, often an upstream session's reader task, which
    must never wait on an agent: a slow agent would stall every request on that session. So
    :meth:`notify` and :meth:`ask` only queue the encoded message and return at once; one
    drainer task, made by the first message, starts the stream and writes the queue in order.
    The queue is unbounded, as the agent's socket is what bounds it: an agent that reads
    nothing holds what its requests' upstreams send until it is gone or they end. A message
    that comes after the response, or after the agent went away, is dropped (nothing is left
    to carry it). A request that streams nothing costs no task.
    """

    __slots__ = ("_ask", "_closed", "_drainer", "_frames", "_headers", "_responder", "_waiter")

    def __init__(
        self,
        responder: Responder,
        ask: Callable[[Message, Callable[[Message], Awaitable[None]]], Message],
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        self._responder = responder
        self._ask = ask
        self._headers = headers or []
        self._frames: deque[bytes] = deque()
        self._drainer: asyncio.Task[None] | None = None  # made by the first message, if any
        self._waiter: asyncio.Future[None] | None = None  # the drainer waiting for more
        self._closed = False  # nothing more is queued: the response is in, or the end came

    @property
    def started(self) -> bool:
        """Whether the answer became a stream."""
        return self._responder.started

    async def notify(self, message: Message) -> None:
        """Queue ``message`` for the agent; never waits on the agent."""
        self._push(orjson.dumps(message))

    async def ask(self, message: Message, answer: Callable[[Message], Awaitable[None]]) -> None:
        """Forward a request to the agent under an id of ours; its answer goes to ``answer``.
        Never waits on the agent."""
        self._push(orjson.dumps(self._ask(message, answer)))

    def close_unstarted(self) -> bool:
        """Close the outbox if nothing came for the agent (no stream was started): True then,
        and the response is the caller's to answer as JSON."""
        if self._drainer is None:
            self._closed = True
            return True
        return False

    async def finish(self, response: bytes) -> bool:
        """Send ``response`` as the stream's last message, after every message queued before
        it, and wait until it is written (or the agent is gone): True, or False when no
        stream was started (the response is then answered as JSON by the caller)."""
        drainer = self._drainer
        if drainer is None:  # nothing came, nothing is being written
            self._closed = True
            return False
        if not self._closed:
            self._frames.append(response)
            self._closed = True
            self._wake()
        try:
            await asyncio.wait((drainer,))  # cancelling this wait leaves the drainer be
        except asyncio.CancelledError:
            self.close()
            raise
        return self._responder.started

    def close(self) -> None:
        """Drop what is queued and whatever comes from now on (the request ended without a
        response); a write under way is cancelled."""
        self._closed = True
        self._frames.clear()
        if self._drainer is not None:
            self._drainer.cancel()

    async def closed(self) -> None:
        """Wait until the drainer, if one was made, has ended (after :meth:`close`)."""
        if self._drainer is not None:
            await asyncio.wait((self._drainer,))

    def _push(self, frame: bytes) -> None:
        if self._closed:
            return
        self._frames.append(frame)
        if self._drainer is None:
            self._drainer = asyncio.get_running_loop().create_task(self._drain())
        else:
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _drain(self) -> None:
        """Start the stream, then write the queue in order until the response is written.

        Cancellation ends it (the request ended); so does a failed write (the agent went
        away; the server cancels its request): what is queued is then dropped, quietly, as
        nothing waiting on this task must break.
        """
        frames = self._frames
        try:
            if not self._responder.started:
                await self._responder.start(200, self._headers)
            while True:
                while frames:
                    await self._responder.send(frames.popleft())
                if self._closed:
                    return
                self._waiter = asyncio.get_running_loop().create_future()
                try:
                    await self._waiter
                finally:
                    self._waiter = None
        except Exception:
            log.debug("the agent's stream is gone", exc_info=True)
            self._closed = True
            frames.clear()


async def reply(work: Awaitable[bytes], outbox: Outbox | None) -> HttpReply:
    """Run ``work`` (it produces the encoded response) in this task and answer: as JSON, or
    as the end of the SSE stream the outbox started (the reply is then ``pushed``)."""
    if outbox is None:  # nothing can be streamed (the deny path's case)
        return HttpReply(200, list(JSON_HEADERS), await work)
    try:
        response = await work
    except BaseException:
        outbox.close()  # cancelled: whatever comes late has no stream to go to
        await outbox.closed()  # no write is under way once the handler answers
        raise
    # Most requests stream nothing: answered as JSON, with no wait on the outbox.
    if outbox.close_unstarted() or not await outbox.finish(response):
        return HttpReply(200, list(JSON_HEADERS), response)
    return HttpReply(200, pushed=True)
