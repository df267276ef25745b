"""``subscriptions/listen`` on the 2026-07-28 era, in process: the stream an agent gets.

The handler is called directly (an :class:`HttpExchange` in, an :class:`HttpReply` out) so a
test reads the stream frame by frame, as long as it stays open; the upstreams are the fakes
of ``conftest`` (legacy sessions advertising ``tools.listChanged``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest

from mcpwall.core.errors import UpstreamUnavailable
from mcpwall.core.mcp.subscriptions import SUBSCRIPTION_ID_KEY
from mcpwall.ports.clock import FakeClock
from mcpwall.ports.downstream import HttpExchange, HttpReply
from tests.gateway.conftest import Wired
from tests.gateway.test_http import modern_body, modern_headers

pytestmark = pytest.mark.anyio

LISTEN = "subscriptions/listen"
TOOLS_CHANGED: dict[str, object] = {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}
PROMPTS_CHANGED: dict[str, object] = {
    "jsonrpc": "2.0",
    "method": "notifications/prompts/list_changed",
}
STRICTER = '{"version": "1", "default": "allow", "hide": ["list_pods"]}'


def listen_exchange(
    token: str,
    notifications: object,
    *,
    upstream: str | None = "k8s",
    accept: str = "application/json, text/event-stream",
    request_id: object = "listen-1",
) -> HttpExchange:
    body = modern_body(LISTEN, {"notifications": notifications}, request_id=request_id)
    headers = modern_headers(token, LISTEN) | {"accept": accept}
    return HttpExchange("POST", upstream, headers, orjson.dumps(body))


async def open_stream(
    wired: Wired, notifications: object, **options: object
) -> AsyncIterator[bytes]:
    reply = await wired.gateway.handle(listen_exchange(wired.token, notifications, **options))  # type: ignore[arg-type]
    assert reply.status == 200, reply.body
    assert reply.stream is not None
    return reply.stream


async def next_message(stream: AsyncIterator[bytes]) -> dict[str, object]:
    message = orjson.loads(await anext(stream))
    assert isinstance(message, dict)
    return message


async def push(wired: Wired, message: dict[str, object], upstream: str = "k8s") -> None:
    session = next(s for s in wired.connector.sessions if s.name == upstream)
    assert session.on_unsolicited is not None
    await session.on_unsolicited(message)


def tag(message: dict[str, object]) -> object:
    params = message["params"]
    assert isinstance(params, dict)
    return params["_meta"][SUBSCRIPTION_ID_KEY]


async def test_the_stream_opens_with_the_acknowledgement_of_what_is_honoured(
    wired: Wired,
) -> None:
    asked = {
        "toolsListChanged": True,
        "promptsListChanged": True,
        "resourceSubscriptions": ["x://1"],
    }
    stream = await open_stream(wired, asked)
    ack = await next_message(stream)
    assert ack["method"] == "notifications/subscriptions/acknowledged"
    # The fake upstream offers tools only: prompts and resource subscriptions are not honoured.
    assert ack["params"] == {
        "_meta": {SUBSCRIPTION_ID_KEY: "listen-1"},
        "notifications": {"toolsListChanged": True},
    }
    await stream.aclose()  # type: ignore[attr-defined]


async def test_upstream_changes_asked_for_are_relayed_tagged_and_others_are_not(
    wired: Wired,
) -> None:
    stream = await open_stream(wired, {"toolsListChanged": True})
    await next_message(stream)  # the acknowledgement
    await push(wired, PROMPTS_CHANGED)  # not asked for
    await push(wired, TOOLS_CHANGED)
    changed = await next_message(stream)
    assert changed["method"] == "notifications/tools/list_changed"
    assert tag(changed) == "listen-1"
    await stream.aclose()  # type: ignore[attr-defined]


async def test_a_new_policy_version_tells_the_stream_the_tool_list_changed(wired: Wired) -> None:
    stream = await open_stream(wired, {"toolsListChanged": True}, request_id=5)
    await next_message(stream)
    wired.plane.set_policy("seed", STRICTER, actor="t")
    wired.gateway.grants.refresh()
    await wired.gateway.announce_changes()
    changed = await next_message(stream)
    assert changed["method"] == "notifications/tools/list_changed"
    assert tag(changed) == 5
    await stream.aclose()  # type: ignore[attr-defined]


async def test_a_policy_change_elsewhere_is_not_announced(wired: Wired) -> None:
    stream = await open_stream(wired, {"toolsListChanged": True})
    await next_message(stream)
    wired.plane.set_policy("unrelated", STRICTER, actor="t")  # bound to no upstream of ours
    wired.gateway.grants.refresh()
    await wired.gateway.announce_changes()
    await push(wired, TOOLS_CHANGED)
    heard = await next_message(stream)
    assert heard["method"] == "notifications/tools/list_changed"
    wired.gateway.shutdown()
    final = await next_message(stream)
    assert "result" in final  # nothing else came between


async def test_revoking_the_grant_ends_the_stream_with_an_error(wired: Wired) -> None:
    stream = await open_stream(wired, {"toolsListChanged": True})
    await next_message(stream)
    wired.plane.store.revoke_grant("alice", actor="t")
    wired.gateway.grants.refresh()
    await wired.gateway.announce_changes()
    final = await next_message(stream)
    assert final["id"] == "listen-1"
    assert final["error"]["code"] == -32600  # type: ignore[index]
    with pytest.raises(StopAsyncIteration):
        await anext(stream)
    assert len(wired.gateway.listens) == 0
    assert not wired.gateway.pool._listeners.get(("grant:" + _grant_id(wired), "k8s"))


async def test_a_graceful_shutdown_ends_the_stream_with_a_complete_result(wired: Wired) -> None:
    stream = await open_stream(wired, {"toolsListChanged": True})
    await next_message(stream)
    wired.gateway.shutdown()
    final = await next_message(stream)
    assert final["id"] == "listen-1"
    result = final["result"]
    assert isinstance(result, dict)
    assert result["resultType"] == "complete"
    assert result["_meta"][SUBSCRIPTION_ID_KEY] == "listen-1"
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


async def test_the_agent_closing_the_stream_frees_what_it_held(wired: Wired) -> None:
    stream = await open_stream(wired, {"toolsListChanged": True})
    await next_message(stream)
    key = ("grant:" + _grant_id(wired), "k8s")
    assert len(wired.gateway.pool._listeners[key]) == 1
    assert len(wired.gateway.listens) == 1
    await stream.aclose()  # type: ignore[attr-defined]
    assert wired.gateway.pool._listeners[key] == []
    assert len(wired.gateway.listens) == 0
    assert key not in wired.gateway.pool._feeds


async def test_a_stream_never_read_still_frees_what_it_held_when_closed(wired: Wired) -> None:
    reply: HttpReply = await wired.gateway.handle(
        listen_exchange(wired.token, {"toolsListChanged": True})
    )
    assert reply.stream is not None
    await reply.stream.aclose()  # type: ignore[attr-defined]
    assert len(wired.gateway.listens) == 0


async def test_the_aggregate_endpoint_hears_every_upstream_and_leaves_raw_uris_out(
    wired: Wired,
) -> None:
    asked = {"toolsListChanged": True, "resourceSubscriptions": ["x://1"]}  # not mcpwall://
    stream = await open_stream(wired, asked, upstream=None)
    ack = await next_message(stream)
    assert ack["params"]["notifications"] == {"toolsListChanged": True}  # type: ignore[index]
    await push(wired, TOOLS_CHANGED, upstream="docs")
    assert (await next_message(stream))["method"] == "notifications/tools/list_changed"
    await stream.aclose()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "notifications",
    [
        None,
        [],
        {"toolsListChanged": "yes"},
        {"resourceSubscriptions": "x://1"},
        {"resourceSubscriptions": [1]},
    ],
)
async def test_a_malformed_filter_is_refused(wired: Wired, notifications: object) -> None:
    reply = await wired.gateway.handle(listen_exchange(wired.token, notifications))
    assert reply.status == 400
    assert orjson.loads(reply.body)["error"]["code"] == -32602
    assert len(wired.gateway.listens) == 0


async def test_a_listen_that_does_not_accept_a_stream_is_refused(wired: Wired) -> None:
    reply = await wired.gateway.handle(
        listen_exchange(wired.token, {"toolsListChanged": True}, accept="application/json")
    )
    assert reply.status == 406


async def test_a_listen_without_a_token_or_binding_is_refused_before_anything(wired: Wired) -> None:
    exchange = listen_exchange("mcpw_" + "A" * 43, {"toolsListChanged": True})
    assert (await wired.gateway.handle(exchange)).status == 401
    unbound = listen_exchange(wired.token, {"toolsListChanged": True}, upstream="nope")
    assert (await wired.gateway.handle(unbound)).status == 403
    assert wired.connector.sessions == []


async def test_discover_advertises_the_list_changes_listen_delivers(wired: Wired) -> None:
    body = modern_body("server/discover")
    headers = modern_headers(wired.token, "server/discover")
    reply = await wired.gateway.handle(HttpExchange("POST", "k8s", headers, orjson.dumps(body)))
    assert orjson.loads(reply.body)["result"]["capabilities"]["tools"] == {"listChanged": True}


async def test_a_stream_whose_agent_stops_reading_ends(
    wired: Wired, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mcpwall.gateway.listening.MAX_BACKLOG", 2)
    stream = await open_stream(wired, {"toolsListChanged": True, "resourcesListChanged": True})
    await next_message(stream)
    for index in range(3):  # distinct frames: identical ones waiting are told once
        await push(wired, {**TOOLS_CHANGED, "params": {"n": index}})
    frames = [frame async for frame in stream]
    assert len(frames) == 2  # what was queued, then the end, with no result


async def test_identical_changes_waiting_are_told_once(wired: Wired) -> None:
    stream = await open_stream(wired, {"toolsListChanged": True})
    await next_message(stream)
    for _ in range(3):
        await push(wired, TOOLS_CHANGED)
    wired.gateway.shutdown()
    rest = [orjson.loads(frame) async for frame in stream]
    assert [message.get("method") for message in rest] == ["notifications/tools/list_changed", None]


def _grant_id(wired: Wired) -> str:
    return wired.plane.store.list_grants()[0].id


async def test_a_grant_expiring_ends_its_stream(wired: Wired) -> None:
    issued = wired.plane.issue_grant("brief", {"k8s": "seed"}, expires_in=60, actor="t")
    reply = await wired.gateway.handle(listen_exchange(issued.token, {"toolsListChanged": True}))
    assert reply.stream is not None
    await next_message(reply.stream)
    assert isinstance(wired.plane.clock, FakeClock)
    wired.plane.clock.advance(61)
    await wired.gateway.announce_changes()  # what the server does every second
    final = await next_message(reply.stream)
    assert final["error"]["code"] == -32600  # type: ignore[index]


# -- the proxy log ----------------------------------------------------------------------------------


def rows(wired: Wired) -> list[tuple[str, str, str, str]]:
    return [(r.method, r.upstream, r.outcome, r.rule) for r in wired.sink.records]


@pytest.mark.parametrize(("upstream", "logged"), [("k8s", "k8s"), (None, "")])
async def test_an_accepted_listen_is_one_proxy_log_row(
    wired: Wired, upstream: str | None, logged: str
) -> None:
    asked = {"toolsListChanged": True, "resourceSubscriptions": ["x://secret-1"]}
    stream = await open_stream(wired, asked, upstream=upstream)
    await next_message(stream)
    await stream.aclose()  # type: ignore[attr-defined]
    assert rows(wired) == [(LISTEN, logged, "ok", "")]
    assert wired.sink.records[0].argument_keys == ()
    assert "secret-1" not in repr(wired.sink.records)


async def test_a_refused_listen_is_one_proxy_log_row(wired: Wired) -> None:
    await wired.gateway.handle(listen_exchange(wired.token, {"toolsListChanged": "yes"}))
    await wired.gateway.handle(
        listen_exchange(wired.token, {"toolsListChanged": True}, accept="application/json")
    )
    assert rows(wired) == [
        (LISTEN, "k8s", "not_forwarded", "(bad request)"),
        (LISTEN, "k8s", "not_forwarded", ""),
    ]


async def test_a_listen_whose_upstream_is_down_opens_and_is_logged_unreachable(
    wired: Wired, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refused(*args: object) -> None:
        raise UpstreamUnavailable("k8s", "connection refused")

    monkeypatch.setattr(wired.connector, "connect", refused)
    stream = await open_stream(wired, {"toolsListChanged": True})
    ack = await next_message(stream)
    assert ack["params"]["notifications"] == {}  # type: ignore[index]
    await stream.aclose()  # type: ignore[attr-defined]
    assert rows(wired) == [(LISTEN, "k8s", "unreachable", "")]


async def test_an_upstream_gone_while_the_listen_opens_is_left_out(
    wired: Wired, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = wired.gateway.pool
    listen = pool.listen

    async def docs_gone(owner: str, upstream: str, *args: object, **kwargs: object) -> object:
        if upstream == "docs":
            raise UpstreamUnavailable("docs", "it went away")
        return await listen(owner, upstream, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pool, "listen", docs_gone)
    stream = await open_stream(wired, {"toolsListChanged": True}, upstream=None)
    await next_message(stream)  # the acknowledgement
    await push(wired, TOOLS_CHANGED, upstream="k8s")
    assert (await next_message(stream))["method"] == "notifications/tools/list_changed"
    assert rows(wired)[-1][:3] == ("subscriptions/listen", "", "ok")
    await stream.aclose()  # type: ignore[attr-defined]
