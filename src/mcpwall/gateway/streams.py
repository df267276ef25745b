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
    """Messages for the agent about one request, in order, and the requests it was asked."""

    def __init__(
        self, ask: Callable[[Message, Callable[[Message], Awaitable[None]]], Message]
    ) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._ask = ask

    async def notify(self, message: Message) -> None:
        await self.queue.put(orjson.dumps(message))

    async def ask(self, message: Message, answer: Callable[[Message], Awaitable[None]]) -> None:
        """Forward a request to the agent under an id of ours; its answer goes to ``answer``."""
        await self.queue.put(orjson.dumps(self._ask(message, answer)))


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
    first = asyncio.ensure_future(outbox.queue.get())
    try:
        await asyncio.wait({task, first}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        first.cancel()
        raise
    if not first.done():
        first.cancel()
        return HttpReply(status, [*JSON_HEADERS, *extra], await task)
    return HttpReply(status, extra, stream=_stream(first.result(), outbox, task))


async def _stream(
    first: bytes, outbox: Outbox, task: asyncio.Future[bytes]
) -> AsyncIterator[bytes]:
    try:
        yield first
        while True:
            following = asyncio.ensure_future(outbox.queue.get())
            await asyncio.wait({task, following}, return_when=asyncio.FIRST_COMPLETED)
            if following.done():
                yield following.result()
                continue
            following.cancel()
            while not outbox.queue.empty():  # what arrived with the response goes before it
                yield outbox.queue.get_nowait()
            yield task.result()
            return
    finally:
        if not task.done():
            task.cancel()  # the agent went away: cancel the request, and so the upstream's
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
