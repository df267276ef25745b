"""What a client without a grant can hold, black-box: a real ``mcpwall serve`` on loopback,
raw sockets (issue 11, findings 5 and 6).

- A bad token is answered 401 from the headers, the body never waited for.
- A body trickled byte by byte is cut at its whole-body deadline (408).
- Hundreds of unauthenticated connections trickling their heads and bodies, more than the
  gateway has descriptors, do not keep an agent with a valid grant from its answers.
- The per-client cap refuses past its value, for the address that reached it only.
- A body of a million tiny arrays is refused before it is parsed, with its proxy-log row.

Every wait here is for something the test expects to come, bounded so that a gateway that
never sends it fails the test rather than hanging it; no figure of time is asserted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.e2e.harness import Gateway
from tests.fixtures.servers import FIXTURE_SERVER, LOOPBACK, poll
from tests.gateway.test_http import modern_body, modern_headers

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

ANSWER_TIMEOUT = 15.0  # how long an expected answer may take before the test fails
OPEN_FILES = 256  # the finding's gateway: its default cap is then (256 - 64) / 2 = 96
BODY_TIMEOUT = 1  # MCPWALL_BODY_TIMEOUT, short so that a trickled body meets it soon
ATTACKERS = 300
TRICKLE_EVERY = 0.5  # an attacker sends a byte (or reconnects, when closed) this often
UNKNOWN_TOKEN = "mcpw_" + "A" * 43


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


@dataclass(frozen=True)
class Setup:
    gateway: Gateway
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """A gateway with 256 descriptors and a 1 s body deadline, in front of the fixture server,
    with a grant ``agent`` and a grant ``gone`` that is revoked."""
    gateway = Gateway(
        tmp_path_factory.mktemp("limits"),
        {"MCPWALL_BODY_TIMEOUT": str(BODY_TIMEOUT)},
        open_files=OPEN_FILES,
    )
    tokens = configure(gateway)
    gateway.revoke("gone")
    gateway.start()
    try:
        yield Setup(gateway, tokens)
    finally:
        gateway.stop_cleanly()


def configure(gateway: Gateway) -> dict[str, str]:
    return gateway.apply(
        {
            "upstreams": {"fx": {"command": [sys.executable, str(FIXTURE_SERVER), "stdio"]}},
            "policies": {"open": {"version": "1", "default": "allow"}},
            "grants": [
                {"label": "agent", "bind": {"fx": "open"}},
                {"label": "gone", "bind": {"fx": "open"}},
            ],
        }
    )


# -- raw HTTP ----------------------------------------------------------------------------------


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def connect(gateway: Gateway, source: str = LOOPBACK) -> Connection:
    return await asyncio.open_connection(LOOPBACK, gateway.port, local_addr=(source, 0))


def head(
    gateway: Gateway, length: int, token: str | None = None, headers: dict[str, str] | None = None
) -> bytes:
    """The head of a POST to /mcp/fx declaring a body of ``length`` bytes."""
    lines = [
        "POST /mcp/fx HTTP/1.1",
        f"host: {LOOPBACK}:{gateway.port}",
        "content-type: application/json",
        f"content-length: {length}",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    if token is not None:
        lines.append(f"authorization: Bearer {token}")
    return "\r\n".join([*lines, "", ""]).encode()


async def read_answer(reader: asyncio.StreamReader) -> Answer:
    """One response with a content-length, however long the gateway takes (bounded)."""
    async with asyncio.timeout(ANSWER_TIMEOUT):
        raw = await reader.readuntil(b"\r\n\r\n")
        status_line, *lines = raw.decode("latin-1").split("\r\n")
        headers = {}
        for line in filter(None, lines):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Answer(int(status_line.split()[1]), headers, body)


async def closed(reader: asyncio.StreamReader) -> bool:
    """Whether the gateway closes the connection (EOF or reset) without sending more."""
    async with asyncio.timeout(ANSWER_TIMEOUT):
        try:
            return await reader.read(65536) == b""
        except ConnectionResetError:
            return True


async def tools_list(gateway: Gateway, token: str, connection: Connection | None = None) -> Answer:
    """A 2026-07-28 tools/list, on ``connection`` or a new one."""
    reader, writer = connection or await connect(gateway)
    body = orjson.dumps(modern_body("tools/list"))
    headers = modern_headers(token, "tools/list")
    headers.pop("authorization")
    writer.write(head(gateway, len(body), token, headers) + body)
    try:
        return await read_answer(reader)
    finally:
        if connection is None:
            writer.close()


# -- a bad token: 401 from the headers ---------------------------------------------------------


@pytest.mark.parametrize("token", [None, "nonsense", UNKNOWN_TOKEN, "gone"])
async def test_a_bad_token_gets_401_without_its_body_being_waited_for(
    setup: Setup, token: str | None
) -> None:
    token = setup.tokens.get(token, token) if token else None
    reader, writer = await connect(setup.gateway)
    writer.write(head(setup.gateway, 1_000_000, token))  # and not a byte of the body
    answer = await read_answer(reader)  # before: the gateway waited 30 s for the body
    assert answer.status == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert answer.headers["connection"] == "close"
    assert await closed(reader)
    writer.close()


async def test_a_valid_token_still_gets_its_answer(setup: Setup) -> None:
    answer = await tools_list(setup.gateway, setup.tokens["agent"])
    assert answer.status == 200, answer
    assert "tools" in answer.json()["result"]  # type: ignore[index]


# -- a trickled body: cut at its deadline ------------------------------------------------------


async def test_a_trickled_body_is_cut_at_its_whole_body_deadline(setup: Setup) -> None:
    length = 40
    reader, writer = await connect(setup.gateway)
    writer.write(head(setup.gateway, length, setup.tokens["agent"]))
    answering = asyncio.ensure_future(read_answer(reader))
    sent = 0
    # A byte every 0.1 s never pauses long enough for a stall timer, and would take 4 s.
    while not answering.done() and sent < length:
        writer.write(b" ")
        sent += 1
        await asyncio.wait({answering}, timeout=0.1)
    answer = await answering
    writer.close()
    assert answer.status == 408, answer
    reason = f"the request body did not arrive within {BODY_TIMEOUT} s"
    assert reason.encode() in answer.body
    assert sent < length
    row = logged(setup.gateway, lambda row: row["message"] == f"HTTP 408: {reason}")
    assert (row["decision"], row["outcome"]) == ("deny", "not_forwarded")


def logged(gateway: Gateway, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The proxy-log row of grant ``agent`` that ``predicate`` picks, once written (rows are
    written in batches, off the request's path: a bounded poll)."""

    def found() -> dict[str, Any] | None:
        lines = gateway.cli("logs", "--grant", "agent", "--json", "--since", "1h").splitlines()
        return next((row for row in map(json.loads, lines) if predicate(row)), None)

    row = poll(found, ANSWER_TIMEOUT, interval=0.2)
    assert row is not None, "no such row was logged"
    return row


# -- many unauthenticated connections: the agent keeps its answers -----------------------------


async def attacker(gateway: Gateway, number: int, stop: asyncio.Event, started: asyncio.Event,
                   first_bytes: list[int]) -> None:  # fmt: skip
    """One connection without a valid grant, trickling forever (until ``stop``): an even
    attacker a head that never ends, an odd one a bad token's body; reconnecting, at its next
    trickle, whenever the gateway closes it."""
    partial = (
        f"POST /mcp/fx HTTP/1.1\r\nhost: {LOOPBACK}:{gateway.port}\r\nx-pad: ".encode()
        if number % 2 == 0
        else head(gateway, 1_000_000, UNKNOWN_TOKEN)
    )
    while not stop.is_set():
        try:
            reader, writer = await connect(gateway)
        except OSError:
            await asyncio.wait({asyncio.ensure_future(stop.wait())}, timeout=TRICKLE_EVERY)
            continue
        try:
            writer.write(partial)
            if not started.is_set():
                first_bytes.append(number)
                if len(first_bytes) == ATTACKERS:
                    started.set()
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(TRICKLE_EVERY):
                        await reader.read(65536)  # an answer, an EOF or a reset: it is over
                        break
                writer.write(b"a")
        except ConnectionError:
            pass
        finally:
            writer.close()
        await asyncio.wait({asyncio.ensure_future(stop.wait())}, timeout=TRICKLE_EVERY)


@contextlib.asynccontextmanager
async def attacked(gateway: Gateway) -> AsyncIterator[None]:
    """:data:`ATTACKERS` unauthenticated connections trickling, all opened before this
    yields, stopped after."""
    stop, started = asyncio.Event(), asyncio.Event()
    first_bytes: list[int] = []
    tasks = [
        asyncio.ensure_future(attacker(gateway, n, stop, started, first_bytes))
        for n in range(ATTACKERS)
    ]
    try:
        async with asyncio.timeout(ANSWER_TIMEOUT):
            await started.wait()
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_unauthenticated_connections_do_not_keep_an_agent_from_its_answers(
    setup: Setup,
) -> None:
    """The finding: 300 connections without a grant, trickling, held a gateway of 256
    descriptors, and every valid request failed until they were released."""
    gateway, token = setup.gateway, setup.tokens["agent"]
    kept = await connect(gateway)  # an agent's keep-alive connection, open before
    assert (await tools_list(gateway, token, kept)).status == 200
    async with attacked(gateway):
        answers = [await tools_list(gateway, token) for _ in range(5)]  # new connections
        answers += [await tools_list(gateway, token, kept) for _ in range(5)]
    kept[1].close()
    assert [answer.status for answer in answers] == [200] * 10, answers


# -- the per-client cap --------------------------------------------------------------------------


async def test_the_per_client_cap_refuses_past_its_value(tmp_path: Path) -> None:
    gateway = Gateway(tmp_path, {"MCPWALL_MAX_CONNECTIONS_PER_CLIENT": "2"})
    token = configure(gateway)["agent"]
    gateway.start()
    try:
        agents = [await connect(gateway), await connect(gateway)]
        assert [(await tools_list(gateway, token, a)).status for a in agents] == [200, 200]
        one_more = await connect(gateway)
        refused = await read_answer(one_more[0])
        elsewhere = await connect(gateway, source="127.0.0.2")
        other = await tools_list(gateway, token, elsewhere)
        assert [(await tools_list(gateway, token, a)).status for a in agents] == [200, 200]
        for _, writer in (*agents, one_more, elsewhere):
            writer.close()
    finally:
        gateway.stop_cleanly()
    assert refused.status == 503
    assert b"at most 2 connections from one client" in refused.body
    assert other.status == 200


# -- a body of a million arrays ------------------------------------------------------------------


async def test_a_body_of_a_million_tiny_arrays_is_refused_and_recorded(setup: Setup) -> None:
    gateway, token = setup.gateway, setup.tokens["agent"]
    message = modern_body("tools/call", {"name": "echo", "arguments": {"a": "MARKER"}})
    arrays = b"[" + b",".join([b"[0]"] * 1_000_000) + b"]"
    body = orjson.dumps(message).replace(b'"MARKER"', arrays)
    reader, writer = await connect(gateway)
    headers = modern_headers(token, "tools/call", "echo")
    headers.pop("authorization")
    writer.write(head(gateway, len(body), token, headers) + body)
    answer = await read_answer(reader)
    writer.close()
    assert answer.status == 400, answer
    error = answer.json()["error"]  # type: ignore[index]
    assert error["code"] == -32600
    assert "arrays and objects (expected at most 250,000)" in error["message"]
    row = logged(gateway, lambda row: row["request_id"] == "7" and row["method"] == "tools/call")
    assert (row["decision"], row["rule"], row["outcome"]) == (
        "deny",
        "(bad request)",
        "not_forwarded",
    )
    assert row["message"] == "JSON-RPC error -32600"
