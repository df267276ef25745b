"""A call that reached the upstream keeps its proxy-log row and its rate-limit unit, however
it ends (issue 11, findings 2 and 3), against a real ``mcpwall serve`` and ``mcpwall stdio``.

The upstream is ``tests/fixtures/literal_server.py``: its ``slow_delete`` records that it
acted, then waits before answering, so an agent can cancel it, go away, end its session, or
let the gateway's upstream timeout run out — each after the tool acted. The policy limits
``slow_delete`` to two calls an hour per grant; each test issues a grant of its own.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest

from tests.e2e.conftest import seed_policy
from tests.e2e.harness import Gateway
from tests.e2e.test_agent_messages import (
    ENVELOPE,
    HELLO,
    JSON_ONLY,
    Literal,
    legacy_session,
    literal_upstream,
    stdio_agent,
)
from tests.fixtures.servers import Record, poll

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

TIMEOUT = 30.0
ROWS_TIMEOUT = 20.0
LIMIT = 2
LIMIT_MESSAGE = "Slow deletion limit exceeded for this grant."


def limited_policy() -> dict[str, Any]:
    """The seed's policy, plus ``slow_delete`` in non-production namespaces, twice an hour."""
    policy = seed_policy()
    policy["tools"]["slow_delete"] = {
        "require": [
            {
                "conditions": [
                    {"path": "args.namespace", "op": "in", "value": ["dev", "staging", "sandbox"]}
                ]
            }
        ],
        "limits": [
            {
                "counter": "slow_delete",
                "max": LIMIT,
                "window": "hour",
                "scope": "grant",
                "on_deny": LIMIT_MESSAGE,
            }
        ],
    }
    return policy


def _start(tmp_path_factory: pytest.TempPathFactory, name: str, env: dict[str, str]) -> Literal:
    home = tmp_path_factory.mktemp(name)
    record = Record(home / "lit.record.jsonl")
    gateway = Gateway(home, env)
    gateway.apply(
        {"upstreams": {"lit": literal_upstream(record)}, "policies": {"limited": limited_policy()}}
    )
    gateway.start()
    return Literal(gateway, "", record)


@pytest.fixture(scope="module")
def patient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Literal]:
    """The default upstream timeout (60 s): calls end only when their agent ends them."""
    literal = _start(tmp_path_factory, "patient", {})
    try:
        yield literal
    finally:
        literal.gateway.stop_cleanly()


@pytest.fixture(scope="module")
def impatient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Literal]:
    """An upstream timeout of one second: a slow_delete times out after it acted."""
    literal = _start(tmp_path_factory, "impatient", {"MCPWALL_UPSTREAM_TIMEOUT": "1"})
    try:
        yield literal
    finally:
        literal.gateway.stop_cleanly()


def with_grant(literal: Literal) -> tuple[Literal, str]:
    """``literal`` with a new grant of its own (a fresh budget); and its label."""
    label = f"agent-{uuid.uuid4().hex[:8]}"
    return Literal(
        literal.gateway, literal.gateway.issue(label, {"lit": "limited"}), literal.record
    ), label


def slow_delete(tag: str, seconds: float = 60) -> dict[str, Any]:
    return {
        "name": "slow_delete",
        "arguments": {"name": tag, "namespace": "staging", "seconds": seconds},
    }


async def until_executed(literal: Literal, tag: str, count: int) -> None:
    """Wait (bounded) until the upstream has acted on ``count`` calls carrying ``tag``."""
    while len(literal.executed(tag)) < count:
        await asyncio.sleep(0.02)


def rows_once(literal: Literal, label: str, count: int) -> list[dict[str, Any]]:
    """The grant's ``tools/call`` rows, once there are ``count`` (a bounded poll: rows are
    written in batches off the request path). A missing row fails the test."""

    def calls() -> list[dict[str, Any]] | None:
        rows = [r for r in literal.rows("--grant", label) if r["method"] == "tools/call"]
        return rows if len(rows) >= count else None

    rows = poll(calls, ROWS_TIMEOUT, interval=0.2)
    assert rows is not None, (
        f"fewer than {count} rows for {label} within {ROWS_TIMEOUT} s: {literal.rows('--grant', label)}"
    )
    return rows


# -- finding 2: a cancelled call keeps its row --------------------------------------------------


async def test_calls_cancelled_by_the_agent_are_logged_and_keep_their_budget(
    patient: Literal,
) -> None:
    literal, label = with_grant(patient)
    tag = uuid.uuid4().hex[:12]
    with anyio.fail_after(TIMEOUT):
        async with legacy_session(literal) as session:
            for n in range(LIMIT):
                call = asyncio.ensure_future(session.send(_request(n, slow_delete(tag))))
                await until_executed(literal, tag, n + 1)
                await session.send(
                    {
                        "jsonrpc": "2.0",
                        "method": "notifications/cancelled",
                        "params": {"requestId": n},
                    }
                )
                assert (await call).status_code == 202  # cancelled: no JSON-RPC answer
            over = await session.ask("over", "tools/call", slow_delete(tag, 0))

    assert over["result"]["isError"] is True
    assert over["result"]["content"][0]["text"] == f"[POLICY DENIED] {LIMIT_MESSAGE}"
    assert len(literal.executed(tag)) == LIMIT
    rows = rows_once(literal, label, LIMIT + 1)
    assert [(r["tool"], r["decision"], r["outcome"]) for r in rows] == [
        ("slow_delete", "allow", "cancelled"),
        ("slow_delete", "allow", "cancelled"),
        ("slow_delete", "deny", "not_forwarded"),
    ]
    assert all(r["argument_keys"] == ["name", "namespace", "seconds"] for r in rows)


async def test_a_call_whose_agent_goes_away_is_logged(patient: Literal) -> None:
    literal, label = with_grant(patient)
    tag = uuid.uuid4().hex[:12]
    params = {**slow_delete(tag), "_meta": ENVELOPE}
    headers = {
        **JSON_ONLY, "authorization": f"Bearer {literal.token}", "mcp-protocol-version": "2026-07-28",
        "mcp-method": "tools/call", "mcp-name": "slow_delete",
    }  # fmt: skip
    with anyio.fail_after(TIMEOUT):
        async with httpx.AsyncClient(timeout=TIMEOUT) as http:
            body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
            call = asyncio.ensure_future(http.post(literal.url, json=body, headers=headers))
            await until_executed(literal, tag, 1)
            call.cancel()  # the agent goes away: its connection closes mid-call
            with pytest.raises(asyncio.CancelledError):
                await call

    [row] = rows_once(literal, label, 1)
    assert (row["tool"], row["decision"], row["outcome"]) == ("slow_delete", "allow", "cancelled")


async def test_a_call_in_flight_when_its_session_is_deleted_is_logged(patient: Literal) -> None:
    literal, label = with_grant(patient)
    tag = uuid.uuid4().hex[:12]
    with anyio.fail_after(TIMEOUT):
        async with legacy_session(literal) as session:
            call = asyncio.ensure_future(session.send(_request(1, slow_delete(tag))))
            await until_executed(literal, tag, 1)
            ended = await session.http.delete(session.url, headers=session.headers)
            assert ended.status_code == 200
            assert (await call).status_code == 202  # ended with its session: no answer

    [row] = rows_once(literal, label, 1)
    assert (row["tool"], row["outcome"]) == ("slow_delete", "cancelled")


async def test_a_call_cancelled_over_stdio_is_logged(patient: Literal) -> None:
    literal, label = with_grant(patient)
    tag = uuid.uuid4().hex[:12]
    with anyio.fail_after(TIMEOUT):
        async with stdio_agent(literal) as agent:
            await agent.ask(0, "initialize", {**HELLO, "protocolVersion": "2025-11-25"})
            await agent.write({"jsonrpc": "2.0", "method": "notifications/initialized"})
            await agent.write(
                {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": slow_delete(tag)}
            )
            await until_executed(literal, tag, 1)
            await agent.write(
                {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}}
            )
            settled = await agent.ask(2, "tools/list", {})  # answered after the cancellation
            assert await agent.close() == 0

    assert "tools" in settled["result"]
    [row] = rows_once(literal, label, 1)
    assert (row["tool"], row["outcome"]) == ("slow_delete", "cancelled")


# -- finding 3: a timeout after sending keeps the unit counted ----------------------------------


async def test_a_tool_that_acts_then_times_out_keeps_its_unit_counted(impatient: Literal) -> None:
    literal, label = with_grant(impatient)
    tag = uuid.uuid4().hex[:12]
    with anyio.fail_after(TIMEOUT):
        async with legacy_session(literal) as session:
            answers = [await session.ask(n, "tools/call", slow_delete(tag, 30)) for n in range(5)]

    assert len(literal.executed(tag)) == LIMIT  # not five: each timeout kept its unit
    assert [a.get("error", {}).get("code") for a in answers[:LIMIT]] == [-32603] * LIMIT
    assert all(
        a["result"]["content"][0]["text"] == f"[POLICY DENIED] {LIMIT_MESSAGE}"
        for a in answers[LIMIT:]
    )
    rows = rows_once(literal, label, 5)
    assert [r["outcome"] for r in rows] == ["timeout"] * LIMIT + ["not_forwarded"] * 3


def _request(request_id: int, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}
