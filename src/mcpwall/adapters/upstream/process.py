"""A stdio upstream's process: spawned with its own environment, its stderr logged from the
moment it starts, stopped within a bounded time.

The process leads a process group of its own (``start_new_session``), for two reasons: a
Ctrl-C meant for the gateway does not reach it behind the gateway's back, and stopping it
reaches what it started too — ``npx -y some-server`` runs the server as a child of npm.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from asyncio.subprocess import PIPE, Process
from dataclasses import dataclass
from typing import Final

from mcpwall.adapters.upstream.environment import child_environment
from mcpwall.core.errors import UpstreamUnavailable
from mcpwall.core.registry import Upstream

# How much of one stderr line is logged; the rest of a longer line is dropped.
STDERR_LINE_LIMIT: Final = 8192
# The defaults of ``Connector``: the longest message (a line) read from an upstream, and how
# long each step of stopping a process may take. Here, where ``mcpwall stdio`` reads them
# before it loads the connector (``early.py``).
MAX_MESSAGE_BYTES: Final = 64 * 1024 * 1024
STOP_GRACE_SECONDS: Final = 2.0


@dataclass(frozen=True)
class Started:
    """A spawned process, and the task that logs its stderr to ``mcpwall.upstream.<name>``
    from the moment it was spawned: a process whose stderr nobody reads blocks once the pipe
    is full, however long before its session it was started (``early.py``)."""

    process: Process
    stderr: asyncio.Task[None]

    async def stop(self, grace: float) -> None:
        """:func:`stop` the process, then wait (at most ``grace`` seconds) for the last of
        what it said to be logged."""
        await stop(self.process, grace)
        try:
            async with asyncio.timeout(grace):
                await self.stderr
        except TimeoutError:  # a child of its own still holds its stderr open
            self.stderr.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.stderr


async def start(upstream: Upstream, *, max_line_bytes: int) -> Started:
    """:func:`spawn` ``upstream``, its stderr logged from now on."""
    process = await spawn(upstream, max_line_bytes=max_line_bytes)
    assert process.stderr is not None
    logger = logging.getLogger(f"mcpwall.upstream.{upstream.name}")
    return Started(process, asyncio.create_task(log_stderr(process.stderr, logger)))


async def spawn(upstream: Upstream, *, max_line_bytes: int) -> Process:
    """Start ``upstream``'s command; :class:`UpstreamUnavailable` saying why it can't start."""
    assert upstream.command is not None
    environment = child_environment(upstream.env)
    try:
        return await asyncio.create_subprocess_exec(
            upstream.command,
            *upstream.args,
            stdin=PIPE,
            stdout=PIPE,
            stderr=PIPE,
            env=environment,
            cwd=upstream.cwd,
            limit=max_line_bytes,
            start_new_session=True,
        )
    except OSError as error:
        raise UpstreamUnavailable(upstream.name, _spawn_failure(upstream, error)) from None


def _spawn_failure(upstream: Upstream, error: OSError) -> str:
    command = upstream.command
    if isinstance(error, FileNotFoundError):
        if upstream.cwd is not None and error.filename == upstream.cwd:
            where = upstream.cwd
            return f'cannot start "{command}": its working directory "{where}" does not exist'
        return f'cannot start "{command}": no such program (looked in its PATH)'
    if isinstance(error, PermissionError):
        return f'cannot start "{command}": permission denied (is it executable?)'
    return f'cannot start "{command}": {error.strerror or error}'


async def log_stderr(stream: asyncio.StreamReader, logger: logging.Logger) -> None:
    """Log each line the process writes to stderr, until it closes stderr.

    MCP says stderr is free-form logging, not an error signal (§1.6): lines go to INFO.
    """
    pending = b""
    while chunk := await stream.read(65536):
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            _log_line(logger, line)
        if len(pending) > STDERR_LINE_LIMIT:
            _log_line(logger, pending)
            pending = b""
    if pending:
        _log_line(logger, pending)


def _log_line(logger: logging.Logger, line: bytes) -> None:
    text = line[:STDERR_LINE_LIMIT].decode("utf-8", errors="replace").rstrip()
    if text:
        logger.info("stderr: %s", text)


async def stop(process: Process, grace: float) -> None:
    """Stop ``process`` as the MCP stdio transport says: close its stdin, wait; SIGTERM,
    wait; SIGKILL. Each wait is at most ``grace`` seconds."""
    if process.stdin is not None and not process.stdin.is_closing():
        process.stdin.close()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if await _exited(process, grace):
            break
        _signal_group(process, sig)
    else:
        await _exited(process, grace)
    # What the process started may outlive it; the group takes it along.
    _signal_group(process, signal.SIGTERM)


async def _exited(process: Process, within: float) -> bool:
    try:
        async with asyncio.timeout(within):
            await process.wait()
    except TimeoutError:
        return False
    return True


def _signal_group(process: Process, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def exit_reason(returncode: int | None) -> str:
    """Why a process's stdout ended, in words."""
    if returncode is None:
        return "the process closed its stdout"
    if returncode < 0:
        try:
            return f"the process was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"the process was killed by signal {-returncode}"
    return f"the process exited with code {returncode}"
