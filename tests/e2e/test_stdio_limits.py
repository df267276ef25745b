"""Several ``mcpwall stdio`` on one ``MCPWALL_HOME`` share their limits exactly.

A desktop agent starts one ``mcpwall stdio`` per server it uses, and several agents may share
a home: their processes count in the same SQLite file. Three real processes in front of the
fixture server (stdio), under the seed's policy (``delete_pod``: 5 an hour per grant), are
sent twelve ``delete_pod`` calls between them before any answer is read: exactly 5 are
allowed, exactly 5 reach the upstream (read from its record file), and a process started
afterwards finds the budget spent.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import seed_policy
from tests.e2e.harness import MCPWALL, Gateway
from tests.fixtures.servers import FIXTURE_SERVER, RECORD_ENV, Record

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

PROCESSES = 3
CALLS_EACH = 4
LIMIT_TEXT = "[POLICY DENIED] Pod deletion limit exceeded for this grant."


class Agent:
    """``mcpwall stdio --upstream fx``, spoken to line by line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, env: dict[str, str]) -> Agent:
        process = await asyncio.create_subprocess_exec(
            MCPWALL, "stdio", "--upstream", "fx", env=env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        agent = cls(process)
        initialize = {"protocolVersion": "2025-06-18", "capabilities": {}}
        agent.send({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": initialize})
        assert "result" in await agent.answer()
        agent.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return agent

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message).encode() + b"\n")

    def delete_pod(self, request_id: int) -> None:
        arguments = {"namespace": "staging", "name": f"pod-{request_id}"}
        params = {"name": "delete_pod", "arguments": arguments}
        self.send({"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params})

    async def answer(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await self.process.stdout.readline()
        assert line, "mcpwall stdio closed its stdout"
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def close(self) -> int:
        assert self.process.stdin is not None
        self.process.stdin.close()
        return await self.process.wait()


async def delete_pods(env: dict[str, str], processes: int, calls_each: int) -> list[bool]:
    """Whether each call was allowed: every process sends all its calls, then reads."""
    agents = await asyncio.gather(*(Agent.start(env) for _ in range(processes)))
    try:
        for agent in agents:
            for request_id in range(1, calls_each + 1):
                agent.delete_pod(request_id)
        for agent in agents:
            assert agent.process.stdin is not None
            await agent.process.stdin.drain()
        results = []
        for agent in agents:
            for _ in range(calls_each):
                result = (await agent.answer())["result"]
                if result.get("isError"):
                    assert result["content"][0]["text"] == LIMIT_TEXT
                results.append(not result.get("isError"))
        return results
    finally:
        assert [await agent.close() for agent in agents] == [0] * len(agents)


async def test_stdio_processes_on_one_home_allow_exactly_5_between_them(tmp_path: Path) -> None:
    record = Record(tmp_path / "fx.record.jsonl")
    home = Gateway(tmp_path / "home")  # configured through the CLI; never served over HTTP
    tokens = home.apply(
        {
            "upstreams": {
                "fx": {
                    "command": [sys.executable, str(FIXTURE_SERVER), "stdio"],
                    "env": {RECORD_ENV: str(record.path)},
                }
            },
            "policies": {"seed": seed_policy()},
            "grants": [{"label": "desktop", "bind": {"fx": "seed"}}],
        }
    )
    env = {**home.env, "MCPWALL_TOKEN": tokens["desktop"]}

    allowed = await delete_pods(env, PROCESSES, CALLS_EACH)
    assert sum(allowed) == 5
    deletes = [event for event in record.events() if event.get("tool") == "delete_pod"]
    assert len(deletes) == 5

    assert await delete_pods(env, 1, 2) == [False, False]  # a later start: the budget is spent
