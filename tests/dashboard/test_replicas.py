"""The live tail with two replicas on one PostgreSQL: a row written by either appears in the
tail of the other, and a dashboard login made on one is known to the other.

Real processes: two ``mcpwall serve`` sharing the database (and the secret key), each with
its own sandbox upstream over stdio; the official MCP client calls through replica B while a
browser-like client watches replica A's stream.
"""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx2
import pytest

from mcpwall.core.logins import csrf_token
from mcpwall.dashboard.visitors import PLAIN_COOKIE
from tests.e2e.harness import MCPWALL, MODERN, Gateway, agent

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

SEED = Path(__file__).resolve().parents[2] / "examples" / "seed"
TIMEOUT = 60.0


async def log_in(client: httpx2.AsyncClient, origin: str, token: str) -> str:
    """Log in to the dashboard at ``origin``; the session's secret."""
    answer = await client.post(f"{origin}/login", data={"token": token}, headers={"Origin": origin})
    assert answer.status_code == 303, answer.text
    return client.cookies[PLAIN_COOKIE]


async def row_events(client: httpx2.AsyncClient, url: str) -> AsyncIterator[str]:
    """The data of each ``row`` event of the stream at ``url``, as it arrives."""
    async with client.stream("GET", url) as answer:
        assert answer.status_code == 200
        lines: list[str] = []
        async for line in answer.aiter_lines():
            if line:
                lines.append(line)
            elif lines:
                if lines[0] == "event: row":
                    yield "\n".join(x[6:] for x in lines if x.startswith("data: "))
                lines = []


async def test_a_row_written_by_one_replica_appears_in_the_other_replicas_tail(
    tmp_path: Path, postgres_url: str
) -> None:
    path = os.pathsep.join([str(Path(MCPWALL).parent), os.environ.get("PATH", "")])
    shared = {
        "PATH": path,
        "MCPWALL_DATABASE_URL": postgres_url,
        "MCPWALL_SECRET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
    }
    first = Gateway(tmp_path / "a", shared)
    second = Gateway(tmp_path / "b", shared)
    first.home.mkdir()
    second.home.mkdir()
    output = first.cli("apply", "-f", str(SEED / "mcpwall.yaml"))
    [grant] = [line.split(": ")[1] for line in output.splitlines() if line.startswith("token ")]
    admin = first.cli("admin", "token", "create", "--role", "viewer", "--json")
    token = admin.split('"token": "')[1].split('"')[0]
    first.start()
    second.start()
    origin_a = f"http://127.0.0.1:{first.admin_port}"
    origin_b = f"http://127.0.0.1:{second.admin_port}"
    try:
        with anyio.fail_after(TIMEOUT):
            async with httpx2.AsyncClient(timeout=TIMEOUT) as browser:
                secret = await log_in(browser, origin_a, token)
                # The session lives in the database: replica B knows it too.
                # (cookies belong to the host, not the port: the jar sends it to B as well)
                page = await browser.get(f"{origin_b}/tail")
                assert page.status_code == 200
                assert csrf_token(secret) in page.text
                stream = row_events(browser, f"{origin_a}/tail/events?after=0&tool=delete_pod")
                async with anyio.create_task_group() as group:
                    arrived: list[str] = []

                    async def watch() -> None:
                        async for row in stream:
                            arrived.append(row)
                            group.cancel_scope.cancel()

                    group.start_soon(watch)
                    async with agent(second.url("k8s"), grant, MODERN) as client:
                        refused = await client.call_tool(
                            "delete_pod", {"namespace": "payments-prod", "name": "api-7f9c"}
                        )
                    assert refused.is_error
        [row] = arrived
        assert "delete_pod" in row
        assert "deny" in row
    finally:
        first.stop_cleanly()
        second.stop_cleanly()
