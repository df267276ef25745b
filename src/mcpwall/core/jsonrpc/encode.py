"""JSON-RPC messages → bytes, compact UTF-8, members in the conventional order.

Everything the gateway sends is built here from parsed values, never copied from the bytes it
received, so what goes out is exactly what the policy saw.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from mcpwall.core.errors import ProtocolError
from mcpwall.core.jsonrpc.messages import (
    ABSENT,
    JSONRPC_VERSION,
    ErrorObject,
    ErrorResponse,
    Message,
    Notification,
    Request,
    RequestId,
    ResultResponse,
)
from mcpwall.core.strictjson import dumps


def encode_request(
    request_id: RequestId, method: str, params: Mapping[str, object] | None = None
) -> bytes:
    """A request; ``params`` None leaves the member out."""
    message: dict[str, object] = {"jsonrpc": JSONRPC_VERSION, "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return dumps(message)


def encode_notification(method: str, params: Mapping[str, object] | None = None) -> bytes:
    """A notification; ``params`` None leaves the member out."""
    message: dict[str, object] = {"jsonrpc": JSONRPC_VERSION, "method": method}
    if params is not None:
        message["params"] = params
    return dumps(message)


def encode_result(request_id: RequestId, result: object) -> bytes:
    """A successful answer."""
    return dumps({"jsonrpc": JSONRPC_VERSION, "id": request_id, "result": result})


def encode_error(
    request_id: RequestId | None, code: int, message: str, data: object = ABSENT
) -> bytes:
    """A failed answer; ``request_id`` None is sent as ``"id": null``."""
    error: dict[str, object] = {"code": code, "message": message}
    if data is not ABSENT:
        error["data"] = data
    return dumps({"jsonrpc": JSONRPC_VERSION, "id": request_id, "error": error})


def encode_refusal(refused: ProtocolError, request_id: RequestId | None = None) -> bytes:
    """The error answer for a refusal, to ``request_id`` or else the id the error carries."""
    target = request_id if request_id is not None else refused.request_id
    data = ABSENT if refused.data is None else refused.data
    return encode_error(target, refused.code, refused.message, data)


def encode(message: Message) -> bytes:
    """Any typed message, as it would be sent."""
    if isinstance(message, Request):
        return encode_request(message.id, message.method, message.params)
    if isinstance(message, Notification):
        return encode_notification(message.method, message.params)
    if isinstance(message, ResultResponse):
        return encode_result(message.id, message.result)
    return _encode_error_response(message)


def _encode_error_response(message: ErrorResponse) -> bytes:
    error: ErrorObject = message.error
    return encode_error(message.id, error.code, error.message, error.data)


def encode_batch(encoded: Iterable[bytes]) -> bytes:
    """A batch answer from messages already encoded (2025-03-26 sessions only)."""
    return b"[" + b",".join(encoded) + b"]"
