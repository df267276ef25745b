"""What the data plane holds open at most, as the environment sets it (``wiring.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcpwall.core.errors import InvalidValue
from mcpwall.ports.clock import FakeClock
from mcpwall.ports.logsink import MemorySink
from mcpwall.ports.memory_store import MemoryStore
from mcpwall.wiring import Bounds, bounds, build_data_plane


def test_unset_the_defaults_hold() -> None:
    found = bounds({})
    assert found == Bounds()
    assert (found.sessions_per_grant, found.max_sessions) == (32, 10_000)
    assert (found.listens_per_grant, found.session_idle_s) == (16, 1800)
    assert (found.stdio_processes, found.stdio_processes_per_grant) == (32, 8)
    assert found.stdio_process_wait_s == 10.0


def test_each_bound_is_read_from_its_variable() -> None:
    environ = {
        "MCPWALL_SESSIONS_PER_GRANT": "3",
        "MCPWALL_MAX_SESSIONS": "50",
        "MCPWALL_SESSION_IDLE": "90",
        "MCPWALL_LISTENS_PER_GRANT": "2",
        "MCPWALL_STDIO_PROCESSES": "4",
        "MCPWALL_STDIO_PROCESSES_PER_GRANT": "1",
        "MCPWALL_STDIO_PROCESS_WAIT": "0.5",
    }
    found = bounds(environ)
    assert found == Bounds(3, 50, 90.0, 2, 4, 1, 0.5)
    table, streams, processes = found.session_table(), found.open_streams(), found.process_slots()
    assert (table.per_grant, table.limit, table.idle_seconds) == (3, 50, 90.0)
    assert streams.per_grant == 2
    assert (processes.limit, processes.per_grant, processes.wait) == (4, 1, 0.5)


@pytest.mark.parametrize(
    ("environ", "shares"),
    [
        ({"MCPWALL_MAX_SESSIONS": "40", "MCPWALL_STDIO_PROCESSES": "12"}, (10, 3)),
        ({"MCPWALL_MAX_SESSIONS": "1000", "MCPWALL_STDIO_PROCESSES": "100"}, (32, 8)),
        ({"MCPWALL_MAX_SESSIONS": "3", "MCPWALL_STDIO_PROCESSES": "2"}, (1, 1)),
    ],
)
def test_a_share_left_unset_follows_a_lowered_whole(
    environ: dict[str, str], shares: tuple[int, int]
) -> None:
    found = bounds(environ)
    assert (found.sessions_per_grant, found.stdio_processes_per_grant) == shares


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"MCPWALL_SESSIONS_PER_GRANT": "10", "MCPWALL_MAX_SESSIONS": "10"},
            'MCPWALL_SESSIONS_PER_GRANT "10": expected a whole number below '
            "MCPWALL_MAX_SESSIONS (10): one grant must not hold all",
        ),
        (
            {"MCPWALL_STDIO_PROCESSES": "4", "MCPWALL_STDIO_PROCESSES_PER_GRANT": "8"},
            'MCPWALL_STDIO_PROCESSES_PER_GRANT "8": expected a whole number below '
            "MCPWALL_STDIO_PROCESSES (4)",
        ),
        (
            {"MCPWALL_STDIO_PROCESSES": "1"},  # no share of one process leaves any to others
            'MCPWALL_STDIO_PROCESSES "1": expected a whole number of at least 2',
        ),
        ({"MCPWALL_LISTENS_PER_GRANT": "0"}, 'MCPWALL_LISTENS_PER_GRANT "0": expected a whole'),
        ({"MCPWALL_STDIO_PROCESS_WAIT": "soon"}, 'MCPWALL_STDIO_PROCESS_WAIT "soon": expected'),
    ],
)
def test_a_bound_that_cannot_hold_stops_the_start(environ: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidValue) as refused:
        bounds(environ)
    assert str(refused.value).startswith(message)


@pytest.mark.anyio
async def test_the_data_plane_is_built_with_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCPWALL_SESSIONS_PER_GRANT", "3")
    monkeypatch.setenv("MCPWALL_LISTENS_PER_GRANT", "2")
    monkeypatch.setenv("MCPWALL_STDIO_PROCESSES", "5")
    clock = FakeClock()
    plane = build_data_plane(MemoryStore(clock), tmp_path, clock=clock, sink=MemorySink())
    try:
        assert plane.gateway.sessions.per_grant == 3
        assert plane.gateway.listens.per_grant == 2
        assert plane.pool.processes.limit == 5
    finally:
        await plane.aclose()
