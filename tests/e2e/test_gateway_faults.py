"""Faults of the gateway itself and of its stores, end to end (issue 14): a real
``mcpwall serve`` in front of ``tests/fixtures/faulty_server.py`` over stdio and Streamable
HTTP.

- SIGTERM with calls in flight at the upstreams: the agents (the SDK client) get their
  answers, every call's proxy-log row is in the store after the exit, and the exit code is 0;
- SIGKILL with a call in flight: after a restart on the embedded default (SQLite), grants,
  revocations, policy versions, committed proxy-log rows and rate-limit counters are intact,
  and the call that was in flight still counts (a restart errs towards refusing).

Redis lost and back is in ``test_limits.py``; the database lost and back in
``test_store_outage.py`` (and ``/readyz`` then in ``test_readiness.py``).

What reached the upstream is read from the fixture's record file, never inferred.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.e2e.harness import (
    LEGACY,
    MODERN,
    STOP_TIMEOUT,
    Gateway,
    agent,
    stateless_call,
    text_of,
)
from tests.e2e.test_upstream_faults import (
    LIMIT_MESSAGE,
    LIMITED,
    faulty_http,
    faulty_stdio,
    started,
)
from tests.fixtures.servers import LOOPBACK, Record, poll

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

TIMEOUT = 60.0  # no test waits longer than this for anything
LIMIT_RULE = "/tools/block/limits/0"


@dataclass
class Setup:
    """A gateway (not started) in front of the faulty server over stdio (``fs``) and HTTP
    (``fw``), under the policy ``limited``, with grants ``a`` and ``b`` bound to both."""

    gateway: Gateway
    tokens: dict[str, str]
    records: dict[str, Record]
    home: Path

    def block(self, tag: str) -> dict[str, str]:
        return {"tag": tag, "release": str(self.home / f"release-{tag}")}

    def release(self, tag: str) -> None:
        (self.home / f"release-{tag}").touch()

    def rows(self, *args: str) -> list[dict[str, Any]]:
        """The ``tools/call`` rows in the store, oldest first (``mcpwall logs --json``)."""
        output = self.gateway.cli("logs", "--json", "--limit", "1000", *args)
        found = [json.loads(line) for line in output.splitlines() if line]
        return sorted((r for r in found if r["method"] == "tools/call"), key=lambda r: int(r["id"]))


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    records = {name: Record(tmp_path / f"{name}.record.jsonl") for name in ("fs", "fw")}
    with faulty_http(records["fw"]) as url:
        yield configure(Gateway(tmp_path / "home"), records, url, tmp_path)


def configure(gateway: Gateway, records: dict[str, Record], url: str, home: Path) -> Setup:
    both = {"fs": "limited", "fw": "limited"}
    tokens = gateway.apply(
        {
            "upstreams": {"fs": faulty_stdio(records["fs"]), "fw": {"url": url}},
            "policies": {"limited": LIMITED},
            "grants": [{"label": "a", "bind": both}, {"label": "b", "bind": both}],
        }
    )
    return Setup(gateway, tokens, records, home)


def new_tag() -> str:
    return uuid.uuid4().hex[:12]


def refused_connections(gateway: Gateway) -> bool | None:
    """True once nothing accepts connections on the gateway's data-plane port."""
    try:
        with httpx.Client(timeout=2) as http:
            http.get(f"http://{LOOPBACK}:{gateway.port}/healthz")
    except httpx.ConnectError:
        return True
    except httpx.HTTPError:
        return None
    return None


async def fs_call(
    http: httpx.AsyncClient, gateway: Gateway, token: str, tool: str, arguments: dict[str, Any]
) -> httpx.Response:
    """One 2026-07-28 ``tools/call`` on ``/mcp/fs``, as plain HTTP."""
    return await stateless_call(http, gateway.url("fs"), token, tool, arguments)


def result_text(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    text: str = response.json()["result"]["content"][0]["text"]
    return text


# -- SIGTERM with calls in flight --------------------------------------------------------------


async def test_sigterm_drains_the_calls_in_flight_and_writes_their_rows(setup: Setup) -> None:
    gateway = setup.gateway
    gateway.start()
    process = gateway.process
    assert process is not None
    # Three agents, three calls held at their upstreams: stdio and HTTP, both eras.
    agents = [("fs", "a", LEGACY), ("fw", "a", MODERN), ("fs", "b", MODERN)]
    tags = [new_tag() for _ in agents]
    with anyio.fail_after(TIMEOUT):

        async def call(upstream: str, grant: str, mode: Any, tag: str) -> str:
            answer: list[str] = []
            try:
                async with agent(gateway.url(upstream), setup.tokens[grant], mode) as client:
                    # Listed first: the SDK lists the tools after a call to a tool it does
                    # not know yet, to check its result — which would be after the stop.
                    await client.list_tools()
                    answer.append(text_of(await client.call_tool("block", setup.block(tag))))
            except Exception:
                if not answer:
                    raise
                # Ending a legacy session once the gateway has gone fails, after the answer.
            return answer[0]

        calls = [
            asyncio.ensure_future(call(*agent_of, tag))
            for agent_of, tag in zip(agents, tags, strict=True)
        ]
        for (upstream, _, _), tag in zip(agents, tags, strict=True):
            await setup.records[upstream].wait_for(started(tag), TIMEOUT)
        process.send_signal(signal.SIGTERM)
        # Stopping: it accepts no new connection, while the calls are still held upstream.
        assert await asyncio.to_thread(poll, lambda: refused_connections(gateway), TIMEOUT)
        assert process.poll() is None
        assert not any(call.done() for call in calls)
        for tag in tags:
            setup.release(tag)
        answers = await asyncio.gather(*calls)
        code = await asyncio.to_thread(process.wait, STOP_TIMEOUT)
    gateway.process = None

    assert answers == [f"released {tag}" for tag in tags]
    assert code == 0, gateway.log
    assert "Traceback" not in gateway.log
    rows = setup.rows("--tool", "block")
    assert sorted((r["grant_label"], r["upstream"], r["outcome"]) for r in rows) == [
        ("a", "fs", "ok"), ("a", "fw", "ok"), ("b", "fs", "ok")
    ]  # fmt: skip


# -- SIGKILL, and a restart ---------------------------------------------------------------------


async def test_after_sigkill_state_and_counters_are_intact(setup: Setup) -> None:
    gateway = setup.gateway
    gateway.revoke("b")
    gateway.set_policy("limited", {**LIMITED, "hide": ["garbage"]})  # version 2
    gateway.start()
    token = setup.tokens["a"]
    done, held = new_tag(), new_tag()
    setup.release(done)
    with anyio.fail_after(TIMEOUT):
        async with httpx.AsyncClient(timeout=TIMEOUT) as http:
            first = await fs_call(http, gateway, token, "block", setup.block(done))
            assert poll(lambda: setup.rows("--grant", "a") or None, TIMEOUT) is not None
            in_flight = asyncio.ensure_future(
                fs_call(http, gateway, token, "block", setup.block(held))
            )
            await setup.records["fs"].wait_for(started(held), TIMEOUT)
            kill(gateway)
            with pytest.raises(httpx.TransportError):
                await in_flight  # the agent's connection is gone with the process
    database = gateway.home / "mcpwall.db"
    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]

    setup.release(held)
    gateway.start()
    try:
        with anyio.fail_after(TIMEOUT):
            async with httpx.AsyncClient(timeout=TIMEOUT) as http:
                echoed = await fs_call(http, gateway, token, "echo", {"message": "back"})
                over = await fs_call(http, gateway, token, "block", setup.block(done))
                revoked = await fs_call(http, gateway, setup.tokens["b"], "echo", {"message": "x"})
        current = json.loads(gateway.cli("policy", "show", "limited"))
    finally:
        gateway.stop_cleanly()

    assert result_text(first) == f"released {done}"
    assert result_text(echoed) == "back"  # the grant and its token survived
    assert revoked.status_code == 401  # and so did the revocation
    assert current == {**LIMITED, "hide": ["garbage"]}  # version 2 is still the current one
    # The call in flight at the kill had reached the upstream: it still counts, so the
    # budget of two is spent — a restart never hands out a fresh budget.
    assert result_text(over) == f"[POLICY DENIED] {LIMIT_MESSAGE}"
    assert over.json()["result"]["_meta"]["io.mcpwall/decision"]["rule"] == LIMIT_RULE
    # The row committed before the kill is still there; the call in flight at the kill has
    # none (its row is written when it ends, and it never ended), though it counted.
    rows = setup.rows("--grant", "a")
    assert [(r["tool"], r["outcome"]) for r in rows] == [
        ("block", "ok"), ("echo", "ok"), ("block", "not_forwarded")
    ]  # fmt: skip


def kill(gateway: Gateway) -> None:
    """SIGKILL ``mcpwall serve``, and wait for it to be gone."""
    process = gateway.process
    assert process is not None
    process.kill()
    process.wait(timeout=STOP_TIMEOUT)
    gateway.process = None
