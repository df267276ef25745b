"""Answering one request in its own task: plain JSON, or an SSE stream pushed as it comes."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine

import orjson
import pytest

from mcpwall.core.errors import StoreUnavailable
from mcpwall.core.jsonrpc import Request
from mcpwall.gateway.streams import Outbox, guarded, reply
from mcpwall.ports.downstream import MemoryResponder
from mcpwall.ports.upstream import Message

pytestmark = pytest.mark.anyio

RESPONSE = b'{"jsonrpc":"2.0","id":1,"result":{}}'


def progress(step: int) -> Message:
    return {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progress": step}}


def no_requests(message: Message, answer: object) -> Message:
    raise AssertionError("not asked here")


async def test_work_that_streams_nothing_is_plain_json_and_runs_in_this_task() -> None:
    responder = MemoryResponder()
    ran_in: list[asyncio.Task[object] | None] = []
    tasks = len(asyncio.all_tasks())

    async def work() -> bytes:
        ran_in.append(asyncio.current_task())
        assert len(asyncio.all_tasks()) == tasks  # no task was made for the work
        return RESPONSE

    answered = await reply(work(), Outbox(responder, no_requests))
    assert ran_in == [asyncio.current_task()]
    assert (answered.status, answered.headers, answered.body) == (
        200, [("content-type", "application/json")], RESPONSE,
    )  # fmt: skip
    assert not answered.pushed
    assert not responder.started


async def test_messages_from_another_task_are_pushed_before_the_response_in_order() -> None:
    responder = MemoryResponder()
    outbox = Outbox(responder, no_requests, [("x-extra", "1")])

    async def reader(response: asyncio.Future[bytes]) -> None:  # as an upstream's reader does
        for step in (1, 2, 3):
            await outbox.notify(progress(step))
        response.set_result(RESPONSE)

    async def work() -> bytes:
        response: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        delivering = asyncio.ensure_future(reader(response))
        answer = await response
        await delivering
        return answer

    answered = await reply(work(), outbox)
    assert answered.pushed
    assert (responder.status, responder.headers) == (200, [("x-extra", "1")])
    assert [orjson.loads(m).get("params", {}).get("progress") for m in responder.messages] == [
        1, 2, 3, None,
    ]  # fmt: skip
    assert responder.messages[-1] == RESPONSE


class SlowResponder(MemoryResponder):
    """Each write waits until the test lets it go, as a back-pressured agent's socket does."""

    def __init__(self) -> None:
        super().__init__()
        self.writing = asyncio.Event()
        self.go = asyncio.Event()
        self.sent = asyncio.Event()

    async def send(self, message: bytes) -> None:
        self.writing.set()
        await self.go.wait()
        await super().send(message)
        self.sent.set()


def at_once(delivering: Coroutine[object, None, None]) -> None:
    """Run ``delivering`` to its end without letting it suspend: it must not wait at all."""
    with pytest.raises(StopIteration):
        delivering.send(None)
    delivering.close()


async def test_a_reader_delivering_to_a_blocked_agent_never_waits() -> None:
    responder = SlowResponder()
    outbox = Outbox(responder, no_requests)
    at_once(outbox.notify(progress(1)))
    await responder.writing.wait()  # the drainer is stuck on the agent's socket
    for step in (2, 3):
        at_once(outbox.notify(progress(step)))  # the reader goes on regardless
    assert responder.messages == []
    responder.go.set()
    assert await outbox.finish(RESPONSE)
    assert responder.messages == [
        orjson.dumps(progress(1)), orjson.dumps(progress(2)), orjson.dumps(progress(3)), RESPONSE,
    ]  # fmt: skip


async def test_writes_are_serialised_and_the_response_waits_for_those_before_it() -> None:
    responder = SlowResponder()
    outbox = Outbox(responder, no_requests)

    async def work() -> bytes:
        return RESPONSE

    first = asyncio.ensure_future(outbox.notify(progress(1)))
    await responder.writing.wait()  # the first write is under way: the others queue behind
    second = asyncio.ensure_future(outbox.notify(progress(2)))
    answering = asyncio.ensure_future(reply(work(), outbox))
    responder.go.set()
    answered = await answering
    await asyncio.gather(first, second)
    assert answered.pushed
    assert responder.messages == [
        orjson.dumps(progress(1)), orjson.dumps(progress(2)), RESPONSE,
    ]  # fmt: skip


async def test_a_message_after_the_response_is_dropped() -> None:
    responder = MemoryResponder()
    outbox = Outbox(responder, no_requests)

    async def work() -> bytes:
        await outbox.notify(progress(1))
        return RESPONSE

    await reply(work(), outbox)
    await outbox.notify(progress(2))
    assert responder.messages == [orjson.dumps(progress(1)), RESPONSE]


async def test_a_cancelled_request_ends_its_stream_without_a_response() -> None:
    responder = SlowResponder()
    responder.go.set()
    outbox = Outbox(responder, no_requests)
    started = asyncio.Event()

    async def work() -> bytes:
        await outbox.notify(progress(1))
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    answering = asyncio.ensure_future(reply(work(), outbox))
    await started.wait()
    await responder.sent.wait()  # progress 1 reached the agent
    answering.cancel()
    with pytest.raises(asyncio.CancelledError):
        await answering
    await outbox.notify(progress(2))  # late: nowhere to go
    assert responder.messages == [orjson.dumps(progress(1))]


async def test_a_stream_that_breaks_does_not_break_who_delivers_to_it() -> None:
    class Gone(MemoryResponder):
        async def send(self, message: bytes) -> None:
            raise OSError("the agent went away")

    outbox = Outbox(Gone(), no_requests)
    await outbox.notify(progress(1))  # raises nothing into the upstream's reader
    await outbox.notify(progress(2))

    async def work() -> bytes:
        return RESPONSE

    assert (await reply(work(), outbox)).pushed


async def test_a_request_for_the_agent_goes_out_under_the_id_it_is_given() -> None:
    responder = MemoryResponder()
    answers: list[object] = []

    def ask(message: Message, answer: object) -> Message:
        answers.append(answer)
        return {**message, "id": "mcpwall-1"}

    async def answer(response: Message) -> None:
        raise AssertionError("not answered here")

    outbox = Outbox(responder, ask)
    await outbox.ask({"jsonrpc": "2.0", "id": 5, "method": "sampling/createMessage"}, answer)
    assert await outbox.finish(RESPONSE)
    assert orjson.loads(responder.messages[0])["id"] == "mcpwall-1"
    assert answers == [answer]


async def test_a_lost_database_is_an_error_saying_so_without_its_address(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def opening() -> Message:
        raise StoreUnavailable("postgresql://mcpwall:***@db.internal/mcpwall", "refused")

    request = Request(id=3, method="tools/call", params={"name": "x"})
    answered = orjson.loads(await guarded(request, opening()))
    assert answered["error"] == {
        "code": -32603,
        "message": "the gateway's database is unreachable: retry later",
    }
    assert "db.internal" not in caplog.text  # the grant cache says it, once per outage
