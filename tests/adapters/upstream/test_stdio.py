"""The stdio session against the SDK fixture server, spawned for real."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mcpwall.adapters.upstream import ChannelSession, connect_stdio
from mcpwall.core.errors import (
    UpstreamClosed,
    UpstreamProtocolError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from mcpwall.core.registry import Upstream
from tests.adapters.upstream.conftest import OFFER, TIMEOUT, Inbox, call, tool_text
from tests.fixtures.servers import Record

pytestmark = pytest.mark.anyio


@pytest.fixture
async def unsolicited() -> Inbox:
    return Inbox()


@pytest.fixture
async def legacy(stdio_upstream: Upstream, unsolicited: Inbox) -> AsyncIterator[ChannelSession]:
    session = await connect_stdio(stdio_upstream, OFFER, unsolicited, mode="legacy")
    yield session
    await session.aclose()


@pytest.fixture
async def modern(stdio_upstream: Upstream, unsolicited: Inbox) -> AsyncIterator[ChannelSession]:
    session = await connect_stdio(stdio_upstream, OFFER, unsolicited, mode="auto")
    yield session
    await session.aclose()


@pytest.fixture(params=["legacy", "modern"])
def session(request: pytest.FixtureRequest) -> ChannelSession:
    """A session of each era."""
    opened: ChannelSession = request.getfixturevalue(request.param)
    return opened


async def test_auto_finds_the_modern_era_of_a_dual_era_server(modern: ChannelSession) -> None:
    assert modern.negotiated.era == "modern"
    assert modern.negotiated.protocol_version == "2026-07-28"
    assert modern.negotiated.server_info == {"name": "mcpwall-fixture", "version": "1.0.0"}
    response = await modern.request("tools/call", call("echo", message="hi"), timeout=TIMEOUT)
    assert tool_text(response) == "hi"
    assert response["result"]["resultType"] == "complete"  # type: ignore[index]


async def test_legacy_opens_with_initialize(legacy: ChannelSession, record: Record) -> None:
    assert legacy.negotiated.era == "legacy"
    assert legacy.negotiated.protocol_version == "2025-11-25"
    assert legacy.negotiated.instructions == "A test fixture."
    await record.wait_for(lambda event: event.get("method") == "notifications/initialized")
    response = await legacy.request("tools/call", call("echo", message="hi"), timeout=TIMEOUT)
    assert tool_text(response) == "hi"


async def test_request_ids_are_the_sessions_own_and_exact(session: ChannelSession) -> None:
    first = await session.request("tools/call", call("request_id"), timeout=TIMEOUT)
    second = await session.request("tools/call", call("request_id"), timeout=TIMEOUT)
    # The id the upstream saw is the one the answer carries: an integer, never reused.
    assert json.loads(tool_text(first)) == first["id"]
    assert json.loads(tool_text(second)) == second["id"]
    assert type(first["id"]) is int
    assert second["id"] == first["id"] + 1


async def test_progress_goes_to_the_request_with_the_callers_token(
    session: ChannelSession, unsolicited: Inbox
) -> None:
    related = Inbox()
    params = {**call("progress", steps=2), "_meta": {"progressToken": "agent-token"}}
    response = await session.request("tools/call", params, related=related, timeout=TIMEOUT)
    assert tool_text(response) == "2 steps done"
    assert [m["params"] for m in related.messages] == [
        {"progressToken": "agent-token", "progress": 1, "total": 2, "message": "step 1 of 2"},
        {"progressToken": "agent-token", "progress": 2, "total": 2, "message": "step 2 of 2"},
    ]
    assert unsolicited.messages == []


async def test_log_messages_go_to_the_request(legacy: ChannelSession) -> None:
    related = Inbox()
    params = call("log", message="hello from the tool", level="warning")
    await legacy.request("tools/call", params, related=related, timeout=TIMEOUT)
    assert related.methods() == ["notifications/message"]
    assert related.messages[0]["params"] == {
        "level": "warning",
        "logger": "fixture",
        "data": "hello from the tool",
    }


async def test_sampling_is_asked_of_the_request_and_answered(legacy: ChannelSession) -> None:
    related = Inbox()
    asking = asyncio.ensure_future(
        legacy.request(
            "tools/call", call("sample", prompt="2+2?"), related=related, timeout=TIMEOUT
        )
    )
    ask = await related.wait_for("sampling/createMessage")
    assert ask["params"]["messages"][0]["content"]["text"] == "2+2?"  # type: ignore[index]
    answer = {"role": "assistant", "content": {"type": "text", "text": "4"}, "model": "test"}
    request_id = ask["id"]
    assert isinstance(request_id, int | str)
    await legacy.respond(request_id, {"jsonrpc": "2.0", "id": "ignored", "result": answer})
    assert tool_text(await asking) == "sampled: 4"


async def test_elicitation_is_asked_of_the_request_and_answered(legacy: ChannelSession) -> None:
    related = Inbox()
    params = call("elicit", question="Which namespace?")
    asking = asyncio.ensure_future(
        legacy.request("tools/call", params, related=related, timeout=TIMEOUT)
    )
    ask = await related.wait_for("elicitation/create")
    assert ask["params"]["message"] == "Which namespace?"  # type: ignore[index]
    request_id = ask["id"]
    assert isinstance(request_id, int | str)
    await legacy.respond(request_id, {"result": {"action": "accept", "content": {"answer": "dev"}}})
    assert tool_text(await asking) == "elicited: dev"


async def test_a_modern_session_has_no_requests_to_answer(modern: ChannelSession) -> None:
    with pytest.raises(UpstreamProtocolError, match="no server→client requests"):
        await modern.respond(1, {"result": {}})


async def test_list_changed_is_unsolicited(legacy: ChannelSession, unsolicited: Inbox) -> None:
    related = Inbox()
    await legacy.request(
        "tools/call", call("add_tool", name="fresh"), related=related, timeout=TIMEOUT
    )
    assert related.messages == []
    await unsolicited.wait_for("notifications/tools/list_changed")
    listed = await legacy.request("tools/list", None, timeout=TIMEOUT)
    assert "fresh" in [tool["name"] for tool in listed["result"]["tools"]]  # type: ignore[index]


async def test_resources_and_prompts_are_relayed(
    legacy: ChannelSession, unsolicited: Inbox
) -> None:
    resources = await legacy.request("resources/list", None, timeout=TIMEOUT)
    assert [r["uri"] for r in resources["result"]["resources"]] == ["fixture://static"]  # type: ignore[index]
    templates = await legacy.request("resources/templates/list", {}, timeout=TIMEOUT)
    assert templates["result"]["resourceTemplates"][0]["uriTemplate"] == "fixture://items/{item}"  # type: ignore[index]
    read = await legacy.request("resources/read", {"uri": "fixture://items/7"}, timeout=TIMEOUT)
    assert read["result"]["contents"][0]["text"] == "item 7"  # type: ignore[index]
    await legacy.request("resources/subscribe", {"uri": "fixture://static"}, timeout=TIMEOUT)
    await legacy.request("tools/call", call("touch", uri="fixture://static"), timeout=TIMEOUT)
    updated = await unsolicited.wait_for("notifications/resources/updated")
    assert updated["params"] == {"uri": "fixture://static"}
    prompt = await legacy.request(
        "prompts/get", {"name": "greet", "arguments": {"name": "Ada"}}, timeout=TIMEOUT
    )
    assert prompt["result"]["messages"][0]["content"]["text"] == "Say hello to Ada."  # type: ignore[index]


async def test_an_error_result_and_an_error_answer_come_back_as_they_are(
    legacy: ChannelSession,
) -> None:
    failed = await legacy.request("tools/call", call("fail", message="nope"), timeout=TIMEOUT)
    assert failed["result"]["isError"] is True  # type: ignore[index]
    missing = await legacy.request("no/such/method", {}, timeout=TIMEOUT)
    assert missing["error"]["code"] == -32601  # type: ignore[index]


async def test_a_timeout_cancels_upstream_with_notifications_cancelled(
    session: ChannelSession, record: Record
) -> None:
    # Both eras cancel with the notification on stdio (2026-07-28 stdio §Cancellation).
    with pytest.raises(UpstreamTimeout, match=r"no answer to tools/call within 0\.5 s"):
        await session.request("tools/call", call("slow", tag="timeout"), timeout=0.5)
    await record.wait_for(lambda event: event == {"event": "slow cancelled", "tag": "timeout"})
    notice = await record.wait_for(lambda event: event.get("method") == "notifications/cancelled")
    # The session lives on; its next id follows the cancelled one.
    echoed = await session.request("tools/call", call("echo", message="after"), timeout=TIMEOUT)
    assert tool_text(echoed) == "after"
    assert notice["params"]["requestId"] == echoed["id"] - 1  # type: ignore[operator]


async def test_a_cancelled_caller_cancels_upstream(legacy: ChannelSession, record: Record) -> None:
    calling = asyncio.ensure_future(
        legacy.request("tools/call", call("slow", tag="caller"), timeout=TIMEOUT)
    )
    await record.wait_for(lambda event: event == {"event": "slow started", "tag": "caller"})
    calling.cancel()
    with pytest.raises(asyncio.CancelledError):
        await calling
    await record.wait_for(lambda event: event == {"event": "slow cancelled", "tag": "caller"})


async def test_a_crash_fails_what_is_in_flight_and_closes_the_session(
    legacy: ChannelSession,
) -> None:
    slow = asyncio.ensure_future(legacy.request("tools/call", call("slow"), timeout=TIMEOUT))
    with pytest.raises(UpstreamClosed, match="exited with code 3"):
        await legacy.request("tools/call", call("crash", code=3), timeout=TIMEOUT)
    with pytest.raises(UpstreamClosed, match="exited with code 3"):
        await slow
    assert legacy.closed
    assert await legacy.wait_closed() == "the process exited with code 3"
    with pytest.raises(UpstreamClosed):
        await legacy.request("tools/call", call("echo", message="x"), timeout=TIMEOUT)


async def test_the_child_gets_its_registry_env_and_not_our_secrets(
    stdio_upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCPWALL_GATEWAY_SECRET", "never-leaves-the-gateway")
    session = await connect_stdio(stdio_upstream, OFFER, Inbox(), mode="legacy")
    try:

        async def seen(name: str) -> str:
            answer = await session.request("tools/call", call("env", name=name), timeout=TIMEOUT)
            return tool_text(answer)

        assert await seen("MCPWALL_FIXTURE_SECRET") == "from-the-registry"
        assert await seen("MCPWALL_GATEWAY_SECRET") == "<unset>"
        assert await seen("PATH") == os.environ["PATH"]
    finally:
        await session.aclose()


async def test_stderr_goes_to_the_upstream_logger(
    legacy: ChannelSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mcpwall.upstream.fixture")
    await legacy.request("tools/call", call("stderr", message="disk almost full"), timeout=TIMEOUT)
    async with asyncio.timeout(TIMEOUT):
        while "stderr: disk almost full" not in caplog.messages:
            await asyncio.sleep(0.01)
    (line,) = [r for r in caplog.records if r.getMessage() == "stderr: disk almost full"]
    assert line.name == "mcpwall.upstream.fixture"
    assert line.levelno == logging.INFO


async def test_a_missing_command_is_unavailable_with_the_reason() -> None:
    upstream = Upstream.stdio("ghost", "mcpwall-no-such-program")
    with pytest.raises(UpstreamUnavailable) as caught:
        await connect_stdio(upstream, OFFER, Inbox())
    assert str(caught.value) == (
        'upstream "ghost": cannot start "mcpwall-no-such-program": no such program '
        "(looked in its PATH)"
    )


async def test_a_missing_working_directory_is_unavailable_with_the_reason() -> None:
    upstream = Upstream.stdio("ghost", sys.executable, cwd="/nonexistent/mcpwall")
    with pytest.raises(UpstreamUnavailable, match='working directory "/nonexistent/mcpwall"'):
        await connect_stdio(upstream, OFFER, Inbox())


async def test_a_process_that_exits_at_once_is_unavailable() -> None:
    upstream = Upstream.stdio("quitter", sys.executable, ("-c", "raise SystemExit(7)"))
    with pytest.raises(UpstreamUnavailable, match="the process exited with code 7"):
        await connect_stdio(upstream, OFFER, Inbox(), mode="legacy")


async def test_a_silent_process_is_unavailable_after_the_timeout() -> None:
    script = "import sys, time; sys.stdin.read(); time.sleep(60)"
    upstream = Upstream.stdio("mute", sys.executable, ("-c", script))
    with pytest.raises(UpstreamUnavailable, match=r"did not answer initialize within 0\.3 s"):
        await connect_stdio(upstream, OFFER, Inbox(), mode="legacy", timeout=0.3, grace=0.2)


async def test_closing_ends_the_process(stdio_upstream: Upstream) -> None:
    session = await connect_stdio(stdio_upstream, OFFER, Inbox(), mode="legacy")
    process = session._wire.process  # type: ignore[attr-defined]
    await session.aclose()
    assert process.returncode is not None
    assert session.closed
    assert session.close_reason == "the session was closed"


# -- what a misbehaving server sends (tests/fixtures/faulty_server.py) ----------------------------

FAULTY_SERVER = Path(__file__).parents[2] / "fixtures" / "faulty_server.py"


@pytest.fixture
async def faulty() -> AsyncIterator[ChannelSession]:
    upstream = Upstream.stdio("faulty", sys.executable, (str(FAULTY_SERVER), "stdio"))
    session = await connect_stdio(
        upstream, OFFER, Inbox(), mode="legacy", max_message_bytes=1024 * 1024
    )
    yield session
    await session.aclose()


async def garbage(session: ChannelSession, kind: str, timeout: float = TIMEOUT) -> None:
    await session.request("tools/call", call("garbage", kind=kind, bytes=2**21), timeout=timeout)


async def test_an_unreadable_answer_with_its_id_fails_its_request_at_once(
    faulty: ChannelSession,
) -> None:
    with pytest.raises(UpstreamProtocolError, match="not a JSON-RPC message"):
        await garbage(faulty, "not_jsonrpc")
    echoed = await faulty.request("tools/call", call("echo", message="after"), timeout=TIMEOUT)
    assert tool_text(echoed) == "after"


@pytest.mark.parametrize(
    ("kind", "seen"),
    [
        ("not_json", "it sent something that is not JSON"),
        ("unknown_id", "it sent an answer to an id it was never sent"),
    ],
)
async def test_a_request_unanswered_after_unmatched_messages_is_a_protocol_error(
    faulty: ChannelSession, kind: str, seen: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="mcpwall.upstream.faulty")
    with pytest.raises(UpstreamProtocolError) as caught:
        await garbage(faulty, kind, timeout=0.5)
    assert caught.value.reason.startswith(
        f"no answer to tools/call within 0.5 s; cancelled upstream; meanwhile {seen}"
    )
    assert f"ignored a message: {seen}" in "\n".join(caplog.messages)
    # Ignored, not fatal: the session goes on, and a later plain timeout is just that.
    assert not faulty.closed
    echoed = await faulty.request("tools/call", call("echo", message="after"), timeout=TIMEOUT)
    assert tool_text(echoed) == "after"
    with pytest.raises(UpstreamTimeout):
        await faulty.request("tools/call", call("block", release="/nonexistent"), timeout=0.3)


async def test_a_late_answer_is_not_taken_for_garbage(
    faulty: ChannelSession, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="mcpwall.upstream.faulty")
    release = tmp_path / "release"
    with pytest.raises(UpstreamTimeout):
        await faulty.request("tools/call", call("block", release=str(release)), timeout=0.3)
    release.touch()  # the timed-out call is answered now, late
    async with asyncio.timeout(TIMEOUT):
        while not any("not in flight" in message for message in caplog.messages):
            await asyncio.sleep(0.01)
    assert not any("ignored a message" in message for message in caplog.messages)


async def test_a_line_over_the_limit_ends_the_session_as_a_protocol_error(
    faulty: ChannelSession,
) -> None:
    with pytest.raises(UpstreamProtocolError, match="a line over the limit of 1048576 bytes"):
        await garbage(faulty, "oversize")
    assert await faulty.wait_closed() == "it sent a line over the limit of 1048576 bytes"
