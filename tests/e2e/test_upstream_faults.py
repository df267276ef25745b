"""Upstream faults end to end (issue 14): a real ``mcpwall serve`` in front of
``tests/fixtures/faulty_server.py``, once over stdio (``fs``) and once over Streamable HTTP
(``fw``), with the official SDK client as the agent.

- an upstream process killed (SIGKILL) while a call is in flight: the agent gets an error
  naming the signal at once, the call keeps its rate-limit unit (it reached the upstream),
  the proxy log says ``unreachable``, and the next call starts a new process;
- an HTTP upstream that is down: the call never left, so it is not counted;
- an upstream that hangs: the call ends at the gateway's timeout, the upstream receives
  ``notifications/cancelled`` for it, and other agents' calls finish meanwhile;
- an upstream that answers garbage (a line that is not JSON, JSON that is not JSON-RPC, an
  answer to an id nobody asked about) or an answer over the size limit: an error naming what
  was wrong, ``protocol_error`` in the proxy log, and the next call and other sessions work.

What reached the upstream is read from the fixture's record file, never inferred.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from tests.e2e.harness import LEGACY, MODES, Gateway, Mode, agent, text_of
from tests.fixtures.servers import RECORD_ENV, Record, free_port, http_server, poll

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

FAULTY_SERVER = Path(__file__).parents[1] / "fixtures" / "faulty_server.py"
UPSTREAMS = {"stdio": "fs", "http": "fw"}
TRANSPORTS = pytest.mark.parametrize("transport", list(UPSTREAMS))
TIMEOUT = 60.0  # no test waits longer than this for anything
ROWS_TIMEOUT = 20.0
LIMIT = 2
LIMIT_MESSAGE = "Blocking calls limit exceeded for this grant."
LIMITED = {
    "version": "1",
    "default": "allow",
    "tools": {
        "block": {
            "limits": [
                {"counter": "block", "max": LIMIT, "window": "hour", "scope": "grant",
                 "on_deny": LIMIT_MESSAGE}
            ]
        }
    },
}  # fmt: skip
IMPATIENT_SECONDS = 5  # MCPWALL_UPSTREAM_TIMEOUT of the gateway whose upstreams hang
WAIT = 30.0  # for an event the fixture records


def faulty_stdio(record: Record) -> dict[str, Any]:
    return {
        "command": [sys.executable, str(FAULTY_SERVER), "stdio"],
        "env": {RECORD_ENV: str(record.path)},
    }


@contextmanager
def faulty_http(record: Record, port: int = 0) -> Iterator[str]:
    """The faulty server over Streamable HTTP (on ``port``, 0: any); its URL."""
    command = [sys.executable, str(FAULTY_SERVER), "http", "--port", str(port)]
    with http_server(command, record.path) as url:
        yield url


@dataclass
class Faulty:
    """A gateway in front of the faulty server over stdio (``fs``) and HTTP (``fw``), both
    under the policy ``limited``; each test issues grants of its own."""

    gateway: Gateway
    records: dict[str, Record]
    home: Path

    def grant(self) -> tuple[str, str]:
        """A new grant bound to both upstreams (a budget of its own): label, token."""
        label = f"agent-{uuid.uuid4().hex[:8]}"
        return label, self.gateway.issue(label, {"fs": "limited", "fw": "limited"})

    def connect(
        self, transport: str, token: str, mode: Mode = LEGACY
    ) -> AbstractAsyncContextManager[Client]:
        return agent(self.gateway.url(UPSTREAMS[transport]), token, mode)

    def record(self, transport: str) -> Record:
        return self.records[UPSTREAMS[transport]]

    def release_file(self, tag: str) -> Path:
        return self.home / f"release-{tag}"

    def block(self, tag: str) -> dict[str, str]:
        return {"tag": tag, "release": str(self.release_file(tag))}

    def release(self, tag: str) -> None:
        self.release_file(tag).touch()

    def rows(self, label: str, count: int) -> list[dict[str, Any]]:
        """The grant's ``tools/call`` rows, oldest first, once there are ``count`` (rows are
        written in batches, off the request path: a bounded poll)."""

        def calls() -> list[dict[str, Any]] | None:
            output = self.gateway.cli("logs", "--json", "--grant", label, "--limit", "1000")
            found = [json.loads(line) for line in output.splitlines() if line]
            found = sorted(
                (r for r in found if r["method"] == "tools/call"), key=lambda r: int(r["id"])
            )
            return found if len(found) >= count else None

        found = poll(calls, ROWS_TIMEOUT, interval=0.2)
        assert found is not None, f"fewer than {count} rows for {label} within {ROWS_TIMEOUT} s"
        return found


@contextmanager
def faulty_gateway(home: Path, env: dict[str, str]) -> Iterator[Faulty]:
    records = {name: Record(home / f"{name}.record.jsonl") for name in UPSTREAMS.values()}
    with faulty_http(records["fw"]) as url:
        gateway = Gateway(home, env)
        gateway.apply(
            {
                "upstreams": {"fs": faulty_stdio(records["fs"]), "fw": {"url": url}},
                "policies": {"limited": LIMITED},
            }
        )
        gateway.start()
        try:
            yield Faulty(gateway, records, home)
        finally:
            gateway.stop_cleanly()


@pytest.fixture(scope="module")
def patient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Faulty]:
    """The default upstream timeout (60 s): a blocked call ends when the test ends it."""
    with faulty_gateway(tmp_path_factory.mktemp("patient"), {}) as faulty:
        yield faulty


@pytest.fixture(scope="module")
def impatient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Faulty]:
    """An upstream timeout of a few seconds: a blocked call times out."""
    env = {"MCPWALL_UPSTREAM_TIMEOUT": str(IMPATIENT_SECONDS)}
    with faulty_gateway(tmp_path_factory.mktemp("impatient"), env) as faulty:
        yield faulty


def new_tag() -> str:
    return uuid.uuid4().hex[:12]


def started(tag: str) -> Any:
    return lambda event: event.get("event") == "started" and event.get("tag") == tag


def call_in_flight(client: Client, tool: str, arguments: dict[str, Any]) -> asyncio.Task[Any]:
    return asyncio.ensure_future(client.call_tool(tool, arguments))


# -- an upstream process killed mid-call -------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_a_stdio_upstream_killed_mid_call(patient: Faulty, mode: Mode) -> None:
    label, token = patient.grant()
    record = patient.record("stdio")
    tag, after = new_tag(), new_tag()
    patient.release(after)  # the call after the kill is answered at once
    with anyio.fail_after(TIMEOUT):
        async with patient.connect("stdio", token, mode) as client:
            call = call_in_flight(client, "block", patient.block(tag))
            killed = (await record.wait_for(started(tag), WAIT))["pid"]
            os.kill(killed, signal.SIGKILL)
            with pytest.raises(MCPError) as failed:
                await call
            again = await client.call_tool("block", patient.block(after))
            over = await client.call_tool("block", patient.block(after))
            echoed = await client.call_tool("echo", {"message": after})

    assert failed.value.code == -32603
    assert failed.value.message.startswith('upstream "fs": ')
    assert "the process was killed by SIGKILL" in failed.value.message
    # The next call started a new process, and was answered by it.
    assert text_of(again) == f"released {after}"
    assert (await record.wait_for(started(after), WAIT))["pid"] != killed
    assert text_of(echoed) == after
    # The killed call had reached the upstream (it started), so it kept its unit: with a
    # budget of 2, one more call was allowed, not two.
    assert over.is_error
    assert text_of(over) == f"[POLICY DENIED] {LIMIT_MESSAGE}"
    rows = patient.rows(label, 4)
    assert [(r["tool"], r["decision"], r["outcome"]) for r in rows] == [
        ("block", "allow", "unreachable"),
        ("block", "allow", "ok"),
        ("block", "deny", "not_forwarded"),
        ("echo", "allow", "ok"),
    ]
    assert rows[2]["rule"] == "/tools/block/limits/0"


async def test_a_call_to_an_http_upstream_that_is_down_is_not_counted(
    patient: Faulty, tmp_path: Path
) -> None:
    """The call never left the gateway (no connection), so it gives its unit back: the whole
    budget is there once the upstream is back."""
    record, port, name = Record(tmp_path / "down.record.jsonl"), free_port(), f"down{new_tag()[:6]}"
    label = f"agent-{new_tag()[:8]}"
    tags = [new_tag() for _ in range(LIMIT + 1)]
    for tag in tags:
        patient.release(tag)
    with anyio.fail_after(TIMEOUT), ExitStack() as running:
        url = running.enter_context(faulty_http(record, port))
        patient.gateway.cli("upstream", "add", name, "--url", url)
        token = patient.gateway.issue(label, {name: "limited"})
        async with agent(patient.gateway.url(name), token, LEGACY) as client:
            first = await client.call_tool("echo", {"message": "up"})  # listed, connected
            running.close()  # the upstream stops: nothing listens on its port
            with pytest.raises(MCPError) as down:
                await client.call_tool("block", patient.block(tags[0]))
            with faulty_http(record, port):
                back = [await client.call_tool("block", patient.block(t)) for t in tags]

    assert text_of(first) == "up"
    assert down.value.code == -32603
    assert "connection refused" in down.value.message
    assert [text_of(r) for r in back] == [f"released {t}" for t in tags[:LIMIT]] + [
        f"[POLICY DENIED] {LIMIT_MESSAGE}"
    ]
    rows = patient.rows(label, 2 + len(tags))
    assert [r["outcome"] for r in rows[1:]] == ["unreachable"] + ["ok"] * LIMIT + ["not_forwarded"]


# -- an upstream that hangs ------------------------------------------------------------------------


def cancelled_upstream(call_id: object) -> Any:
    def predicate(event: dict[str, Any]) -> bool:
        params = event.get("params") or {}
        return (
            event.get("event") == "received"
            and event.get("method") == "notifications/cancelled"
            and params.get("requestId") == call_id
        )

    return predicate


def received_call(tag: str) -> Any:
    def predicate(event: dict[str, Any]) -> bool:
        arguments = (event.get("params") or {}).get("arguments") or {}
        return event.get("method") == "tools/call" and arguments.get("tag") == tag

    return predicate


@TRANSPORTS
async def test_a_hanging_upstream_times_out_is_cancelled_and_slows_no_one_else(
    impatient: Faulty, transport: str
) -> None:
    label, token = impatient.grant()
    _, other_token = impatient.grant()
    record = impatient.record(transport)
    tag, other = new_tag(), UPSTREAMS["http" if transport == "stdio" else "stdio"]
    with anyio.fail_after(TIMEOUT):
        async with (
            impatient.connect(transport, token) as client,
            impatient.connect(transport, other_token) as neighbour,
            agent(impatient.gateway.url(other), other_token, LEGACY) as elsewhere,
        ):
            # Every session (and stdio process) open before the hang: what follows is only
            # the calls.
            for warm in (client, neighbour, elsewhere):
                await warm.call_tool("pid", {})
            hung = call_in_flight(client, "block", impatient.block(tag))  # never released
            await record.wait_for(started(tag), WAIT)
            # While it hangs: the same agent's next call, another agent on the same upstream
            # and on the other one are all answered.
            own = await client.call_tool("echo", {"message": "own"})
            same = await neighbour.call_tool("echo", {"message": "same"})
            across = await elsewhere.call_tool("echo", {"message": "across"})
            still_hanging = not hung.done()
            with pytest.raises(MCPError) as timed_out:
                await hung
            sent = await record.wait_for(received_call(tag), WAIT)
            await record.wait_for(cancelled_upstream(sent["id"]), WAIT)
            cancelled = await record.wait_for(
                lambda e: e.get("event") == "cancelled" and e.get("tag") == tag, WAIT
            )
            after = await client.call_tool("echo", {"message": "after"})

    assert still_hanging
    assert [text_of(r) for r in (own, same, across, after)] == ["own", "same", "across", "after"]
    assert timed_out.value.code == -32603
    assert timed_out.value.message == (
        f'upstream "{UPSTREAMS[transport]}": no answer to tools/call within '
        f"{IMPATIENT_SECONDS} s; cancelled upstream"
    )
    assert cancelled["tag"] == tag
    rows = impatient.rows(label, 4)  # in the order they ended
    assert [(r["tool"], r["outcome"]) for r in rows] == [
        ("pid", "ok"), ("echo", "ok"), ("block", "timeout"), ("echo", "ok")
    ]  # fmt: skip


# -- an upstream that answers garbage, or too much ----------------------------------------------

NOT_JSONRPC = (
    'it sent something that is not a JSON-RPC message (missing "method" (expected a request '
    'or notification with "method", or a response with "result" or "error"))'
)
NOT_TRUE = "invalid literal, expected 'true'"  # orjson's reading of "this is not JSON {"
WITHIN = f"no answer to tools/call within {IMPATIENT_SECONDS} s; cancelled upstream; meanwhile"
GARBAGE = {
    # (transport, kind): what the agent is told after 'upstream "NAME": '
    ("stdio", "not_json"): f"{WITHIN} it sent something that is not JSON ({NOT_TRUE})",
    ("stdio", "not_jsonrpc"): NOT_JSONRPC,  # it has the call's id: failed at once
    ("stdio", "unknown_id"): f"{WITHIN} it sent an answer to an id it was never sent",
    ("stdio", "oversize"): "it sent a line over the limit of 67108864 bytes",
    ("http", "not_json"): f"it sent something that is not JSON ({NOT_TRUE})",
    ("http", "not_jsonrpc"): NOT_JSONRPC,
    ("http", "unknown_id"): "its answer to tools/call is not the answer to it",
    ("http", "oversize"): "it sent a body over the limit of 67108864 bytes",
}


@pytest.mark.parametrize(("transport", "kind"), list(GARBAGE), ids=[f"{t}-{k}" for t, k in GARBAGE])
async def test_garbage_is_a_clear_error_and_breaks_nothing_else(
    impatient: Faulty, transport: str, kind: str
) -> None:
    label, token = impatient.grant()
    _, other_token = impatient.grant()
    with anyio.fail_after(TIMEOUT):
        async with impatient.connect(transport, other_token) as neighbour:
            neighbour_pid = text_of(await neighbour.call_tool("pid", {}))
            async with impatient.connect(transport, token) as client:
                before = text_of(await client.call_tool("pid", {}))
                with pytest.raises(MCPError) as failed:
                    await client.call_tool("garbage", {"kind": kind})
                after = text_of(await client.call_tool("pid", {}))
            neighbour_after = text_of(await neighbour.call_tool("pid", {}))

    assert failed.value.code == -32603
    assert failed.value.message == f'upstream "{UPSTREAMS[transport]}": {GARBAGE[transport, kind]}'
    # The next call is answered: by the same process, but for a stdio line over the limit,
    # after which the stream can't be trusted: the process was stopped and another started.
    assert (after != before) == (transport == "stdio" and kind == "oversize")
    assert neighbour_after == neighbour_pid  # another session: untouched
    rows = impatient.rows(label, 3)
    assert [(r["tool"], r["outcome"]) for r in rows] == [
        ("pid", "ok"), ("garbage", "protocol_error"), ("pid", "ok")
    ]  # fmt: skip
