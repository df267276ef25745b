"""JSON-RPC 2.0 as MCP uses it: typed messages, strict decoding, encoding, id relaying."""

from mcpwall.core.jsonrpc.decode import NO_BATCHES, decode, decode_batch, describe, message_from
from mcpwall.core.jsonrpc.encode import (
    encode,
    encode_batch,
    encode_error,
    encode_notification,
    encode_refusal,
    encode_request,
    encode_result,
)
from mcpwall.core.jsonrpc.idmap import IdMap, Pending
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
    Response,
    ResultResponse,
)
from mcpwall.core.strictjson import MAX_BODY_BYTES, MAX_DEPTH

__all__ = [
    "ABSENT",
    "JSONRPC_VERSION",
    "MAX_BODY_BYTES",
    "MAX_DEPTH",
    "NO_BATCHES",
    "Batch",
    "ErrorObject",
    "ErrorResponse",
    "IdMap",
    "Message",
    "Notification",
    "Params",
    "Pending",
    "Request",
    "RequestId",
    "Response",
    "ResultResponse",
    "decode",
    "decode_batch",
    "describe",
    "encode",
    "encode_batch",
    "encode_error",
    "encode_notification",
    "encode_refusal",
    "encode_request",
    "encode_result",
    "message_from",
]
