"""Keeping an upstream telling one owner what the owner's listen streams want to hear.

A 2026-07-28 agent hears about changes on ``subscriptions/listen`` streams; the gateway hears
about them from each upstream, per pooled session (an owner and an upstream), through one
:class:`UpstreamFeed` that every listen stream of that owner states its interest to:

* A **2026-07-28 upstream** sends change notifications only on a listen stream of its own.
  The feed keeps one open asking for the union of the interests, as far as the upstream
  advertises them. When the union changes it opens a new listen before closing the old one
  (the notifications are level triggers: hearing one twice is harmless, missing one is not);
  when the stream drops it opens another after a pause that doubles up to
  :data:`BACKOFF` ``[1]`` (never a busy loop); when the last interest goes, it closes.
* A **legacy upstream** sends list changes unasked (its GET stream, or stdio). Resource
  updates need ``resources/subscribe``: the feed subscribes each wanted URI once and
  unsubscribes it when no stream wants it any more.

Whatever the upstream sends goes to ``deliver`` (the pool's fan-out to its listeners), except
the acknowledgement of the feed's own listen, which is the feed's business.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any, Final

from mcpwall.core.errors import (
    OverCapacity,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamTimeout,
)
from mcpwall.core.jsonrpc import describe
from mcpwall.core.mcp.subscriptions import (
    ACKNOWLEDGED,
    LISTEN,
    Interest,
    honoured,
    listen_params,
)
from mcpwall.ports.upstream import Message, Receiver, UpstreamSession

log = logging.getLogger("mcpwall.gateway")

# Pauses before reopening an upstream listen that failed or dropped, in seconds: the first,
# and the most it doubles to. A listen that lasted longer than the longest pause starts over.
BACKOFF: Final = (0.5, 30.0)
CANCELLED: Final = "notifications/cancelled"

Connect = Callable[[], Awaitable[UpstreamSession]]


class UpstreamFeed:
    """The change notifications one pooled upstream session sends, kept flowing while any
    listen stream of its owner wants them (see the module's docstring)."""

    def __init__(self, name: str, connect: Connect, deliver: Receiver, *, timeout: float) -> None:
        self.name = name
        self._connect = connect
        self._deliver = deliver
        self._timeout = timeout
        self._interests: dict[object, Interest] = {}
        self._wanted = Interest()
        self._generation = 0  # grows with each change of the union
        self._done = -1  # the last generation asked of the upstream
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._subscribed: set[str] = set()  # legacy: the URIs resources/subscribe'd …
        self._subscribed_on: UpstreamSession | None = None  # … on this session

    @property
    def idle(self) -> bool:
        """Whether no listen stream wants anything from this feed any more."""
        return not self._interests

    def want(self, key: object, interest: Interest) -> None:
        """Add (or replace) what the listen stream ``key`` wants to hear."""
        self._interests[key] = interest
        self._recompute()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"mcpwall.feed.{self.name}")

    def drop(self, key: object) -> None:
        """The listen stream ``key`` is gone; the feed stops when it was the last."""
        if self._interests.pop(key, None) is not None:
            self._recompute()

    async def settled(self) -> None:
        """Wait until what is wanted now has been asked of the upstream (or asking failed)."""
        target = self._generation
        if self._done >= target or self._task is None or self._task.done():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((target, waiter))
        await waiter

    async def aclose(self) -> None:
        self._interests.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # ── the feed's own task ──────────────────────────────────────────────────────────────

    def _recompute(self) -> None:
        wanted = Interest()
        for interest in self._interests.values():
            wanted |= interest
        if wanted != self._wanted or not self._interests:
            self._wanted = wanted
            self._generation += 1
            self._changed.set()

    def _applied(self, generation: int) -> None:
        self._done = max(self._done, generation)
        still: list[tuple[int, asyncio.Future[None]]] = []
        for target, waiter in self._waiters:
            if target <= generation:
                if not waiter.done():
                    waiter.set_result(None)
            else:
                still.append((target, waiter))
        self._waiters = still

    async def _run(self) -> None:
        listen: _Listen | None = None
        backoff = BACKOFF[0]
        try:
            while self._interests:
                self._changed.clear()
                generation, wanted = self._generation, self._wanted
                try:
                    session = await self._connect()
                    listen = await self._apply(session, wanted, listen)
                except (UpstreamError, OverCapacity) as error:  # tried again after a pause
                    why = error.reason if isinstance(error, UpstreamError) else error.message
                    log.warning("upstream %s: can't hear its changes: %s", self.name, why)
                    self._applied(generation)
                    await self._pause(backoff)
                    backoff = min(backoff * 2, BACKOFF[1])
                    continue
                self._applied(generation)
                started = asyncio.get_running_loop().time()
                if await self._until_change(session, listen):
                    continue
                # The listen dropped or the session ended: reopen, after a pause.
                if asyncio.get_running_loop().time() - started > BACKOFF[1]:
                    backoff = BACKOFF[0]
                await self._pause(backoff)
                backoff = min(backoff * 2, BACKOFF[1])
        finally:
            if listen is not None:
                await listen.aclose()
            await self._unsubscribe_all()
            self._applied(self._generation)

    async def _apply(
        self, session: UpstreamSession, wanted: Interest, current: _Listen | None
    ) -> _Listen | None:
        """Ask ``session`` for ``wanted``; the listen now open (None: none is needed)."""
        if session.negotiated.era != "modern":
            if current is not None:
                await current.aclose()
            await self._subscribe(session, wanted)
            return None
        asked = honoured(wanted, session.negotiated.capabilities)
        if current is not None and current.fits(session, asked):
            return current
        opened = None
        if asked:
            opened = _Listen(self.name, session, asked, self._deliver)
            try:
                await opened.opened(self._timeout)
            except BaseException:
                await opened.aclose()
                raise
        if current is not None:
            await current.aclose()
        return opened

    async def _until_change(self, session: UpstreamSession, listen: _Listen | None) -> bool:
        """Wait until the wanted union changes (True), or the listen or the session ends."""
        changed = asyncio.ensure_future(self._changed.wait())
        closed = asyncio.ensure_future(session.wait_closed())
        waiting: set[asyncio.Future[Any]] = {changed, closed}
        if listen is not None:
            waiting.add(listen.task)
        try:
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            changed.cancel()
            closed.cancel()
        return changed.done() and not changed.cancelled()

    async def _pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when the wanted union changes."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._changed.wait()

    # ── legacy upstreams: resources/subscribe ────────────────────────────────────────────

    async def _subscribe(self, session: UpstreamSession, wanted: Interest) -> None:
        if session is not self._subscribed_on:
            self._subscribed_on, self._subscribed = session, set()
        target = honoured(wanted, session.negotiated.capabilities).uris
        for uri in sorted(target - self._subscribed):
            await self._ask(session, "resources/subscribe", uri)
            self._subscribed.add(uri)
        for uri in sorted(self._subscribed - target):
            self._subscribed.discard(uri)
            await self._ask(session, "resources/unsubscribe", uri)

    async def _unsubscribe_all(self) -> None:
        session, uris = self._subscribed_on, self._subscribed
        self._subscribed_on, self._subscribed = None, set()
        if session is None or session.closed:
            return
        for uri in sorted(uris):
            with contextlib.suppress(UpstreamError):
                await self._ask(session, "resources/unsubscribe", uri)

    async def _ask(self, session: UpstreamSession, method: str, uri: str) -> None:
        response = await session.request(method, {"uri": uri}, timeout=self._timeout)
        error = response.get("error")
        if isinstance(error, dict):
            reason = f"it refused {method}: {describe(error.get('message'))}"
            raise UpstreamProtocolError(self.name, reason)


class _Listen:
    """One ``subscriptions/listen`` request to a 2026-07-28 upstream, open in its own task."""

    def __init__(
        self, name: str, session: UpstreamSession, interest: Interest, deliver: Receiver
    ) -> None:
        self.name = name
        self.session = session
        self.interest = interest
        self._deliver = deliver
        self._acknowledged = asyncio.Event()
        self.task: asyncio.Task[Message] = asyncio.create_task(
            session.request(
                LISTEN, listen_params(interest), related=self._receive, timeout=math.inf
            ),
            name=f"mcpwall.listen.{name}",
        )

    def fits(self, session: UpstreamSession, interest: Interest) -> bool:
        """Whether this listen, still open, is the one ``interest`` needs on ``session``."""
        return self.session is session and self.interest == interest and not self.task.done()

    async def opened(self, timeout: float) -> None:
        """Wait for the upstream's acknowledgement; :class:`UpstreamError` if none comes."""
        acknowledged = asyncio.ensure_future(self._acknowledged.wait())
        try:
            done, _ = await asyncio.wait(
                {acknowledged, self.task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            acknowledged.cancel()
        if self._acknowledged.is_set():
            return
        if not done:
            raise UpstreamTimeout(
                self.name, f"it did not acknowledge {LISTEN} within {timeout:g} s"
            )
        response = self.task.result()  # raises the request's own UpstreamError, if that was it
        error = response.get("error")
        what = describe(error.get("message")) if isinstance(error, dict) else "a result"
        raise UpstreamProtocolError(self.name, f"it answered {LISTEN} with {what}, unacknowledged")

    async def aclose(self) -> None:
        """End the subscription (closing its stream; on stdio, ``notifications/cancelled``)."""
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass
        except UpstreamError as error:  # it ended on its own, and why no longer matters
            log.debug("upstream %s: a listen ended: %s", self.name, error)

    async def _receive(self, message: Message) -> None:
        method = message.get("method")
        if method == ACKNOWLEDGED:
            self._acknowledged.set()
        elif method == CANCELLED:
            self.task.cancel()  # a stdio upstream ended the subscription
        else:
            await self._deliver(message)
