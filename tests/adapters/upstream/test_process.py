"""Stopping a stdio upstream's process: stdin closed, then SIGTERM, then SIGKILL, bounded."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from mcpwall.adapters.upstream import process
from mcpwall.core.registry import Upstream

pytestmark = pytest.mark.anyio

LINE = 1024 * 1024


async def spawned(script: str) -> asyncio.subprocess.Process:
    return await process.spawn(
        Upstream.stdio("p", sys.executable, ("-c", script)), max_line_bytes=LINE
    )


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z"  # a zombie


async def test_a_process_that_exits_on_stdin_eof_gets_no_signal() -> None:
    child = await spawned("import sys; sys.stdin.read()")
    await process.stop(child, grace=5.0)
    assert child.returncode == 0


async def test_a_process_ignoring_sigterm_is_killed_within_the_bounds() -> None:
    script = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"
    child = await spawned(script)
    assert child.stdout is not None
    assert await child.stdout.readline() == b"up\n"  # the handler is in place
    started = time.monotonic()
    await process.stop(child, grace=0.2)
    assert child.returncode == -signal.SIGKILL
    assert time.monotonic() - started < 10.0  # three waits of 0.2 s, not the 60 s sleep


async def test_what_the_process_started_goes_with_it() -> None:
    script = (
        "import subprocess, sys; "
        "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        "print(g.pid, flush=True); sys.stdin.read()"
    )
    child = await spawned(script)
    assert child.stdout is not None
    grandchild = int(await child.stdout.readline())
    await process.stop(child, grace=2.0)
    async with asyncio.timeout(5):
        while not gone(grandchild):
            await asyncio.sleep(0.02)


@pytest.mark.parametrize(
    ("returncode", "reason"),
    [
        (0, "the process exited with code 0"),
        (2, "the process exited with code 2"),
        (-9, "the process was killed by SIGKILL"),
        (-200, "the process was killed by signal 200"),
        (None, "the process closed its stdout"),
    ],
)
def test_exit_reasons(returncode: int | None, reason: str) -> None:
    assert process.exit_reason(returncode) == reason
