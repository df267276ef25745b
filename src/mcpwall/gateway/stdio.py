"""MCP over stdio for desktop agents: ``mcpwall stdio --upstream NAME``.

The agent spawns mcpwall and speaks newline-delimited JSON-RPC on its stdin and stdout; the
grant token comes from ``MCPWALL_TOKEN``. One process is one session: ``initialize`` makes it
a legacy session, a request carrying the 2026-07-28 envelope is served statelessly (and a
``subscriptions/listen`` among them streams its changes on stdout until the agent cancels it,
or the grant may no longer listen: ``gateway/listening.py``). The same
pipeline as over HTTP decides every call, and the token is checked again on every request
(from the grant cache), so a revocation takes effect on the next one. Our own logs go to
stderr only: stdout carries MCP and nothing else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import orjson

from mcpwall.core.errors import (
    InvalidRequest,
    OverCapacity,
    ProtocolError,
    StoreUnavailable,
    UpstreamError,
)
from mcpwall.core.jsonrpc import (
    ErrorResponse,
    Notification,
    Request,
    RequestId,
    ResultResponse,
    decode,
    encode_error,
    encode_refusal,
)
from mcpwall.core.mcp import (
    Relays,
    check_modern_method,
    check_version,
    initialize_result,
    is_modern,
    negotiate_legacy,
    parse_initialize,
    read_envelope,
    server_capabilities,
)
from mcpwall.core.mcp.agent_messages import CANCELLED, INITIALIZED, check_agent_notification
from mcpwall.core.mcp.versions import LATEST_LEGACY
from mcpwall.gateway.grants import GrantCache, Principal
from mcpwall.gateway.listening import Listening, OpenStreams, open_listen
from mcpwall.gateway.pipeline import SERVER_INFO, Caller, Pipeline, client_offer
from mcpwall.gateway.sessions import LegacySession
from mcpwall.gateway.streams import guarded, response_message
from mcpwall.gateway.upstreams import UpstreamPool
from mcpwall.ports.upstream import Message

Write = Callable[[bytes], Awaitable[None]]
LISTEN = "subscriptions/listen"
REVIEW_EVERY_SECONDS = 1.0  # how often open listen streams look for store changes
NOT_AUTHORIZED = "the grant token is unknown, revoked, expired or not bound to this upstream"
NOT_CHECKABLE = "the gateway can't check the grant token now: its database is unreachable"
INTERNAL_ERROR = -32603


class StdioGateway:
    """Serves one agent over a pair of byte streams (stdin, stdout)."""

    def __init__(
        self,
        grants: GrantCache,
        pipeline: Pipeline,
        pool: UpstreamPool,
        upstream: str,
        token: str,
        *,
        listens: OpenStreams | None = None,
    ) -> None:
        self.grants = grants
        self.pipeline = pipeline
        self.pool = pool
        self.upstream = upstream
        self.token = token
        self.session = LegacySession("stdio", "", upstream, LATEST_LEGACY, {}, streaming=True)
        self.initialized = False  # an initialize was answered: this process is a legacy session
        self._write: Write | None = None
        self._write_lock = asyncio.Lock()
        self.listens = OpenStreams() if listens is None else listens
        self._listening: dict[RequestId, asyncio.Task[None]] = {}  # listen requests, by id

    async def serve(self, lines: asyncio.StreamReader, write: Write) -> None:
        """Answer messages until the agent closes stdin; then end the upstream sessions."""
        self._write = write
        forward = asyncio.ensure_future(self._forward_unsolicited())
        review = asyncio.ensure_future(self._review_listens())
        running: set[asyncio.Task[None]] = set()
        try:
            while line := await lines.readline():
                if line.strip():
                    task = asyncio.ensure_future(self._message(line))
                    running.add(task)
                    task.add_done_callback(running.discard)
            self.listens.finish_all()  # the agent is gone: its listen streams end
            await asyncio.gather(*running, return_exceptions=True)
        finally:
            forward.cancel()
            review.cancel()
            await self.pool.close_owner(self.session.id)

    async def send(self, data: bytes) -> None:
        """Write one message as one line; lines of concurrent requests never interleave."""
        assert self._write is not None
        async with self._write_lock:
            await self._write(data + b"\n")

    async def _forward_unsolicited(self) -> None:
        while True:
            await self.send(await self.session.outbox.get())

    async def _review_listens(self) -> None:
        """Each second: while the store is lost, look for it again (the grant cache serves
        what it read meanwhile, for its grace); end the listen streams whose grant may no
        longer listen, tell the others when a policy change may have changed their tool
        lists; and tell the agent when its upstream's withheld tools changed
        (``gateway/pins.py``)."""
        announced = self.grants.changes
        while True:
            await asyncio.sleep(REVIEW_EVERY_SECONDS)
            if self.grants.outage is not None:
                await self.grants.confirm()
            withheld = await self._withheld_changes()
            if self.upstream in withheld and self.initialized:
                await self.session.push(
                    {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}
                )
            if not self.listens:
                continue
            self.grants.refresh()
            self.listens.expire(self.grants)
            if self.grants.changes != announced:
                announced = self.grants.changes
                await self.listens.review(self.grants)
            self.listens.tools_changed(withheld)

    async def _withheld_changes(self) -> set[str]:
        pins = self.pipeline.pins
        if pins is None:
            return set()
        try:
            self.grants.refresh()
            await pins.review()
        except StoreUnavailable:
            return set()  # said by the requests that fail; the next tick tries again
        return pins.take_changed()

    async def _message(self, line: bytes) -> None:
        try:
            message = decode(line.rstrip(b"\r\n"))
        except ProtocolError as error:
            await self.send(encode_refusal(error, getattr(error, "request_id", None)))
            return
        try:
            principal = await self.grants.authenticate(self.token)
        except StoreUnavailable:  # lost, and past the grace (the grant cache said so)
            if isinstance(message, Request):
                await self.send(encode_error(message.id, INTERNAL_ERROR, NOT_CHECKABLE))
            return
        if principal is None or self.upstream not in principal.bindings:
            if isinstance(message, Request):
                await self.send(encode_error(message.id, -32600, NOT_AUTHORIZED))
            return
        if isinstance(message, ResultResponse | ErrorResponse):
            await self.session.answered(message.id, response_message(message))
        elif isinstance(message, Notification):
            await self._notification(message, principal)
        elif message.method == LISTEN and is_modern(message.params):
            listen = asyncio.ensure_future(self._listen(message, principal))
            self._listening[message.id] = listen
            try:
                await listen
            except asyncio.CancelledError:
                return  # the agent cancelled it: the subscription is over
            finally:
                self._listening.pop(message.id, None)
        else:
            task = asyncio.ensure_future(guarded(message, self._request(message, principal)))
            self.session.in_flight[message.id] = task
            try:
                await self.send(await task)
            except asyncio.CancelledError:
                return  # cancelled by the agent: no answer (the spec says the receiver SHOULD not)
            finally:
                self.session.in_flight.pop(message.id, None)

    async def _request(self, request: Request, principal: Principal) -> Message:
        if is_modern(request.params):
            return await self.pipeline.handle(self._modern_caller(request, principal), request)
        caller = Caller(
            principal, self.upstream, self.session.id, "legacy", self.session.version,
            self.session.capabilities, _Channel(self),
        )  # fmt: skip
        if request.method == "initialize":
            return await self._initialize(caller, request)
        return await self.pipeline.handle(caller, request)

    async def _listen(self, request: Request, principal: Principal) -> None:
        """Serve a 2026-07-28 listen request: its frames, one line each, until it ends."""
        try:
            caller = self._modern_caller(request, principal)
            stream = await open_listen(
                self.pipeline, caller, request, self.token, self.listens, stdio=True
            )
        except ProtocolError as error:
            await self.send(encode_refusal(error, request.id))
            return
        frames = Listening(stream, self.listens)
        try:
            async for frame in frames:
                await self.send(frame)
        finally:
            await frames.aclose()

    def _modern_caller(self, request: Request, principal: Principal) -> Caller:
        check_modern_method(request.method)
        envelope = read_envelope(request.params)
        check_version(envelope.protocol_version)
        return Caller(
            principal, self.upstream, f"grant:{principal.grant_id}", "modern",
            envelope.protocol_version, envelope.client_capabilities, _Channel(self),
        )  # fmt: skip

    async def _initialize(self, caller: Caller, request: Request) -> Message:
        """Open the legacy session, once: a second ``initialize`` is refused (and recorded),
        never relayed, whatever the upstream would make of it."""
        if self.initialized:
            refusal = InvalidRequest("this session is already initialized", request_id=request.id)
            await self.pipeline.record_refusal(
                caller.principal, self.upstream, request.id, request.method, refusal
            )
            raise refusal
        hello = parse_initialize(request.params)
        self.initialized = True  # at once: a second initialize sent meanwhile is refused too
        self.session.version = negotiate_legacy(hello.protocol_version)
        self.session.capabilities = hello.capabilities
        offer = client_offer(hello.capabilities, "legacy")
        try:
            active = await self.pool.session(
                self.session.id, self.upstream, offer, self.session.push
            )
        except BaseException as failed:
            self.initialized = False  # nothing was opened: the agent may try again
            if isinstance(failed, OverCapacity):  # no process free for the upstream
                await self.pipeline.record_refusal(
                    caller.principal, self.upstream, request.id, request.method, failed
                )
            raise
        relays = Relays(list_changed=True, resource_updates=True)
        capabilities = server_capabilities([dict(active.negotiated.capabilities)], relays)
        await self.pipeline.record(caller, request, self.upstream, "ok")
        return {"result": initialize_result(hello, capabilities, SERVER_INFO)}

    async def _notification(self, message: Notification, principal: Principal) -> None:
        """The gateway's own lifecycle and cancellation; progress and roots changes relayed;
        anything else — a request method sent without an id above all — dropped and
        recorded, never forwarded (a notification gets no answer). An agent that has not
        initialized speaks 2026-07-28, whose only client notification is a cancellation."""
        try:
            check_agent_notification(message.method, "legacy" if self.initialized else "modern")
        except ProtocolError:
            await self.pipeline.record_dropped(principal, self.upstream, message)
            return
        if message.method == INITIALIZED:
            return
        if message.method == CANCELLED:
            target = (message.params or {}).get("requestId")
            if isinstance(target, str | int):
                task = self.session.in_flight.get(target) or self._listening.get(target)
                if task is not None:
                    task.cancel()  # which cancels it upstream too
            return
        offer = client_offer(self.session.capabilities, "legacy")
        try:
            active = await self.pool.session(self.session.id, self.upstream, offer)
            await active.notify(message.method, message.params)
        except (UpstreamError, OverCapacity):
            return  # a notification gets no answer; the next request will report the upstream


class _Channel:
    """The stream of a stdio request to the agent: stdout."""

    def __init__(self, gateway: StdioGateway) -> None:
        self.gateway = gateway

    async def notify(self, message: Message) -> None:
        await self.gateway.send(orjson.dumps(message))

    async def ask(self, message: Message, answer: Callable[[Message], Awaitable[None]]) -> None:
        asked = self.gateway.session.ask(message, answer)
        await self.gateway.send(orjson.dumps(asked))
