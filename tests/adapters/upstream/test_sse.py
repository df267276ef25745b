"""The event-stream decoder: the WHATWG interpretation rules, and chunking never matters."""

from __future__ import annotations

import pytest

from mcpwall.adapters.upstream.sse import Event, EventDecoder, EventTooLargeError

CASES: list[tuple[str, bytes, list[Event]]] = [
    ("one event", b"data: hello\n\n", [Event("hello")]),
    ("no space after the colon", b"data:hello\n\n", [Event("hello")]),
    ("only one leading space is dropped", b"data:  two\n\n", [Event(" two")]),
    ("data lines join with LF", b"data: a\ndata: b\n\n", [Event("a\nb")]),
    ("CRLF line ends", b"data: a\r\ndata: b\r\n\r\n", [Event("a\nb")]),
    ("CR line ends", b"data: a\rdata: b\r\r", [Event("a\nb")]),
    ("an event type", b"event: endpoint\ndata: /m?s=1\n\n", [Event("/m?s=1", "endpoint")]),
    (
        "the type resets after each event",
        b"event: x\ndata: 1\n\ndata: 2\n\n",
        [Event("1", "x"), Event("2")],
    ),
    ("comments are ignored", b": keep-alive\ndata: x\n: more\n\n", [Event("x")]),
    ("an event without data is not dispatched", b"event: x\n\n", []),
    ("empty data is dispatched (it primes a stream)", b"id: 1\ndata:\n\n", [Event("", id="1")]),
    (
        "the id sticks to later events",
        b"id: 7\ndata: a\n\ndata: b\n\n",
        [Event("a", id="7"), Event("b", id="7")],
    ),
    (
        "an id with NUL is ignored",
        b"id: 1\ndata: a\n\nid: x\x00y\ndata: b\n\n",
        [Event("a", id="1"), Event("b", id="1")],
    ),
    ("unknown fields are ignored", b"foo: bar\ndata: x\n\n", [Event("x")]),
    ("a field without a colon", b"data\n\n", [Event("")]),
    ("a leading BOM is dropped", b"\xef\xbb\xbfdata: x\n\n", [Event("x")]),
    ("an unfinished event is not dispatched", b"data: x\n", []),
    ("invalid UTF-8 is replaced", b"data: \xff\n\n", [Event("\ufffd")]),
]


@pytest.mark.parametrize(
    ("body", "expected"), [case[1:] for case in CASES], ids=[c[0] for c in CASES]
)
def test_decoding(body: bytes, expected: list[Event]) -> None:
    assert EventDecoder().feed(body) == expected


@pytest.mark.parametrize(
    ("body", "expected"), [case[1:] for case in CASES], ids=[c[0] for c in CASES]
)
def test_any_split_gives_the_same_events(body: bytes, expected: list[Event]) -> None:
    for cut in range(len(body) + 1):
        decoder = EventDecoder()
        assert decoder.feed(body[:cut]) + decoder.feed(body[cut:]) == expected, cut


def test_byte_by_byte() -> None:
    body = b'id: 3\r\nevent: message\r\ndata: {"a": 1}\r\n\r\ndata: \xc3\xa9\r\r'
    decoder = EventDecoder()
    events = [event for byte in body for event in decoder.feed(bytes([byte]))]
    assert events == [Event('{"a": 1}', id="3"), Event("é", id="3")]


def test_retry_must_be_digits() -> None:
    decoder = EventDecoder()
    decoder.feed(b"retry: 1500\n\nretry: soon\n\n")
    assert decoder.retry == 1500


def test_last_event_id_survives_for_reconnecting() -> None:
    decoder = EventDecoder()
    decoder.feed(b"id: e1\ndata: x\n\nid: e2\n\n")
    assert decoder.last_event_id == "e2"


def test_an_event_over_the_limit_is_refused() -> None:
    decoder = EventDecoder(max_event_bytes=10)
    with pytest.raises(EventTooLargeError):
        decoder.feed(b"data: 12345\ndata: 67890\n\n")


def test_a_line_over_the_limit_is_refused_before_it_ends() -> None:
    decoder = EventDecoder(max_event_bytes=10)
    with pytest.raises(EventTooLargeError):
        decoder.feed(b"data: " + b"x" * 20)
