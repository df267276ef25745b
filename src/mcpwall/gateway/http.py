"""MCP over Streamable HTTP, both eras, in front of the pipeline.

Every request is authenticated first (DESIGN §4), from its headers, before the server reads
its body (:meth:`HttpGateway.admit`): no or an unknown, revoked or expired grant token gets
401 with ``WWW-Authenticate: Bearer``, its body unread; a grant used on an upstream it has no
binding for gets 403 (its body is read, for the proxy log's row). Nothing is forwarded in
either case. When the grant can't be checked — the store is lost and the token was not
cached, or the store has been lost for longer than ``MCPWALL_STORE_GRACE`` — or the proxy
log's buffer is full (its rows can't be written as fast as they come, or at all), the
request gets 503 with ``Retry-After``, its body unread, and no proxy-log row: it was not
served (``docs/operations.md``, "When the database is lost").

Then the era decides the shape:

- **2026-07-28** (``MCP-Protocol-Version: 2026-07-28``, or a body carrying the modern
  ``_meta`` envelope): stateless. Each POST carries one request; its ``Mcp-Method`` /
  ``Mcp-Name`` headers must agree with the body (-32020), and so must a call's
  ``Mcp-Param-*`` headers (checked in the pipeline, which knows the tool's schema);
  ``server/discover`` is answered here;
  ``subscriptions/listen`` opens a stream of changes (``gateway/listening.py``); GET and
  DELETE get 405.
- **Legacy** (2024-11-05 … 2025-11-25): ``initialize`` opens a session (``Mcp-Session-Id``);
  later POSTs carry requests, notifications, and the agent's answers to server→client
  requests; GET opens the stream of messages that belong to no request; DELETE ends it.

What a grant holds open is bounded (``gateway/sessions.py``, ``gateway/listening.py``,
``gateway/processes.py``). Past a bound, ``initialize``, ``server/discover`` and
``subscriptions/listen`` are answered 429 (the grant's own cap) or 503 (the gateway's) with
``Retry-After`` and a JSON-RPC error naming the cap, its value and when to retry, and leave one
proxy-log row; so is any other request that finds no process free for its stdio upstream (its
own having crashed, or been stopped when idle), in either era. In a legacy batch the error is
that element's answer, the batch answered 200. A legacy GET stream needs no cap of its own:
there is one per session at most.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime

import orjson

from mcpwall.core.errors import (
    InvalidRequest,
    OverCapacity,
    ProtocolError,
    StoreError,
    StoreLost,
    StoreUnavailable,
    UpstreamError,
)
from mcpwall.core.jsonrpc import (
    Batch,
    ErrorResponse,
    Notification,
    Request,
    ResultResponse,
    decode,
    encode_refusal,
)
from mcpwall.core.mcp import (
    Relays,
    allows_batches,
    check_headers,
    check_modern_method,
    check_version,
    discover_result,
    http_status,
    initialize_result,
    is_modern,
    negotiate_legacy,
    parse_initialize,
    read_envelope,
    retry_after,
    server_capabilities,
)
from mcpwall.core.mcp.agent_messages import CANCELLED, INITIALIZED, check_agent_notification
from mcpwall.core.mcp.params import received_params
from mcpwall.core.mcp.status import MODERN_STATUS
from mcpwall.core.mcp.versions import LEGACY_VERSIONS
from mcpwall.gateway.aggregate import session_listener
from mcpwall.gateway.grants import GrantCache, Principal
from mcpwall.gateway.listening import Listening, OpenStreams, open_listen
from mcpwall.gateway.pipeline import SERVER_INFO, Caller, Pipeline, client_offer
from mcpwall.gateway.readiness import ReadinessProbe
from mcpwall.gateway.sealing import SessionSealing
from mcpwall.gateway.sessions import LegacySession, Running, SessionTable
from mcpwall.gateway.streams import JSON_HEADERS, Outbox, guarded, reply, response_message
from mcpwall.gateway.upstreams import UpstreamPool
from mcpwall.ports.downstream import ALWAYS_READY, HttpExchange, HttpReply, Readiness
from mcpwall.ports.upstream import Message

log = logging.getLogger("mcpwall.gateway")

SESSION_HEADER = "mcp-session-id"
INTERNAL_ERROR = -32603
DISCOVER_TTL_MS = 0
LISTEN = "subscriptions/listen"
DISCOVER = "server/discover"
END_OF_STREAM = b""  # queued to end a GET stream: a pushed message is never empty
EXPIRY_CHECK_SECONDS = 1.0  # how often open listen streams are checked for expired grants
RETRY_AFTER_SECONDS = "5"  # for 503s of a lost store or a full proxy log: no exact time to give
STORE_LOST = "the gateway can't check grants: its database has been unreachable for too long"
NOT_CHECKABLE = "the gateway can't check this grant now: its database is unreachable"
LOG_FULL = "the gateway's proxy log is full (its rows can't be written now): retry later"


def _unauthorized(description: str) -> HttpReply:
    challenge = f'Bearer realm="mcpwall", error="invalid_token", error_description="{description}"'
    body = orjson.dumps({"error": {"code": 401, "message": description}})
    return HttpReply(401, [*JSON_HEADERS, ("www-authenticate", challenge)], body)


def _plain(status: int, message: str, headers: list[tuple[str, str]] | None = None) -> HttpReply:
    body = orjson.dumps({"error": {"code": status, "message": message}})
    return HttpReply(status, [*JSON_HEADERS, *(headers or [])], body)


def _refused(error: ProtocolError, request_id: object, *, modern: bool) -> HttpReply:
    rid = (
        request_id
        if isinstance(request_id, str | int) and not isinstance(request_id, bool)
        else None
    )
    headers = [*JSON_HEADERS, *retry_after(error)]
    return HttpReply(http_status(error, modern=modern), headers, encode_refusal(error, rid))


class HttpGateway:
    """The :class:`~mcpwall.ports.downstream.HttpHandler` of the data plane."""

    def __init__(
        self,
        grants: GrantCache,
        pipeline: Pipeline,
        pool: UpstreamPool,
        sessions: SessionTable | None = None,
        listens: OpenStreams | None = None,
        readiness: ReadinessProbe | None = None,
        log_full: Callable[[], bool] | None = None,
        sealing: SessionSealing | None = None,
    ) -> None:
        self.grants = grants
        self.log_full = log_full
        self._log_full_said = False
        self.probe = readiness
        self.pipeline = pipeline
        self.pool = pool
        self.sessions = SessionTable() if sessions is None else sessions
        self.listens = OpenStreams() if listens is None else listens
        self.sealing = sealing  # None: session ids are good in this process only
        self._announced = grants.changes
        self._next_expiry_check = 0.0

    async def readiness(self) -> Readiness:
        """Whether this replica can serve now (see :mod:`.readiness`); without a probe, ready."""
        return ALWAYS_READY if self.probe is None else await self.probe.readiness()

    async def admit(
        self, headers: Mapping[str, str], duplicated: tuple[str, ...]
    ) -> Principal | HttpReply:
        """The grant whose token the request bears, or the 401 (503 when the store can't be
        read) that refuses it; the server reads the body of an admitted request only."""
        header = headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or "authorization" in duplicated:
            return _unauthorized("a grant token is required (Authorization: Bearer mcpw_...)")
        try:
            principal = await self.grants.authenticate(token)
        except StoreLost:  # the grant cache said so, once per outage
            return _plain(503, STORE_LOST, [("retry-after", RETRY_AFTER_SECONDS)])
        except StoreUnavailable:
            return _plain(503, NOT_CHECKABLE, [("retry-after", RETRY_AFTER_SECONDS)])
        if principal is None:
            return _unauthorized("the grant token is unknown, revoked or expired")
        if self.log_full is not None and self._refuses_for_the_log(self.log_full()):
            # Served, it would add a row to a queue that is not draining: refused instead,
            # as a call must not be served unlogged nor wait for ever (fail closed).
            return _plain(503, LOG_FULL, [("retry-after", RETRY_AFTER_SECONDS)])
        return principal

    def _refuses_for_the_log(self, full: bool) -> bool:
        """``full``, said in the process log when refusals begin and when they end."""
        if full != self._log_full_said:
            self._log_full_said = full
            if full:
                log.error("the proxy log's buffer is full: refusing requests until it drains")
            else:
                log.warning("the proxy log's buffer has room again: serving requests")
        return full

    async def refused(self, exchange: HttpExchange, status: int, message: str) -> None:
        """Record a request refused for its body (over the limit, not whole in time)."""
        principal = exchange.admitted
        if isinstance(principal, Principal):
            await self.pipeline.record_http_refusal(
                principal, exchange.upstream, None, "", f"HTTP {status}: {message}"
            )

    async def handle(self, exchange: HttpExchange) -> HttpReply:
        principal = exchange.admitted
        if not isinstance(principal, Principal):  # a caller that did not admit it first
            admitted = await self.admit(exchange.headers, exchange.duplicated)
            if isinstance(admitted, HttpReply):
                return admitted
            principal = admitted
        await self.announce_changes()
        if exchange.upstream is not None and exchange.upstream not in principal.bindings:
            request_id, method = _peek(exchange.body)
            await self.pipeline.record_unbound(principal, exchange.upstream, request_id, method)
            return _plain(403, f'this grant has no binding for upstream "{exchange.upstream}"')
        expired = self.sessions.expired()
        if expired:
            await self._expire_sessions(expired)
        if self._is_modern(exchange):
            if exchange.method != "POST":
                message = f"{exchange.method} is not used with protocol 2026-07-28"
                return await self._refuse(principal, exchange, 405, message, [("allow", "POST")])
            return await self._modern(exchange, principal)
        return await self._legacy(exchange, principal)

    async def announce_changes(self) -> None:
        """Tell legacy sessions their tool lists may have changed, when the store did.

        A new policy version can hide or reveal tools, and so can pins (a tool withheld for
        its definition, or accepted); sessions with a GET stream get
        ``notifications/tools/list_changed`` and list again. Also called periodically by the
        server, so a change is announced without waiting for a request. Sessions of grants
        revoked since end, with their GET streams. 2026-07-28 listen
        streams are reviewed too: ended when their grant may no longer listen, told when
        their tool lists may have changed.
        """
        if self.listens and time.monotonic() >= self._next_expiry_check:
            self._next_expiry_check = time.monotonic() + EXPIRY_CHECK_SECONDS
            self.listens.expire(self.grants)
        pins = self.pipeline.pins
        # Asked here first: a coroutine per request less while nothing changed (most).
        withheld = set() if pins is None or pins.quiet else await self._withheld_changes()
        if self.grants.changes == self._announced and not withheld:
            return
        if not await self._end_inactive_sessions():
            return  # the store can't be read now: all of this again next time
        self._announced = self.grants.changes
        for session in self.sessions.all():
            await session.push({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
        await self.listens.review(self.grants)
        self.listens.tools_changed(withheld)

    async def _end_inactive_sessions(self) -> bool:
        """End the legacy sessions, and their GET streams, of grants revoked (or expired) on
        any replica: the stream would otherwise stay open to a grant that may no longer use
        the gateway (its next request gets 401 anyway). False when the store can't say."""
        sessions = self.sessions.all()
        if not sessions:
            return True
        try:
            active = await self.grants.active_grants({session.grant_id for session in sessions})
        except StoreUnavailable as error:
            log.warning("can't check open sessions' grants now, will again: %s", error)
            return False
        for session in sessions:
            if session.grant_id not in active:
                await self._drop(session, ended=True)
        return True

    async def _withheld_changes(self) -> set[str]:
        """The upstreams whose withheld tools changed (pins accepted on any replica, or an
        upstream that changed a tool; see :mod:`.pins`)."""
        pins = self.pipeline.pins
        if pins is None:
            return set()
        await pins.review()
        return pins.take_changed()

    def shutdown(self) -> None:
        """End every listen stream gracefully (the server is stopping: it waits for them)."""
        self.listens.finish_all()

    @staticmethod
    def _is_modern(exchange: HttpExchange) -> bool:
        version = exchange.headers.get("mcp-protocol-version")
        if version is not None:
            return version not in LEGACY_VERSIONS
        if SESSION_HEADER in exchange.headers or exchange.method != "POST":
            return False
        # No version header: a body carrying the modern envelope is a 2026 request whose
        # header is missing (refused below with -32020); anything else is legacy.
        try:
            message = decode(exchange.body)
        except ProtocolError:
            return False
        return isinstance(message, Request) and is_modern(message.params)

    # -- 2026-07-28 ------------------------------------------------------------------------------

    async def _modern(self, exchange: HttpExchange, principal: Principal) -> HttpReply:
        message: object = None
        try:
            message = decode(exchange.body)
            if isinstance(message, Notification):
                return await self._modern_notification(message, principal, exchange)
            if not isinstance(message, Request):
                raise InvalidRequest("a 2026-07-28 client sends requests and notifications only")
            check_modern_method(message.method)
            envelope = read_envelope(message.params)
            check_headers(message, envelope.protocol_version, exchange.headers, exchange.duplicated)
            check_version(envelope.protocol_version)
        except ProtocolError as error:
            request_id = getattr(error, "request_id", None) or _peek_id(exchange.body)
            await self._record_refusal(principal, exchange, message, request_id, error)
            return _refused(error, request_id, modern=True)
        # discover is answered here, and a listen stream has its own channel
        relays = message.method not in (DISCOVER, LISTEN)
        outbox = _outbox(exchange, _no_agent_requests) if relays else None
        caller = Caller(
            principal, exchange.upstream, f"grant:{principal.grant_id}", "modern",
            envelope.protocol_version, envelope.client_capabilities, outbox,
            received_params(exchange.headers, exchange.duplicated),
        )  # fmt: skip
        status = _AnswerStatus(modern=True)
        if message.method == DISCOVER:
            return status.applied(await reply(self._discover(caller, message, status), None))
        if message.method == LISTEN:
            return await self._open_listen(caller, message, exchange)
        return status.applied(await reply(self._answer(caller, message, status), outbox))

    async def _modern_notification(
        self, message: Notification, principal: Principal, exchange: HttpExchange
    ) -> HttpReply:
        """A 2026-07-28 notification over HTTP: accepted (202) when MCP lets a client send
        it, though nothing is relayed (the era has none an upstream needs over HTTP: closing
        the stream cancels); anything else is dropped, recorded, and refused (400)."""
        try:
            check_agent_notification(message.method, "modern")
        except ProtocolError as refusal:
            await self.pipeline.record_dropped(principal, exchange.upstream, message)
            return _refused(refusal, None, modern=True)
        return HttpReply(202)

    async def _refuse(
        self,
        principal: Principal,
        exchange: HttpExchange,
        status: int,
        message: str,
        headers: list[tuple[str, str]] | None = None,
    ) -> HttpReply:
        """Answer ``status`` to a request of a known grant refused before any JSON-RPC
        handling (no such session, no session yet, a second GET stream…), with its row."""
        request_id, method = _peek(exchange.body)
        await self.pipeline.record_http_refusal(
            principal, exchange.upstream, request_id, method, f"HTTP {status}: {message}"
        )
        return _plain(status, message, headers)

    async def _record_refusal(
        self,
        principal: Principal,
        exchange: HttpExchange,
        message: object,
        request_id: object,
        error: ProtocolError,
    ) -> None:
        """One proxy-log row for a request refused before the pipeline saw it."""
        method = message.method if isinstance(message, Request | Notification) else ""
        if not method:
            method = _peek(exchange.body)[1]
        name = (
            message.params.get("name") if isinstance(message, Request) and message.params else None
        )
        tool = name if method == "tools/call" and isinstance(name, str) else ""
        await self.pipeline.record_refusal(
            principal, exchange.upstream, _as_id(request_id), method, error, tool=tool
        )

    async def _open_listen(
        self, caller: Caller, request: Request, exchange: HttpExchange
    ) -> HttpReply:
        if "text/event-stream" not in exchange.headers.get("accept", ""):
            await self.pipeline.record(caller, request, caller.endpoint or "", "not_forwarded")
            return _plain(406, f"{LISTEN} is answered with a stream: accept text/event-stream")
        token = exchange.headers["authorization"].partition(" ")[2].strip()
        try:
            stream = await open_listen(self.pipeline, caller, request, token, self.listens)
        except ProtocolError as error:
            return _refused(error, request.id, modern=True)
        return HttpReply(200, [], stream=Listening(stream, self.listens))

    async def _discover(self, caller: Caller, request: Request, status: _AnswerStatus) -> bytes:
        async def work() -> Message:
            # Changes are delivered on subscriptions/listen streams (on /mcp, resource
            # updates by the mcpwall:// URIs that name their upstream).
            relays = Relays(list_changed=True, resource_updates=True)
            try:
                capabilities = await self._capabilities(caller, relays)
            except OverCapacity as refusal:  # no process free for a stdio upstream
                await self._record_over_capacity(
                    caller.principal, caller.endpoint, request, refusal
                )
                raise
            return {"result": discover_result(capabilities, SERVER_INFO, ttl_ms=DISCOVER_TTL_MS)}

        answer = await guarded(request, status.watch(work()))
        if status.refusal is None:  # else its row is written where it was refused
            await self.pipeline.record(caller, request, caller.endpoint or "", "ok")
        return answer

    # -- legacy ----------------------------------------------------------------------------------

    async def _legacy(self, exchange: HttpExchange, principal: Principal) -> HttpReply:
        session_id = exchange.headers.get(SESSION_HEADER)
        session = None
        if session_id is not None:
            session = self.sessions.get(session_id, principal.grant_id, exchange.upstream)
            if self.sealing is not None:
                checked = await self._sealed(self.sealing, session, session_id, principal, exchange)
                if isinstance(checked, HttpReply):
                    return checked
                session = checked
            if session is None:
                return await self._refuse(
                    principal,
                    exchange,
                    404,
                    "no such session (it ended or expired): initialize again",
                )
        if exchange.method == "DELETE":
            if session is None:
                message = "DELETE needs the Mcp-Session-Id of the session to end"
                return await self._refuse(principal, exchange, 400, message)
            return await self._end(session)
        if exchange.method == "GET":
            if session is None:
                message = "GET needs the Mcp-Session-Id of an initialized session"
                return await self._refuse(principal, exchange, 400, message)
            if session.streaming:
                message = "this session already has a GET stream open"
                return await self._refuse(principal, exchange, 409, message)
            return self._listen(session)
        try:
            decoded = decode(
                exchange.body, allow_batch=session is not None and allows_batches(session.version)
            )
        except ProtocolError as error:
            request_id = getattr(error, "request_id", None)
            await self._record_refusal(principal, exchange, None, request_id, error)
            return _refused(error, request_id, modern=False)
        if isinstance(decoded, Batch):
            return await self._batch(decoded, session, principal, exchange)
        if session is None:
            if isinstance(decoded, Request) and decoded.method == "initialize":
                return await self._initialize(decoded, principal, exchange)
            message = "send initialize first, or the Mcp-Session-Id it returned"
            return await self._refuse(principal, exchange, 400, message)
        # A legacy MCP-Protocol-Version other than the session's is let through, as the SDKs'
        # servers do (the conformance suite sends 2025-03-26 on a 2025-11-25 session): the
        # version negotiated at initialize is the one this session keeps speaking.
        return await self._session_message(decoded, session, principal, exchange)

    async def _initialize(
        self, request: Request, principal: Principal, exchange: HttpExchange
    ) -> HttpReply:
        try:
            hello = parse_initialize(request.params)
        except ProtocolError as error:
            await self.pipeline.record_refusal(
                principal, exchange.upstream, request.id, request.method, error
            )
            return _refused(error, request.id, modern=False)
        version = negotiate_legacy(hello.protocol_version)
        try:
            session = self.sessions.create(
                principal.grant_id, exchange.upstream, version, hello.capabilities
            )
        except OverCapacity as refusal:
            await self._record_over_capacity(principal, exchange.upstream, request, refusal)
            return _refused(refusal, request.id, modern=False)
        self.pool.charge(session.id, principal.grant_id)
        caller = self._session_caller(principal, session, None)
        status = _AnswerStatus(modern=False)  # to catch a refusal for capacity

        async def work() -> Message:
            capabilities = await self._capabilities(
                caller, Relays(list_changed=True, resource_updates=True), session
            )
            return {"result": initialize_result(hello, capabilities, SERVER_INFO)}

        body = await guarded(request, status.watch(work()))
        if status.refusal is not None:  # no process free for a stdio upstream: no session
            self.sessions.remove(session.id)
            await self.pool.close_owner(session.id)
            await self._record_over_capacity(principal, exchange.upstream, request, status.refusal)
            return _refused(status.refusal, request.id, modern=False)
        await self.pipeline.record(caller, request, session.endpoint or "", "ok")
        if self.sealing is not None:
            header, expires = self.sealing.seal(
                session.id, principal.grant_id, session.endpoint, session.version,
                session.capabilities, self.pool.resumable(session.id),
            )  # fmt: skip
            self.sessions.bind(session, header, expires)
            self.pool.keep_open(session.id)
        return HttpReply(200, [*JSON_HEADERS, (SESSION_HEADER, session.header)], body)

    async def _sealed(
        self,
        sealing: SessionSealing,
        found: LegacySession | None,
        session_id: str,
        principal: Principal,
        exchange: HttpExchange,
    ) -> LegacySession | HttpReply | None:
        """The session a sealed id names, if it is still good: served here already, or
        carried on from the id (see :mod:`.sealing`); None when it is not (expired, ended,
        not one of ours, another grant's); a reply when it can't be told now."""
        if found is not None:
            ended = await sealing.ended.is_ended(found.id)
            if ended or (found.expires is not None and sealing.now() >= found.expires):
                await self._drop(found, ended=ended)
                return None
            return found
        state = sealing.keyring.open(session_id, principal.grant_id, exchange.upstream)
        if state is None or sealing.now() >= state.expires:
            return None
        try:
            if await sealing.ended.is_ended(state.key, fresh=True):
                return None
        except StoreError as error:
            log.warning("can't tell whether a session ended, refusing it for now: %s", error)
            message = "this session can't be checked now: retry shortly"
            return await self._refuse(principal, exchange, 503, message, [("retry-after", "1")])
        held = self.sessions.held(state.key)
        if held is not None:  # the same session, under an id sealed again (another key)
            return held if held.grant_id == principal.grant_id else None
        try:
            session = self.sessions.create(
                principal.grant_id, exchange.upstream, state.version, state.capabilities,
                key=state.key,
            )  # fmt: skip
        except OverCapacity as refusal:
            request_id = _peek_id(exchange.body)
            await self._record_refusal(principal, exchange, None, request_id, refusal)
            return _refused(refusal, request_id, modern=False)
        self.sessions.bind(session, session_id, state.expires)
        self.pool.charge(session.id, principal.grant_id)
        self.pool.resume(session.id, state.upstreams)
        return session

    async def _drop(self, session: LegacySession, *, ended: bool) -> None:
        """Stop serving ``session`` here: ended (elsewhere), its upstream sessions too."""
        self.sessions.remove(session.id)
        session.outbox.put_nowait(END_OF_STREAM)  # its GET stream here, if one is open, ends
        for task in list(session.in_flight.values()):
            task.cancel()
        if ended:
            await self.pool.close_owner(session.id)
        else:
            await self.pool.detach_owner(session.id)

    async def _record_over_capacity(
        self, principal: Principal, endpoint: str | None, request: Request, refusal: OverCapacity
    ) -> None:
        upstream = refusal.upstream or endpoint
        await self.pipeline.record_refusal(principal, upstream, request.id, request.method, refusal)

    async def _session_message(
        self, message: object, session: LegacySession, principal: Principal, exchange: HttpExchange
    ) -> HttpReply:
        if isinstance(message, ResultResponse | ErrorResponse):
            response = response_message(message)
            await session.answered(message.id, response)
            return HttpReply(202)
        if isinstance(message, Notification):
            refusal = await self._notification(message, session, principal)
            return HttpReply(202) if refusal is None else _refused(refusal, None, modern=False)
        assert isinstance(message, Request)
        if message.method == "initialize":
            return _refused(
                await self._reinitialize(message, session, principal), message.id, modern=False
            )
        outbox = _outbox(exchange, session.ask)
        caller = self._session_caller(principal, session, outbox)
        running = Running()
        session.in_flight[message.id] = running
        status = _AnswerStatus(modern=False)  # 200, but for a refusal for capacity
        try:
            answered = await reply(self._tracked(caller, message, session, status), outbox)
            return status.applied(answered)
        except asyncio.CancelledError:
            if not running.cancelled or running.task.uncancel() > 0:
                raise  # cancelled by something else too (its client leaving, the server stopping)
            # The agent cancelled it (notifications/cancelled): no JSON-RPC response (§1.12).
            streamed = outbox is not None and outbox.started
            return HttpReply(200, pushed=True) if streamed else HttpReply(202)

    async def _tracked(
        self, caller: Caller, request: Request, session: LegacySession, status: _AnswerStatus
    ) -> bytes:
        """The answer to ``request``, cancellable by the agent until it is ready."""
        try:
            return await self._answer(caller, request, status)
        finally:
            session.in_flight.pop(request.id, None)

    async def _reinitialize(
        self, request: Request, session: LegacySession, principal: Principal
    ) -> ProtocolError:
        """The refusal of an ``initialize`` in a session that has one (alone or in a batch):
        lifecycle messages are the gateway's, never relayed; recorded."""
        refusal = InvalidRequest("this session is already initialized", request_id=request.id)
        await self.pipeline.record_refusal(
            principal, session.endpoint, request.id, request.method, refusal
        )
        return refusal

    async def _notification(
        self, message: Notification, session: LegacySession, principal: Principal
    ) -> ProtocolError | None:
        """Handle an agent's notification in a legacy session: the gateway's own lifecycle
        and cancellation; progress and roots changes relayed; anything else — a request
        method sent without an id above all — dropped and recorded, never forwarded (the
        refusal is returned)."""
        try:
            check_agent_notification(message.method, "legacy")
        except ProtocolError as refusal:
            await self.pipeline.record_dropped(principal, session.endpoint, message)
            return refusal
        if message.method == INITIALIZED:
            return None
        if message.method == CANCELLED:
            target = (message.params or {}).get("requestId")
            task = session.in_flight.get(target) if isinstance(target, str | int) else None
            if task is not None:
                task.cancel()
            return None
        # On /mcp, every upstream the session has open (roots/list_changed concerns them all).
        upstreams = [session.endpoint] if session.endpoint else self.pool.opened(session.id)
        for upstream in upstreams:
            try:
                active = await self.pool.session(
                    session.id, upstream, client_offer(session.capabilities, "legacy")
                )
                await active.notify(message.method, message.params)
            except (UpstreamError, OverCapacity) as error:
                log.warning("relaying %s failed: %s", message.method, error)
        return None

    def _listen(self, session: LegacySession) -> HttpReply:
        session.streaming = True

        async def stream() -> AsyncIterator[bytes]:
            try:
                while (chunk := await session.outbox.get()) != END_OF_STREAM:
                    yield chunk
            finally:
                session.streaming = False

        return HttpReply(200, [], stream=stream())

    async def _end(self, session: LegacySession) -> HttpReply:
        recorded = True
        if self.sealing is not None and session.expires is not None:
            # Recorded first: once the agent hears the session ended, no replica serves it.
            expires = datetime.fromtimestamp(session.expires, UTC)
            try:
                await self.sealing.ended.end(session.id, expires)
            except StoreError as error:
                log.warning("recording the end of a session failed: %s", error)
                recorded = False
        await self._drop(session, ended=True)
        if not recorded:
            message = "the session ended here, but other replicas can't be told now: DELETE again"
            return _plain(503, message, [("retry-after", "1")])
        return HttpReply(200, list(JSON_HEADERS), b"{}")

    async def _batch(
        self,
        batch: Batch,
        session: LegacySession | None,
        principal: Principal,
        exchange: HttpExchange,
    ) -> HttpReply:
        """A 2025-03-26 batch: each element checked and answered on its own."""
        assert session is not None
        answers: list[bytes] = []
        for item in batch.items:
            if isinstance(item, ProtocolError):
                await self.pipeline.record_refusal(
                    principal, session.endpoint, item.request_id, "", item
                )
                answers.append(encode_refusal(item, item.request_id))
            elif isinstance(item, Request) and item.method == "initialize":
                answers.append(
                    encode_refusal(await self._reinitialize(item, session, principal), item.id)
                )
            elif isinstance(item, Request):
                caller = self._session_caller(principal, session, None)
                answers.append(await self._answer(caller, item))
            else:
                await self._session_message(item, session, principal, exchange)
        if not answers:
            return HttpReply(202)
        return HttpReply(200, list(JSON_HEADERS), b"[" + b",".join(answers) + b"]")

    def _session_caller(
        self, principal: Principal, session: LegacySession, outbox: Outbox | None
    ) -> Caller:
        return Caller(
            principal, session.endpoint, session.id, "legacy", session.version,
            session.capabilities, outbox,
        )  # fmt: skip

    async def _expire_sessions(self, expired: list[LegacySession]) -> None:
        for session in expired:
            if self.sealing is None:
                await self.pool.close_owner(session.id)
            else:  # its id stays good: another replica, or this one later, may carry it on
                await self.pool.detach_owner(session.id)

    # -- shared ----------------------------------------------------------------------------------

    async def _capabilities(
        self, caller: Caller, relays: Relays, session: LegacySession | None = None
    ) -> dict[str, object]:
        """The endpoint's capabilities: its upstreams', merged, as far as they can be relayed."""
        found: list[dict[str, object]] = []
        for upstream in caller.upstreams:
            listener = None
            if session is not None:  # on /mcp, a resource update names the URI /mcp lists
                listener = (
                    session.push if caller.endpoint else session_listener(session.push, upstream)
                )
            try:
                active = await self.pool.session(caller.owner, upstream, caller.offer, listener)
            except UpstreamError as error:
                log.warning("upstream %s is unavailable; serving without it: %s", upstream, error)
                continue
            found.append(dict(active.negotiated.capabilities))
        return server_capabilities(found, relays)

    async def _answer(
        self, caller: Caller, request: Request, status: _AnswerStatus | None = None
    ) -> bytes:
        work = self.pipeline.handle(caller, request)
        return await guarded(request, work if status is None else status.watch(work))


class _AnswerStatus:
    """The HTTP status of an answer sent as JSON. A refusal for capacity is 429 (the grant's
    own cap) or 503 (the gateway's) with ``Retry-After``, in either era. Otherwise, for
    2026-07-28 (``modern``), the status its JSON-RPC error calls for (400 for -32602 or
    -32021, 404 for -32601…), whether the gateway refused the request or relays an upstream's
    refusal, and 200 for a result; on the legacy wire, which carries JSON-RPC errors, 200."""

    __slots__ = ("code", "modern", "refusal")

    def __init__(self, *, modern: bool) -> None:
        self.code = 200
        self.modern = modern
        self.refusal: OverCapacity | None = None

    def applied(self, answered: HttpReply) -> HttpReply:
        """``answered`` with this status, unless it went as a stream (its status is sent)."""
        if not answered.pushed:
            answered.status = self.code
            if self.refusal is not None:
                answered.headers += retry_after(self.refusal)
        return answered

    async def watch(self, work: Awaitable[Message]) -> Message:
        try:
            response = await work
        except OverCapacity as refusal:
            self.code, self.refusal = refusal.code, refusal
            raise
        except ProtocolError as refusal:
            if self.modern:
                self.code = http_status(refusal, modern=True)
            raise
        error = response.get("error")
        if self.modern and isinstance(error, dict):
            code = error.get("code")
            self.code = MODERN_STATUS.get(code, 200) if type(code) is int else 200
        return response


def _outbox(
    exchange: HttpExchange,
    ask: Callable[[Message, Callable[[Message], Awaitable[None]]], Message],
) -> Outbox | None:
    """Where the upstream's messages about the request go: None unless the agent accepts an
    SSE answer and the server can push one."""
    if exchange.responder is None or "text/event-stream" not in exchange.headers.get("accept", ""):
        return None
    return Outbox(exchange.responder, ask)


def _no_agent_requests(message: Message, answer: object) -> Message:
    raise AssertionError("a 2026-07-28 agent is never sent requests")  # pipeline refuses first


def _peek(body: bytes) -> tuple[str | int | None, str]:
    """The id and method of a body that may not be a valid request, for its log row."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, ""
    if not isinstance(value, dict):
        return None, ""
    return _as_id(value.get("id")), value["method"] if isinstance(value.get("method"), str) else ""


def _as_id(value: object) -> str | int | None:
    return value if isinstance(value, str | int) and not isinstance(value, bool) else None


def _peek_id(body: bytes) -> object:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return value.get("id") if isinstance(value, dict) else None
