"""Where a message on a single stream goes: answers by id, progress by token, the rest by
whether exactly one request is in flight."""

from __future__ import annotations

import pytest

from mcpwall.adapters.upstream.routing import InFlight
from mcpwall.core.errors import UpstreamClosed
from mcpwall.ports.upstream import Message
from tests.adapters.upstream.conftest import Inbox

pytestmark = pytest.mark.anyio

LOG: Message = {"jsonrpc": "2.0", "method": "notifications/message", "params": {"data": "x"}}
LIST_CHANGED: Message = {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}
SAMPLE: Message = {"jsonrpc": "2.0", "id": 1, "method": "sampling/createMessage", "params": {}}


def progress(token: object) -> Message:
    return {
        "jsonrpc": "2.0",
        "method": "notifications/progress",
        "params": {"progressToken": token},
    }


async def test_ids_are_fresh_and_answers_settle_by_id() -> None:
    inflight = InFlight(Inbox())
    first, second = inflight.open(None), inflight.open(None)
    assert (first.id, second.id) == (1, 2)
    assert inflight.settle(2, {"id": 2, "result": {}})
    assert not inflight.settle(2, {"id": 2, "result": {}})  # answered already
    assert not inflight.settle("1", {"id": "1", "result": {}})  # "1" is not 1
    assert await second.answer == {"id": 2, "result": {}}
    inflight.discard(first)
    assert not inflight.settle(1, {"id": 1, "result": {}})
    assert inflight.open(None).id == 3  # never reused


async def test_progress_goes_to_its_request_with_the_callers_token() -> None:
    unsolicited, related = Inbox(), Inbox()
    inflight = InFlight(unsolicited)
    pending = inflight.open(related)
    pending.progress_token = "agent"
    inflight.open(Inbox())
    receiver, message = inflight.route(
        progress(pending.id), "notifications/progress", is_request=False
    ) or (None, None)
    assert receiver is related
    assert message == progress("agent")


async def test_progress_for_no_request_in_flight_is_dropped() -> None:
    inflight = InFlight(Inbox())
    inflight.open(Inbox())  # asked for no progress
    assert inflight.route(progress(1), "notifications/progress", is_request=False) is None
    assert inflight.route(progress(99), "notifications/progress", is_request=False) is None


@pytest.mark.parametrize("message", [LOG, SAMPLE], ids=["log", "server request"])
async def test_with_one_request_in_flight_it_gets_the_related_messages(message: Message) -> None:
    unsolicited, related = Inbox(), Inbox()
    inflight = InFlight(unsolicited)
    inflight.open(related)
    method = message["method"]
    assert isinstance(method, str)
    assert inflight.route(message, method, is_request="id" in message) == (related, message)


@pytest.mark.parametrize("message", [LOG, SAMPLE], ids=["log", "server request"])
async def test_with_two_in_flight_no_one_can_tell_so_it_is_unsolicited(message: Message) -> None:
    unsolicited = Inbox()
    inflight = InFlight(unsolicited)
    inflight.open(Inbox())
    inflight.open(Inbox())
    method = message["method"]
    assert isinstance(method, str)
    assert inflight.route(message, method, is_request="id" in message) == (unsolicited, message)


async def test_session_notifications_are_unsolicited_even_during_a_request() -> None:
    unsolicited = Inbox()
    inflight = InFlight(unsolicited)
    inflight.open(Inbox())
    route = inflight.route(LIST_CHANGED, "notifications/tools/list_changed", is_request=False)
    assert route == (unsolicited, LIST_CHANGED)


async def test_fail_all_fails_every_request_in_flight() -> None:
    inflight = InFlight(Inbox())
    pending = [inflight.open(None), inflight.open(None)]
    inflight.fail_all(UpstreamClosed("u", "gone"))
    for each in pending:
        with pytest.raises(UpstreamClosed, match="gone"):
            await each.answer
    assert len(inflight) == 0


def tagged(method: str, subscription: object) -> Message:
    meta = {"io.modelcontextprotocol/subscriptionId": subscription}
    return {"jsonrpc": "2.0", "method": method, "params": {"_meta": meta}}


async def test_what_is_tagged_with_a_listen_request_goes_to_it() -> None:
    unsolicited, listening = Inbox(), Inbox()
    inflight = InFlight(unsolicited)
    listen = inflight.open(listening, listen=True)
    change = tagged("notifications/tools/list_changed", listen.id)
    assert inflight.route(change, "notifications/tools/list_changed", is_request=False) == (
        listening,
        change,
    )
    ended: Message = {"jsonrpc": "2.0", "method": "notifications/cancelled",
                      "params": {"requestId": listen.id}}  # fmt: skip
    assert inflight.route(ended, "notifications/cancelled", is_request=False) == (listening, ended)
    other = tagged("notifications/tools/list_changed", listen.id + 100)
    assert inflight.route(other, "notifications/tools/list_changed", is_request=False) == (
        unsolicited,
        other,
    )


async def test_an_open_listen_is_never_the_one_request_in_flight() -> None:
    unsolicited, call = Inbox(), Inbox()
    inflight = InFlight(unsolicited)
    inflight.open(Inbox(), listen=True)
    assert inflight.route(LOG, "notifications/message", is_request=False) == (unsolicited, LOG)
    inflight.open(call)
    assert inflight.route(LOG, "notifications/message", is_request=False) == (call, LOG)
