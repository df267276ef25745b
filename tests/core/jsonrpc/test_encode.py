"""Encoding: compact UTF-8 JSON, members in the conventional order, ids as given."""

from __future__ import annotations

from mcpwall.core import jsonrpc
from mcpwall.core.errors import InvalidRequest, UnknownTool, UnsupportedProtocolVersion
from mcpwall.core.jsonrpc import ErrorObject, ErrorResponse, Notification, Request, ResultResponse


def test_each_kind() -> None:
    assert (
        jsonrpc.encode_request("a", "tools/list")
        == b'{"jsonrpc":"2.0","id":"a","method":"tools/list"}'
    )
    assert (
        jsonrpc.encode_request(1, "x", {"k": "é"})
        == '{"jsonrpc":"2.0","id":1,"method":"x","params":{"k":"é"}}'.encode()
    )
    assert jsonrpc.encode_notification("n") == b'{"jsonrpc":"2.0","method":"n"}'
    assert jsonrpc.encode_notification("n", {}) == b'{"jsonrpc":"2.0","method":"n","params":{}}'
    assert (
        jsonrpc.encode_result(2, {"ok": True}) == b'{"jsonrpc":"2.0","id":2,"result":{"ok":true}}'
    )
    assert (
        jsonrpc.encode_error(None, -32700, "bad")
        == b'{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"bad"}}'
    )
    assert (
        jsonrpc.encode_error(3, 1, "m", None)
        == b'{"jsonrpc":"2.0","id":3,"error":{"code":1,"message":"m","data":null}}'
    )
    assert jsonrpc.encode_batch([b"1", b"2"]) == b"[1,2]"


def test_encode_any_message_round_trips() -> None:
    messages: list[jsonrpc.Message] = [
        Request(1, "tools/call", {"name": "x"}),
        Request("1", "ping"),
        Notification("notifications/cancelled", {"requestId": 1}),
        ResultResponse(1, [1, 2]),
        ErrorResponse(None, ErrorObject(-32600, "no")),
        ErrorResponse("z", ErrorObject(5, "m", {"d": 1})),
    ]
    for message in messages:
        assert jsonrpc.decode(jsonrpc.encode(message)) == message


def test_refusals_carry_their_code_id_and_data() -> None:
    refused = InvalidRequest("bad", request_id="r-1")
    assert (
        jsonrpc.encode_refusal(refused)
        == b'{"jsonrpc":"2.0","id":"r-1","error":{"code":-32600,"message":"bad"}}'
    )
    assert (
        jsonrpc.encode_refusal(UnknownTool("rm"), request_id=9)
        == b'{"jsonrpc":"2.0","id":9,"error":{"code":-32602,"message":"Unknown tool: rm"}}'
    )
    version = UnsupportedProtocolVersion("1900-01-01", ("2026-07-28",))
    decoded = jsonrpc.decode(jsonrpc.encode_refusal(version, request_id=1))
    assert decoded == ErrorResponse(
        1,
        ErrorObject(
            -32022,
            'Unsupported protocol version "1900-01-01" (expected one of 2026-07-28)',
            {"supported": ["2026-07-28"], "requested": "1900-01-01"},
        ),
    )
