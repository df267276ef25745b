"""Two processes reserving from one counter store at once allow exactly ``max`` between them.

SQLite (a file both open), PostgreSQL and Redis: what two gateway replicas would share. A
barrier on stdin (not a sleep) lines their starts up.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.adapters.counters.conftest import Backend

pytestmark = pytest.mark.anyio

WORKER = Path(__file__).with_name("reserving_worker.py")
WORKERS = 2
CALLS_EACH = 15


def run_workers(backend: Backend, now: float) -> list[int]:
    command = [sys.executable, str(WORKER), backend.name, backend.url, backend.prefix or "-"]
    with ExitStack() as stack:
        workers = [
            stack.enter_context(
                subprocess.Popen(
                    [*command, str(CALLS_EACH), repr(now)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
            for _ in range(WORKERS)
        ]
        for worker in workers:
            assert worker.stdout is not None
            assert worker.stdout.readline() == "ready\n"
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        outputs = [worker.communicate(timeout=120)[0] for worker in workers]
        assert [worker.returncode for worker in workers] == [0] * WORKERS
    return [int(json.loads(output.splitlines()[-1])["allowed"]) for output in outputs]


async def test_two_processes_allow_exactly_max_between_them(durable_backend: Backend) -> None:
    allowed = await asyncio.to_thread(run_workers, durable_backend, 1_800_000_000.0)
    assert sum(allowed) == 5, allowed
    # And a restart of both finds the budget spent.
    assert await asyncio.to_thread(run_workers, durable_backend, 1_800_000_060.0) == [0, 0]
