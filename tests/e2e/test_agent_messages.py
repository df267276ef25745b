"""What an agent sends that is not a judged request never reaches an upstream unjudged
(issue 11, findings 1 and 7), against a real ``mcpwall serve`` and ``mcpwall stdio``.

The upstream is ``tests/fixtures/literal_server.py``, which executes a ``tools/call`` sent as
a notification, as JSON-RPC says a server may, and records every message it receives. Each
test tags its arguments, and ends with a request that does reach the upstream, so that by
its answer everything sent before it has arrived: what is not in the record by then was not
relayed.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.e2e.conftest import seed_policy
from tests.e2e.harness import MCPWALL, Gateway
from tests.fixtures.servers import RECORD_ENV, Record, poll

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

LITERAL_SERVER = Path(__file__).parents[1] / "fixtures" / "literal_server.py"
TIMEOUT = 30.0
ROWS_TIMEOUT = 20.0
JSON_ONLY = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
HELLO = {"capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}
ENVELOPE = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}


@dataclass(frozen=True)
class Literal:
    """A gateway in front of the literal server (upstream ``lit``, the seed's policy)."""

    gateway: Gateway
    token: str
    record: Record

    @property
    def url(self) -> str:
        return self.gateway.url("lit")

    def received(self, tag: str) -> list[dict[str, Any]]:
        """What the upstream recorded about messages carrying ``tag``."""
        return [e for e in self.record.events() if tag in json.dumps(e)]

    def executed(self, tag: str) -> list[dict[str, Any]]:
        return [e for e in self.received(tag) if e["event"] == "executed"]

    def rows(self, *args: str) -> list[dict[str, Any]]:
        output = self.gateway.cli("logs", "--json", "--limit", "1000", *args)
        return [json.loads(line) for line in output.splitlines()]

    def dropped(self, tool: str) -> list[dict[str, Any]]:
        """The rows of notifications naming ``tool`` that were dropped."""
        return [
            r
            for r in self.rows("--tool", tool)
            if r["rule"] == "(bad request)" and not r["request_id"]
        ]

    def new_dropped(self, tool: str, before: int) -> list[dict[str, Any]]:
        """The dropped rows naming ``tool`` past the first ``before``, once there are some
        (rows are written in batches, off the request path: waited for in a bounded poll)."""
        rows = poll(lambda: self.dropped(tool)[before:] or None, ROWS_TIMEOUT, interval=0.2)
        assert rows is not None, f"no new row for a dropped {tool} within {ROWS_TIMEOUT} s"
        return rows


def literal_upstream(record: Record) -> dict[str, Any]:
    return {"command": [sys.executable, str(LITERAL_SERVER)], "env": {RECORD_ENV: str(record.path)}}


@pytest.fixture(scope="module")
def literal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Literal]:
    home = tmp_path_factory.mktemp("literal")
    record = Record(home / "lit.record.jsonl")
    gateway = Gateway(home)
    tokens = gateway.apply(
        {
            "upstreams": {"lit": literal_upstream(record)},
            "policies": {"seed": seed_policy()},
            "grants": [{"label": "agent", "bind": {"lit": "seed"}}],
        }
    )
    gateway.start()
    try:
        yield Literal(gateway, tokens["agent"], record)
    finally:
        gateway.stop_cleanly()


# -- raw agents -------------------------------------------------------------------------------


@dataclass
class LegacySession:
    """A legacy session over plain HTTP: every message is ours to shape."""

    http: httpx.AsyncClient
    url: str
    headers: dict[str, str]

    async def send(self, message: object) -> httpx.Response:
        return await self.http.post(self.url, json=message, headers=self.headers)

    async def ask(self, request_id: int | str, method: str, params: dict[str, Any]) -> Any:
        body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        response = await self.send(body)
        assert response.status_code == 200, response.text
        return response.json()

    async def settle(self, tag: str) -> None:
        """A request that reaches the upstream: everything sent before it has arrived."""
        answer = await self.ask(f"settle-{tag}", "tools/call", _call("get_pod_logs", tag, "dev"))
        assert answer["result"]["content"][0]["text"] == "get_pod_logs done"


@asynccontextmanager
async def legacy_session(
    literal: Literal, version: str = "2025-11-25"
) -> AsyncIterator[LegacySession]:
    auth = {"authorization": f"Bearer {literal.token}"}
    async with httpx.AsyncClient(headers={**JSON_ONLY, **auth}, timeout=TIMEOUT) as http:
        hello = {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {**HELLO, "protocolVersion": version},
        }
        answer = await http.post(literal.url, json=hello)
        assert answer.status_code == 200, answer.text
        assert answer.json()["result"]["protocolVersion"] == version
        headers = {
            "mcp-session-id": answer.headers["mcp-session-id"],
            "mcp-protocol-version": version,
        }
        session = LegacySession(http, literal.url, headers)
        done = await session.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        assert done.status_code == 202
        yield session
        await http.delete(literal.url, headers=headers)


def _call(tool: str, tag: str, namespace: str) -> dict[str, Any]:
    return {"name": tool, "arguments": {"name": tag, "namespace": namespace}}


def _notification(method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": params}


def _tag() -> str:
    return uuid.uuid4().hex[:12]


# -- finding 1: a notification named tools/call ---------------------------------------------


@pytest.mark.parametrize(
    ("tool", "namespace"),
    [("delete_namespace", "payments-prod"), ("delete_pod", "payments-prod"), ("get_secret", "dev")],
)
async def test_a_tools_call_sent_as_a_notification_in_a_legacy_session_is_dropped_and_logged(
    literal: Literal, tool: str, namespace: str
) -> None:
    tag = _tag()
    before = len(literal.dropped(tool))
    with anyio.fail_after(TIMEOUT):
        async with legacy_session(literal) as session:
            refused = await session.send(_notification("tools/call", _call(tool, tag, namespace)))
            await session.settle(tag)

    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == -32600
    assert refused.json()["id"] is None
    assert literal.executed(tag) == [
        {
            "event": "executed",
            "tool": "get_pod_logs",
            "arguments": {"name": tag, "namespace": "dev"},
            "notification": False,
        }
    ]
    [row] = literal.new_dropped(tool, before)
    assert row["method"] == "tools/call"
    assert row["outcome"] == "not_forwarded"
    assert row["argument_keys"] == ["name", "namespace"]
    assert tag not in json.dumps(row)  # names, never values


async def test_any_request_method_sent_without_an_id_is_dropped(literal: Literal) -> None:
    tag = _tag()
    with anyio.fail_after(TIMEOUT):
        async with legacy_session(literal) as session:
            for method in (
                "tools/list",
                "resources/read",
                "notifications/tools/call",
                "x-custom/run",
            ):
                answer = await session.send(_notification(method, {"uri": tag, "tag": tag}))
                assert answer.status_code == 400, method
            await session.settle(tag)

    assert [e["method"] for e in literal.received(tag) if e["event"] == "received"] == [
        "tools/call"
    ]


async def test_the_notifications_a_client_may_send_still_reach_the_upstream(
    literal: Literal,
) -> None:
    tag = _tag()
    with anyio.fail_after(TIMEOUT):
        async with legacy_session(literal) as session:
            changed = await session.send(
                _notification("notifications/roots/list_changed", {"tag": tag})
            )
            await session.settle(tag)

    assert changed.status_code == 202
    received = [
        (e["method"], e["has_id"]) for e in literal.received(tag) if e["event"] == "received"
    ]
    assert received == [("notifications/roots/list_changed", False), ("tools/call", True)]


async def test_a_tools_call_notification_inside_a_batch_is_dropped(literal: Literal) -> None:
    tag = _tag()
    before = len(literal.dropped("delete_namespace"))
    with anyio.fail_after(TIMEOUT):
        async with legacy_session(literal, "2025-03-26") as session:
            batch = [
                _notification("tools/call", _call("delete_namespace", tag, "payments-prod")),
                {
                    "jsonrpc": "2.0",
                    "id": "b1",
                    "method": "tools/call",
                    "params": _call("get_pod_logs", tag, "dev"),
                },
            ]
            answer = await session.send(batch)

    assert answer.status_code == 200, answer.text
    assert [a["id"] for a in answer.json()] == ["b1"]
    assert [e["tool"] for e in literal.executed(tag)] == ["get_pod_logs"]
    assert len(literal.new_dropped("delete_namespace", before)) == 1


async def test_a_tools_call_notification_on_the_2026_era_is_refused_and_logged(
    literal: Literal,
) -> None:
    tag = _tag()
    before = len(literal.dropped("delete_pod"))
    auth = {"authorization": f"Bearer {literal.token}"}
    params = {**_call("delete_pod", tag, "payments-prod"), "_meta": ENVELOPE}
    headers = {
        **JSON_ONLY,
        **auth,
        "mcp-protocol-version": "2026-07-28",
        "mcp-method": "tools/call",
        "mcp-name": "delete_pod",
    }
    with anyio.fail_after(TIMEOUT):
        async with httpx.AsyncClient(timeout=TIMEOUT) as http:
            answer = await http.post(
                literal.url, json=_notification("tools/call", params), headers=headers
            )

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == -32600
    assert literal.executed(tag) == []
    [row] = literal.new_dropped("delete_pod", before)
    assert row["argument_keys"] == ["name", "namespace"]


# -- finding 7: lifecycle messages in every framing ---------------------------------------------


async def test_initialize_inside_a_batch_is_refused_not_relayed(literal: Literal) -> None:
    tag = _tag()
    with anyio.fail_after(TIMEOUT):
        async with legacy_session(literal, "2025-03-26") as session:
            again = {
                "jsonrpc": "2.0",
                "id": "again",
                "method": "initialize",
                "params": {**HELLO, "protocolVersion": tag},
            }
            answer = await session.send([again])
            await session.settle(tag)

    assert answer.status_code == 200, answer.text
    [refused] = answer.json()
    assert refused["id"] == "again"
    assert refused["error"]["code"] == -32600
    assert literal.received(tag) == [
        e for e in literal.received(tag) if e.get("method") != "initialize"
    ]


# -- the same over mcpwall stdio -------------------------------------------------------------------


class StdioAgent:
    """``mcpwall stdio`` spawned as a desktop agent would, spoken to line by line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def write(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        await self.process.stdin.drain()

    async def ask(
        self, request_id: int | str, method: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        await self.write({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        assert self.process.stdout is not None
        while True:
            answer = json.loads(await self.process.stdout.readline())
            if answer.get("id") == request_id:
                assert isinstance(answer, dict)
                return answer

    async def close(self) -> int:
        assert self.process.stdin is not None
        self.process.stdin.close()
        await self.process.communicate()
        assert self.process.returncode is not None
        return self.process.returncode


@asynccontextmanager
async def stdio_agent(literal: Literal) -> AsyncIterator[StdioAgent]:
    env = {**literal.gateway.env, "MCPWALL_TOKEN": literal.token}
    process = await asyncio.create_subprocess_exec(
        MCPWALL, "stdio", "--upstream", "lit", env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    agent = StdioAgent(process)
    try:
        yield agent
    finally:
        if process.returncode is None:
            assert await agent.close() == 0


async def test_over_stdio_a_tools_call_notification_and_a_second_initialize_never_reach_the_upstream(
    literal: Literal,
) -> None:
    tag = _tag()
    before = len(literal.dropped("delete_namespace"))
    with anyio.fail_after(TIMEOUT):
        async with stdio_agent(literal) as agent:
            await agent.ask(1, "initialize", {**HELLO, "protocolVersion": "2025-11-25"})
            await agent.write(_notification("notifications/initialized", {}))
            await agent.write(
                _notification("tools/call", _call("delete_namespace", tag, "payments-prod"))
            )
            again = await agent.ask(2, "initialize", {**HELLO, "protocolVersion": tag})
            settled = await agent.ask(3, "tools/call", _call("get_pod_logs", tag, "dev"))
            assert await agent.close() == 0

    assert again["error"]["code"] == -32600
    assert settled["result"]["content"][0]["text"] == "get_pod_logs done"
    assert [(e["event"], e.get("method")) for e in literal.received(tag)] == [
        ("received", "tools/call"),
        ("executed", None),
    ]
    assert len(literal.new_dropped("delete_namespace", before)) == 1


# -- the same class: method names that fold to a judged one --------------------------------------


@pytest.mark.parametrize(
    "method", ["Tools/Call", "tools/call ", "TOOLS/LIST", "ｔｏｏｌｓ/ｃａｌｌ", "tools/\u200bcall"]
)
async def test_a_method_that_folds_to_a_judged_one_is_refused(
    literal: Literal, method: str
) -> None:
    tag = _tag()
    with anyio.fail_after(TIMEOUT):
        async with legacy_session(literal) as session:
            answer = await session.ask(7, method, _call("delete_namespace", tag, "payments-prod"))
            await session.settle(tag)

    assert answer["error"]["code"] == -32601
    assert [e["method"] for e in literal.received(tag) if e["event"] == "received"] == [
        "tools/call"
    ]
