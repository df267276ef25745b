"""Legacy downstream sessions (``Mcp-Session-Id``, protocol versions up to 2025-11-25).

A session is created by ``initialize`` and belongs to the grant that created it: another
grant's token can't use it. It holds what the agent negotiated, the upstream sessions opened
for it (in the pool, under the session id), the agent's open GET stream for messages that
belong to no request, the server→client requests awaiting the agent's answer, and the
requests in flight (so ``notifications/cancelled`` can cancel one). Sessions live in this
process: a load balancer in front of several replicas must keep an agent's session on one
replica (stateless 2026-07-28 requests need no such affinity).
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import orjson

from mcpwall.core.jsonrpc import RequestId
from mcpwall.ports.upstream import Message

IDLE_SECONDS = 30 * 60
MAX_SESSIONS = 10_000
Answer = Callable[[Message], Awaitable[None]]


class Cancellable(Protocol):
    """A request in flight, as ``notifications/cancelled`` and the session's end see it."""

    def cancel(self) -> bool: ...


class Running:
    """A request answered in the task that runs it (its HTTP request's), cancelled by the
    agent (``notifications/cancelled``) or the session's end. The task knows, by
    :attr:`cancelled`, that the cancellation was this one and not, say, its client leaving."""

    __slots__ = ("cancelled", "task")

    def __init__(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.task = task
        self.cancelled = False

    def cancel(self) -> bool:
        if self.cancelled:  # cancelled once: a second request to cancel changes nothing
            return False
        self.cancelled = True
        return self.task.cancel()


@dataclass
class LegacySession:
    """One agent's legacy session."""

    id: str
    grant_id: str
    endpoint: str | None
    version: str
    capabilities: Mapping[str, object]
    last_seen: float = field(default_factory=time.monotonic)
    outbox: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)
    streaming: bool = False  # a GET stream is open
    in_flight: dict[RequestId, Cancellable] = field(default_factory=dict)
    _asked: dict[str, Answer] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def ask(self, message: Message, answer: Answer) -> Message:
        """``message`` (a server→client request) under an id of ours, whose answer goes to
        ``answer``. Our ids are strings that can't collide with an agent's own request ids
        (those live in the other direction anyway)."""
        ours = f"mcpwall-{next(self._ids)}"
        self._asked[ours] = answer
        return {**message, "id": ours}

    async def answered(self, request_id: RequestId | None, response: Message) -> bool:
        """Route the agent's response to the request we asked; False if we asked no such."""
        answer = self._asked.pop(str(request_id), None) if isinstance(request_id, str) else None
        if answer is None:
            return False
        await answer(response)
        return True

    async def push(self, message: Message) -> None:
        """Queue a message for the GET stream (dropped when no stream is open: a legacy
        client that never opens one has said it wants none)."""
        if self.streaming:
            await self.outbox.put(orjson.dumps(message))


class SessionTable:
    """The legacy sessions of this process, expired after ``idle_seconds`` unused."""

    def __init__(self, *, idle_seconds: float = IDLE_SECONDS, limit: int = MAX_SESSIONS) -> None:
        self._sessions: dict[str, LegacySession] = {}
        self.idle_seconds = idle_seconds
        self.limit = limit
        # Looking for idle sessions walks them all, and every request asks: at most this often.
        self._sweep_every = min(1.0, idle_seconds / 10)
        self._next_sweep = 0.0

    def create(
        self, grant_id: str, endpoint: str | None, version: str, capabilities: Mapping[str, object]
    ) -> LegacySession | None:
        """A new session, or None when the table is full (the caller answers 503)."""
        if len(self._sessions) >= self.limit:
            return None
        session = LegacySession(
            secrets.token_urlsafe(32), grant_id, endpoint, version, capabilities
        )
        self._sessions[session.id] = session
        return session

    def get(self, session_id: str, grant_id: str, endpoint: str | None) -> LegacySession | None:
        """The live session with that id, if it belongs to this grant and endpoint."""
        session = self._sessions.get(session_id)
        if session is None or session.grant_id != grant_id or session.endpoint != endpoint:
            return None
        session.last_seen = time.monotonic()
        return session

    def remove(self, session_id: str) -> LegacySession | None:
        return self._sessions.pop(session_id, None)

    def expired(self) -> list[LegacySession]:
        """Remove and return the sessions idle for too long (looked for at most once in
        ``_sweep_every`` seconds, so a session may outlive its idle time by that much)."""
        now = time.monotonic()
        if now < self._next_sweep:
            return []
        self._next_sweep = now + self._sweep_every
        deadline = now - self.idle_seconds
        stale = [s for s in self._sessions.values() if s.last_seen < deadline and not s.in_flight]
        for session in stale:
            del self._sessions[session.id]
        return stale

    def all(self) -> list[LegacySession]:
        return list(self._sessions.values())

    def __len__(self) -> int:
        return len(self._sessions)
