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
``on_unsolicited`` callback.

Errors are :class:`mcpwall.core.errors.UpstreamError` and its subclasses, never a transport's
own exceptions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from mcpwall.core.registry import Upstream

Message = dict[str, object]
"""One JSON-RPC message, decoded, exactly as the peer sent it."""

Receiver = Callable[[Message], Awaitable[None]]
"""Where a session delivers messages it receives outside of a response."""

Era = Literal["legacy", "modern"]


@dataclass(frozen=True, slots=True)
class ClientOffer:
    """What the gateway tells an upstream about itself as a client.

    ``capabilities`` are only the client capabilities the gateway can relay for the agent
    this session serves (sampling only if that agent can sample, and so on).
    """

    capabilities: Mapping[str, object] = field(default_factory=dict)
    client_info: Mapping[str, object] = field(
        default_factory=lambda: {"name": "mcpwall", "version": "0.1.0"}
    )


@dataclass(frozen=True, slots=True)
class Negotiated:
    """What the upstream and the gateway agreed on when the session opened."""

    protocol_version: str
    era: Era
    capabilities: Mapping[str, object]
    server_info: Mapping[str, object]
    instructions: str | None = None


class UpstreamSession(Protocol):
    """An open session with one upstream."""

    @property
    def negotiated(self) -> Negotiated: ...

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


class UpstreamConnector(Protocol):
    """Opens sessions with registered upstreams."""

    async def connect(
        self, upstream: Upstream, offer: ClientOffer, on_unsolicited: Receiver
    ) -> UpstreamSession:
        """Open and negotiate a session; :class:`UpstreamUnavailable` when that fails."""
        ...
