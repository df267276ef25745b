"""Reading what an upstream sends, handing it on, and framing our answers to its requests.

What the upstream sends is checked to be JSON-RPC (:func:`mcpwall.core.jsonrpc.message_from`)
but handed on as the object it sent, untouched: the gateway relays it (DESIGN §2). Duplicate
keys are not refused here as they are from agents: the gateway re-serialises whatever it
relays, so an upstream can't make the agent read something other than what the gateway read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection

import orjson

from mcpwall.core import jsonrpc
from mcpwall.core.errors import ProtocolError, UpstreamProtocolError
from mcpwall.core.jsonrpc import JSONRPC_VERSION, describe
from mcpwall.core.strictjson import dumps
from mcpwall.ports.upstream import Message, Receiver


def decode(upstream: str, raw: bytes | str) -> tuple[Message, jsonrpc.Message]:
    """The object ``raw`` holds and its typed reading; :class:`UpstreamProtocolError` if it
    is not one JSON-RPC message."""
    try:
        value = orjson.loads(raw)
        return value, jsonrpc.message_from(value)
    except orjson.JSONDecodeError as error:
        reason = f"it sent something that is not JSON ({error.msg})"
    except ProtocolError as error:
        reason = f"it sent something that is not a JSON-RPC message ({error.message})"
    raise UpstreamProtocolError(upstream, reason)


def unreadable_id(raw: bytes | str) -> object:
    """The ``id`` of a message that failed :func:`decode`, when there is one to find."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return value.get("id") if isinstance(value, dict) else None


def response_bytes(request_id: str | int, response: Message) -> bytes:
    """Our answer to the upstream's request ``request_id``, from ``response``'s result or error."""
    if "error" in response:
        return dumps({"jsonrpc": JSONRPC_VERSION, "id": request_id, "error": response["error"]})
    if "result" in response:
        return dumps({"jsonrpc": JSONRPC_VERSION, "id": request_id, "result": response["result"]})
    raise ValueError(f"a response needs a result or an error, found {describe(response)}")


def is_answer(message: jsonrpc.Message) -> bool:
    """Whether ``message`` is a response (result or error)."""
    return isinstance(message, jsonrpc.ResultResponse | jsonrpc.ErrorResponse)


async def deliver(logger: logging.Logger, receiver: Receiver, message: Message) -> None:
    """Hand ``message`` to ``receiver``; a receiver's failure is logged, never the session's."""
    try:
        await receiver(message)
    except Exception:
        logger.exception("delivering %s failed", message.get("method"))


async def cancel_all(tasks: Collection[asyncio.Task[None]]) -> None:
    """Cancel ``tasks`` (a session's background sends) and wait until they are done."""
    pending = list(tasks)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
