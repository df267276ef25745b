"""Decoding JSON-RPC: each bad input gets its own code and a message naming what was wrong."""

from __future__ import annotations

import contextlib

import orjson
import pytest
from hypothesis import given, strategies as st

from mcpwall.core import jsonrpc
from mcpwall.core.errors import InvalidParams, InvalidRequest, ParseError, ProtocolError
from mcpwall.core.jsonrpc import (
    ABSENT,
    Batch,
    ErrorObject,
    ErrorResponse,
    Notification,
    Request,
    ResultResponse,
    decode,
)


def body(**members: object) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", **members})


CALL: dict[str, object] = {"name": "get_pod", "arguments": {"namespace": "dev"}}


@pytest.mark.parametrize(
    ("raw", "code", "request_id", "message"),
    [
        (b"{", -32700, None, "not valid JSON"),
        (b"\xc3(", -32700, None, "not UTF-8: invalid byte at offset 0"),
        (
            b'{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}',
            -32600,
            None,
            'duplicate key "id" in the object at (root)',
        ),
        (
            b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","name":"b"}}',
            -32600,
            None,
            'duplicate key "name" in the object at /params',
        ),
        (
            b'[{"jsonrpc":"2.0","id":1,"method":"ping"}]',
            -32600,
            None,
            "only protocol version 2025-03-26 has batches",
        ),
        (b'"ping"', -32600, None, 'expected a JSON-RPC message (an object), found string "ping"'),
        (b"42", -32600, None, "found number 42"),
        (b"null", -32600, None, "found null"),
        (
            body(id=None, method="ping"),
            -32600,
            None,
            '"id": expected a string or an integer, found null',
        ),
        (
            body(id=True, method="ping"),
            -32600,
            None,
            '"id": expected a string or an integer, found boolean true',
        ),
        (body(id=1.5, method="ping"), -32600, None, "found number 1.5"),
        (body(id=1.0, method="ping"), -32600, None, "found number 1.0"),
        (body(id=[1], method="ping"), -32600, None, "found array [1]"),
        (body(id={}, method="ping"), -32600, None, "found object {}"),
        (
            orjson.dumps({"id": 7, "method": "ping"}),
            -32600,
            7,
            '"jsonrpc": expected "2.0", found nothing',
        ),
        (
            orjson.dumps({"jsonrpc": "1.0", "id": "a", "method": "ping"}),
            -32600,
            "a",
            'found string "1.0"',
        ),
        (orjson.dumps({"jsonrpc": 2.0, "id": 1, "method": "ping"}), -32600, 1, "found number 2.0"),
        (body(id=3), -32600, None, 'missing "method"'),
        (body(id=3, params={}), -32600, None, 'missing "method"'),
        (body(id=3, method=None), -32600, 3, '"method": expected a string, found null'),
        (body(id=3, method=7), -32600, 3, '"method": expected a string, found number 7'),
        (body(method=["tools/call"]), -32600, None, "found array"),
        (
            body(id=3, method="tools/call", params=[CALL]),
            -32602,
            3,
            '"params": expected an object, found array',
        ),
        (
            body(id=3, method="tools/call", params="x"),
            -32600,
            3,
            '"params": expected an object, found string "x"',
        ),
        (
            body(id=3, method="tools/call", params=None),
            -32600,
            3,
            '"params": expected an object, found null',
        ),
        (
            body(id=3, method="ping", result={}),
            -32600,
            3,
            'either "method" or "result"/"error", found both',
        ),
        (
            body(id=3, result={}, error={"code": 1, "message": "m"}),
            -32600,
            None,
            'either "result" or "error", found both',
        ),
        (body(result={}), -32600, None, 'a response needs the "id"'),
        (
            body(id=None, result={}),
            -32600,
            None,
            '"id": expected a string or an integer, found null',
        ),
        (
            body(id=1, error={"code": "x", "message": "m"}),
            -32600,
            None,
            'an integer "code" and a string "message"',
        ),
        (body(id=1, error={"code": True, "message": "m"}), -32600, None, '"code"'),
        (body(id=1, error={"code": 1}), -32600, None, '"message"'),
        (body(id=1, error="boom"), -32600, None, 'found "boom"'),
    ],
)
def test_refusals(raw: bytes, code: int, request_id: object, message: str) -> None:
    with pytest.raises(ProtocolError) as refused:
        decode(raw)
    assert refused.value.code == code
    assert refused.value.request_id == request_id
    assert type(refused.value.request_id) is type(request_id)
    assert message in refused.value.message


def test_valid_messages() -> None:
    assert decode(body(id=1, method="tools/call", params=CALL)) == Request(1, "tools/call", CALL)
    assert decode(body(id="1", method="ping")) == Request("1", "ping", None)
    assert decode(body(method="notifications/initialized")) == Notification(
        "notifications/initialized"
    )
    assert decode(body(id=-5, result={"tools": []})) == ResultResponse(-5, {"tools": []})
    assert decode(body(id="x", result=None)) == ResultResponse("x", None)
    refused = decode(body(id=None, error={"code": -32700, "message": "Parse error"}))
    assert refused == ErrorResponse(None, ErrorObject(-32700, "Parse error"))
    assert isinstance(refused, ErrorResponse)
    assert refused.error.data is ABSENT
    with_data = decode(body(id=2, error={"code": 1, "message": "m", "data": None}))
    assert with_data == ErrorResponse(2, ErrorObject(1, "m", None))


def test_members_json_rpc_does_not_define_are_ignored() -> None:
    message = decode(body(id=1, method="ping", extra={"x": 1}))
    assert message == Request(1, "ping")


def test_ids_keep_their_exact_type() -> None:
    as_int = decode(body(id=1, method="ping"))
    as_str = decode(body(id="1", method="ping"))
    assert isinstance(as_int, Request)
    assert isinstance(as_str, Request)
    assert type(as_int.id) is int
    assert type(as_str.id) is str
    assert as_int != as_str
    big = decode(b'{"jsonrpc":"2.0","id":18446744073709551615,"method":"ping"}')
    assert isinstance(big, Request)
    assert big.id == 2**64 - 1


def test_batches_only_when_allowed() -> None:
    raw = b'[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":null,"method":"x"},7]'
    batch = decode(raw, allow_batch=True)
    assert isinstance(batch, Batch)
    first, second, third = batch.items
    assert first == Request(1, "ping")
    assert isinstance(second, InvalidRequest)
    assert "found null" in second.message
    assert isinstance(third, InvalidRequest)
    assert "found number 7" in third.message
    with pytest.raises(InvalidRequest, match="the batch is empty"):
        decode(b"[]", allow_batch=True)


def test_nested_batch_element_is_refused_on_its_own() -> None:
    batch = decode(b'[[{"jsonrpc":"2.0","method":"x"}]]', allow_batch=True)
    assert isinstance(batch, Batch)
    assert isinstance(batch.items[0], InvalidRequest)


def test_a_duplicate_inside_a_batch_refuses_the_whole_body() -> None:
    # The body is parsed as one JSON text: an ambiguity anywhere makes all of it ambiguous.
    with pytest.raises(InvalidRequest, match="at /1"):
        decode(b'[{"jsonrpc":"2.0","method":"x"},{"a":1,"a":2}]', allow_batch=True)


def test_limits_pass_through() -> None:
    with pytest.raises(InvalidRequest, match="over the limit of 10 bytes"):
        decode(body(id=1, method="ping"), max_bytes=10)
    deep = b'{"jsonrpc":"2.0","id":1,"method":"x","params":{"a":{"b":{}}}}'
    with pytest.raises(InvalidRequest, match="at /params/a/b "):
        decode(deep, max_depth=3)


@given(st.binary(max_size=80))
def test_arbitrary_bytes_never_raise_anything_else(raw: bytes) -> None:
    with contextlib.suppress(ParseError, InvalidRequest, InvalidParams):
        decode(raw, allow_batch=True)


values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)  # what JSON parsers keep as integers
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
members = st.dictionaries(
    st.sampled_from(["jsonrpc", "id", "method", "params", "result", "error", "x"]),
    values | st.sampled_from(["2.0", "ping"]),
)


@given(members)
def test_arbitrary_objects_decode_or_are_refused_with_our_error(message: dict[str, object]) -> None:
    try:
        decoded = jsonrpc.message_from(message)
    except (InvalidRequest, InvalidParams):
        return
    assert message["jsonrpc"] == "2.0"
    assert jsonrpc.message_from(orjson.loads(jsonrpc.encode(decoded))) == decoded


ids = st.one_of(st.integers(-(2**63), 2**64 - 1), st.text())


@given(ids)
def test_ids_round_trip_exactly(request_id: str | int) -> None:
    decoded = decode(jsonrpc.encode_request(request_id, "tools/list"))
    assert isinstance(decoded, Request)
    assert decoded.id == request_id
    assert type(decoded.id) is type(request_id)
    answered = decode(jsonrpc.encode_result(decoded.id, {}))
    assert isinstance(answered, ResultResponse)
    assert answered.id == request_id
    assert type(answered.id) is type(request_id)


@given(members, st.data())
def test_damaged_messages_never_raise_anything_else(
    message: dict[str, object], data: st.DataObject
) -> None:
    raw = bytearray(orjson.dumps(message))
    for _ in range(data.draw(st.integers(1, 3))):
        index = data.draw(st.integers(0, len(raw)))
        raw[index:index] = data.draw(
            st.sampled_from([b"{", b"}", b"[", b'"', b":", b",", b"\\u003a", b"\xff", b'"id":1,'])
        )
    with contextlib.suppress(ParseError, InvalidRequest, InvalidParams):
        decode(bytes(raw), allow_batch=data.draw(st.booleans()))
