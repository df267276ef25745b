"""One grant can't exhaust what every grant shares (issue 11, finding 4), against a real
``mcpwall serve`` with small caps set through its environment.

Upstreams: the SDK fixture server over Streamable HTTP (``fh``: no process per session) and
over stdio (``fx``: a process per legacy session), each recording what reaches it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
import pytest
from mcp import MCPError

from tests.e2e.conftest import ALLOW_ALL, seed_policy
from tests.e2e.harness import MODERN, Gateway, agent
from tests.fixtures.servers import (
    FIXTURE_SERVER,
    RECORD_ENV,
    Record,
    children_of,
    fixture_http_server,
    poll,
)

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

TIMEOUT = 60.0
ROWS_TIMEOUT = 20.0
JSON_ONLY = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
CAPS = {
    "MCPWALL_SESSIONS_PER_GRANT": "3",
    "MCPWALL_LISTENS_PER_GRANT": "2",
    "MCPWALL_STDIO_PROCESSES": "4",
    "MCPWALL_STDIO_PROCESSES_PER_GRANT": "2",
    # Long enough for a crashed process to be given back to the restart waiting for it.
    "MCPWALL_STDIO_PROCESS_WAIT": "2",
    # A process must be idle this long to be stopped for room: longer than any test here.
    "MCPWALL_UPSTREAM_TIMEOUT": "600",
}
GONE_TIMEOUT = 20.0


@dataclass(frozen=True)
class Bounded:
    gateway: Gateway
    tokens: dict[str, str]

    def over_capacity_rows(self, label: str) -> list[dict[str, Any]]:
        output = self.gateway.cli("logs", "--json", "--limit", "1000", "--grant", label)
        rows = [json.loads(line) for line in output.splitlines()]
        return [row for row in rows if row["rule"] == "(over capacity)"]

    def wait_for_rows(self, label: str, count: int) -> list[dict[str, Any]]:
        rows = poll(
            lambda: (found if len(found := self.over_capacity_rows(label)) >= count else None),
            ROWS_TIMEOUT, interval=0.2,
        )  # fmt: skip
        assert rows is not None, f"fewer than {count} (over capacity) rows for {label}"
        return rows

    def upstream_processes(self) -> int:
        """How many processes the gateway has spawned that still run (its children)."""
        assert self.gateway.process is not None
        return len(children_of(self.gateway.process.pid))

    def wait_for_processes(self, count: int) -> int:
        """The gateway's children, once there are ``count`` of them (a bounded poll)."""
        found = poll(lambda: n if (n := self.upstream_processes()) == count else None, GONE_TIMEOUT)
        return self.upstream_processes() if found is None else found


@pytest.fixture(scope="module")
def bounded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bounded]:
    home = tmp_path_factory.mktemp("bounded")
    with fixture_http_server("http", home / "fh.record.jsonl") as url:
        gateway = Gateway(home, CAPS)
        tokens = gateway.apply(
            {
                "upstreams": {
                    "fx": {
                        "command": [sys.executable, str(FIXTURE_SERVER), "stdio"],
                        "env": {RECORD_ENV: str(Record(home / "fx.record.jsonl").path)},
                    },
                    "fh": {"url": url},
                },
                "policies": {"seed": seed_policy(), "open": ALLOW_ALL},
                "grants": [
                    {"label": label, "bind": {"fx": "seed", "fh": "open"}}
                    for label in ("greedy", "patient", "busy", "late", "listener")
                ],
            }
        )
        gateway.start()
        try:
            yield Bounded(gateway, tokens)
        finally:
            gateway.stop_cleanly()


@asynccontextmanager
async def raw(token: str) -> AsyncIterator[httpx.AsyncClient]:
    headers = {**JSON_ONLY, "authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(headers=headers, timeout=TIMEOUT) as http:
        yield http


async def initialize(http: httpx.AsyncClient, url: str) -> httpx.Response:
    hello = {
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
    }  # fmt: skip
    return await http.post(url, json=hello)


def session_of(response: httpx.Response) -> str:
    session = response.headers["mcp-session-id"]
    assert isinstance(session, str)
    return session


async def end(http: httpx.AsyncClient, url: str, response: httpx.Response) -> int:
    """End the session ``response`` opened (DELETE); the status."""
    ended = await http.delete(url, headers={"mcp-session-id": session_of(response)})
    return ended.status_code


async def call(
    http: httpx.AsyncClient, url: str, session: str, tool: str, arguments: dict[str, Any]
) -> Any:
    headers = {"mcp-session-id": session, "mcp-protocol-version": "2025-11-25"}
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    }
    answer = await http.post(url, json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_a_grant_past_its_session_cap_gets_429_and_others_are_served(
    bounded: Bounded,
) -> None:
    url = bounded.gateway.url("fh")
    with anyio.fail_after(TIMEOUT):
        async with (
            raw(bounded.tokens["greedy"]) as greedy,
            raw(bounded.tokens["patient"]) as patient,
        ):
            opened = [await initialize(greedy, url) for _ in range(3)]
            refused = await initialize(greedy, url)
            other = await initialize(patient, url)
            echoed = await call(
                patient, url, other.headers["mcp-session-id"], "echo", {"message": "hi"}
            )
            ended = await greedy.delete(
                url, headers={"mcp-session-id": opened[0].headers["mcp-session-id"]}
            )
            again = await initialize(greedy, url)

    assert [r.status_code for r in opened] == [200, 200, 200]
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    error = refused.json()["error"]
    assert error["code"] == 429
    assert "MCPWALL_SESSIONS_PER_GRANT=3" in error["message"]
    assert error["data"]["cap"] == "MCPWALL_SESSIONS_PER_GRANT"
    assert other.status_code == 200
    assert echoed["result"]["content"][0]["text"] == "hi"
    assert ended.status_code == 200
    assert again.status_code == 200  # a session ended gives its place back
    [row] = bounded.wait_for_rows("greedy", 1)
    assert (row["method"], row["decision"], row["outcome"]) == (
        "initialize",
        "deny",
        "not_forwarded",
    )


async def test_stdio_processes_stay_within_their_caps(bounded: Bounded) -> None:
    url = bounded.gateway.url("fx")
    with anyio.fail_after(TIMEOUT):
        async with AsyncExitStack() as stack:
            busy = await stack.enter_async_context(raw(bounded.tokens["busy"]))
            late = await stack.enter_async_context(raw(bounded.tokens["late"]))
            patient = await stack.enter_async_context(raw(bounded.tokens["patient"]))
            own = [await initialize(busy, url) for _ in range(3)]  # its share is 2
            processes_after_busy = bounded.upstream_processes()
            others = [await initialize(late, url), await initialize(late, url)]
            processes_after_late = bounded.upstream_processes()
            served = await call(late, url, session_of(others[0]), "echo", {"message": "late"})
            full = await initialize(patient, url)  # 4 run in all: none is free, none idle long
            processes_when_full = bounded.upstream_processes()
            # At the caps, a crashed process is still restarted on demand, in its place.
            crashed = await call(busy, url, session_of(own[0]), "crash", {"code": 3})
            restarted = await call(busy, url, session_of(own[0]), "echo", {"message": "again"})
            processes_after_restart = bounded.upstream_processes()
            ended = [await end(busy, url, r) for r in own[:2]]
            ended += [await end(late, url, r) for r in others]

    assert [r.status_code for r in own] == [200, 200, 429]
    assert own[2].json()["error"]["data"]["cap"] == "MCPWALL_STDIO_PROCESSES_PER_GRANT"
    assert int(own[2].headers["retry-after"]) >= 1
    assert [r.status_code for r in others] == [200, 200]
    assert served["result"]["content"][0]["text"] == "late"  # another grant is served
    assert full.status_code == 503
    assert full.json()["error"]["data"]["cap"] == "MCPWALL_STDIO_PROCESSES"
    assert int(full.headers["retry-after"]) >= 1
    assert "exited with code 3" in crashed["error"]["message"]
    assert restarted["result"]["content"][0]["text"] == "again"
    assert (processes_after_busy, processes_after_late, processes_when_full) == (2, 4, 4)
    assert processes_after_restart == 4
    assert ended == [200] * 4
    assert bounded.wait_for_processes(0) == 0  # ended sessions give their processes back
    [busy_row] = bounded.wait_for_rows("busy", 1)
    assert (busy_row["method"], busy_row["upstream"]) == ("initialize", "fx")
    [patient_row] = bounded.wait_for_rows("patient", 1)
    assert "(MCPWALL_STDIO_PROCESSES=4)" in patient_row["message"]


async def test_listen_streams_past_the_grant_cap_are_refused(bounded: Bounded) -> None:
    url = bounded.gateway.url("fh")
    with anyio.fail_after(TIMEOUT):
        async with (
            agent(url, bounded.tokens["listener"], MODERN) as client,
            AsyncExitStack() as stack,
        ):
            for _ in range(2):
                await stack.enter_async_context(client.listen(tools_list_changed=True))
            with pytest.raises(MCPError) as refused:
                async with client.listen(tools_list_changed=True):
                    pass
    assert refused.value.code == 429
    assert "MCPWALL_LISTENS_PER_GRANT=2" in refused.value.message
    [row] = bounded.wait_for_rows("listener", 1)
    assert row["method"] == "subscriptions/listen"
