"""The request pipeline: decide, reserve, forward, record (DESIGN §2).

::

    authenticate(grant) ─▶ route(upstream) ─▶ decide(policy, call) ─▶ limits ─▶ forward ─▶ upstream
                                   │                                              │
                                   └───────────────── proxy log ◀─────────────────┘

Authentication and routing happen before a request gets here (``gateway/http.py`` and
``gateway/stdio.py``); this module handles one authenticated JSON-RPC request for a
:class:`Caller` and answers with a JSON-RPC response. It intercepts only what policy needs —
``tools/call``, ``tools/list`` and ``ping`` — and relays every other method to the upstream
untouched (on ``/mcp``, to the upstream a prompt's name or a resource's URI says:
``gateway/aggregate.py``). Refusals are raised as
:class:`~mcpwall.core.errors.ProtocolError`; the transport turns them into JSON-RPC errors.
Every request hands one record to the proxy log.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Protocol

from mcpwall.core.errors import (
    HeaderMismatch,
    InvalidParams,
    LimitsUnavailable,
    OverCapacity,
    ProtocolError,
    UnknownTool,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamTimeout,
    WithheldTool,
)
from mcpwall.core.jsonrpc import Notification, Request
from mcpwall.core.mcp import (
    CACHEABLE_METHODS,
    CLIENT_CAPABILITIES_KEY,
    CursorSeal,
    PageCursor,
    after,
    check_offered,
    denial_result,
    first_page,
    parse_tool_call,
    resume,
    split_namespaced,
    stamp_cacheable,
    stamp_result,
    tools_page,
    upstream_client_capabilities,
)
from mcpwall.core.mcp.agent_messages import check_method_name
from mcpwall.core.mcp.aggregate import for_aggregate
from mcpwall.core.mcp.envelope import LOG_LEVEL_KEY
from mcpwall.core.mcp.params import (
    ReceivedParams,
    check_param_headers,
    invalid_reasons,
    tool_declarations,
)
from mcpwall.core.mcp.versions import Era
from mcpwall.core.pins import DEFINITION_CHANGED_RULE, NOT_PINNED_RULE, PIN_UNREADABLE_RULE
from mcpwall.core.policy import NO_POLICY_DECISION, CompiledPolicy, Decision, evaluate
from mcpwall.core.proxylog import Outcome, ProxyLogRecord, build_record
from mcpwall.core.windows import budgets_for, unchecked_denial
from mcpwall.gateway.aggregate import AggregateEndpoint
from mcpwall.gateway.grants import Principal
from mcpwall.gateway.pins import FirstListing, PinGuard
from mcpwall.gateway.upstreams import UpstreamPool, tool_pages
from mcpwall.ports.clock import Clock
from mcpwall.ports.counters import CounterStore, Refusal, Reservation
from mcpwall.ports.logsink import LogSink
from mcpwall.ports.upstream import ClientOffer, Message

ENVELOPE_PREFIX = "io.modelcontextprotocol/"
LIST_TTL_MS = 0  # lists follow policy changes at once: never let a client reuse one
SERVER_INFO = {"name": "mcpwall", "version": "0.1.0"}
UNKNOWN_TOOL_RULE = "(unknown tool)"  # in the proxy log only: the upstream offers no such tool
HEADER_MISMATCH_RULE = "(header mismatch)"  # in the proxy log only: Mcp-Param-* ≠ arguments
BAD_REQUEST_RULE = "(bad request)"  # in the proxy log only: refused before any decision
NO_BINDING_RULE = "(no binding)"  # in the proxy log only: the grant is not bound to it
WITHHELD_BECAUSE = {  # a withheld call's row says why (core.pins' rules)
    DEFINITION_CHANGED_RULE: "not the one pinned (changed since, or suspicious text)",
    NOT_PINNED_RULE: "not pinned (a new tool, or suspicious text never accepted)",
    PIN_UNREADABLE_RULE: "unknown: the upstream's pins can't be read",
}
DROPPED_MESSAGE = "a message without an id that an agent may not send: dropped, not forwarded"
OVER_CAPACITY_RULE = "(over capacity)"  # in the proxy log only: a bound on what is held open

# Server→client requests, and the client capability an agent must declare to get them.
AGENT_CAPABILITY = {
    "sampling/createMessage": "sampling",
    "elicitation/create": "elicitation",
    "roots/list": "roots",
}


class AgentChannel(Protocol):
    """The stream of one agent request: messages the upstream sends about it go here."""

    async def notify(self, message: Message) -> None:
        """Send a notification (progress, log message) to the agent."""
        ...

    async def ask(self, message: Message, answer: Callable[[Message], Awaitable[None]]) -> None:
        """Send a request to the agent (sampling, elicitation, roots); ``answer`` gets its
        response when the agent sends it."""
        ...


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent a request, through which endpoint, speaking which protocol.

    ``endpoint`` is the upstream of ``/mcp/{upstream}``, None for the aggregate ``/mcp``.
    ``owner`` keys the upstream sessions used (a legacy session id, or the grant for
    stateless requests). ``channel`` is the request's stream to the agent, if it has one.
    ``param_headers`` are the ``Mcp-Param-*`` headers of a 2026-07-28 HTTP request, checked
    against a call's arguments; None where there are none to check (legacy, stdio).
    """

    principal: Principal
    endpoint: str | None
    owner: str
    era: Era
    version: str
    capabilities: Mapping[str, object] = field(default_factory=dict)
    channel: AgentChannel | None = None
    param_headers: ReceivedParams | None = None
    _offer: ClientOffer | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def upstreams(self) -> list[str]:
        """The upstreams this endpoint serves, in a stable order."""
        if self.endpoint is not None:
            return [self.endpoint]
        return sorted(self.principal.bindings)

    @property
    def offer(self) -> ClientOffer:
        """What to declare upstream for this caller; worked out once, as a call asks often."""
        if self._offer is None:
            object.__setattr__(self, "_offer", client_offer(self.capabilities, self.era))
        assert self._offer is not None
        return self._offer

    def cursor_scope(self, method: str) -> str:
        return f"{self.principal.grant_id}|{self.endpoint or ''}|{method}"


@dataclass
class _Timing:
    started: float = field(default_factory=time.perf_counter)
    decided: float = 0.0
    upstream: float = 0.0

    def ms(self, seconds: float) -> float:
        return seconds * 1000


def client_offer(agent_capabilities: Mapping[str, object], era: Era) -> ClientOffer:
    """What to declare upstream for an agent: only the client capabilities we can relay to it.

    A legacy agent gets a legacy upstream session declaring its relayable capabilities. A
    2026-07-28 agent lets the upstream pick the era, and declares them only to a 2026-07-28
    session: a legacy upstream's requests (sampling, elicitation) could not reach it.
    """
    relayable = upstream_client_capabilities(agent_capabilities, agent_era=era, upstream_era=era)
    if not relayable:
        return _BARE_OFFERS[era]  # most agents: worked out once, as every request asks
    if era == "legacy":
        return ClientOffer(legacy_capabilities=relayable, era="legacy")
    return ClientOffer(capabilities=relayable)


_BARE_OFFERS: dict[Era, ClientOffer] = {
    "legacy": ClientOffer(era="legacy"),
    "modern": ClientOffer(),
}


class Pipeline:
    """Handles authenticated requests; shared by every endpoint and transport."""

    def __init__(
        self,
        pool: UpstreamPool,
        counters: CounterStore,
        sink: LogSink,
        clock: Clock,
        cursors: CursorSeal,
        *,
        limits_fail_open: bool = False,
        pins: PinGuard | None = None,
    ) -> None:
        self.pool = pool
        # Tool-definition pins (gateway/pins.py); None only where a test leaves them out.
        self.pins = pins
        self.counters = counters
        self.sink = sink
        self.clock = clock
        self.cursors = cursors
        # When the counter store is unreachable: let calls with limits through unchecked
        # (each marked in the proxy log) instead of refusing them (MCPWALL_LIMITS_FAIL_OPEN).
        self.limits_fail_open = limits_fail_open
        self.aggregate = AggregateEndpoint(
            pool, cursors, forward=self.forward, record=self.record, stamp=self._modern
        )
        # The requests being handled whose proxy-log row is not written yet, by id(): the
        # one place that makes sure every request leaves exactly one row (see handle).
        self._rows_owed: set[int] = set()

    async def handle(self, caller: Caller, request: Request) -> Message:
        """Answer one request with a JSON-RPC response (``result`` or ``error``), without id.

        Every request handled here leaves exactly one proxy-log row, whatever ends it: its
        own path writes it, and a request that ends without one — cancelled by its agent, a
        disconnect or the session's end; refused; failed — gets one here, saying how it
        ended (DESIGN §6: an agent must not be able to hide a call from the log by
        cancelling it)."""
        owed = id(request)
        self._rows_owed.add(owed)
        try:
            return await self._dispatch(caller, request)
        except BaseException as ended:
            if owed in self._rows_owed:
                await self._record_ended(caller, request, ended)
            raise
        finally:
            self._rows_owed.discard(owed)

    async def _dispatch(self, caller: Caller, request: Request) -> Message:
        if request.method == "ping":
            await self.record(caller, request, caller.endpoint or "", "not_forwarded")
            return {"result": {}}
        if request.method == "tools/call":
            return await self.call_tool(caller, request)
        if request.method == "tools/list":
            return self._modern(
                caller, request.method, {"result": await self.list_tools(caller, request)}
            )
        check_method_name(request.method)
        return await self.relay(caller, request)

    # -- tools/call ------------------------------------------------------------------------------

    async def call_tool(self, caller: Caller, request: Request) -> Message:
        timing = _Timing()
        try:
            call = parse_tool_call(request.params)
            upstream, tool = self._route_tool(caller, call.name)
        except ProtocolError as refusal:
            name = (request.params or {}).get("name")
            await self.record_refusal(
                caller.principal, caller.endpoint, request.id, request.method, refusal,
                tool=name if isinstance(name, str) else "", request=request,
            )  # fmt: skip
            raise
        binding = caller.principal.bindings[upstream]
        policy = binding.compiled
        decision = NO_POLICY_DECISION if policy is None else evaluate(policy, tool, call.arguments)
        record = _Recorder(
            self, caller, request, upstream, tool, call.arguments, binding.policy, policy, timing,
            decision,
        )  # fmt: skip
        if decision.decision == "deny":
            return await record.refused(decision)
        try:
            return await self._go_ahead(caller, request, upstream, tool, call.arguments, record)
        except asyncio.CancelledError:
            # The agent cancelled it, went away, or its session ended: the call may have
            # reached the upstream (and acted), so it keeps its row and its budget.
            await record.forwarded(record.decision, "cancelled")
            raise

    async def _go_ahead(
        self,
        caller: Caller,
        request: Request,
        upstream: str,
        tool: str,
        arguments: Mapping[str, object],
        record: _Recorder,
    ) -> Message:
        """A call the policy allows: check it against what the upstream offers, reserve its
        limits, forward it, and record how it went."""
        timing = record.timing
        # Only now, for a call that may go ahead: is it a tool the upstream offers, exactly,
        # and do its Mcp-Param-* headers say what its arguments say? (Denials never touch the
        # upstream; a denied call goes nowhere, whatever its headers say.)
        try:
            await self._check_call(caller, upstream, tool, arguments, request.id, record)
        except WithheldTool as withheld:
            await record.withheld(withheld.rule)
            raise
        except UnknownTool:
            await record.unknown()
            raise
        except HeaderMismatch as mismatch:
            await record.mismatched(mismatch)
            raise
        except UpstreamError as error:  # it could not even list its tools: still one row
            await record.forwarded(record.decision, failure_outcome(error))
            raise
        reservation: Reservation | None = None
        if record.decision.limits:
            limited = await self._reserve(caller, upstream, record.decision, record)
            if isinstance(limited, Decision):
                if limited.decision == "deny":
                    return await record.refused(limited)
                record.decision = limited
            else:
                reservation = limited
        timing.decided = time.perf_counter()
        params = _for_upstream(request.params, name=tool, capabilities=_declared(caller))
        try:
            response = await self.pool.request(
                caller.owner,
                upstream,
                caller.offer,
                "tools/call",
                params,
                self._related(caller, upstream),
            )
        except UpstreamError as error:
            timing.upstream = time.perf_counter()
            # The budget comes back only for a call that certainly never left: a timeout or
            # a connection lost after sending keeps it, since the tool may have acted
            # (DESIGN §3); an agent may control how long a tool runs.
            if error.unsent:
                await self._release(reservation)
            await record.forwarded(record.decision, failure_outcome(error))
            raise
        except asyncio.CancelledError:
            timing.upstream = time.perf_counter()
            raise
        except OverCapacity:  # it crashed since it was listed, and can't be restarted now
            await self._release(reservation)
            raise
        timing.upstream = time.perf_counter()
        await record.forwarded(record.decision, _outcome(response))
        return self._modern(caller, "tools/call", response)

    def _route_tool(self, caller: Caller, name: str) -> tuple[str, str]:
        if caller.endpoint is not None:
            return caller.endpoint, name
        upstream, tool = split_namespaced(name)
        if upstream not in caller.principal.bindings:
            raise UnknownTool(name)
        return upstream, tool

    async def _check_call(
        self,
        caller: Caller,
        upstream: str,
        tool: str,
        arguments: Mapping[str, object],
        request_id: str | int,
        record: _Recorder,
    ) -> None:
        """Refuse a tool the upstream does not offer, exactly (an unknown tool), one whose
        definition is not pinned as the upstream lists it, in ``enforce`` mode (withheld,
        refused alike), and ``Mcp-Param-*`` headers that disagree with the arguments
        (-32020), by the schema of the tool as the gateway lists it (the upstream's own)."""
        index = await self.pool.tool_index(caller.owner, upstream, caller.offer)
        name = tool if caller.endpoint else f"{upstream}__{tool}"
        try:
            check_offered(tool, index.names)
        except UnknownTool:
            raise UnknownTool(name) from None
        if self.pins is not None:
            pins = await self.pins.pins(upstream, self._first_listing(caller, upstream))
            standing = self.pins.judge_call(upstream, pins, tool, index.fingerprints.get(tool))
            record.pin = standing.mark
            if standing.withheld:
                raise WithheldTool(name, standing.rule)
        if caller.param_headers is not None:
            declared = index.declared.get(tool, ())
            check_param_headers(declared, arguments, caller.param_headers, request_id=request_id)

    async def _reserve(
        self, caller: Caller, upstream: str, decision: Decision, record: _Recorder
    ) -> Reservation | Decision:
        budgets = budgets_for(decision.limits, caller.principal.grant_id, upstream)
        try:
            taken = await self.counters.reserve(budgets, time.time())
        except LimitsUnavailable:
            if not self.limits_fail_open:
                return unchecked_denial(decision.limits)  # fail closed (DESIGN §3)
            record.fail_open = True
            return decision
        if isinstance(taken, Refusal):
            denial = decision.limits[taken.index].denial
            return replace(denial, retry_after_s=round(taken.retry_after_s, 3))
        return taken

    async def _release(self, reservation: Reservation | None) -> None:
        if reservation is not None:
            await self.counters.release(reservation)

    # -- tools/list ------------------------------------------------------------------------------

    async def list_tools(self, caller: Caller, request: Request) -> dict[str, object]:
        params = request.params or {}
        upstreams = caller.upstreams
        scope = caller.cursor_scope("tools/list")
        if "cursor" in params:
            page = resume(self.cursors.open(params["cursor"], scope), upstreams)
        else:
            start = first_page(upstreams)
            if start is None:
                return {"tools": []}
            page = start
        response = await self._list_page(caller, page)
        result = response.get("result")
        if not isinstance(result, dict):
            raise InvalidParams(f"upstream {page.upstream} could not list its tools")
        upstream_next = result.get("nextCursor")
        following = after(
            page, upstream_next if isinstance(upstream_next, str) else None, upstreams
        )
        sealed = None if following is None else self.cursors.seal(following, scope)
        policy = caller.principal.bindings[page.upstream].compiled
        is_hidden = policy.is_hidden if policy is not None else (lambda _name: True)
        # A tool whose x-mcp-header annotations are invalid is dropped, as a client must.
        invalid = invalid_reasons(tool_declarations(result.get("tools")))
        self.pool.note_dropped(page.upstream, invalid)

        def hidden(name: str) -> bool:
            return name in invalid or is_hidden(name)

        judged = None
        if self.pins is not None:
            pins = await self.pins.pins(page.upstream, self._first_listing(caller, page.upstream))
            judged = self.pins.judge_page(page.upstream, pins, result.get("tools"), hidden=hidden)
            self.pool.check_index(caller.owner, page.upstream, judged.fingerprints)

        def withheld(name: str) -> bool:
            return hidden(name) or (judged is not None and judged.withheld(name))

        prefix = None if caller.endpoint is not None else page.upstream
        listing = tools_page(result, withheld, next_cursor=sealed, prefix=prefix)
        if judged is not None and judged.mark:
            await self.record(
                caller, request, page.upstream, "ok", pin=judged.mark, message=judged.message
            )
        else:
            await self.record(caller, request, page.upstream, "ok")
        return listing

    def _first_listing(self, caller: Caller, upstream: str) -> FirstListing:
        """What trust on first use pins: every page ``upstream`` lists through the caller's
        session, and the instructions it gave when the session opened."""

        async def first_listing() -> tuple[list[object], str | None]:
            session = await self.pool.session(caller.owner, upstream, caller.offer)
            tools: list[object] = []
            async for page in tool_pages(upstream, session, self.pool.timeout):
                tools.extend(page.tools)
            return tools, session.negotiated.instructions

        return first_listing

    async def _list_page(self, caller: Caller, page: PageCursor) -> Message:
        params: dict[str, object] | None = None
        if page.upstream_cursor is not None:
            params = {"cursor": page.upstream_cursor}
        return await self.pool.request(
            caller.owner, page.upstream, caller.offer, "tools/list", params
        )

    # -- everything else -------------------------------------------------------------------------

    async def relay(self, caller: Caller, request: Request) -> Message:
        """Forward any other method to the endpoint's upstream, untouched; on ``/mcp``, to
        the upstream its prompt name or resource URI says (``gateway/aggregate.py``)."""
        if caller.endpoint is None:
            return await self.aggregate.handle(caller, request)
        return await self.forward(caller, request, caller.endpoint, request.params)

    async def forward(
        self,
        caller: Caller,
        request: Request,
        upstream: str,
        params: Mapping[str, object] | None,
    ) -> Message:
        """Send ``request`` to ``upstream`` with ``params`` (the agent's, or routed ones), record
        it, and answer as the agent's era needs."""
        forwarded = _for_upstream(params, capabilities=_declared(caller))
        try:
            response = await self.pool.request(
                caller.owner,
                upstream,
                caller.offer,
                request.method,
                forwarded,
                self._related(caller, upstream),
            )
        except UpstreamError as error:
            await self.record(caller, request, upstream, failure_outcome(error))
            raise
        except asyncio.CancelledError:
            await self.record(caller, request, upstream, "cancelled")
            raise
        await self.record(caller, request, upstream, _outcome(response))
        return self._modern(caller, request.method, response)

    def _related(
        self, caller: Caller, upstream: str
    ) -> Callable[[Message], Awaitable[None]] | None:
        channel = caller.channel
        if channel is None:
            return None
        aggregate = caller.endpoint is None

        async def related(message: Message) -> None:
            method = message.get("method")
            if "id" not in message:
                # On /mcp, a resource update names the URI /mcp lists.
                await channel.notify(for_aggregate(upstream, message) if aggregate else message)
                return
            capability = AGENT_CAPABILITY.get(str(method))
            upstream_id = message["id"]
            session = await self.pool.session(caller.owner, upstream, caller.offer)
            if method == "ping":
                await session.respond(upstream_id, {"result": {}})  # type: ignore[arg-type]
            elif caller.era == "legacy" and capability in caller.capabilities:

                async def answer(response: Message) -> None:
                    await session.respond(upstream_id, response)  # type: ignore[arg-type]

                await channel.ask(message, answer)
            else:
                error = {
                    "code": -32601,
                    "message": f"the agent did not declare the {capability or method} capability",
                }
                await session.respond(upstream_id, {"error": error})  # type: ignore[arg-type]

        return related

    def _modern(self, caller: Caller, method: str, response: Message) -> Message:
        """A response as a 2026-07-28 agent must get it: ``resultType``, caching hints."""
        if caller.era != "modern" or "result" not in response:
            return response
        result = stamp_result(response["result"], SERVER_INFO)
        if method in CACHEABLE_METHODS:
            result = stamp_cacheable(result, LIST_TTL_MS, "private")
        return {**response, "result": result}

    async def record(
        self,
        caller: Caller,
        request: Request,
        upstream: str,
        outcome: Outcome,
        *,
        pin: str = "",
        message: str = "",
    ) -> None:
        """Write the row of a request other than ``tools/call`` (a listing that met tools not
        pinned as listed says so in ``pin`` and names them in ``message``)."""
        principal = caller.principal
        await self._write_row(
            request,
            partial(
                build_record,
                at=self.clock.now(),
                request_id=request.id,
                grant_id=principal.grant_id,
                grant_label=principal.label,
                upstream=upstream,
                method=request.method,
                outcome=outcome,
                pin=pin,
                message=message,
            ),
        )

    async def _write_row(
        self, request: Request | None, build: Callable[[], ProxyLogRecord]
    ) -> None:
        """Hand the sink what builds a request's row (made off the answer's way back,
        ``LogSink.write_later``); the request owes no row any more."""
        if request is not None:
            self._rows_owed.discard(id(request))
        await self.sink.write_later(build)

    async def _record_ended(self, caller: Caller, request: Request, ended: BaseException) -> None:
        """The row of a request that ended, by ``ended``, before its own path wrote one."""
        upstream = caller.endpoint or ""
        if isinstance(ended, ProtocolError):
            if isinstance(ended, OverCapacity) and ended.upstream:
                upstream = ended.upstream  # no process was free for it (on /mcp: which one)
            name = (request.params or {}).get("name") if request.method == "tools/call" else None
            await self.record_refusal(
                caller.principal, upstream, request.id, request.method, ended, request=request,
                tool=name if isinstance(name, str) else "",
            )  # fmt: skip
        elif isinstance(ended, asyncio.CancelledError):
            await self.record(caller, request, upstream, "cancelled")
        elif isinstance(ended, UpstreamError):
            await self.record(caller, request, upstream, failure_outcome(ended))
        else:  # a fault of the gateway's own, answered as an internal error
            await self.record(caller, request, upstream, "protocol_error")

    async def record_refusal(
        self,
        principal: Principal,
        upstream: str | None,
        request_id: str | int | None,
        method: str,
        refusal: ProtocolError,
        *,
        tool: str = "",
        request: Request | None = None,
    ) -> None:
        """Record a request refused before any decision: malformed, with headers that
        disagree with its body, for an upstream the grant is not bound to, or over a bound on
        what is held open. The message is the error code only, except for header mismatches,
        whose messages name headers and never argument values (a malformed request's text is
        not the gateway's to keep), and refusals for capacity, whose name a bound, its value
        and counts."""
        rule = BAD_REQUEST_RULE
        message = f"JSON-RPC error {refusal.code}"
        if isinstance(refusal, UnknownTool):
            rule, message = UNKNOWN_TOOL_RULE, "Unknown tool"
        elif isinstance(refusal, HeaderMismatch):
            rule, message = HEADER_MISMATCH_RULE, refusal.message
        elif isinstance(refusal, OverCapacity):
            rule, message = OVER_CAPACITY_RULE, refusal.message
        await self._write_refusal(
            principal, upstream or "", request_id, method, tool, rule, message, request
        )

    async def record_dropped(
        self, principal: Principal, upstream: str | None, notification: Notification
    ) -> None:
        """Record a notification an agent may not send, dropped and never forwarded (rule
        ``(bad request)``). A ``tools/call`` sent so keeps its tool and argument names — an
        attempt to act unjudged is worth seeing — and, as always, none of their values."""
        params = notification.params or {}
        name = params.get("name") if notification.method == "tools/call" else None
        arguments = params.get("arguments") if notification.method == "tools/call" else None
        await self.sink.write_later(
            partial(
                build_record,
                at=self.clock.now(), request_id=None, grant_id=principal.grant_id,
                grant_label=principal.label, upstream=upstream or "", method=notification.method,
                tool=name if isinstance(name, str) else "",
                arguments=dict.fromkeys(arguments) if isinstance(arguments, dict) else None,
                decision="deny", rule=BAD_REQUEST_RULE, message=DROPPED_MESSAGE,
                outcome="not_forwarded",
            )
        )  # fmt: skip

    async def record_http_refusal(
        self,
        principal: Principal,
        upstream: str | None,
        request_id: str | int | None,
        method: str,
        message: str,
    ) -> None:
        """Record a request refused by the HTTP transport before any JSON-RPC handling (no
        such session, a GET stream already open…): ``message`` is the gateway's own text."""
        await self._write_refusal(
            principal, upstream or "", request_id, method, "", BAD_REQUEST_RULE, message
        )

    async def record_unbound(
        self, principal: Principal, upstream: str, request_id: str | int | None, method: str
    ) -> None:
        """Record a request for an upstream the grant has no binding for (HTTP 403)."""
        message = "this grant has no binding for this upstream"
        await self._write_refusal(
            principal, upstream, request_id, method, "", NO_BINDING_RULE, message
        )

    async def _write_refusal(
        self,
        principal: Principal,
        upstream: str,
        request_id: str | int | None,
        method: str,
        tool: str,
        rule: str,
        message: str,
        request: Request | None = None,
    ) -> None:
        await self._write_row(
            request,
            partial(
                build_record,
                at=self.clock.now(),
                request_id=request_id,
                grant_id=principal.grant_id,
                grant_label=principal.label,
                upstream=upstream,
                method=method,
                tool=tool,
                decision="deny",
                rule=rule,
                message=message,
                outcome="not_forwarded",
            ),
        )


class _Recorder:
    """Writes the proxy-log record of one tools/call."""

    def __init__(
        self,
        pipeline: Pipeline,
        caller: Caller,
        request: Request,
        upstream: str,
        tool: str,
        arguments: Mapping[str, object],
        policy_name: str,
        policy: CompiledPolicy | None,
        timing: _Timing,
        decision: Decision,
    ) -> None:
        self.pipeline = pipeline
        self.caller = caller
        self.request = request
        self.upstream = upstream
        self.tool = tool
        self.arguments = arguments
        self.policy_name = policy_name
        self.version = policy.version if policy is not None else 0
        self.timing = timing
        self.decision = decision  # the policy's; a limit's when one refused or went unchecked
        self.fail_open = False  # let through with its limits unchecked
        self.pin = ""  # how its tool stood against its pin (core.pins.Standing.mark)

    async def refused(self, decision: Decision) -> Message:
        """Record a denial and answer it (DESIGN §4); a hidden tool is an unknown tool."""
        self.timing.decided = time.perf_counter()
        await self._write(decision, "not_forwarded")
        if decision.rule == "(hidden)":
            raise UnknownTool(self.request_name)
        result = denial_result(decision, policy=self.policy_name, version=self.version)
        return self.pipeline._modern(self.caller, "tools/call", {"result": result})

    async def forwarded(self, decision: Decision, outcome: Outcome) -> None:
        await self._write(decision, outcome)

    async def mismatched(self, mismatch: HeaderMismatch) -> None:
        """Record a call refused for ``Mcp-Param-*`` headers that disagree with its arguments
        (the message names headers and arguments, never their values)."""
        self.timing.decided = time.perf_counter()
        await self._write(Decision("deny", HEADER_MISMATCH_RULE, mismatch.message), "not_forwarded")

    async def unknown(self) -> None:
        """Record a call of a tool the upstream does not offer (refused as unknown)."""
        self.timing.decided = time.perf_counter()
        await self._write(Decision("deny", UNKNOWN_TOOL_RULE, "Unknown tool"), "not_forwarded")

    async def withheld(self, rule: str) -> None:
        """Record a call of a tool withheld for its definition (refused as unknown)."""
        self.timing.decided = time.perf_counter()
        message = f"Unknown tool: withheld, its definition is {WITHHELD_BECAUSE[rule]}"
        await self._write(Decision("deny", rule, message), "not_forwarded")

    @property
    def request_name(self) -> str:
        return self.tool if self.caller.endpoint else f"{self.upstream}__{self.tool}"

    async def _write(self, decision: Decision, outcome: Outcome) -> None:
        """Hand the sink what builds this call's record, made off the answer's way back
        (``LogSink.write_later``): the times, and the argument names but no value."""
        now = time.perf_counter()
        timing = self.timing
        decided = timing.decided or now
        decision_ms = timing.ms(decided - timing.started)
        upstream_ms = timing.ms(timing.upstream - decided) if timing.upstream else 0.0
        total_ms = timing.ms(now - timing.started)
        principal = self.caller.principal
        await self.pipeline._write_row(
            self.request,
            partial(
                build_record,
                at=self.pipeline.clock.now(), request_id=self.request.id,
                grant_id=principal.grant_id, grant_label=principal.label, upstream=self.upstream,
                method="tools/call", tool=self.tool,
                arguments=dict.fromkeys(self.arguments),  # the names only: no value is kept
                policy=self.policy_name, policy_version=self.version,
                decision=decision.decision, rule=decision.rule, message=decision.message,
                outcome=outcome, decision_ms=decision_ms, upstream_ms=upstream_ms,
                total_ms=total_ms, fail_open=self.fail_open, pin=self.pin,
            ),
        )  # fmt: skip


def _declared(caller: Caller) -> Mapping[str, object] | None:
    """A 2026-07-28 request's own client capabilities, as far as they can be relayed: they
    vary per request (stateless), so they travel with it rather than with the session."""
    return caller.offer.capabilities if caller.era == "modern" else None


def _for_upstream(
    params: Mapping[str, object] | None,
    *,
    name: str | None = None,
    capabilities: Mapping[str, object] | None = None,
) -> dict[str, object] | None:
    """Params to send upstream: re-serialised from what was parsed (and evaluated), the tool
    name set to the upstream's own, and the agent's 2026 envelope left out of ``_meta`` (a
    session adds its own) — all but ``logLevel``, the agent's opt-in to log messages, which
    a session passes on to a modern upstream. For a modern agent, ``capabilities`` (those the
    gateway declares for this request) are added: they vary per request, so they travel with
    it, and a modern session must send them rather than the ones it opened with (a legacy
    session drops them)."""
    if params is None:
        return None  # a 2026-07-28 request always has params: its envelope is in them
    forwarded = dict(params)
    if name is not None:
        forwarded["name"] = name
        # Task-augmented calls are not offered (the tasks extension is never advertised): a
        # call runs to its result through the gateway, or not at all.
        forwarded.pop("task", None)
    meta = forwarded.get("_meta")
    if isinstance(meta, dict):
        kept = {
            key: value
            for key, value in meta.items()
            if key == LOG_LEVEL_KEY or not key.startswith(ENVELOPE_PREFIX)
        }
        if kept:
            forwarded["_meta"] = kept
        else:
            del forwarded["_meta"]
    if capabilities is not None:
        meta = forwarded.get("_meta")
        forwarded["_meta"] = {
            **(meta if isinstance(meta, dict) else {}),
            CLIENT_CAPABILITIES_KEY: dict(capabilities),
        }
    return forwarded


def failure_outcome(error: UpstreamError) -> Outcome:
    """How a request that got no usable answer from its upstream ended, for its row: an
    answer that is not MCP (garbage, over the size limit) is a protocol error."""
    if isinstance(error, UpstreamProtocolError):
        return "protocol_error"
    return "timeout" if isinstance(error, UpstreamTimeout) else "unreachable"


def _outcome(response: Message) -> Outcome:
    if "error" in response:
        return "protocol_error"
    result = response.get("result")
    if isinstance(result, dict) and result.get("isError") is True:
        return "tool_error"
    return "ok"
