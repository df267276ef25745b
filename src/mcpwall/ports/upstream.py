"""The upstream port: one negotiated MCP session with an upstream server, moving raw JSON-RPC.

The gateway is a transparent relay (DESIGN §2): it reads and rewrites only what policy needs,
so a session hands it the upstream's messages as decoded JSON objects, untouched. A session
owns its own request ids: :meth:`UpstreamSession.request` picks a fresh id, and the response
it returns carries that id — the gateway puts the agent's id back.

Messages the upstream sends *about* an in-flight request (``notifications/progress``,
``notifications/message``, server→client requests such as ``sampling/createMessage``) go to
that request's ``related`` callback; on Streamable HTTP they arrive on the request's own SSE
stream, on stdio and legacy SSE a session relates them by progress token or, when exactly one
request is in flight, to that request. Anything else (``notifications/tools/list_changed``,
``notifications/resources/updated``, requests unrelated to any call) goes to the session's
``on_unsolicited`` callback — except on a 2026-07-28 ``subscriptions/listen`` request, whose
stream carries change notifications tagged with its id: those (and, on stdio, the
``notifications/cancelled`` that ends it) go to that request's ``related``. Such a request is
sent with ``timeout=math.inf`` and ended by cancelling it.

Errors are :class:`mcpwall.core.errors.UpstreamError` and its subclasses, never a transport's
own exceptions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from mcpwall.core.registry import Upstream

Message = dict[str, object]
"""One JSON-RPC message, decoded, exactly as the peer sent it."""

Receiver = Callable[[Message], Awaitable[None]]
"""Where a session delivers messages it receives outside of a response."""

Era = Literal["legacy", "modern"]


@dataclass(frozen=True, slots=True)
class ClientOffer:
    """What the gateway tells an upstream about itself as a client, for one agent.

    The capabilities are only those the gateway can relay to that agent, per era of the
    upstream session: ``legacy_capabilities`` go in ``initialize`` (sampling, elicitation,
    roots — requests a legacy agent can be asked), ``capabilities`` in a 2026-07-28 session's
    per-request envelope. ``era`` is the agent's preference: ``"legacy"`` opens a legacy
    session without probing (a dual-era upstream would otherwise pick 2026-07-28, which has no
    server→client requests, logging level or subscriptions to relay to a legacy agent); None
    lets the upstream's answers decide.
    """

    capabilities: Mapping[str, object] = field(default_factory=dict)
    client_info: Mapping[str, object] = field(
        default_factory=lambda: {"name": "mcpwall", "version": "0.1.0"}
    )
    legacy_capabilities: Mapping[str, object] = field(default_factory=dict)
    era: Era | None = None


@dataclass(frozen=True, slots=True)
class Negotiated:
    """What the upstream and the gateway agreed on when the session opened."""

    protocol_version: str
    era: Era
    capabilities: Mapping[str, object]
    server_info: Mapping[str, object]
    instructions: str | None = None


@dataclass(frozen=True, slots=True)
class Resumption:
    """What another gateway process needs to carry on a legacy upstream session over HTTP
    without a new ``initialize``: the upstream's ``Mcp-Session-Id``, the protocol version it
    negotiated, and the capabilities it declared (the names, and the flags set in each)."""

    session_id: str
    protocol_version: str
    capabilities: Mapping[str, object]


class UpstreamSession(Protocol):
    """An open session with one upstream."""

    @property
    def negotiated(self) -> Negotiated: ...

    @property
    def closed(self) -> bool:
        """Whether the session is over (closed, or its upstream went away): open a new one."""
        ...

    async def wait_closed(self) -> str:
        """Wait until the session is over; return why."""
        ...

    async def request(
        self,
        method: str,
        params: Mapping[str, object] | None,
        *,
        related: Receiver | None = None,
        timeout: float,
    ) -> Message:
        """Send a request and return the upstream's response (``result`` or ``error``).

        If the caller is cancelled or ``timeout`` seconds pass, the session tells the upstream
        in the form its era uses (``notifications/cancelled``, or closing the request's HTTP
        stream) and raises (``CancelledError`` or :class:`UpstreamTimeout`).
        """
        ...

    async def notify(self, method: str, params: Mapping[str, object] | None) -> None:
        """Send a notification."""
        ...

    async def respond(self, request_id: str | int, response: Message) -> None:
        """Answer a server→client request the upstream sent (``response`` has ``result`` or
        ``error``; its ``id`` is replaced by ``request_id``)."""
        ...

    async def aclose(self) -> None:
        """End the session (HTTP: DELETE it; stdio: close stdin, then terminate)."""
        ...


class SessionEnd:
    """Whether a session is over, and why: what every session implementation shares."""

    def __init__(self) -> None:
        self._closed = asyncio.Event()
        self._close_reason = ""

    @property
    def closed(self) -> bool:
        """Whether the session is over (closed, or its upstream went away)."""
        return self._closed.is_set()

    @property
    def close_reason(self) -> str:
        """Why the session is over; empty while it is open."""
        return self._close_reason

    async def wait_closed(self) -> str:
        """Wait until the session is over; return why."""
        await self._closed.wait()
        return self._close_reason

    def _mark_closed(self, reason: str) -> None:
        """Record the end of the session (the first reason given is kept)."""
        if not self._closed.is_set():
            self._close_reason = reason
            self._closed.set()


class UpstreamConnector(Protocol):
    """Opens sessions with registered upstreams."""

    async def connect(
        self, upstream: Upstream, offer: ClientOffer, on_unsolicited: Receiver
    ) -> UpstreamSession:
        """Open and negotiate a session; :class:`UpstreamUnavailable` when that fails."""
        ...


@runtime_checkable
class Resumable(Protocol):
    """A session another process can resume (a legacy Streamable HTTP one)."""

    def resumption(self) -> Resumption | None:
        """What resuming it takes; None when it can't be resumed elsewhere."""
        ...


@runtime_checkable
class Detachable(Protocol):
    """A session that can be let go of without ending it upstream."""

    async def detach(self) -> None: ...


@runtime_checkable
class Attacher(Protocol):
    """A connector that can also carry on a session another process opened."""

    async def attach(
        self,
        upstream: Upstream,
        offer: ClientOffer,
        on_unsolicited: Receiver,
        resumption: Resumption,
        *,
        listen: bool = True,
    ) -> UpstreamSession:
        """The session ``resumption`` describes, carried on with no handshake; ``listen``
        opens its GET stream too. It may turn out closed (the upstream forgot it)."""
        ...
