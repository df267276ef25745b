"""Upstreams to test against: the fixture server over stdio, Streamable HTTP and legacy SSE.

HTTP servers run once per module (starting one takes most of a second) and record into a
file of their own; tests tell their records apart by what they sent (a tag, a message).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcpwall.core.registry import Upstream, UpstreamKind
from mcpwall.ports.upstream import ClientOffer, Message
from tests.fixtures.servers import FIXTURE_SERVER, RECORD_ENV, Record, fixture_http_server

# The same capabilities for either era of session, so each test runs against both.
OFFER = ClientOffer(
    capabilities={"sampling": {}, "elicitation": {"form": {}}},
    client_info={"name": "mcpwall-tests", "version": "0"},
    legacy_capabilities={"sampling": {}, "elicitation": {"form": {}}},
)
TIMEOUT = 10.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # aiohttp and asyncio subprocesses: asyncio only


class Inbox:
    """A receiver that keeps what it is given, and lets a test wait for a message."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._arrived = asyncio.Condition()

    async def __call__(self, message: Message) -> None:
        async with self._arrived:
            self.messages.append(message)
            self._arrived.notify_all()

    def methods(self) -> list[object]:
        return [message.get("method") for message in self.messages]

    async def wait_for(self, method: str, timeout: float = TIMEOUT) -> Message:
        """The first message with ``method``, waiting up to ``timeout`` seconds."""
        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(lambda: method in self.methods())
        return next(message for message in self.messages if message.get("method") == method)


def tool_text(response: Message) -> str:
    """The text of a ``tools/call`` result's first content item."""
    result = response["result"]
    assert isinstance(result, dict), response
    content = result["content"]
    assert isinstance(content, list)
    text = content[0]["text"]
    assert isinstance(text, str)
    return text


def call(tool: str, /, **arguments: object) -> dict[str, object]:
    """``tools/call`` params."""
    return {"name": tool, "arguments": arguments}


@pytest.fixture
def record(tmp_path: Path) -> Record:
    return Record(tmp_path / "record.jsonl")


@pytest.fixture
def stdio_upstream(record: Record) -> Upstream:
    """The fixture server, spawned over stdio, recording into ``record``."""
    env = {RECORD_ENV: str(record.path), "MCPWALL_FIXTURE_SECRET": "from-the-registry"}
    return Upstream.stdio("fixture", sys.executable, (str(FIXTURE_SERVER), "stdio"), env=env)


def _http_record(tmp_path_factory: pytest.TempPathFactory, name: str) -> Record:
    return Record(tmp_path_factory.mktemp(name) / "record.jsonl")


@pytest.fixture(scope="module")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Record]]:
    """The fixture server over Streamable HTTP (SSE answers): its URL and its record."""
    record = _http_record(tmp_path_factory, "http")
    with fixture_http_server("http", record.path) as url:
        yield url, record


@pytest.fixture(scope="module")
def json_http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Record]]:
    """The fixture server over Streamable HTTP answering with plain JSON."""
    record = _http_record(tmp_path_factory, "json")
    with fixture_http_server("http", record.path, json_response=True) as url:
        yield url, record


@pytest.fixture(scope="module")
def sse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Record]]:
    """The fixture server over the legacy HTTP+SSE transport."""
    record = _http_record(tmp_path_factory, "sse")
    with fixture_http_server("sse", record.path) as url:
        yield url, record


def http_upstream(url: str, kind: UpstreamKind = UpstreamKind.HTTP) -> Upstream:
    """An upstream at ``url`` with a registered credential header."""
    return Upstream.remote(
        "fixture", url, headers={"X-Upstream-Key": "from-the-registry"}, kind=kind
    )


@pytest.fixture
def unsolicited() -> Inbox:
    """Where a session's unsolicited messages go, for a test to look at."""
    return Inbox()
