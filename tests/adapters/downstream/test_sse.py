"""SSE on the ASGI send: the head a pushed answer starts with, and its events."""

from __future__ import annotations

from typing import Any

import pytest

from mcpwall.adapters.downstream.sse import SseResponder, frame

pytestmark = pytest.mark.anyio


def test_a_message_is_one_event() -> None:
    assert frame(b'{"id":1}') == b'event: message\ndata: {"id":1}\n\n'


async def test_the_responder_starts_an_event_stream_and_sends_events() -> None:
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    responder = SseResponder(send)
    assert not responder.started
    await responder.start(200, [("mcp-session-id", "s")])
    await responder.send(b"{}")
    assert responder.started
    assert sent == [
        {"type": "http.response.start", "status": 200, "headers": [
            (b"mcp-session-id", b"s"), (b"content-type", b"text/event-stream"),
            (b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no"),
        ]},
        {"type": "http.response.body", "body": b"event: message\ndata: {}\n\n", "more_body": True},
    ]  # fmt: skip
