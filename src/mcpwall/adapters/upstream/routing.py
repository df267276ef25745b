"""Requests in flight on one message stream (stdio, legacy SSE), and where each message goes.

On these transports every message the upstream sends arrives on one stream, so the session
has to tell which request, if any, a message is about (the port's rules):

* a response settles the request with its id;
* ``notifications/progress`` belongs to the request whose (session-minted) progress token it
  carries, and is dropped when that request is over: nobody is left to show it to;
* a log message, a ``notifications/cancelled`` and a server→client request (sampling,
  elicitation, roots) belong to the one request in flight when there is exactly one — the
  protocol gives them no other link — and are unsolicited otherwise;
* a message tagged with the subscription id of one of our ``subscriptions/listen`` requests
  (2026-07-28) belongs to that request, and so does a ``notifications/cancelled`` naming it
  (how a stdio server ends a subscription); a listen request, open for as long as the
  subscription lasts, is never "the one request in flight";
* everything else (``…/list_changed``, ``resources/updated``, unknown methods) is unsolicited.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Final

from mcpwall.adapters.upstream.outgoing import (
    PROGRESS,
    ProgressToken,
    progress_token,
    with_token,
)
from mcpwall.core.errors import UpstreamError
from mcpwall.core.mcp.subscriptions import subscription_of
from mcpwall.ports.upstream import Message, Receiver

# Notifications that can be about a request in flight; others are about the session.
CANCELLED: Final = "notifications/cancelled"
_RELATABLE: Final = frozenset({PROGRESS, "notifications/message", CANCELLED})


def relatable(method: str, *, is_request: bool) -> bool:
    """Whether a message the upstream sends can be about one of our requests: progress, a
    log message, a cancellation, or a server→client request. The rest concern the session."""
    return is_request or method in _RELATABLE


@dataclass(eq=False, slots=True)
class Pending:
    """One request waiting for its answer."""

    id: int
    related: Receiver | None
    answer: asyncio.Future[Message] = field(repr=False)
    progress_token: ProgressToken | None = None
    listen: bool = False  # a subscriptions/listen request: its stream lasts


class InFlight:
    """The requests a session is waiting on, by id, and the routing of what arrives."""

    def __init__(self, on_unsolicited: Receiver) -> None:
        self._on_unsolicited = on_unsolicited
        self._pending: dict[int, Pending] = {}
        self._last_id = 0

    def __len__(self) -> int:
        return len(self._pending)

    def open(self, related: Receiver | None, *, listen: bool = False) -> Pending:
        """A new pending request with a fresh id (ids are never reused within a session);
        ``listen`` for a ``subscriptions/listen`` request."""
        self._last_id += 1
        answer = asyncio.get_running_loop().create_future()
        pending = Pending(self._last_id, related, answer, listen=listen)
        self._pending[pending.id] = pending
        return pending

    def was_sent(self, request_id: object) -> bool:
        """Whether ``request_id`` is one this session has given a request (in flight or not)."""
        return type(request_id) is int and 0 < request_id <= self._last_id

    def discard(self, pending: Pending) -> None:
        """Forget ``pending``: its answer, should one come late, is ignored."""
        self._pending.pop(pending.id, None)

    def settle(self, request_id: object, response: Message) -> bool:
        """Hand ``response`` to the request it answers; False when none is waiting for it."""
        pending = self._pending.get(request_id) if type(request_id) is int else None
        if pending is None or pending.answer.done():
            return False
        pending.answer.set_result(response)
        return True

    def fail(self, request_id: object, error: UpstreamError) -> bool:
        """Fail the request with ``request_id`` (its answer was unreadable)."""
        pending = self._pending.get(request_id) if type(request_id) is int else None
        if pending is None or pending.answer.done():
            return False
        pending.answer.set_exception(error)
        return True

    def fail_all(self, error: UpstreamError) -> None:
        """Fail every request still waiting: the session is gone."""
        for pending in self._pending.values():
            if not pending.answer.done():
                pending.answer.set_exception(error)
        self._pending.clear()

    def route(
        self, message: Message, method: str, *, is_request: bool
    ) -> tuple[Receiver, Message] | None:
        """Where a notification or server→client request goes, as what; None: drop it."""
        if method == PROGRESS:
            return self._route_progress(message)
        listening = self._subscription(message, method)
        if listening is not None:
            return listening, message
        if relatable(method, is_request=is_request):
            only = self._only()
            if only is not None and only.related is not None:
                return only.related, message
        return self._on_unsolicited, message

    def _route_progress(self, message: Message) -> tuple[Receiver, Message] | None:
        token = progress_token(message)
        pending = self._pending.get(token) if type(token) is int else None
        if pending is None or pending.progress_token is None:
            return None
        relayed = with_token(message, pending.progress_token)
        return (pending.related or self._on_unsolicited), relayed

    def _subscription(self, message: Message, method: str) -> Receiver | None:
        """The receiver of the listen request ``message`` is about, if any."""
        target = subscription_of(message)
        if method == CANCELLED:
            params = message.get("params")
            target = params.get("requestId") if isinstance(params, dict) else None
        pending = self._pending.get(target) if type(target) is int else None
        if pending is None or not pending.listen:
            return None
        return pending.related or self._on_unsolicited

    def _only(self) -> Pending | None:
        calls = [pending for pending in self._pending.values() if not pending.listen]
        return calls[0] if len(calls) == 1 else None
