"""Legacy downstream sessions (``Mcp-Session-Id``, protocol versions up to 2025-11-25).

A session is created by ``initialize`` and belongs to the grant that created it: another
grant's token can't use it. It holds what the agent negotiated, the upstream sessions opened
for it (in the pool, under the session id), the agent's open GET stream for messages that
belong to no request, the server→client requests awaiting the agent's answer, and the
requests in flight (so ``notifications/cancelled`` can cancel one). This table holds the
sessions this process serves now. With a keyring (``gateway/sealing.py``), a session's id is
sealed: any replica carries on a session whose id it is shown, by adding it here under the
same id (:meth:`SessionTable.create` with ``key`` and then :meth:`SessionTable.bind`); a
session idle here is dropped from this table only, the id staying good until it expires or
is ended (DELETE). Without one, ids are plain random strings, good in this process only.

The table is bounded twice. One grant holds at most ``per_grant`` sessions
(``MCPWALL_SESSIONS_PER_GRANT``): past it, ``initialize`` is refused with
:class:`~mcpwall.core.errors.GrantOverCapacity` (HTTP 429), so one agent's load never takes
another's room. All grants together hold at most ``limit`` (``MCPWALL_MAX_SESSIONS``), a bound
on memory (:class:`~mcpwall.core.errors.GatewayOverCapacity`, 503); the first is well below
the second, so reaching it takes many grants. Either refusal says when a session may next be
free: when the least recently used one expires, unless the agent ends one first (DELETE).
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol

import orjson

from mcpwall.core.errors import GatewayOverCapacity, GrantOverCapacity
from mcpwall.core.jsonrpc import RequestId
from mcpwall.ports.upstream import Message

IDLE_SECONDS = 30 * 60
MAX_SESSIONS = 10_000
# An agent holds one session per MCP client it runs (sub-agents and parallel workers a
# dozen or so); this leaves room for clients that never end theirs (DELETE) and so hold
# them until they expire, while 32 stays far below MAX_SESSIONS.
SESSIONS_PER_GRANT = 32
IDLE_SETTING: Final = "MCPWALL_SESSION_IDLE"
MAX_SESSIONS_SETTING: Final = "MCPWALL_MAX_SESSIONS"
SESSIONS_PER_GRANT_SETTING: Final = "MCPWALL_SESSIONS_PER_GRANT"
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

    id: str  # the session's own key: what its upstream sessions are owned by
    grant_id: str
    endpoint: str | None
    version: str
    capabilities: Mapping[str, object]
    header: str = ""  # its Mcp-Session-Id (sealed, or the key itself); set by bind()
    expires: float | None = None  # Unix time after which its id is refused, if sealed
    last_seen: float = field(default_factory=lambda: time.monotonic())  # a clock tests can set
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
    """The legacy sessions of this process, expired after ``idle_seconds`` unused; at most
    ``per_grant`` for one grant, ``limit`` in all."""

    def __init__(
        self,
        *,
        idle_seconds: float = IDLE_SECONDS,
        limit: int = MAX_SESSIONS,
        per_grant: int = SESSIONS_PER_GRANT,
    ) -> None:
        self._sessions: dict[str, LegacySession] = {}  # by key
        self._by_header: dict[str, LegacySession] = {}  # by Mcp-Session-Id
        self._by_grant: dict[str, dict[str, LegacySession]] = {}
        self.idle_seconds = idle_seconds
        self.limit = limit
        self.per_grant = per_grant
        # Looking for idle sessions walks them all, and every request asks: at most this often.
        self._sweep_every = min(1.0, idle_seconds / 10)
        self._next_sweep = 0.0

    def create(
        self,
        grant_id: str,
        endpoint: str | None,
        version: str,
        capabilities: Mapping[str, object],
        *,
        key: str | None = None,
    ) -> LegacySession:
        """A new session (under ``key``, one carried on from another replica; else a new
        random one), reachable by its key until :meth:`bind` gives it its id;
        :class:`GrantOverCapacity` when the grant holds ``per_grant`` already,
        :class:`GatewayOverCapacity` when the table holds ``limit``."""
        held = self._by_grant.get(grant_id)
        if held is not None and len(held) >= self.per_grant:
            raise GrantOverCapacity(
                f"this grant has as many open sessions as one grant may "
                f"({SESSIONS_PER_GRANT_SETTING}={self.per_grant}): end one (DELETE), or wait "
                f"for its least recently used one to expire",
                cap=SESSIONS_PER_GRANT_SETTING,
                limit=self.per_grant,
                retry_after_s=self._first_expiry(held.values()),
            )
        if len(self._sessions) >= self.limit:
            raise GatewayOverCapacity(
                f"the gateway has as many open sessions as it may "
                f"({MAX_SESSIONS_SETTING}={self.limit}): wait for the least recently used one "
                f"to expire",
                cap=MAX_SESSIONS_SETTING,
                limit=self.limit,
                retry_after_s=self._first_expiry(self._sessions.values()),
            )
        session_key = secrets.token_urlsafe(16) if key is None else key
        session = LegacySession(session_key, grant_id, endpoint, version, capabilities)
        self._sessions[session.id] = session
        self._by_grant.setdefault(grant_id, {})[session.id] = session
        self.bind(session, session.id)
        return session

    def bind(self, session: LegacySession, header: str, expires: float | None = None) -> None:
        """Give ``session`` its ``Mcp-Session-Id`` (and when that expires)."""
        self._by_header.pop(session.header, None)
        session.header, session.expires = header, expires
        self._by_header[header] = session

    def get(self, session_id: str, grant_id: str, endpoint: str | None) -> LegacySession | None:
        """The live session with that id, if it belongs to this grant and endpoint."""
        session = self._by_header.get(session_id)
        if session is None or session.grant_id != grant_id or session.endpoint != endpoint:
            return None
        session.last_seen = time.monotonic()
        return session

    def held(self, key: str) -> LegacySession | None:
        """The session with that key, if it is served here now."""
        return self._sessions.get(key)

    def remove(self, key: str) -> LegacySession | None:
        session = self._sessions.pop(key, None)
        if session is not None:
            self._forget(session)
        return session

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
            self._forget(session)
        return stale

    def held_by(self, grant_id: str) -> int:
        """How many sessions ``grant_id`` holds."""
        return len(self._by_grant.get(grant_id, ()))

    def all(self) -> list[LegacySession]:
        return list(self._sessions.values())

    def __len__(self) -> int:
        return len(self._sessions)

    def _forget(self, session: LegacySession) -> None:
        if self._by_header.get(session.header) is session:
            del self._by_header[session.header]
        held = self._by_grant.get(session.grant_id)
        if held is not None:
            held.pop(session.id, None)
            if not held:
                del self._by_grant[session.grant_id]

    def _first_expiry(self, sessions: Iterable[LegacySession]) -> float:
        """Seconds until the first of ``sessions`` may expire (walked on a refusal only). A
        session with a request in flight is not counted: it expires after its request."""
        now = time.monotonic()
        oldest = min((s.last_seen for s in sessions if not s.in_flight), default=now)
        return oldest + self.idle_seconds - now + self._sweep_every
