"""The Streamable HTTP transport, both eras (research/mcp-protocol.md §1.7, §1.8).

Every message is its own POST, answered with JSON or with an SSE stream that carries what the
upstream sends about that request (progress, logs, server→client requests) before the answer;
so on this transport a message is related to a request by the stream it arrives on.

* **Legacy** (2025-03-26 … 2025-11-25): ``initialize`` then ``notifications/initialized``; the
  ``Mcp-Session-Id`` the upstream gives and the ``MCP-Protocol-Version`` on every later
  message; a GET stream for messages unrelated to any request (a 405 means there is none);
  a stream that ends early is resumed with ``Last-Event-ID``; cancellation is
  ``notifications/cancelled``; DELETE ends the session. A 404 to a message carrying the
  session id means the upstream ended the session: this one is then over.
* **Modern** (2026-07-28): no handshake, no session; each request carries the ``_meta``
  envelope and the ``Mcp-Method``/``Mcp-Name`` headers; cancelling is closing the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Mapping
from typing import Final

from mcpwall.adapters.upstream import handshake, httpio
from mcpwall.adapters.upstream.channel import CANCELLED, Mode
from mcpwall.adapters.upstream.http11 import HttpClientError, Response
from mcpwall.adapters.upstream.httpclient import HttpClient
from mcpwall.adapters.upstream.messages import cancel_all, decode, deliver, response_bytes
from mcpwall.adapters.upstream.outgoing import (
    PROGRESS,
    ProgressToken,
    envelope,
    progress_token,
    shape,
    with_token,
)
from mcpwall.adapters.upstream.param_headers import ToolHeaders
from mcpwall.adapters.upstream.routing import relatable
from mcpwall.adapters.upstream.sse import Event, EventDecoder
from mcpwall.adapters.upstream.standalone import StandaloneStream
from mcpwall.core.errors import (
    UpstreamClosed,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from mcpwall.core.jsonrpc import (
    ErrorResponse,
    Request,
    ResultResponse,
    encode_notification,
    encode_request,
    encode_result,
)
from mcpwall.core.mcp import request_headers
from mcpwall.core.mcp.subscriptions import subscription_of
from mcpwall.core.registry import Upstream
from mcpwall.ports.upstream import (
    ClientOffer,
    Message,
    Negotiated,
    Receiver,
    Resumption,
    SessionEnd,
)

SESSION_HEADER: Final = "Mcp-Session-Id"
VERSION_HEADER: Final = "MCP-Protocol-Version"
LIST_CHANGED: Final = "notifications/tools/list_changed"
HEADER_MISMATCH: Final = -32020
# Resuming a request's stream: how many reconnections in a row may bring nothing new.
MAX_RESUMES: Final = 3
# A resumed session's request ids are drawn above this (and below twice it): JSON numbers
# stay exact up to 2**53.
RESUMED_ID_SPACE: Final = 1 << 48


class _Stream:
    """What one request's response stream needs: its id, where related messages go."""

    __slots__ = ("progress_token", "related", "request_id")

    def __init__(
        self, request_id: int, related: Receiver | None, progress_token: ProgressToken | None
    ) -> None:
        self.request_id = request_id
        self.related = related
        self.progress_token = progress_token


class StreamableHttpSession(SessionEnd):
    """A session with a Streamable HTTP upstream: an
    :class:`~mcpwall.ports.upstream.UpstreamSession`.

    Open one with :func:`connect_streamable_http`.
    """

    def __init__(
        self,
        upstream: Upstream,
        client: HttpClient,
        offer: ClientOffer,
        on_unsolicited: Receiver,
        *,
        max_message_bytes: int,
    ) -> None:
        assert upstream.url is not None
        self.name = upstream.name
        self.url = upstream.url
        self.logger = logging.getLogger(f"mcpwall.upstream.{upstream.name}")
        self._client = client
        self._offer = offer
        self._on_unsolicited = on_unsolicited
        self._limit = max_message_bytes
        self._negotiated: Negotiated | None = None
        self._envelope: dict[str, object] | None = None
        self._session_id: str | None = None
        self._last_id = 0
        SessionEnd.__init__(self)
        self._listener: StandaloneStream | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._tool_headers = ToolHeaders(self.logger)  # for Mcp-Param-* (2026-07-28)
        # Kept: asyncio.timeout() would look the loop up again, a getpid() on Python 3.11.
        self._loop = asyncio.get_running_loop()

    @property
    def negotiated(self) -> Negotiated:
        if self._negotiated is None:
            raise RuntimeError("the session is not negotiated yet")
        return self._negotiated

    @property
    def session_id(self) -> str | None:
        """The ``Mcp-Session-Id`` the upstream gave (legacy era), if any."""
        return self._session_id

    def resumption(self) -> Resumption | None:
        """What another gateway process needs to carry on this session (a legacy one with a
        session id, still open); None otherwise."""
        negotiated = self._negotiated
        if (
            negotiated is None
            or negotiated.era != "legacy"
            or self._session_id is None
            or self.closed
        ):
            return None
        return Resumption(
            self._session_id, negotiated.protocol_version, _flags(negotiated.capabilities)
        )

    async def resume(self, resumption: Resumption, *, listen: bool) -> None:
        """Carry on the legacy session ``resumption`` describes, opened by another process:
        no handshake. Our request ids start at a random point, far from that process's own,
        so that the upstream never sees two requests in flight under one id."""
        self._session_id = resumption.session_id
        self._settle(Negotiated(resumption.protocol_version, "legacy", resumption.capabilities, {}))
        self._last_id = secrets.randbelow(RESUMED_ID_SPACE) + RESUMED_ID_SPACE
        if listen:
            # The upstream serves one GET stream per session: while the process that opened
            # it holds its own, this one is refused (HTTP 409) and goes without.
            await self._start_listening()

    # ── the port ─────────────────────────────────────────────────────────────────────────

    async def request(
        self,
        method: str,
        params: Mapping[str, object] | None,
        *,
        related: Receiver | None = None,
        timeout: float,
    ) -> Message:
        self._check_open()
        self._last_id += 1
        shaped, token = shape(params, self._envelope, self._last_id)
        stream = _Stream(self._last_id, related, token)
        try:
            async with asyncio.timeout_at(self._loop.time() + timeout):
                if method == "tools/call" and self._envelope is not None:
                    return await self._call_tool(params, shaped, stream, timeout)
                answer = await self._exchange(method, shaped, stream)
        except TimeoutError:
            self._abandon(stream, f"no answer within {timeout:g} s")
            raise UpstreamTimeout(
                self.name, f"no answer to {method} within {timeout:g} s; cancelled upstream"
            ) from None
        except asyncio.CancelledError:
            self._abandon(stream, "the request was cancelled")
            raise
        if method == "tools/list" and self._envelope is not None:
            self._tool_headers.learn(answer.get("result"))
        return answer

    async def notify(self, method: str, params: Mapping[str, object] | None) -> None:
        self._check_open()
        headers = self._headers(method)
        await self._post_message(method, encode_notification(method, params), headers)

    async def respond(self, request_id: str | int, response: Message) -> None:
        self._check_open()
        if self._envelope is not None:
            raise UpstreamProtocolError(
                self.name, "the 2026-07-28 era has no server→client requests to answer"
            )
        body = response_bytes(request_id, response)
        await self._post_message("a response", body, self._headers(None))

    async def aclose(self) -> None:
        if not self.closed:
            self._end("the session was closed")
            await self._terminate()
        await self.detach()

    async def detach(self) -> None:
        """Let go of the session here without ending it upstream (no DELETE): another
        process may carry it on."""
        self._end("the session was let go of")
        if self._listener is not None:
            await self._listener.aclose()
        await cancel_all(self._background)
        await self._client.close()

    # ── negotiation ──────────────────────────────────────────────────────────────────────

    async def negotiate(self, mode: Mode, timeout: float, probe_timeout: float) -> None:
        """Settle the era (see :mod:`.handshake`); :class:`UpstreamUnavailable` if none."""
        if mode != "legacy":
            try:
                if await self._probe(probe_timeout):
                    return
                reason = "it answered server/discover without a 2026-07-28 DiscoverResult"
            except UpstreamError as error:
                reason = error.reason
            if mode == "modern":
                raise UpstreamUnavailable(self.name, reason)
            self.logger.debug("falling back to initialize: %s", reason)
        await self._initialize(timeout)

    async def _probe(self, timeout: float) -> bool:
        probe = Negotiated(handshake.modern_offer_version(), "modern", {}, {})
        self._envelope = envelope(probe, self._offer)
        self._negotiated = probe  # the probe is a modern request: modern headers
        try:
            response = await self.request(handshake.DISCOVER, {}, timeout=timeout)
        finally:
            self._negotiated = self._envelope = None
        negotiated = handshake.from_discover(response)
        if negotiated is not None:
            self._settle(negotiated)
        return negotiated is not None

    async def _initialize(self, timeout: float) -> None:
        params = handshake.initialize_params(self._offer)
        try:
            async with asyncio.timeout(timeout):
                self._last_id += 1
                stream = _Stream(self._last_id, None, None)
                response = await self._exchange(handshake.INITIALIZE, params, stream)
                self._settle(handshake.from_initialize(self.name, response))
                # The stream opens first so that what the upstream says on hearing
                # "initialized" (server-everything's list_changed, say) is not lost.
                await self._start_listening()
                await self.notify(handshake.INITIALIZED, None)
        except TimeoutError:
            reason = f"it did not finish the initialize handshake within {timeout:g} s"
            raise UpstreamUnavailable(self.name, reason) from None
        except UpstreamUnavailable:
            raise
        except UpstreamError as error:
            raise UpstreamUnavailable(self.name, error.reason) from None

    def _settle(self, negotiated: Negotiated) -> None:
        self._negotiated = negotiated
        self._envelope = envelope(negotiated, self._offer)
        self.logger.debug(
            "negotiated protocol version %s (%s era)", negotiated.protocol_version, negotiated.era
        )

    # ── one request: POST, then JSON or an SSE stream ────────────────────────────────────

    async def _exchange(
        self,
        method: str,
        params: Mapping[str, object] | None,
        stream: _Stream,
        mirrored: Mapping[str, str] | None = None,
    ) -> Message:
        body = encode_request(stream.request_id, method, params)
        headers = {**self._headers(method, stream.request_id, params), **(mirrored or {})}
        with httpio.http_errors(self.name, self.url):
            async with self._client.post(self.url, data=body, headers=headers) as response:
                try:
                    return await self._answer(method, response, stream)
                except BaseException:
                    # Closing the stream is the modern era's cancellation (§1.12), and a
                    # half-read stream must not go back to the pool anyway.
                    response.close()
                    raise

    async def _call_tool(
        self,
        params: Mapping[str, object] | None,
        shaped: Mapping[str, object] | None,
        stream: _Stream,
        timeout: float,
    ) -> Message:
        """A 2026-07-28 ``tools/call`` with the ``Mcp-Param-*`` headers its tool's schema asks
        for; sent once more if the upstream refuses them (-32020) and a fresh listing asks
        for other ones (its schema changed), as the spec tells a client to."""

        async def page(cursor: str | None) -> Message:
            listed = None if cursor is None else {"cursor": cursor}
            return await self.request("tools/list", listed, timeout=timeout)

        mirrored = await self._tool_headers.for_call(params, page)
        answer = await self._exchange("tools/call", shaped, stream, mirrored)
        if not _header_mismatch(answer):
            return answer
        fresh = await self._tool_headers.for_call(params, page, refresh=True)
        if fresh == mirrored:
            return answer
        self._last_id += 1
        shaped, token = shape(params, self._envelope, self._last_id)
        again = _Stream(self._last_id, stream.related, token)
        return await self._exchange("tools/call", shaped, again, fresh)

    async def _answer(self, method: str, response: Response, stream: _Stream) -> Message:
        if response.status != 200:
            return await self._refusal(method, response, stream)
        if method == handshake.INITIALIZE:
            self._session_id = _session_id(self.name, response)
        kind = httpio.content_type(response)
        if kind == httpio.EVENT_STREAM:
            return await self._read_stream(method, response, stream)
        if kind == httpio.JSON:
            body = await httpio.read_body(self.name, response, self._limit)
            return self._own_answer(method, body, stream)
        raise UpstreamProtocolError(
            self.name, f"it answered {method} with Content-Type {kind or 'none'}"
        )

    async def _refusal(self, method: str, response: Response, stream: _Stream) -> Message:
        """A non-200 answer: a JSON-RPC error in the body is the answer (a modern server
        says -32601 with a 404, say); otherwise the status says what went wrong."""
        if response.status == 404 and self._session_id is not None:
            self._end(f"the upstream ended the session (HTTP 404 to {method})")
            raise UpstreamClosed(self.name, self._close_reason)
        if 400 <= response.status < 600 and httpio.content_type(response) == httpio.JSON:
            body = await httpio.read_body(self.name, response, self._limit)
            with contextlib.suppress(UpstreamProtocolError):
                answer = self._own_answer(method, body, stream)
                if "error" in answer:
                    return answer
        raise UpstreamUnavailable(self.name, httpio.status_problem(method, response))

    def _own_answer(self, method: str, body: bytes, stream: _Stream) -> Message:
        value, message = decode(self.name, body)
        if isinstance(message, ErrorResponse) and message.id is None:
            return {**value, "id": stream.request_id}  # an error about a request it couldn't read
        if isinstance(message, ResultResponse | ErrorResponse) and message.id == stream.request_id:
            return value
        raise UpstreamProtocolError(self.name, f"its answer to {method} is not the answer to it")

    async def _read_stream(self, method: str, response: Response, stream: _Stream) -> Message:
        decoder = EventDecoder(self._limit)
        answer = await self._answer_in(response, decoder, stream)
        # A legacy upstream may close the connection early and let us resume the stream
        # from its last event id (SEP-1699); a few tries, each after the wait it asked for.
        for _ in range(MAX_RESUMES):
            if answer is not None or self._session_id is None or decoder.last_event_id is None:
                break
            await asyncio.sleep((decoder.retry or 0) / 1000)
            answer = await self._resumed(decoder, stream)
        if answer is None:
            # Not UpstreamClosed: the session lives on, only this request lost its answer.
            reason = f"the response stream of {method} ended before its answer"
            raise UpstreamProtocolError(self.name, reason)
        return answer

    async def _resumed(self, decoder: EventDecoder, stream: _Stream) -> Message | None:
        """The answer from a reconnection to the stream, or None."""
        headers = {**self._headers(None), "Accept": httpio.EVENT_STREAM}
        headers["Last-Event-ID"] = decoder.last_event_id or ""
        with httpio.http_errors(self.name, self.url):
            async with self._client.get(self.url, headers=headers) as response:
                if response.status != 200 or httpio.content_type(response) != httpio.EVENT_STREAM:
                    return None
                return await self._answer_in(response, decoder, stream)

    async def _answer_in(
        self, response: Response, decoder: EventDecoder, stream: _Stream
    ) -> Message | None:
        """The answer on ``response``'s event stream, relaying what comes before it."""
        async for event in httpio.events(self.name, response, decoder):
            answer = await self._on_event(event, stream)
            if answer is not None:
                return answer
        return None

    async def _on_event(self, event: Event, stream: _Stream) -> Message | None:
        """The answer if ``event`` carries it; otherwise relay what it carries."""
        if not httpio.carries_message(event):
            return None
        value, message = decode(self.name, event.data)
        if isinstance(message, ResultResponse | ErrorResponse):
            if message.id == stream.request_id:
                return value
            self.logger.debug("dropped an answer to request %r on another's stream", message.id)
            return None
        if isinstance(message, Request) and message.method == "ping":
            self._spawn(self._pong(message.id))
            return None
        await self._relay(value, message.method, isinstance(message, Request), stream)
        return None

    async def _relay(self, value: Message, method: str, is_request: bool, stream: _Stream) -> None:
        if method == LIST_CHANGED:
            self._tool_headers.forget()  # their schemas may have changed too
        # On a subscriptions/listen stream, every notification is the subscription's.
        ours = relatable(method, is_request=is_request) or subscription_of(value) is not None
        receiver = stream.related if ours else None
        if method == PROGRESS:
            if stream.progress_token is None or progress_token(value) != stream.request_id:
                return  # not a token we handed out: nobody to show it to
            value = with_token(value, stream.progress_token)
        await deliver(self.logger, receiver or self._on_unsolicited, value)

    def _abandon(self, stream: _Stream, reason: str) -> None:
        # The modern era's cancellation is the closed stream alone; legacy says it too.
        if self._envelope is None and self._negotiated is not None and not self.closed:
            params = {"requestId": stream.request_id, "reason": reason}
            self._spawn(self._quietly(self.notify(CANCELLED, params)))

    # ── the standalone GET stream (legacy) ───────────────────────────────────────────────

    async def _start_listening(self) -> None:
        """Open the GET stream and wait until the upstream has answered it (or refused)."""
        self._listener = StandaloneStream(
            self.name,
            self._client,
            self.url,
            headers=lambda: self._headers(None),
            on_event=self._on_unsolicited_event,
            on_gone=self._end,
            max_event_bytes=self._limit,
        )
        await self._listener.start()

    async def _on_unsolicited_event(self, event: Event) -> None:
        if not httpio.carries_message(event):
            return
        try:
            value, message = decode(self.name, event.data)
        except UpstreamProtocolError as error:
            self.logger.warning("ignored a message: %s", error.reason)
            return
        if isinstance(message, ResultResponse | ErrorResponse):
            return  # answers travel on their request's stream
        if isinstance(message, Request) and message.method == "ping":
            self._spawn(self._pong(message.id))
            return
        await deliver(self.logger, self._on_unsolicited, value)

    # ── small parts ──────────────────────────────────────────────────────────────────────

    def _headers(
        self,
        method: str | None,
        request_id: int | None = None,
        params: Mapping[str, object] | None = None,
    ) -> dict[str, str]:
        """The MCP headers of one message (``method`` None: a response or a GET)."""
        headers = {"Content-Type": httpio.JSON, "Accept": httpio.ACCEPT_BOTH}
        negotiated = self._negotiated
        if negotiated is None:
            return headers
        if self._envelope is not None and method is not None:
            body = params if isinstance(params, dict) or params is None else dict(params)
            request = Request(request_id or 0, method, body)
            mirrored = request_headers(request, negotiated.protocol_version)
            return {**headers, **mirrored}
        headers[VERSION_HEADER] = negotiated.protocol_version
        if self._session_id is not None:
            headers[SESSION_HEADER] = self._session_id
        return headers

    async def _post_message(self, what: str, body: bytes, headers: Mapping[str, str]) -> None:
        """POST a notification or a response: accepted is 202 (or any 2xx)."""
        with httpio.http_errors(self.name, self.url):
            async with self._client.post(self.url, data=body, headers=headers) as response:
                if response.status == 404 and self._session_id is not None:
                    self._end(f"the upstream ended the session (HTTP 404 to {what})")
                    raise UpstreamClosed(self.name, self._close_reason)
                if not 200 <= response.status < 300:
                    raise UpstreamUnavailable(self.name, httpio.status_problem(what, response))

    async def _pong(self, request_id: str | int) -> None:
        # A liveness check of this session, not of the agent: answered here.
        await self._quietly(
            self._post_message("a ping answer", encode_result(request_id, {}), self._headers(None))
        )

    async def _terminate(self) -> None:
        """DELETE the legacy session, briefly; a 405 (or anything else) is fine."""
        if self._session_id is None:
            return
        headers = self._headers(None)
        with contextlib.suppress(HttpClientError, TimeoutError):
            async with asyncio.timeout(2.0):
                async with self._client.delete(self.url, headers=headers):
                    pass

    async def _quietly(self, work: Awaitable[None]) -> None:
        try:
            await work
        except UpstreamError as error:
            self.logger.debug("could not send: %s", error.reason)

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _check_open(self) -> None:
        if self.closed:  # checked before anything is sent
            raise UpstreamClosed(self.name, self._close_reason, unsent=True)

    def _end(self, reason: str) -> None:
        self._mark_closed(reason)


def _flags(capabilities: Mapping[str, object]) -> dict[str, object]:
    """An upstream's capabilities as the gateway reads them: each one declared, with the
    flags set in it (``subscribe``, ``listChanged``); the rest is not needed to carry on."""
    return {
        name: {flag: True for flag, value in settings.items() if value is True}
        for name, settings in capabilities.items()
        if isinstance(settings, dict)
    }


def _header_mismatch(answer: Message) -> bool:
    error = answer.get("error")
    return isinstance(error, dict) and error.get("code") == HEADER_MISMATCH


def _session_id(upstream: str, response: Response) -> str | None:
    value = response.headers.get(SESSION_HEADER)
    if value is None:
        return None
    # Visible ASCII only (2025-11-25 transports §Session Management): it goes back in a header.
    if not value or not all("\x21" <= char <= "\x7e" for char in value):
        raise UpstreamProtocolError(upstream, "it gave an Mcp-Session-Id with invalid characters")
    return value


async def connect_streamable_http(
    upstream: Upstream,
    offer: ClientOffer,
    on_unsolicited: Receiver,
    *,
    mode: Mode = "auto",
    timeout: float = 30.0,
    probe_timeout: float = 10.0,
    max_message_bytes: int = 64 * 1024 * 1024,
) -> StreamableHttpSession:
    """Open and negotiate a session with a Streamable HTTP ``upstream``.

    :class:`~mcpwall.core.errors.UpstreamUnavailable` when it can't be reached or does not
    negotiate within ``timeout`` seconds (``probe_timeout`` for the ``server/discover`` probe).
    """
    client = httpio.new_client(upstream, connect_timeout=timeout)
    session = StreamableHttpSession(
        upstream, client, offer, on_unsolicited, max_message_bytes=max_message_bytes
    )
    try:
        await session.negotiate(mode, timeout, probe_timeout)
    except BaseException:
        await session.aclose()
        raise
    return session


async def attach_streamable_http(
    upstream: Upstream,
    offer: ClientOffer,
    on_unsolicited: Receiver,
    resumption: Resumption,
    *,
    listen: bool = True,
    timeout: float = 30.0,
    max_message_bytes: int = 64 * 1024 * 1024,
) -> StreamableHttpSession:
    """Carry on the legacy session with ``upstream`` that another process opened (see
    :meth:`StreamableHttpSession.resume`). If the upstream has forgotten it, the session
    comes back closed (its GET stream answered 404) or closes at its first message."""
    client = httpio.new_client(upstream, connect_timeout=timeout)
    session = StreamableHttpSession(
        upstream, client, offer, on_unsolicited, max_message_bytes=max_message_bytes
    )
    try:
        await session.resume(resumption, listen=listen)
    except BaseException:
        await session.aclose()
        raise
    return session
