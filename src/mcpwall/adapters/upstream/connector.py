"""The upstream connector: opens a session with a registered upstream, by its kind."""

from __future__ import annotations

from mcpwall.adapters.upstream.channel import Mode
from mcpwall.adapters.upstream.early import EarlyStart
from mcpwall.adapters.upstream.process import MAX_MESSAGE_BYTES, STOP_GRACE_SECONDS
from mcpwall.adapters.upstream.stdio import connect_stdio
from mcpwall.core.errors import UpstreamUnavailable
from mcpwall.core.registry import Upstream, UpstreamKind
from mcpwall.ports.upstream import ClientOffer, Receiver, Resumption, UpstreamSession


class Connector:
    """Opens upstream sessions: stdio, Streamable HTTP or legacy SSE, as the registry says
    (an :class:`~mcpwall.ports.upstream.UpstreamConnector`).

    ``mode`` picks the era: ``auto`` probes each upstream with ``server/discover`` and falls
    back to ``initialize`` (§1.4); ``legacy`` or ``modern`` insist. Legacy SSE upstreams are
    always legacy. ``timeout`` bounds opening a session, ``probe_timeout`` the probe, ``grace``
    each step of stopping a process; ``max_message_bytes`` one message from an upstream.
    Each request's own timeout is the caller's, per call (``UpstreamSession.request``).
    ``early`` is a stdio upstream's process spawned ahead of its first session (``mcpwall
    stdio``): the first stdio session opened for that upstream takes it instead of spawning.
    """

    def __init__(
        self,
        *,
        mode: Mode = "auto",
        timeout: float = 30.0,
        probe_timeout: float = 10.0,
        grace: float = STOP_GRACE_SECONDS,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        early: EarlyStart | None = None,
    ) -> None:
        self.mode: Mode = mode
        self.timeout = timeout
        self.probe_timeout = probe_timeout
        self.grace = grace
        self.max_message_bytes = max_message_bytes
        self.early = early

    async def connect(
        self, upstream: Upstream, offer: ClientOffer, on_unsolicited: Receiver
    ) -> UpstreamSession:
        """Open and negotiate a session; :class:`UpstreamUnavailable` when that fails.

        An offer made for a legacy agent opens a legacy session (see :class:`ClientOffer`).
        """
        mode: Mode = "legacy" if offer.era == "legacy" else self.mode
        if upstream.kind is UpstreamKind.STDIO:
            started = None
            if self.early is not None:
                started = await self.early.take(upstream, max_line_bytes=self.max_message_bytes)
            return await connect_stdio(
                upstream,
                offer,
                on_unsolicited,
                mode=mode,
                timeout=self.timeout,
                probe_timeout=self.probe_timeout,
                grace=self.grace,
                max_message_bytes=self.max_message_bytes,
                started=started,
            )
        # The HTTP transports (and our HTTP client) load with the first HTTP upstream: ``mcpwall
        # stdio`` in front of a stdio server never waits for them (issue 16 §3).
        if upstream.kind is UpstreamKind.HTTP:
            from mcpwall.adapters.upstream.streamable_http import connect_streamable_http

            return await connect_streamable_http(
                upstream,
                offer,
                on_unsolicited,
                mode=mode,
                timeout=self.timeout,
                probe_timeout=self.probe_timeout,
                max_message_bytes=self.max_message_bytes,
            )
        from mcpwall.adapters.upstream.http_sse import connect_sse

        return await connect_sse(
            upstream,
            offer,
            on_unsolicited,
            timeout=self.timeout,
            probe_timeout=self.probe_timeout,
            max_message_bytes=self.max_message_bytes,
        )

    async def attach(
        self,
        upstream: Upstream,
        offer: ClientOffer,
        on_unsolicited: Receiver,
        resumption: Resumption,
        *,
        listen: bool = True,
    ) -> UpstreamSession:
        """Carry on a legacy Streamable HTTP session another process opened (an
        :class:`~mcpwall.ports.upstream.Attacher`); only HTTP upstreams have such sessions."""
        if upstream.kind is not UpstreamKind.HTTP:
            raise UpstreamUnavailable(upstream.name, "only HTTP upstream sessions can be resumed")
        from mcpwall.adapters.upstream.streamable_http import attach_streamable_http

        return await attach_streamable_http(
            upstream,
            offer,
            on_unsolicited,
            resumption,
            listen=listen,
            timeout=self.timeout,
            max_message_bytes=self.max_message_bytes,
        )
