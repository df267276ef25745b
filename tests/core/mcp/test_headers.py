"""Mcp-Method / Mcp-Name / MCP-Protocol-Version against the body (-32020 on a difference)."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from mcpwall.core.errors import HeaderMismatch
from mcpwall.core.jsonrpc import Request
from mcpwall.core.mcp import (
    check_headers,
    decode_value,
    encode_value,
    repeated_routing_header,
    request_headers,
)

CALL = Request(7, "tools/call", {"name": "delete_pod", "arguments": {}})
GOOD = {"mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "delete_pod"}


def test_matching_headers_pass() -> None:
    check_headers(CALL, "2026-07-28", GOOD)
    check_headers(
        Request(1, "tools/list"),
        "2026-07-28",
        {"mcp-protocol-version": "2026-07-28", "mcp-method": "tools/list"},
    )
    read = Request(1, "resources/read", {"uri": "file:///a b/é"})
    headers = {
        "mcp-protocol-version": "2026-07-28",
        "mcp-method": "resources/read",
        "mcp-name": encode_value("file:///a b/é"),
    }
    check_headers(read, "2026-07-28", headers)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"mcp-protocol-version": None},
            'the MCP-Protocol-Version header is missing (expected "2026-07-28"',
        ),
        (
            {"mcp-protocol-version": "2025-11-25"},
            'the MCP-Protocol-Version header "2025-11-25" does not match the body\'s "2026-07-28"',
        ),
        ({"mcp-method": None}, "the Mcp-Method header is missing"),
        (
            {"mcp-method": "tools/list"},
            'the Mcp-Method header "tools/list" does not match the body\'s "tools/call"',
        ),
        ({"mcp-method": "Tools/Call"}, "does not match"),  # values are case-sensitive
        ({"mcp-name": None}, "the Mcp-Name header is missing"),
        (
            {"mcp-name": "get_pod"},
            'the Mcp-Name header "get_pod" does not match the body\'s "delete_pod"',
        ),
        ({"mcp-name": "Delete_Pod"}, "does not match"),
        ({"mcp-name": "delete_pod "}, "does not match"),
        (
            {
                "mcp-name": "=?base64?ZGVsZXRlX3BvZA?=",
            },
            "is malformed",
        ),  # not canonical (padding)
        ({"mcp-name": "=?base64?!!?="}, "is malformed"),
        ({"mcp-name": "=?base64?/w==?="}, "is malformed"),  # not UTF-8
        ({"mcp-name": "delete\x00pod"}, "is malformed"),
        ({"mcp-method": "tools/call\x7f"}, "is malformed"),
    ],
)
def test_mismatches(change: dict[str, str | None], message: str) -> None:
    headers = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    with pytest.raises(HeaderMismatch) as refused:
        check_headers(CALL, "2026-07-28", headers)
    assert refused.value.code == -32020
    assert refused.value.request_id == 7
    assert message in refused.value.message


def test_base64_name_matches_when_decoded() -> None:
    headers = {**GOOD, "mcp-name": "=?base64?ZGVsZXRlX3BvZA==?="}
    check_headers(CALL, "2026-07-28", headers)


def test_a_name_that_is_not_a_string_is_left_to_the_params_check() -> None:
    check_headers(
        Request(1, "tools/call", {"name": 5}),
        "2026-07-28",
        {k: v for k, v in GOOD.items() if k != "mcp-name"},
    )


def test_duplicated_routing_headers() -> None:
    assert repeated_routing_header(["accept", "mcp-method"]) == "mcp-method"
    assert repeated_routing_header(["mcp-param-x", "accept"]) is None


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("us-west1", "us-west1"),
        ("Hello, 世界", "=?base64?SGVsbG8sIOS4lueVjA==?="),
        (" padded ", "=?base64?IHBhZGRlZCA=?="),
        ("line1\nline2", "=?base64?bGluZTEKbGluZTI=?="),
        ("=?base64?literal?=", "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?="),
        ("", "=?base64??="),
    ],
)
def test_value_encoding_matches_the_spec_examples(value: str, encoded: str) -> None:
    assert encode_value(value) == encoded
    assert decode_value(encoded) == value


@given(st.text())
def test_value_encoding_round_trips(value: str) -> None:
    encoded = encode_value(value)
    assert encoded.isascii()
    assert "\n" not in encoded
    assert decode_value(encoded) == value


def test_headers_sent_upstream_come_from_the_body() -> None:
    assert request_headers(CALL, "2026-07-28") == {
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call",
        "Mcp-Name": "delete_pod",
    }
    assert (
        request_headers(Request(1, "prompts/get", {"name": "ünï"}), "2026-07-28")["Mcp-Name"]
        == "=?base64?w7xuw68=?="
    )
    assert "Mcp-Name" not in request_headers(Request(1, "tools/list"), "2026-07-28")


def test_a_repeated_routing_header_is_a_mismatch_even_when_its_copies_agree() -> None:
    check_headers(CALL, "2026-07-28", GOOD, repeated=["accept"])
    with pytest.raises(HeaderMismatch, match="mcp-name header is sent more than once"):
        check_headers(CALL, "2026-07-28", GOOD, repeated=["mcp-name"])
