"""Legacy sessions served by any replica: two ``mcpwall serve`` on one PostgreSQL database.

Real processes and real upstreams: the fixture server over Streamable HTTP (registered under
four names, so a session holds four upstream sessions) and over stdio. A session initialized
on replica A is carried on by replica B from its sealed ``Mcp-Session-Id`` alone; raw HTTP
requests check each refusal exactly, and the official SDK client, its requests spread over
both replicas by a round-robin transport, checks that a real agent notices nothing.

Replica A holds the keyring mid-rotation (``new,old``), replica B after it (``new``).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
import psycopg
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from sqlalchemy import make_url

from mcpwall.gateway.sealing import MAX_HEADER_BYTES, SessionKeyring, plaintext
from tests.e2e.harness import MCPWALL, Gateway, text_of
from tests.fixtures.servers import FIXTURE_SERVER, RECORD_ENV, Record, fixture_http_server

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

TIMEOUT = 60.0
HTTP_UPSTREAMS = ("fh", "fh2", "fh3", "fh4")
ALLOW_ALL = {"version": "1", "default": "allow"}
LEGACY_VERSION = "2025-11-25"
CANARY = "canary-argument-7c1e"


def new_key() -> bytes:
    return os.urandom(32)


def key_text(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).rstrip(b"=").decode("ascii")


@dataclass
class Replicas:
    a: Gateway
    b: Gateway
    tokens: dict[str, str]  # by grant label
    grant_ids: dict[str, str]
    new: bytes
    old: bytes
    stdio_record: Record


@pytest.fixture(scope="module")
def shared_postgres_url(postgres_server: str) -> Iterator[str]:
    """A schema of its own for this module's two replicas (started once: each test uses
    sessions of its own)."""
    schema = f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_server, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    url = make_url(postgres_server).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with psycopg.connect(postgres_server, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, shared_postgres_url: str
) -> Iterator[Replicas]:
    tmp_path = tmp_path_factory.mktemp("replicas")
    postgres_url = shared_postgres_url
    new, old = new_key(), new_key()
    path = os.pathsep.join([str(Path(MCPWALL).parent), os.environ.get("PATH", "")])
    shared = {
        "PATH": path,
        "MCPWALL_DATABASE_URL": postgres_url,
        "MCPWALL_SECRET_KEY": key_text(new_key()),
        "MCPWALL_UPSTREAM_TIMEOUT": "10",
    }
    a = Gateway(
        tmp_path / "a", {**shared, "MCPWALL_SESSION_KEYS": f"{key_text(new)},{key_text(old)}"}
    )
    b = Gateway(tmp_path / "b", {**shared, "MCPWALL_SESSION_KEYS": key_text(new)})
    a.home.mkdir()
    b.home.mkdir()
    stdio_record = Record(tmp_path / "fx.record.jsonl")
    with fixture_http_server("http", tmp_path / "fh.record.jsonl") as url:
        upstreams: dict[str, Any] = {name: {"url": url} for name in HTTP_UPSTREAMS}
        upstreams["fx"] = {
            "command": [sys.executable, str(FIXTURE_SERVER), "stdio"],
            "env": {RECORD_ENV: str(stdio_record.path)},
        }
        a.apply({"upstreams": upstreams, "policies": {"open": ALLOW_ALL}})
        tokens: dict[str, str] = {}
        grant_ids: dict[str, str] = {}
        for label, bound in (("agent", [*HTTP_UPSTREAMS, "fx"]), ("other", ["fh"])):
            binds = [arg for name in bound for arg in ("--bind", f"{name}=open")]
            issued = json.loads(a.cli("grant", "issue", "--label", label, *binds, "--json"))
            tokens[label], grant_ids[label] = issued["token"], issued["id"]
        a.start()
        b.start()
        try:
            yield Replicas(a, b, tokens, grant_ids, new, old, stdio_record)
        finally:
            a.stop_cleanly()
            b.stop_cleanly()


class Raw:
    """Raw JSON-RPC over HTTP to either replica, as one agent (one token)."""

    def __init__(self, http: httpx2.AsyncClient, token: str) -> None:
        self.http = http
        self.token = token
        self.next_id = 0

    def headers(self, session: str | None, token: str | None = None) -> dict[str, str]:
        found = {
            "Authorization": f"Bearer {token or self.token}",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": LEGACY_VERSION,
        }
        if session is not None:
            found["Mcp-Session-Id"] = session
        return found

    async def initialize(self, url: str) -> str:
        body = {
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": LEGACY_VERSION,
                "capabilities": {"roots": {"listChanged": True}},
                "clientInfo": {"name": "raw", "version": "1"},
            },
        }  # fmt: skip
        answer = await self.http.post(url, json=body, headers=self.headers(None))
        assert answer.status_code == 200, answer.text
        session = answer.headers["mcp-session-id"]
        done = await self.notify(url, session)
        assert done.status_code == 202, done.text
        return session

    async def notify(
        self, url: str, session: str, method: str = "notifications/initialized"
    ) -> httpx2.Response:
        body = {"jsonrpc": "2.0", "method": method}
        return await self.http.post(url, json=body, headers=self.headers(session))

    async def request(
        self,
        url: str,
        session: str,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        token: str | None = None,
    ) -> httpx2.Response:
        self.next_id += 1
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            body["params"] = params
        return await self.http.post(url, json=body, headers=self.headers(session, token))

    async def result(self, url: str, session: str, method: str, params: Any = None) -> Any:
        answer = await self.request(url, session, method, params)
        assert answer.status_code == 200, answer.text
        message = _message(answer)
        assert "result" in message, message
        return message["result"]


def _message(answer: httpx2.Response) -> dict[str, Any]:
    """The JSON-RPC message of a JSON or single-event SSE answer."""
    if answer.headers.get("content-type", "").startswith("text/event-stream"):
        data = [line[6:] for line in answer.text.splitlines() if line.startswith("data: ")]
        found: dict[str, Any] = json.loads(data[-1])
        return found
    message: dict[str, Any] = answer.json()
    return message


def _text(result: dict[str, Any]) -> str:
    return "".join(part.get("text", "") for part in result["content"])


async def until_refused(raw: Raw, url: str, session: str) -> int:
    """Send a notification with ``session`` until the replica refuses it (a bounded wait for
    a condition, not a timed assertion: it ends as soon as the replica has heard)."""
    while True:
        answer = await raw.notify(url, session)
        if answer.status_code != 202:
            return answer.status_code
        await anyio.sleep(0.05)


async def test_a_session_opened_on_one_replica_is_served_by_the_other(
    replicas: Replicas,
) -> None:
    a, b = replicas.a, replicas.b
    async with httpx2.AsyncClient(timeout=TIMEOUT) as http:
        raw = Raw(http, replicas.tokens["agent"])
        session = await raw.initialize(a.url("fh"))
        # B carries it on from the id alone: a listing and a call, on the same upstream session.
        listed = await raw.result(b.url("fh"), session, "tools/list")
        assert "echo" in [tool["name"] for tool in listed["tools"]]
        echoed = await raw.result(
            b.url("fh"), session, "tools/call", {"name": "echo", "arguments": {"message": CANARY}}
        )
        assert CANARY in _text(echoed)
        seen = []
        for replica in (a, b):
            result = await raw.result(
                replica.url("fh"), session, "tools/call", {"name": "headers", "arguments": {}}
            )
            seen.append(json.loads(_text(result))["mcp-session-id"])
        assert seen[0] == seen[1], "B opened an upstream session of its own"

        # What is sealed: no token, no argument, and bounded.
        assert replicas.tokens["agent"] not in session
        assert CANARY not in session
        ring = SessionKeyring([replicas.new])
        state = ring.open(session, replicas.grant_ids["agent"], "fh")
        assert state is not None
        sealed = plaintext(state)
        assert replicas.tokens["agent"].encode() not in sealed
        assert CANARY.encode() not in sealed
        assert list(state.upstreams) == ["fh"]
        assert state.upstreams["fh"].session_id == seen[0]

        # Refused, as unknown sessions are (404): another grant's token, a tampered id.
        other = await raw.request(
            b.url("fh"), session, "tools/list", token=replicas.tokens["other"]
        )
        assert other.status_code == 404, other.text
        middle = len(session) // 2
        flipped = "A" if session[middle] != "A" else "B"
        tampered = session[:middle] + flipped + session[middle + 1 :]
        assert (await raw.request(b.url("fh"), tampered, "tools/list")).status_code == 404
        assert (await raw.request(a.url("fh"), tampered, "tools/list")).status_code == 404

        # Expired: the same state, its expiry passed, sealed under the current key.
        expired = dataclasses.replace(state, key="expired-key-1", expires=state.issued - 1)
        stale = ring.seal(expired, replicas.grant_ids["agent"], "fh")
        for replica in (a, b):
            assert (await raw.request(replica.url("fh"), stale, "tools/list")).status_code == 404

        # Rotation: sealed under the previous key, it works where that key is still in the
        # ring (A), not where it was taken out (B).
        previous = SessionKeyring([replicas.old]).seal(
            dataclasses.replace(state, key="rotated-key-1"), replicas.grant_ids["agent"], "fh"
        )
        assert (await raw.result(a.url("fh"), previous, "tools/list"))["tools"]
        assert (await raw.request(b.url("fh"), previous, "tools/list")).status_code == 404

        # DELETE on B: B refuses it at once, A as soon as it has read the ended sessions.
        ended = await http.delete(b.url("fh"), headers=raw.headers(session))
        assert ended.status_code == 200, ended.text
        assert (await raw.notify(b.url("fh"), session)).status_code == 404
        with anyio.fail_after(10):
            assert await until_refused(raw, a.url("fh"), session) == 404


async def test_the_header_stays_bounded_with_several_upstreams(replicas: Replicas) -> None:
    async with httpx2.AsyncClient(timeout=TIMEOUT) as http:
        raw = Raw(http, replicas.tokens["agent"])
        session = await raw.initialize(replicas.a.url())
        state = SessionKeyring([replicas.new]).open(session, replicas.grant_ids["agent"], None)
        assert state is not None
        assert sorted(state.upstreams) == list(HTTP_UPSTREAMS)  # stdio's process stays put
        size = len(session)
        print(f"sealed Mcp-Session-Id with {len(HTTP_UPSTREAMS)} HTTP upstreams: {size} bytes")
        assert size <= 1024 < MAX_HEADER_BYTES
        listed = await raw.result(replicas.b.url(), session, "tools/list")
        assert len(listed["tools"]) > 5


async def test_a_stdio_upstream_gets_a_process_of_its_own_on_the_other_replica(
    replicas: Replicas,
) -> None:
    async with httpx2.AsyncClient(timeout=TIMEOUT) as http:
        raw = Raw(http, replicas.tokens["agent"])
        session = await raw.initialize(replicas.a.url("fx"))
        first = await raw.result(
            replicas.a.url("fx"),
            session,
            "tools/call",
            {"name": "echo", "arguments": {"message": "a"}},
        )
        assert "a" in _text(first)
        started = _initialized(replicas.stdio_record)  # A's process, and other tests' ones
        second = await raw.result(
            replicas.b.url("fx"),
            session,
            "tools/call",
            {"name": "echo", "arguments": {"message": "b"}},
        )
        assert "b" in _text(second)
        assert _initialized(replicas.stdio_record) == started + 1  # B started its own
        third = await raw.result(
            replicas.a.url("fx"),
            session,
            "tools/call",
            {"name": "echo", "arguments": {"message": "c"}},
        )
        assert "c" in _text(third)
        assert _initialized(replicas.stdio_record) == started + 1  # A's is still there


def _initialized(record: Record) -> int:
    return sum(
        1
        for event in record.events()
        if event.get("event") == "notification"
        and event.get("method") == "notifications/initialized"
    )


class RoundRobin(httpx2.AsyncBaseTransport):
    """Sends each request to the next replica in turn (a load balancer without affinity)."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.sent = [0 for _ in ports]
        self.inner = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        turn = sum(self.sent) % len(self.ports)
        self.sent[turn] += 1
        request.url = request.url.copy_with(port=self.ports[turn])
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_the_sdk_client_notices_nothing_when_its_requests_alternate(
    replicas: Replicas,
) -> None:
    spread = RoundRobin([replicas.a.port, replicas.b.port])
    headers = {"Authorization": f"Bearer {replicas.tokens['agent']}"}
    async with httpx2.AsyncClient(transport=spread, headers=headers, timeout=TIMEOUT) as http:
        transport = streamable_http_client(replicas.a.url("fh"), http_client=http)
        async with Client(transport, mode="legacy", cache=None) as client:
            for n in range(4):
                listed = await client.list_tools()
                assert "echo" in [tool.name for tool in listed.tools]
                result = await client.call_tool("echo", {"message": f"hello {n}"})
                assert not result.is_error
                assert f"hello {n}" in text_of(result)
    assert min(spread.sent) >= 4, spread.sent
