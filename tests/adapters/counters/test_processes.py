"""Processes reserving from one counter store at once allow exactly ``max`` between them.

SQLite (a file all open: several ``mcpwall stdio`` on one ``MCPWALL_HOME``), PostgreSQL and
Redis: what gateway replicas would share. A barrier on stdin (not a sleep) lines their starts
up. And a process SIGKILLed right after a reservation returned leaves it counted.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest

from mcpwall.ports.counters import Refusal
from tests.adapters.counters.conftest import Backend
from tests.adapters.counters.reserving_worker import BUDGET

pytestmark = pytest.mark.anyio

WORKER = Path(__file__).with_name("reserving_worker.py")
WORKERS = 4
CALLS_EACH = 15


def run_workers(backend: Backend, now: float, mode: str = str(CALLS_EACH)) -> list[int]:
    """What each of ``WORKERS`` workers allowed, started together on stdin; ``mode`` is the
    worker's COUNT argument (see ``reserving_worker.py``)."""
    command = [sys.executable, str(WORKER), backend.name, backend.url, backend.prefix or "-"]
    with ExitStack() as stack:
        workers = [
            stack.enter_context(
                subprocess.Popen(
                    [*command, mode, repr(now)],
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
    assert await asyncio.to_thread(run_workers, durable_backend, 1_800_000_060.0) == [0] * WORKERS


def reserve_and_get_killed(backend: Backend, now: float) -> int:
    """A worker that reserved once and was SIGKILLed before it could do anything else."""
    command = [sys.executable, str(WORKER), backend.name, backend.url, backend.prefix or "-"]
    with subprocess.Popen(
        [*command, "hold", repr(now)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as worker:
        assert worker.stdout is not None
        assert worker.stdout.readline() == "reserved\n"
        worker.send_signal(signal.SIGKILL)
        return worker.wait(timeout=60)


async def test_a_reservation_outlives_a_sigkill_of_its_process(durable_backend: Backend) -> None:
    now = 1_800_000_000.0
    for _ in range(5):
        code = await asyncio.to_thread(reserve_and_get_killed, durable_backend, now)
        assert code == -signal.SIGKILL
    store = durable_backend.open()
    assert await store.usage([BUDGET], now) == [5]
    assert isinstance(await store.reserve([BUDGET], now + 1), Refusal)
