"""The data plane server's deadlines and connection caps from the environment (``wiring.py``)."""

from __future__ import annotations

import resource

import pytest

from mcpwall.adapters.downstream.connection import Limits
from mcpwall.core.errors import InvalidValue
from mcpwall.wiring import raise_open_files_limit, server_limits


def test_the_defaults_fit_the_open_files_limit() -> None:
    assert server_limits({}, 1024).max_connections == 480  # (1024 - 64) / 2
    assert server_limits({}, 1024).max_connections_per_client == 240
    assert server_limits({}, 256).max_connections == 96  # the finding's gateway
    assert server_limits({}, 70).max_connections == 16  # never fewer
    assert server_limits({}, 1_048_576).max_connections == 10_000  # nor more
    limits = server_limits({}, 1024)
    defaults = Limits()
    assert (limits.idle_timeout, limits.head_timeout, limits.body_timeout) == (
        defaults.idle_timeout,
        defaults.head_timeout,
        defaults.body_timeout,
    )


def test_every_setting_is_read() -> None:
    limits = server_limits(
        {
            "MCPWALL_MAX_CONNECTIONS": "100",
            "MCPWALL_MAX_CONNECTIONS_PER_CLIENT": "7",
            "MCPWALL_IDLE_TIMEOUT": "1.5",
            "MCPWALL_HEAD_TIMEOUT": "2",
            "MCPWALL_BODY_TIMEOUT": "0.5",
        },
        1024,
    )
    assert (limits.max_connections, limits.max_connections_per_client) == (100, 7)
    assert (limits.idle_timeout, limits.head_timeout, limits.body_timeout) == (1.5, 2, 0.5)
    assert server_limits({"MCPWALL_MAX_CONNECTIONS": "9"}, 1024).max_connections_per_client == 4


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"MCPWALL_MAX_CONNECTIONS": "2000"}, 'MCPWALL_MAX_CONNECTIONS "2000": expected a whole'),
        ({"MCPWALL_MAX_CONNECTIONS": "0"}, "above 0 and at most 1024"),
        ({"MCPWALL_MAX_CONNECTIONS_PER_CLIENT": "481"}, "at most 480"),
        ({"MCPWALL_BODY_TIMEOUT": "soon"}, 'MCPWALL_BODY_TIMEOUT "soon": expected a number'),
        ({"MCPWALL_HEAD_TIMEOUT": "-1"}, "MCPWALL_HEAD_TIMEOUT"),
    ],
)
def test_a_setting_out_of_range_stops_the_process(environ: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidValue, match=message):
        server_limits(environ, 1024)


def test_the_open_files_limit_is_raised_to_the_hard_one() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        if hard != resource.RLIM_INFINITY:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, hard // 2), hard))
        limit = raise_open_files_limit()
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == limit
        if hard != resource.RLIM_INFINITY:
            assert limit == hard
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
