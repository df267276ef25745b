"""A session over one stream of messages each way: the stdio and legacy SSE transports.

The transport is a :class:`Wire` — send a message, iterate the messages that arrive, close —
and everything MCP about the session lives here: negotiating the era, minting request ids,
relating what arrives to requests in flight (:mod:`.routing`), timeouts, and cancelling with
``notifications/cancelled``, the one form both eras use on these transports (§1.12).

Receivers (``related``, ``on_unsolicited``) are awaited by the reader, in order, so a
progress notification is delivered before the answer after it; a receiver should hand the
message on and return, not wait for an agent (a server→client request is answered later,
with :meth:`ChannelSession.respond`).

When the wire's stream ends the session is dead: every request in flight fails with
:class:`UpstreamClosed` (:class:`UpstreamProtocolError` when a message over the size limit
ended it), :attr:`ChannelSession.closed` turns true and :meth:`ChannelSession.wait_closed`
returns, so whoever pools sessions can open a new one.

A message that can't be read fails the request whose id it carries, if one can be found.
Otherwise — a line that is not JSON, an answer to an id this session never sent — it is
logged and ignored, as the SDKs' clients do (a server's stray output must not end its
session), and a request that then gets no answer in time fails as a protocol error naming
it rather than as a plain timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Mapping
from typing import Literal, Protocol

from mcpwall.adapters.upstream import handshake
from mcpwall.adapters.upstream.messages import (
    cancel_all,
    decode,
    deliver,
    response_bytes,
    unreadable_id,
)
from mcpwall.adapters.upstream.outgoing import envelope, shape
from mcpwall.adapters.upstream.routing import InFlight, Pending
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
from mcpwall.core.mcp.subscriptions import LISTEN
from mcpwall.ports.upstream import ClientOffer, Message, Negotiated, Receiver, SessionEnd

Mode = Literal["auto", "legacy", "modern"]
"""How to pick an upstream's era: probe (``auto``), or insist on one."""

CANCELLED = "notifications/cancelled"


class Wire(Protocol):
    """A transport carrying whole JSON-RPC messages, one at a time, each way."""

    @property
    def ended(self) -> str:
        """Why :meth:`messages` stopped (``"the process exited with code 1"``), once it has."""
        ...

    def messages(self) -> AsyncIterator[bytes]:
        """The messages the upstream sends, as they arrive; ends when it goes away."""
        ...

    async def send(self, message: bytes) -> None:
        """Send one message; :class:`UpstreamClosed` when the upstream is gone."""
        ...

    async def aclose(self) -> None:
        """Close the transport, within a bounded time."""
        ...


class ChannelSession(SessionEnd):
    """An open session over a :class:`Wire`: an :class:`~mcpwall.ports.upstream.UpstreamSession`.

    Open one with :func:`open_channel`.
    """

    def __init__(self, name: str, wire: Wire, offer: ClientOffer, on_unsolicited: Receiver) -> None:
        self.name = name
        self.logger = logging.getLogger(f"mcpwall.upstream.{name}")
        self._wire = wire
        self._offer = offer
        self._inflight = InFlight(on_unsolicited)
        self._negotiated: Negotiated | None = None
        self._envelope: dict[str, object] | None = None
        SessionEnd.__init__(self)
        self._background: set[asyncio.Task[None]] = set()
        # Messages that could be neither read nor matched to a request (a stray line, an
        # answer to an id never sent): ignored, as clients do, but a request that then goes
        # unanswered fails as a protocol error saying so (see _answer).
        self._unmatched = 0
        self._unmatched_reason = ""
        self._reader = asyncio.create_task(self._read(), name=f"mcpwall.upstream.{name}.read")

    @property
    def negotiated(self) -> Negotiated:
        if self._negotiated is None:
            raise RuntimeError("the session is not negotiated yet")
        return self._negotiated

    async def request(
        self,
        method: str,
        params: Mapping[str, object] | None,
        *,
        related: Receiver | None = None,
        timeout: float,
    ) -> Message:
        pending = self._inflight.open(related, listen=method == LISTEN)
        try:
            shaped, pending.progress_token = shape(params, self._envelope, pending.id)
            unmatched = self._unmatched
            await self._send(encode_request(pending.id, method, shaped))
            return await self._answer(pending, method, timeout, unmatched)
        finally:
            self._inflight.discard(pending)

    async def notify(self, method: str, params: Mapping[str, object] | None) -> None:
        await self._send(encode_notification(method, params))

    async def respond(self, request_id: str | int, response: Message) -> None:
        if self._envelope is not None:
            raise UpstreamProtocolError(
                self.name, "the 2026-07-28 era has no server→client requests to answer"
            )
        await self._send(response_bytes(request_id, response))

    async def aclose(self) -> None:
        self._end("the session was closed")
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        await self._wire.aclose()
        await cancel_all(self._background)

    # ── negotiation ──────────────────────────────────────────────────────────────────────

    async def negotiate(self, mode: Mode, timeout: float, probe_timeout: float) -> None:
        """Settle the era: probe ``server/discover`` unless ``mode`` is ``legacy``, else (or
        when the probe gets no DiscoverResult) ``initialize``. :class:`UpstreamUnavailable`
        when neither works."""
        try:
            if mode != "legacy" and await self._probe(probe_timeout):
                return
            if mode == "modern":
                raise UpstreamUnavailable(self.name, "it does not answer server/discover")
            response = await self._handshake_request(
                handshake.INITIALIZE, handshake.initialize_params(self._offer), timeout
            )
            self._settle(handshake.from_initialize(self.name, response))
            await self.notify(handshake.INITIALIZED, None)
        except UpstreamUnavailable:
            raise
        except UpstreamError as error:
            raise UpstreamUnavailable(self.name, error.reason) from None

    async def _probe(self, timeout: float) -> bool:
        probe = Negotiated(handshake.modern_offer_version(), "modern", {}, {})
        params = {"_meta": envelope(probe, self._offer)}
        try:
            response = await self._handshake_request(handshake.DISCOVER, params, timeout)
        except UpstreamTimeout:
            return False  # a legacy server may ignore what it does not know (§1.4)
        negotiated = handshake.from_discover(response)
        if negotiated is not None:
            self._settle(negotiated)
        return negotiated is not None

    async def _handshake_request(
        self, method: str, params: Mapping[str, object], timeout: float
    ) -> Message:
        # Not cancellable upstream: initialize MUST NOT be cancelled, and a server that has
        # not negotiated yet should hear nothing but the handshake.
        pending = self._inflight.open(None)
        try:
            await self._send(encode_request(pending.id, method, params))
            async with asyncio.timeout(timeout):
                return await pending.answer
        except TimeoutError:
            raise UpstreamTimeout(
                self.name, f"it did not answer {method} within {timeout:g} s"
            ) from None
        finally:
            self._inflight.discard(pending)

    def _settle(self, negotiated: Negotiated) -> None:
        self._negotiated = negotiated
        self._envelope = envelope(negotiated, self._offer)
        self.logger.debug(
            "negotiated protocol version %s (%s era)", negotiated.protocol_version, negotiated.era
        )

    # ── sending, waiting, cancelling ─────────────────────────────────────────────────────

    async def _send(self, message: bytes) -> None:
        if self.closed:  # nothing of this message was written
            raise UpstreamClosed(self.name, self._close_reason, unsent=True)
        await self._wire.send(message)

    async def _answer(
        self, pending: Pending, method: str, timeout: float, unmatched: int
    ) -> Message:
        try:
            async with asyncio.timeout(timeout):
                return await pending.answer
        except TimeoutError:
            self._cancel_upstream(pending.id, f"no answer within {timeout:g} s")
            reason = f"no answer to {method} within {timeout:g} s; cancelled upstream"
            if self._unmatched > unmatched:  # what it sent instead may have been the answer
                garbled = self._unmatched - unmatched
                more = f" ({garbled} such messages)" if garbled > 1 else ""
                reason += f"; meanwhile {self._unmatched_reason}{more}"
                raise UpstreamProtocolError(self.name, reason) from None
            raise UpstreamTimeout(self.name, reason) from None
        except asyncio.CancelledError:
            self._cancel_upstream(pending.id, "the request was cancelled")
            raise

    def _cancel_upstream(self, request_id: int, reason: str) -> None:
        # Sent from a task of its own: the caller may itself be being cancelled.
        params = {"requestId": request_id, "reason": reason}
        self._spawn(self._send_quietly(encode_notification(CANCELLED, params)))

    async def _send_quietly(self, message: bytes) -> None:
        with contextlib.suppress(UpstreamError):
            await self._send(message)

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ── receiving ────────────────────────────────────────────────────────────────────────

    async def _read(self) -> None:
        try:
            async for raw in self._wire.messages():
                await self._receive(raw)
        except UpstreamError as error:  # a line over the limit: the stream can't go on
            self._end(error.reason, error if isinstance(error, UpstreamProtocolError) else None)
        except Exception as error:  # a dead reader must not leave requests waiting
            self.logger.exception("reading from the upstream failed")
            self._end(f"reading from it failed ({type(error).__name__})")
        else:
            self._end(self._wire.ended or "the upstream went away")
        # Reap the transport now (a crashed process, say); aclose() is still safe later.
        self._spawn(self._wire.aclose())

    async def _receive(self, raw: bytes) -> None:
        try:
            value, message = decode(self.name, raw)
        except UpstreamProtocolError as error:
            self._unreadable(raw, error)
            return
        if isinstance(message, ResultResponse | ErrorResponse):
            if self._inflight.settle(message.id, value):
                return
            if self._inflight.was_sent(message.id):  # a late answer, after a timeout say
                self.logger.debug("dropped an answer to request %r: not in flight", message.id)
            else:
                self._unmatched_message("it sent an answer to an id it was never sent")
            return
        if isinstance(message, Request) and message.method == "ping":
            # A liveness check of this session, not of the agent: answered here.
            self._spawn(self._send_quietly(encode_result(message.id, {})))
            return
        is_request = isinstance(message, Request)
        route = self._inflight.route(value, message.method, is_request=is_request)
        if route is not None:
            await deliver(self.logger, *route)

    def _unreadable(self, raw: bytes, error: UpstreamProtocolError) -> None:
        # An answer we can't read still has an id we may find: fail that request, not wait.
        if not self._inflight.fail(unreadable_id(raw), error):
            self._unmatched_message(error.reason)

    def _unmatched_message(self, reason: str) -> None:
        self._unmatched += 1
        self._unmatched_reason = reason
        self.logger.warning("ignored a message: %s", reason)

    def _end(self, reason: str, failure: UpstreamError | None = None) -> None:
        """The session is over: every request in flight fails, with ``failure`` if given
        (what ended it), else :class:`UpstreamClosed`."""
        if self.closed:
            return
        self._mark_closed(reason)
        self._inflight.fail_all(failure or UpstreamClosed(self.name, reason))


async def open_channel(
    name: str,
    wire: Wire,
    offer: ClientOffer,
    on_unsolicited: Receiver,
    *,
    mode: Mode,
    timeout: float,
    probe_timeout: float,
) -> ChannelSession:
    """A negotiated session over ``wire``; the wire is closed if negotiation fails."""
    session = ChannelSession(name, wire, offer, on_unsolicited)
    try:
        await session.negotiate(mode, timeout, probe_timeout)
    except BaseException:
        await session.aclose()
        raise
    return session
