"""``mcpwall sandbox`` as a user runs it: over stdio, and over Streamable HTTP with ``--http``,
with the official SDK client (``mcp`` 2.3.0) as the agent."""

from __future__ import annotations

import select
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from tests.e2e.harness import MCPWALL, text_of

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

TIMEOUT = 30.0


@contextmanager
def sandbox_http(port: int = 0) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``mcpwall sandbox --http PORT``; its URL (the line it prints once it listens)."""
    with subprocess.Popen(
        [MCPWALL, "sandbox", "--http", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as process:  # fmt: skip
        try:
            assert process.stdout is not None
            readable, _, _ = select.select([process.stdout], [], [], TIMEOUT)
            line = process.stdout.readline() if readable else ""
            assert line.startswith("http://127.0.0.1:"), line
            yield line.strip(), process
        finally:
            if process.poll() is None:
                process.kill()


async def pods(client: Client, namespace: str) -> list[dict[str, Any]]:
    result = await client.call_tool("list_pods", {"namespace": namespace})
    assert result.structured_content is not None
    listed: list[dict[str, Any]] = result.structured_content["pods"]
    return listed


async def test_over_stdio_a_deleted_pod_is_gone() -> None:
    params = StdioServerParameters(command=MCPWALL, args=["sandbox"])
    with anyio.fail_after(TIMEOUT):
        async with Client(params, mode="legacy", cache=None) as client:
            names = [tool.name for tool in (await client.list_tools()).tools]
            victim = (await pods(client, "dev"))[0]["name"]
            deleted = await client.call_tool("delete_pod", {"namespace": "dev", "name": victim})
            after = [pod["name"] for pod in await pods(client, "dev")]
    assert {"delete_pod", "delete_namespace", "get_secret"} <= set(names)
    assert text_of(deleted).startswith(f'pod "{victim}" deleted')
    assert victim not in after


async def test_over_http_every_client_sees_the_same_cluster_and_sigterm_stops_it() -> None:
    with sandbox_http() as (url, process):
        with anyio.fail_after(TIMEOUT):
            async with Client(url, mode="legacy", cache=None) as first:
                victim = (await pods(first, "staging"))[0]["name"]
                await first.call_tool("delete_pod", {"namespace": "staging", "name": victim})
            async with Client(url, mode="2026-07-28", cache=None) as second:
                after = [pod["name"] for pod in await pods(second, "staging")]
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=TIMEOUT)
        assert process.stderr is not None
        stderr = process.stderr.read()
    assert victim not in after
    assert code == 0
    assert f"serving the sandbox cluster on {url}" in stderr
    assert "Traceback" not in stderr


def test_a_port_in_use_is_a_clear_error() -> None:
    with sandbox_http() as (url, _):
        port = url.rsplit(":", 1)[1].split("/")[0]
        done = subprocess.run(
            [MCPWALL, "sandbox", "--http", port], capture_output=True, text=True, timeout=TIMEOUT
        )
    assert done.returncode == 2
    assert f"error: cannot serve on 127.0.0.1:{port}" in done.stderr
