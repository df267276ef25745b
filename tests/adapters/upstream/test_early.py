"""A stdio upstream spawned early (``mcpwall stdio``): the first session for it takes it, once,
and only for the same definition; a process nobody took is stopped; what it says on stderr
meanwhile is logged, never left in the pipe to block it."""

from __future__ import annotations

import asyncio
import logging
import sys
from dataclasses import replace

import pytest

from mcpwall.adapters.upstream import ChannelSession, Connector
from mcpwall.adapters.upstream.early import EarlyStart
from mcpwall.adapters.upstream.process import MAX_MESSAGE_BYTES
from mcpwall.adapters.upstream.stdio import StdioWire
from mcpwall.core.registry import Upstream
from mcpwall.ports.upstream import UpstreamSession
from tests.adapters.upstream.conftest import OFFER, TIMEOUT, Inbox, call, tool_text
from tests.adapters.upstream.test_process import gone

pytestmark = pytest.mark.anyio

GRACE = 2.0
# Says it started, then outlives its stdin: only a signal stops it.
STUBBORN = "import sys, time; print('started', file=sys.stderr, flush=True); time.sleep(60)"
# Says a lot on stderr at once, then waits for its stdin to close.
LOUD_LINES = 4096
LOUD = (
    "import sys\n"
    f"for number in range({LOUD_LINES}):\n"
    "    print(f'line {number:05d} ' + 'x' * 90, file=sys.stderr)\n"
    "sys.stderr.flush()\n"
    "sys.stdin.read()\n"
)


async def spawn_early(upstream: Upstream) -> EarlyStart:
    early = await EarlyStart.spawn(upstream, max_line_bytes=MAX_MESSAGE_BYTES, grace=GRACE)
    assert early is not None
    return early


def pid_of(session: UpstreamSession) -> int:
    assert isinstance(session, ChannelSession)
    wire = session._wire
    assert isinstance(wire, StdioWire)
    return wire.process.pid


async def test_the_first_session_takes_the_process_and_the_next_spawns_its_own(
    stdio_upstream: Upstream,
) -> None:
    early = await spawn_early(stdio_upstream)
    started = early.pid
    connector = Connector(early=early)
    first = await connector.connect(stdio_upstream, OFFER, Inbox())
    try:
        assert pid_of(first) == started
        assert early.pid is None  # handed over: closing the early start leaves it alone
        await early.aclose()
        reply = await first.request("tools/call", call("echo", message="hi"), timeout=TIMEOUT)
        assert tool_text(reply) == "hi"
        second = await connector.connect(stdio_upstream, OFFER, Inbox())
        try:
            assert pid_of(second) != started
        finally:
            await second.aclose()
    finally:
        await first.aclose()


async def test_a_process_started_for_another_definition_is_stopped_not_used(
    stdio_upstream: Upstream,
) -> None:
    early = await spawn_early(stdio_upstream)
    started = early.pid
    assert started is not None
    changed = replace(stdio_upstream, env={**stdio_upstream.env, "ADDED": "since"})
    session = await Connector(early=early).connect(changed, OFFER, Inbox())
    try:
        assert pid_of(session) != started
        assert gone(started)
    finally:
        await session.aclose()


async def test_a_process_read_with_another_line_limit_is_stopped_not_used(
    stdio_upstream: Upstream,
) -> None:
    early = await spawn_early(stdio_upstream)
    started = early.pid
    assert started is not None
    connector = Connector(early=early, max_message_bytes=MAX_MESSAGE_BYTES // 2)
    session = await connector.connect(stdio_upstream, OFFER, Inbox())
    try:
        assert pid_of(session) != started
        assert gone(started)
    finally:
        await session.aclose()


async def test_a_process_nobody_took_is_stopped_and_what_it_said_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    early = await spawn_early(Upstream.stdio("stubborn", sys.executable, ("-c", STUBBORN)))
    started = early.pid
    assert started is not None
    with caplog.at_level(logging.INFO, logger="mcpwall.upstream.stubborn"):
        await early.aclose()
    assert gone(started)
    assert [record.getMessage() for record in caplog.records] == ["stderr: started"]
    assert early.pid is None


async def test_what_it_says_on_stderr_before_its_session_is_logged_as_it_comes() -> None:
    # Far more than a pipe holds (64 KiB on Linux): unread, asyncio would keep it in memory up
    # to twice the line limit (128 MiB), and the process would then block writing.
    lines = [f"line {number:05d} " + "x" * 90 for number in range(LOUD_LINES)]
    said = Said(f"stderr: {lines[-1]}")
    logger = logging.getLogger("mcpwall.upstream.loud")
    logger.addHandler(said)
    logger.setLevel(logging.INFO)
    try:
        early = await spawn_early(Upstream.stdio("loud", sys.executable, ("-c", LOUD)))
        try:
            async with asyncio.timeout(TIMEOUT):  # a guard: unread, the last line never comes
                await said.last.wait()
            assert early.pid is not None  # no session took it yet
        finally:
            await early.aclose()
    finally:
        logger.removeHandler(said)
        logger.setLevel(logging.NOTSET)
    assert said.messages == [f"stderr: {line}" for line in lines]


class Said(logging.Handler):
    """Keeps what is logged; ``last`` is set once ``last_message`` was."""

    def __init__(self, last_message: str) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []
        self.last_message = last_message
        self.last = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
        if self.messages[-1] == self.last_message:
            self.last.set()


async def test_nothing_is_started_for_an_http_upstream_or_a_command_that_cannot_start() -> None:
    remote = Upstream.remote("gh", "http://127.0.0.1:9/mcp")
    assert await EarlyStart.spawn(remote, max_line_bytes=MAX_MESSAGE_BYTES, grace=GRACE) is None
    missing = Upstream.stdio("missing", "/nonexistent/mcp-server")
    assert await EarlyStart.spawn(missing, max_line_bytes=MAX_MESSAGE_BYTES, grace=GRACE) is None
