"""The bytes the data plane's server writes itself."""

from __future__ import annotations

import orjson

from mcpwall.adapters.downstream import responses


def test_status_lines_carry_the_registered_phrase() -> None:
    assert responses.status_line(200) == b"HTTP/1.1 200 OK\r\n"
    assert responses.status_line(431) == b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    assert responses.status_line(599) == b"HTTP/1.1 599 \r\n"


def test_the_date_header_is_an_http_date() -> None:
    line = responses.date_header()
    assert line.startswith(b"date: ")
    assert line.endswith(b" GMT\r\n")


def test_chunks_are_framed_with_their_hex_length() -> None:
    assert responses.chunk(b"x" * 26) == b"1a\r\n" + b"x" * 26 + b"\r\n"


def test_an_error_response_is_whole_json_and_closes() -> None:
    response = responses.error_response(400, "bad")
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"connection: close" in head
    assert f"content-length: {len(body)}".encode() in head
    assert orjson.loads(body) == {"error": {"code": 400, "message": "bad"}}
