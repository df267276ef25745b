"""Answering one request: as plain JSON, or as an SSE stream when the upstream talks first.

A request's answer starts as JSON. If, before the response is ready, the upstream sends a
message about the request (progress, a log line, a sampling request for the agent), the
answer becomes an SSE stream: those messages, then the response. When the agent goes away
mid-stream, the request is cancelled, which cancels it upstream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Final

import orjson

from mcpwall.core.errors import ProtocolError, UpstreamError
from mcpwall.core.jsonrpc import (
    ABSENT,
    ErrorResponse,
    Request,
    RequestId,
    ResultResponse,
    encode_error,
    encode_refusal,
)
from mcpwall.ports.downstream import HttpReply
from mcpwall.ports.upstream import Message

JSON_HEADERS: Final = [("content-type", "application/json")]
INTERNAL_ERROR: Final = -32603

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
    failure is an internal error naming the upstream, anything else is logged and answered
    with a generic internal error (the gateway keeps serving).
    """
    try:
        return encode_response(request.id, await work)
    except ProtocolError as error:
        return encode_refusal(error, request.id)
    except UpstreamError as error:
        return encode_error(request.id, INTERNAL_ERROR, str(error))
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("request %s failed", request.method)
        return encode_error(request.id, INTERNAL_ERROR, "internal error in the gateway")


class Outbox:
    """Messages for the agent about one request, in order, and the requests it was asked.

    Nothing waits on an outbox but :meth:`wait`, one future that the request's end wakes too:
    a request that streams nothing (every refusal) costs a task for its work and no more.
    """

    def __init__(
        self, ask: Callable[[Message, Callable[[Message], Awaitable[None]]], Message]
    ) -> None:
        self._messages: deque[bytes] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._ask = ask

    async def notify(self, message: Message) -> None:
        self._put(orjson.dumps(message))

    async def ask(self, message: Message, answer: Callable[[Message], Awaitable[None]]) -> None:
        """Forward a request to the agent under an id of ours; its answer goes to ``answer``."""
        self._put(orjson.dumps(self._ask(message, answer)))

    def pending(self) -> bool:
        return bool(self._messages)

    def take(self) -> bytes:
        return self._messages.popleft()

    async def wait(self, work: asyncio.Future[bytes]) -> None:
        """Until a message is queued or ``work`` is done, whichever comes first."""
        if self._messages or work.done():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        work.add_done_callback(self._wake)
        try:
            await waiter
        finally:
            self._waiter = None
            work.remove_done_callback(self._wake)

    def _put(self, encoded: bytes) -> None:
        self._messages.append(encoded)
        self._wake()

    def _wake(self, _: object = None) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


async def reply(
    work: Awaitable[bytes],
    outbox: Outbox | None,
    *,
    status: int = 200,
    headers: list[tuple[str, str]] | None = None,
) -> HttpReply:
    """Run ``work`` (it produces the encoded response) and answer with JSON or SSE."""
    extra = headers or []
    if outbox is None:  # nothing can be streamed: no task, no queue (the deny path's case)
        return HttpReply(status, [*JSON_HEADERS, *extra], await work)
    task = asyncio.ensure_future(work)
    try:
        await outbox.wait(task)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not outbox.pending():
        return HttpReply(status, [*JSON_HEADERS, *extra], await task)
    return HttpReply(status, extra, stream=_stream(outbox, task))


async def _stream(outbox: Outbox, task: asyncio.Future[bytes]) -> AsyncIterator[bytes]:
    try:
        while True:
            while outbox.pending():  # what arrived with the response goes before it
                yield outbox.take()
            if task.done():
                break
            await outbox.wait(task)
        if task.cancelled():
            return  # the agent cancelled it (notifications/cancelled): no response (§1.12)
        yield task.result()
    finally:
        if not task.done():
            task.cancel()  # the agent went away: cancel the request, and so the upstream's
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
