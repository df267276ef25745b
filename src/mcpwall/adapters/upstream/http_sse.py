"""The legacy HTTP+SSE transport of 2024-11-05 (research/mcp-protocol.md §1.9), client side.

A GET opens an event stream whose first event, ``endpoint``, names where to POST; every
message we send is POSTed there, and everything the upstream sends — answers included —
arrives on the stream as ``message`` events. One stream each way, so the session is a
:class:`~mcpwall.adapters.upstream.channel.ChannelSession` like stdio's.

The endpoint must be on the stream's origin: we send the upstream's credentials with every
POST, so a stream that names another host is refused rather than followed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urljoin

from mcpwall.adapters.upstream import httpio
from mcpwall.adapters.upstream.channel import ChannelSession, open_channel
from mcpwall.adapters.upstream.http11 import Response
from mcpwall.adapters.upstream.httpclient import HttpClient
from mcpwall.adapters.upstream.sse import Event, EventDecoder
from mcpwall.core.errors import UpstreamClosed, UpstreamError, UpstreamUnavailable
from mcpwall.core.registry import Upstream
from mcpwall.ports.upstream import ClientOffer, Receiver


class SseWire:
    """An open HTTP+SSE connection, as a :class:`~mcpwall.adapters.upstream.channel.Wire`.

    Open one with :meth:`open`.
    """

    def __init__(
        self,
        name: str,
        client: HttpClient,
        stream: Response,
        events: AsyncIterator[Event],
        endpoint: str,
    ) -> None:
        self.name = name
        self.endpoint = endpoint
        self._client = client
        self._stream = stream
        self._events = events
        self._ended = ""

    @classmethod
    async def open(
        cls, upstream: Upstream, client: HttpClient, *, timeout: float, limit: int
    ) -> SseWire:
        """GET the stream and read its ``endpoint`` event, within ``timeout`` seconds."""
        assert upstream.url is not None
        url, name = upstream.url, upstream.name
        headers = {"Accept": httpio.EVENT_STREAM}
        try:
            async with asyncio.timeout(timeout):
                with httpio.http_errors(name, url):
                    stream = await client.get(url, headers=headers)
                events = httpio.events(name, stream, EventDecoder(limit))
                try:
                    endpoint = await _endpoint(name, url, stream, events)
                except BaseException:
                    stream.close()
                    raise
        except TimeoutError:
            reason = f"its stream at {url} sent no endpoint event within {timeout:g} s"
            raise UpstreamUnavailable(name, reason) from None
        except UpstreamUnavailable:
            raise
        except UpstreamError as error:  # an unreadable stream, say
            raise UpstreamUnavailable(name, error.reason) from None
        return cls(name, client, stream, events, endpoint)

    @property
    def ended(self) -> str:
        return self._ended

    async def messages(self) -> AsyncIterator[bytes]:
        with httpio.http_errors(self.name, self.endpoint):
            async for event in self._events:
                if httpio.carries_message(event):
                    yield event.data.encode("utf-8")
        self._ended = "the upstream closed its event stream"

    async def send(self, message: bytes) -> None:
        headers = {"Content-Type": httpio.JSON}
        with httpio.http_errors(self.name, self.endpoint):
            async with self._client.post(self.endpoint, data=message, headers=headers) as response:
                if response.status == 404:
                    raise UpstreamClosed(self.name, "the upstream no longer knows this session")
                if not 200 <= response.status < 300:
                    problem = httpio.status_problem("a message", response)
                    raise UpstreamUnavailable(self.name, problem)

    async def aclose(self) -> None:
        self._stream.close()
        await self._client.close()


async def _endpoint(name: str, url: str, stream: Response, events: AsyncIterator[Event]) -> str:
    """The POST URL the stream's first ``endpoint`` event names."""
    if stream.status != 200 or httpio.content_type(stream) != httpio.EVENT_STREAM:
        kind = httpio.content_type(stream) or "no content type"
        problem = httpio.status_problem("the SSE GET", stream)
        raise UpstreamUnavailable(name, f"{problem} ({kind}; expected an event stream)")
    async for event in events:
        if event.event == "endpoint":
            endpoint = urljoin(url, event.data.strip())
            if not httpio.same_origin(url, endpoint):
                reason = f"its endpoint event names another origin ({endpoint}); refused"
                raise UpstreamUnavailable(name, reason)
            return endpoint
    raise UpstreamUnavailable(name, f"its stream at {url} ended before an endpoint event")


async def connect_sse(
    upstream: Upstream,
    offer: ClientOffer,
    on_unsolicited: Receiver,
    *,
    timeout: float = 30.0,
    probe_timeout: float = 10.0,
    max_message_bytes: int = 64 * 1024 * 1024,
) -> ChannelSession:
    """Open and negotiate a session with an HTTP+SSE ``upstream``: always the legacy era,
    which the transport belongs to (2026-07-28 deprecated it)."""
    client = httpio.new_client(upstream, connect_timeout=timeout)
    try:
        wire = await SseWire.open(upstream, client, timeout=timeout, limit=max_message_bytes)
    except BaseException:
        await client.close()
        raise
    return await open_channel(
        upstream.name,
        wire,
        offer,
        on_unsolicited,
        mode="legacy",
        timeout=timeout,
        probe_timeout=probe_timeout,
    )
