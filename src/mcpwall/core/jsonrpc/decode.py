"""Bytes → JSON-RPC messages, refusing every malformed or ambiguous input with its error.

Every refusal is a :class:`ProtocolError` carrying the JSON-RPC code to answer with, and the
request id when it could be read (so the answer can be addressed to it). What is checked, on
top of :mod:`mcpwall.core.strictjson`:

* a batch (JSON array) only where the caller allows it (a 2025-03-26 session), each element
  then checked on its own; an empty batch is refused whole;
* ``"jsonrpc": "2.0"``; an ``id`` that is a string or an integer (not ``null``, not a boolean,
  not a fraction); a ``method`` that is a string; ``params``, when present, an object;
* a response has exactly one of ``result`` and ``error``, and an error object has an integer
  ``code`` and a string ``message``.

Members JSON-RPC does not define are ignored: they are not part of the typed message, so
they are never forwarded either.
"""

from __future__ import annotations

from typing import Literal, overload

from mcpwall.core import strictjson
from mcpwall.core.errors import InvalidParams, InvalidRequest, ProtocolError
from mcpwall.core.jsonrpc.messages import (
    ABSENT,
    JSONRPC_VERSION,
    Batch,
    ErrorObject,
    ErrorResponse,
    Message,
    Notification,
    Params,
    Request,
    RequestId,
    ResultResponse,
)
from mcpwall.core.jsonvalue import render, type_name

NO_BATCHES = (
    "a batch (JSON array) is not accepted here: only protocol version 2025-03-26 has batches "
    "(expected one JSON-RPC message, an object)"
)


@overload
def decode(
    body: bytes,
    *,
    allow_batch: Literal[False] = False,
    max_bytes: int = ...,
    max_depth: int = ...,
) -> Message: ...


@overload
def decode(
    body: bytes, *, allow_batch: bool, max_bytes: int = ..., max_depth: int = ...
) -> Message | Batch: ...


def decode(
    body: bytes,
    *,
    allow_batch: bool = False,
    max_bytes: int = strictjson.MAX_BODY_BYTES,
    max_depth: int = strictjson.MAX_DEPTH,
) -> Message | Batch:
    """Decode one HTTP body or stdio line into a message (or, if allowed, a batch).

    Raises :class:`ProtocolError` (a :class:`ParseError`, :class:`InvalidRequest` or
    :class:`InvalidParams`) for anything that is not one valid JSON-RPC message.
    """
    value = strictjson.loads(body, max_bytes=max_bytes, max_depth=max_depth)
    if isinstance(value, list):
        if not allow_batch:
            raise InvalidRequest(NO_BATCHES)
        return decode_batch(value)
    return message_from(value)


def decode_batch(elements: list[object]) -> Batch:
    """Check each element of a batch on its own; an empty batch is refused whole."""
    if not elements:
        raise InvalidRequest("the batch is empty (expected at least one message)")
    items: list[Message | ProtocolError] = []
    for element in elements:
        try:
            items.append(message_from(element))
        except ProtocolError as refused:
            items.append(refused)
    return Batch(tuple(items))


def describe(value: object) -> str:
    """A JSON value for an error message: its type and (a cut of) its text."""
    return "null" if value is None else f"{type_name(value)} {render(value)}"


def message_from(value: object) -> Message:
    """The typed message for one parsed JSON value; raises :class:`ProtocolError`."""
    if not isinstance(value, dict):
        raise InvalidRequest(f"expected a JSON-RPC message (an object), found {describe(value)}")
    if "method" in value:
        return _call(value)
    return _response(value)


def _call(value: dict[str, object]) -> Request | Notification:
    """A request (with an ``id``) or a notification (without)."""
    raw_id = value.get("id", ABSENT)
    request_id = None if raw_id is ABSENT else _request_id(raw_id)
    method = value["method"]
    if type(method) is not str:
        raise InvalidRequest(
            f'"method": expected a string, found {describe(method)}',
            request_id=request_id,
        )
    _check_version(value, request_id)
    if "result" in value or "error" in value:
        raise InvalidRequest(
            'a message has either "method" or "result"/"error", found both',
            request_id=request_id,
        )
    params = _params(value.get("params", ABSENT), request_id)
    if request_id is None:
        return Notification(method, params)
    return Request(request_id, method, params)


def _response(value: dict[str, object]) -> ResultResponse | ErrorResponse:
    """An answer: exactly one of ``result`` and ``error``, and an ``id``."""
    has_result, has_error = "result" in value, "error" in value
    if not has_result and not has_error:
        raise InvalidRequest(
            'missing "method" (expected a request or notification with "method", '
            'or a response with "result" or "error")'
        )
    if has_result and has_error:
        raise InvalidRequest('a response has either "result" or "error", found both')
    raw_id = value.get("id", ABSENT)
    if raw_id is ABSENT:
        raise InvalidRequest('a response needs the "id" of the request it answers')
    _check_version(value, None)
    if has_result:
        return ResultResponse(_request_id(raw_id), value["result"])
    # Only an error may answer "id": null: the request it refuses had no readable id.
    response_id = None if raw_id is None else _request_id(raw_id)
    return ErrorResponse(response_id, _error_object(value["error"]))


def _request_id(raw: object) -> RequestId:
    # type() rather than isinstance(): a boolean is an int to Python, never an id to JSON-RPC.
    if type(raw) is str or type(raw) is int:
        return raw
    found = describe(raw)
    raise InvalidRequest(f'"id": expected a string or an integer, found {found}')


def _check_version(value: dict[str, object], request_id: RequestId | None) -> None:
    version = value.get("jsonrpc", ABSENT)
    if version == JSONRPC_VERSION and type(version) is str:
        return
    found = "nothing" if version is ABSENT else describe(version)
    raise InvalidRequest(f'"jsonrpc": expected "2.0", found {found}', request_id=request_id)


def _params(raw: object, request_id: RequestId | None) -> Params | None:
    if raw is ABSENT:
        return None
    if isinstance(raw, dict):
        return raw
    found = describe(raw)
    if isinstance(raw, list):
        # Valid JSON-RPC (positional parameters), but no MCP method takes them.
        raise InvalidParams(
            f'"params": expected an object, found {found} (MCP passes parameters by name)',
            request_id=request_id,
        )
    raise InvalidRequest(f'"params": expected an object, found {found}', request_id=request_id)


def _error_object(raw: object) -> ErrorObject:
    if isinstance(raw, dict):
        code, message = raw.get("code"), raw.get("message")
        if type(code) is int and type(message) is str:
            return ErrorObject(code, message, raw.get("data", ABSENT))
    raise InvalidRequest(
        '"error": expected an object with an integer "code" and a string "message", '
        f"found {render(raw)}"
    )
