"""``subscriptions/listen`` for 2026-07-28 agents: the stream of changes an agent asked for.

A listen request is answered with a stream that stays open (research/mcp-protocol.md §1.11):
first ``notifications/subscriptions/acknowledged`` naming what the gateway honours for the
endpoint, then each change notification the agent asked for, tagged with the listen request's
id, and at a graceful end (the gateway shutting down) a ``resultType: "complete"`` result.

What the gateway honours is what it can deliver on that endpoint: tool list changes wherever
an upstream offers tools (a new policy version re-filters the list, so the gateway says so
itself), prompt and resource list changes where an upstream sends them, and updates of
subscribed resources where the upstream owning them offers subscriptions. On the aggregate
``/mcp`` a resource is named ``mcpwall://{upstream}/{uri}``: each is subscribed to on its
upstream by the upstream's own URI, and its updates are told by the ``mcpwall://`` URI. A URI
of another form, or naming an upstream the grant is not bound to, is left out of the
acknowledgement (the spec's "subset it honours"). The upstreams are kept telling the gateway
through the pool (:meth:`~mcpwall.gateway.upstreams.UpstreamPool.listen`).

Each listen request is one proxy-log row: ``ok`` when the stream opens (``unreachable`` when
the one upstream of ``/mcp/{upstream}`` could not be reached: the stream opens all the same),
``not_forwarded`` when the filter is refused, or the grant holds as many streams as it may.

A grant holds at most ``per_grant`` listen streams in this process at once
(``MCPWALL_LISTENS_PER_GRANT``, counted from the moment one is asked for): one more is
refused with :class:`~mcpwall.core.errors.GrantOverCapacity` (HTTP 429, or a JSON-RPC error
over stdio) until the agent closes one. Each holds a backlog and the upstreams' attention, and
an agent needs about one per endpoint.

A stream ends when the agent closes it (which frees everything it held), when its grant is
revoked, expires or loses the binding it listens through (the stream ends with an error:
re-listening would be refused), when the agent stops reading (its backlog is capped: it
re-listens and lists again), or gracefully when the gateway stops. Over stdio, where every
stream shares one channel, the gateway ending a stream says so with ``notifications/cancelled``
naming the listen request (2026-07-28 ``basic/patterns/cancellation``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncGenerator, Mapping
from dataclasses import replace
from typing import Final

import orjson

from mcpwall.core.errors import GrantOverCapacity, OverCapacity, ProtocolError, UpstreamError
from mcpwall.core.jsonrpc import Request, RequestId, encode_error
from mcpwall.core.mcp import Relays, server_capabilities, stamp_result
from mcpwall.core.mcp.aggregate import gateway_uri, route_subscriptions
from mcpwall.core.mcp.subscriptions import (
    TOOLS_CHANGED,
    Interest,
    acknowledgement,
    closing_result,
    honoured,
    parse_listen,
    tagged,
    takes_subscriptions,
)
from mcpwall.gateway.aggregate import session_listener
from mcpwall.gateway.grants import GrantCache, Principal
from mcpwall.gateway.pipeline import SERVER_INFO, Caller, Pipeline
from mcpwall.gateway.streams import encode_response
from mcpwall.gateway.upstreams import Lease
from mcpwall.ports.upstream import Message, Receiver

log = logging.getLogger("mcpwall.gateway")

MAX_BACKLOG: Final = 1024  # frames waiting for an agent that does not read: then it ends
LISTENS_PER_GRANT: Final = 16
LISTENS_PER_GRANT_SETTING: Final = "MCPWALL_LISTENS_PER_GRANT"
# A stream is given back only when its agent closes it: no time is sure to free one. A
# polite pause, so that a client retrying on its own does not hammer.
LISTEN_RETRY_AFTER_S: Final = 10
REVOKED: Final = -32600
CANCELLED: Final = "notifications/cancelled"
REVOKED_MESSAGE: Final = "the grant was revoked, expired, or lost this binding: listen again"


class ListenStream:
    """One agent's listen stream: what it asked for, what it holds, what waits for it."""

    def __init__(
        self,
        request_id: RequestId,
        interest: Interest,
        principal: Principal,
        token: str,
        upstreams: list[str],
        *,
        stdio: bool = False,
    ) -> None:
        self.id = request_id
        self.stdio = stdio
        self.interest = interest
        self.principal = principal
        self.token = token
        self.upstreams = upstreams
        self.leases: list[Lease] = []
        self._frames: deque[bytes] = deque()
        self._pending: set[bytes] = set()
        self._waiter: asyncio.Future[None] | None = None
        self._last: bytes | None = None  # the frame that ends the stream
        self._over = False

    @property
    def over(self) -> bool:
        return self._over

    async def receive(self, message: Message) -> None:
        """An upstream's unsolicited message: passed on when it is a change asked for."""
        if self.interest.hears(message):
            self._put(orjson.dumps(tagged(message, self.id)))

    def tools_changed(self) -> None:
        """The visible tool list may have changed (a new policy version)."""
        if self.interest.tools:
            self._put(orjson.dumps(tagged({"method": TOOLS_CHANGED}, self.id)))

    def finish(self) -> None:
        """End gracefully, with the ``complete`` result (the gateway is stopping)."""
        result = stamp_result(closing_result(self.id), SERVER_INFO)
        self._end(encode_response(self.id, {"result": result}))

    def revoke(self) -> None:
        """End with an error (stdio: a cancellation): the grant may no longer listen here."""
        if self.stdio:
            params = {"requestId": self.id, "reason": REVOKED_MESSAGE}
            cancel = {"jsonrpc": "2.0", "method": CANCELLED, "params": params}
            self._end(orjson.dumps(cancel))
        else:
            self._end(encode_error(self.id, REVOKED, REVOKED_MESSAGE))

    def release(self) -> None:
        """Let go of every upstream held for this stream."""
        leases, self.leases = self.leases, []
        for lease in leases:
            lease.release()

    async def frames(self) -> AsyncGenerator[bytes, None]:
        """The stream: the acknowledgement, then the notifications, then its end (if any)."""
        yield orjson.dumps(acknowledgement(self.interest, self.id))
        while True:
            while self._frames:
                frame = self._frames.popleft()
                self._pending.discard(frame)
                yield frame
            if self._over:
                if self._last is not None:
                    yield self._last
                return
            await self._wait()

    async def _wait(self) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        try:
            await waiter
        finally:
            self._waiter = None

    def _put(self, frame: bytes) -> None:
        if self._over or frame in self._pending:
            return  # a change already waiting to be told is told once
        if len(self._frames) >= MAX_BACKLOG:
            log.warning("a listen stream's agent stopped reading; ending the stream")
            self._end(None)
            return
        self._frames.append(frame)
        self._pending.add(frame)
        self._wake()

    def _end(self, last: bytes | None) -> None:
        if self._over:
            return
        self._over, self._last = True, last
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class OpenStreams:
    """The listen streams open in this process, told about store changes and shutdown; at
    most ``per_grant`` held by one grant (open, or being opened)."""

    def __init__(self, per_grant: int = LISTENS_PER_GRANT) -> None:
        self._streams: set[ListenStream] = set()
        self._held: dict[str, int] = {}
        self.per_grant = per_grant
        self.closing = False

    def __len__(self) -> int:
        return len(self._streams)

    def hold(self, grant_id: str) -> None:
        """Count a stream being opened for ``grant_id``; :class:`GrantOverCapacity` when it
        holds ``per_grant`` already. Then :meth:`add` the stream, or :meth:`let_go`."""
        held = self._held.get(grant_id, 0)
        if held >= self.per_grant:
            raise GrantOverCapacity(
                f"this grant has as many open listen streams as one grant may "
                f"({LISTENS_PER_GRANT_SETTING}={self.per_grant}): close one",
                cap=LISTENS_PER_GRANT_SETTING,
                limit=self.per_grant,
                retry_after_s=LISTEN_RETRY_AFTER_S,
            )
        self._held[grant_id] = held + 1

    def let_go(self, grant_id: str) -> None:
        """Uncount a stream of ``grant_id``'s (closed, or never opened)."""
        held = self._held.get(grant_id, 0) - 1
        if held > 0:
            self._held[grant_id] = held
        else:
            self._held.pop(grant_id, None)

    def add(self, stream: ListenStream) -> None:
        self._streams.add(stream)
        if self.closing:
            stream.finish()

    def discard(self, stream: ListenStream) -> None:
        if stream in self._streams:
            self._streams.remove(stream)
            self.let_go(stream.principal.grant_id)

    async def review(self, grants: GrantCache) -> None:
        """After a store change: end the streams of grants that may no longer listen, and
        tell the others whose policies changed that their tool lists may have."""
        for stream in list(self._streams):
            principal = await grants.authenticate(stream.token)
            if principal is None or not set(stream.upstreams) <= set(principal.bindings):
                stream.revoke()
            elif _policies(principal, stream.upstreams) != _policies(
                stream.principal, stream.upstreams
            ):
                stream.principal = principal
                stream.tools_changed()

    def tools_changed(self, upstreams: set[str]) -> None:
        """Tell the streams listening to any of ``upstreams`` that their tool lists changed
        (tools withheld for their definitions, or accepted)."""
        if not upstreams:
            return
        for stream in list(self._streams):
            if not upstreams.isdisjoint(stream.upstreams):
                stream.tools_changed()

    def expire(self, grants: GrantCache) -> None:
        """End the streams whose grant has expired (expiry changes nothing in the store)."""
        for stream in list(self._streams):
            if not grants.is_current(stream.principal):
                stream.revoke()

    def finish_all(self) -> None:
        """End every stream gracefully, and any opened from now on (the gateway stops)."""
        self.closing = True
        for stream in list(self._streams):
            stream.finish()


def _policies(principal: Principal, upstreams: list[str]) -> list[tuple[str, int | None]]:
    found: list[tuple[str, int | None]] = []
    for upstream in upstreams:
        binding = principal.bindings[upstream]
        found.append(
            (binding.policy, None if binding.compiled is None else binding.compiled.version)
        )
    return found


async def open_listen(
    pipeline: Pipeline,
    caller: Caller,
    request: Request,
    token: str,
    streams: OpenStreams,
    *,
    stdio: bool = False,
) -> ListenStream:
    """A listen stream for ``request``, its upstreams asked (or failing: they are skipped);
    :class:`~mcpwall.core.errors.InvalidParams` for a malformed filter,
    :class:`~mcpwall.core.errors.OverCapacity` for a grant holding as many streams as it may
    (or that can't have a process for its stdio upstream). Either way the request's
    proxy-log row is written. Serve it as a :class:`Listening`, which frees it."""
    grant_id = caller.principal.grant_id
    try:
        requested = parse_listen(request.params)
        streams.hold(grant_id)
    except ProtocolError as refusal:
        await pipeline.record_refusal(
            caller.principal, caller.endpoint, request.id, request.method, refusal
        )
        raise
    try:
        stream = await _opened(pipeline, caller, request, token, requested, stdio=stdio)
    except BaseException as failure:
        streams.let_go(grant_id)
        if isinstance(failure, OverCapacity):
            upstream = failure.upstream or caller.endpoint
            await pipeline.record_refusal(
                caller.principal, upstream, request.id, request.method, failure
            )
        raise
    streams.add(stream)
    return stream


async def _opened(
    pipeline: Pipeline,
    caller: Caller,
    request: Request,
    token: str,
    requested: Interest,
    *,
    stdio: bool,
) -> ListenStream:
    pool = pipeline.pool
    capabilities: dict[str, Mapping[str, object]] = {}
    for upstream in caller.upstreams:
        try:
            session = await pool.session(caller.owner, upstream, caller.offer)
        except UpstreamError as error:
            log.warning("upstream %s is unavailable; listening without it: %s", upstream, error)
            continue
        capabilities[upstream] = dict(session.negotiated.capabilities)
    acknowledged, asked = _plan(requested, capabilities, aggregate=caller.endpoint is None)
    stream = ListenStream(
        request.id, acknowledged, caller.principal, token, caller.upstreams, stdio=stdio
    )
    try:
        for upstream, interest in asked.items():
            try:
                lease = await pool.listen(
                    caller.owner,
                    upstream,
                    caller.offer,
                    _receiver(stream, caller, upstream),
                    interest,
                )
            except UpstreamError as error:  # it went away since: listen to the others
                log.warning("upstream %s is unavailable; listening without it: %s", upstream, error)
                continue
            stream.leases.append(lease)
        # Acknowledge once every upstream has been asked: a change the agent causes right
        # after the acknowledgement must not be missed.
        async with asyncio.timeout(pool.timeout):
            await asyncio.gather(*(lease.settled() for lease in stream.leases))
    except TimeoutError:
        log.warning("an upstream did not take a listen request in time; listening anyway")
    except BaseException:
        stream.release()
        raise
    reached = caller.endpoint is None or bool(capabilities)
    await pipeline.record(
        caller, request, caller.endpoint or "", "ok" if reached else "unreachable"
    )
    return stream


def _plan(
    requested: Interest, capabilities: Mapping[str, Mapping[str, object]], *, aggregate: bool
) -> tuple[Interest, dict[str, Interest]]:
    """What a listen honours (its acknowledgement), and what to ask of each upstream reached
    (by name, with its capabilities).

    On ``/mcp/{upstream}`` both are the requested part the upstream can deliver. On ``/mcp``
    the list changes are those any upstream can deliver, and each ``mcpwall://`` URI goes to
    the upstream it names, as that upstream's own URI, when it takes subscriptions.
    """
    relays = Relays(list_changed=True, resource_updates=not aggregate)
    kinds = honoured(requested, server_capabilities(list(capabilities.values()), relays))
    if not aggregate:
        return kinds, dict.fromkeys(capabilities, kinds)
    subscribing = [name for name, caps in capabilities.items() if takes_subscriptions(caps)]
    routed = route_subscriptions(requested.uris, subscribing)
    uris = frozenset(gateway_uri(name, own) for name, owns in routed.items() for own in owns)
    asked = {name: replace(kinds, uris=routed.get(name, frozenset())) for name in capabilities}
    return replace(kinds, uris=uris), asked


def _receiver(stream: ListenStream, caller: Caller, upstream: str) -> Receiver:
    """What ``stream`` hears from ``upstream``: on ``/mcp``, a resource update names the
    resource by its ``mcpwall://`` URI, the one the agent subscribed with."""
    if caller.endpoint is not None:
        return stream.receive
    return session_listener(stream.receive, upstream)


class Listening:
    """The frames of ``stream`` as a reply's stream. It ends with the stream, or when closed
    (the agent went away): either way everything the stream held is freed, even when it
    never started."""

    def __init__(self, stream: ListenStream, streams: OpenStreams) -> None:
        self.stream = stream
        self._streams = streams
        self._frames = stream.frames()

    def __aiter__(self) -> Listening:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self._frames.__anext__()
        except BaseException:
            self._free()
            raise

    async def aclose(self) -> None:
        try:
            await self._frames.aclose()
        finally:
            self._free()

    def _free(self) -> None:
        self._streams.discard(self.stream)
        self.stream.release()
