"""Checking an upstream: against the fixture servers over stdio, Streamable HTTP and SSE, a
command that does not exist, a closed port, and servers that never answer; pagination; the
process bound; and no secret in any reason."""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mcpwall.adapters.upstream import Connector
from mcpwall.core.errors import UpstreamUnavailable
from mcpwall.core.registry import Upstream, UpstreamKind
from mcpwall.gateway import upstreams as pool_module
from mcpwall.gateway.probe import Probe, list_definitions, probe, redact
from mcpwall.gateway.processes import ProcessSlots
from mcpwall.ports.upstream import ClientOffer, Receiver, UpstreamSession
from tests.adapters.upstream.scripted import Reply, recording_server, rpc
from tests.fixtures.definitions import Definitions
from tests.fixtures.servers import FIXTURE_SERVER, fixture_http_server, free_port

pytestmark = pytest.mark.anyio

AT = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
SECRET = "sekrit-0123456789-abcdef"  # planted in env, headers and URLs; never in a reason
FIXTURE_TOOLS = {"echo", "delete_pod", "get_pod_logs", "get_secret", "delete_namespace"}


class Recording:
    """The gateway's connector, keeping every session it opened (to see them closed)."""

    def __init__(self) -> None:
        self.connector = Connector()
        self.sessions: list[UpstreamSession] = []

    async def connect(
        self, upstream: Upstream, offer: ClientOffer, on_unsolicited: Receiver
    ) -> UpstreamSession:
        session = await self.connector.connect(upstream, offer, on_unsolicited)
        self.sessions.append(session)
        return session


def stdio_fixture() -> Upstream:
    return Upstream.stdio(
        "fixture", sys.executable, (str(FIXTURE_SERVER), "stdio"), env={"API_KEY": SECRET}
    )


@pytest.fixture(scope="module")
def http_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fixture_http_server("http", tmp_path_factory.mktemp("http") / "record.jsonl") as url:
        yield url


@pytest.fixture(scope="module")
def sse_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fixture_http_server("sse", tmp_path_factory.mktemp("sse") / "record.jsonl") as url:
        yield url


def assert_no_secret(found: Probe) -> None:
    assert SECRET not in repr(found)
    assert SECRET[:12] not in found.error


async def test_a_stdio_upstream_is_listed_then_its_process_stopped() -> None:
    connector = Recording()
    found = await probe(stdio_fixture(), connector, at=AT)
    assert found.reachable, found.error
    assert (found.upstream, found.at, found.error) == ("fixture", AT, "")
    assert found.server_name == "mcpwall-fixture"
    assert found.server_version == "1.0.0"
    assert found.protocol_version
    assert found.era in ("legacy", "modern")
    assert set(found.tool_names) >= FIXTURE_TOOLS
    assert found.latency_ms > 0
    echo = next(tool for tool in found.tools if tool.name == "echo")
    assert echo.description
    [message] = echo.properties
    assert (message.name, message.type, message.required) == ("message", "string", True)
    delete_pod = next(tool for tool in found.tools if tool.name == "delete_pod")
    namespace = next(p for p in delete_pod.properties if p.name == "namespace")
    assert not namespace.required  # it has a default
    # The session is over and its process has exited.
    [session] = connector.sessions
    assert session.closed
    assert session._wire.process.returncode is not None  # type: ignore[attr-defined]
    assert_no_secret(found)


@pytest.mark.parametrize(
    ("kind", "era"), [(UpstreamKind.HTTP, ("legacy", "modern")), (UpstreamKind.SSE, ("legacy",))]
)
async def test_http_and_sse_upstreams_are_listed(
    kind: UpstreamKind, era: tuple[str, ...], request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("http_url" if kind is UpstreamKind.HTTP else "sse_url")
    upstream = Upstream.remote("remote", url, {"Authorization": f"Bearer {SECRET}"}, kind)
    connector = Recording()
    found = await probe(upstream, connector, at=AT)
    assert found.reachable, found.error
    assert found.era in era
    assert found.server_name == "mcpwall-fixture"
    assert set(found.tool_names) >= FIXTURE_TOOLS
    assert all(session.closed for session in connector.sessions)


async def test_a_command_that_does_not_exist_is_not_reachable_with_the_reason() -> None:
    upstream = Upstream.stdio("ghost", "mcpwall-no-such-program", env={"TOKEN": SECRET})
    found = await probe(upstream, Connector(), at=AT)
    assert not found.reachable
    assert (
        found.error
        == 'cannot start "mcpwall-no-such-program": no such program (looked in its PATH)'
    )
    assert found.tools == ()
    assert_no_secret(found)


async def test_a_closed_port_is_not_reachable_and_the_url_is_masked() -> None:
    port = free_port()  # free a moment ago, and nothing listens on it
    url = f"http://user:{SECRET}@127.0.0.1:{port}/mcp?key={SECRET}"
    upstream = Upstream.remote("closed", url, {"X-Key": SECRET})
    found = await probe(upstream, Connector(), at=AT)
    assert not found.reachable
    assert "connection refused" in found.error
    assert f"http://user:***@127.0.0.1:{port}/mcp?key=***" in found.error
    assert_no_secret(found)


async def test_a_stdio_upstream_that_never_answers_times_out_and_is_stopped(
    tmp_path: Path,
) -> None:
    pid_file = tmp_path / "pid"
    # Reads its stdin to the end and never writes: no answer to anything.
    script = "import os, sys; open(sys.argv[1], 'w').write(str(os.getpid())); sys.stdin.read()"
    upstream = Upstream.stdio("mute", sys.executable, ("-c", script, str(pid_file)))
    found = await probe(upstream, Connector(), at=AT, timeout=0.5)
    assert not found.reachable
    assert found.error == "no answer within 0.5 s while opening a session"
    pid = int(pid_file.read_text())
    assert not Path(f"/proc/{pid}").exists()  # stopped and reaped


async def test_an_http_upstream_that_never_answers_times_out() -> None:
    with socket.socket() as listener:  # accepts connections (the kernel's backlog), never reads
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        upstream = Upstream.remote("silent", f"http://127.0.0.1:{port}/mcp", {"X-Key": SECRET})
        found = await probe(upstream, Connector(), at=AT, timeout=0.5)
    assert not found.reachable
    assert found.error == "no answer within 0.5 s while opening a session"


def paging_server(pages: int) -> object:
    """A legacy Streamable HTTP server listing ``pages`` pages of two tools each."""

    async def script(method: str, headers: dict[str, str], body: bytes) -> Reply:
        json_type = {"Content-Type": "application/json"}
        if method != "POST":
            return (405 if method == "GET" else 200), {}, b""
        message = json.loads(body)
        name = message.get("method")
        if name == "server/discover":
            return 400, {"Content-Type": "text/plain"}, b"no"
        if name == "initialize":
            info = {
                "protocolVersion": "2025-11-25",
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "pager", "version": "2"},
            }
            return 200, json_type, rpc(message["id"], info).encode()
        if "id" not in message:
            return 202, {}, b""
        page = int((message.get("params") or {}).get("cursor", "0"))
        tools = [{"name": f"tool_{page}_{n}", "inputSchema": {"type": "object"}} for n in range(2)]
        if page == 0:
            tools.append({"inputSchema": {}})  # no name: can't be called, not kept
            tools.append(  # an invalid x-mcp-header annotation: the gateway drops it
                {
                    "name": "bad_header",
                    "inputSchema": {
                        "type": "object",
                        "properties": {"r": {"type": "object", "x-mcp-header": "R"}},
                    },
                }
            )
        result: dict[str, object] = {"tools": tools}
        if page + 1 < pages:
            result["nextCursor"] = str(page + 1)
        return 200, json_type, rpc(message["id"], result).encode()

    return script


async def test_every_page_is_listed_in_order() -> None:
    async with recording_server(paging_server(3)) as (url, seen):  # type: ignore[arg-type]
        found = await probe(Upstream.remote("pager", url), Connector(), at=AT)
    assert found.reachable, found.error
    assert found.tool_names == [
        "tool_0_0", "tool_0_1", "bad_header", "tool_1_0", "tool_1_1", "tool_2_0", "tool_2_1",
    ]  # fmt: skip
    assert not found.more_pages
    [bad] = [tool for tool in found.tools if tool.dropped]
    assert bad.name == "bad_header"
    assert (found.server_name, found.server_version, found.era) == ("pager", "2", "legacy")
    listed = [json.loads(b) for m, _, b in seen.requests if m == "POST"]
    cursors = [
        (m.get("params") or {}).get("cursor") for m in listed if m.get("method") == "tools/list"
    ]
    assert cursors == [None, "1", "2"]


async def test_the_walk_stops_at_the_gateways_page_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pool_module, "MAX_LIST_PAGES", 2)
    async with recording_server(paging_server(5)) as (url, _):  # type: ignore[arg-type]
        found = await probe(Upstream.remote("pager", url), Connector(), at=AT)
    assert found.reachable
    assert found.tool_names == ["tool_0_0", "tool_0_1", "bad_header", "tool_1_0", "tool_1_1"]
    assert found.more_pages


async def test_a_stdio_check_takes_a_process_from_the_gateways_bound() -> None:
    slots = ProcessSlots(limit=2, per_grant=1)
    held = slots.take("(dashboard check)")  # the checks' whole share is in use
    assert held is not None
    connector = Recording()
    refused = await probe(stdio_fixture(), connector, at=AT, processes=slots)
    assert not refused.reachable
    assert "not checked" in refused.error
    assert connector.sessions == []  # nothing was spawned
    held.release()
    found = await probe(stdio_fixture(), connector, at=AT, processes=slots)
    assert found.reachable, found.error
    assert slots.running == 0  # given back once the process exited


def test_redact_masks_every_secret_and_each_long_word_of_one() -> None:
    upstream = Upstream.remote(
        "r",
        f"https://me:{SECRET}@example.com/mcp?token=q-{SECRET}&plain",
        {"Authorization": f"Bearer {SECRET}", "X-Short": "abc"},
    )
    text = f"cannot connect to {upstream.url}: it said {SECRET} and Bearer {SECRET} and q-{SECRET}"
    redacted = redact(text, upstream)
    assert SECRET not in redacted
    assert "https://me:***@example.com/mcp?token=***&plain" in redacted
    assert "it said *** and *** and ***" in redacted
    assert redact("x" * 1000, upstream).endswith("…")
    assert len(redact("x" * 1000, upstream)) == 300


async def test_definitions_are_every_page_exactly_as_sent_with_the_instructions(
    tmp_path: Path,
) -> None:
    definitions = Definitions.create(tmp_path)
    definitions.page_size = 1
    definitions.tools[0]["_meta"] = {"io.example/x": [1, 2.5, None]}
    definitions.write()
    upstream = definitions.upstream()

    listed = await list_definitions(upstream, Connector())
    assert listed.tools == tuple(definitions.tools)  # four pages, every key kept
    assert listed.instructions == definitions.instructions
    assert (listed.complete, listed.unnamed) == (True, 0)
    found = await probe(upstream, Connector(), at=AT)
    assert found.definitions == listed

    definitions.instructions = None
    definitions.write()
    assert (await list_definitions(upstream, Connector())).instructions is None


async def test_definitions_of_an_unreachable_upstream_say_why_without_secrets() -> None:
    upstream = Upstream.stdio("gone", "/nonexistent/mcp-server", env={"API_KEY": SECRET})
    with pytest.raises(UpstreamUnavailable) as raised:
        await list_definitions(upstream, Connector())
    assert "no such program" in raised.value.reason
    assert SECRET not in str(raised.value)


async def test_definitions_take_a_process_slot_like_a_check(tmp_path: Path) -> None:
    slots = ProcessSlots(limit=1, per_grant=1)
    held = slots.take("someone")
    assert held is not None
    with pytest.raises(UpstreamUnavailable, match="as many stdio upstream processes"):
        await list_definitions(
            Definitions.create(tmp_path).upstream(), Connector(), processes=slots
        )
