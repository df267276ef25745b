"""The pool's side of sealed legacy sessions: carrying on another process's HTTP upstream
sessions, letting go of them without ending them, and ending those never used here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest

from mcpwall.core.registry import Upstream
from mcpwall.gateway.upstreams import UpstreamPool
from mcpwall.ports.fake_upstream import FakeConnector, FakeSession, Related, result
from mcpwall.ports.upstream import ClientOffer, Message, Receiver, Resumption

pytestmark = pytest.mark.anyio

OFFER = ClientOffer(era="legacy")
CARRIED = Resumption("upstream-session-1", "2025-11-25", {"tools": {"listChanged": True}})


async def answer(method: str, params: Mapping[str, object] | None, related: Related) -> Message:
    return result({})


class Resumed(FakeSession):
    """A fake session carried on (or let go of, or ended) in place of one opened."""

    def __init__(self, resumption: Resumption, *, listen: bool, gone: bool) -> None:
        super().__init__("http", answer, _nowhere)
        self.resumption_used = resumption
        self.listen = listen
        self.detached = False
        self.ended = False
        if gone:
            self._mark_closed("the upstream forgot it")

    async def detach(self) -> None:
        self.detached = True
        self._mark_closed("let go of")

    async def aclose(self) -> None:
        self.ended = True
        await super().aclose()


@dataclass
class Attaching(FakeConnector):
    """A fake connector that can also carry sessions on (``gone``: they come back closed)."""

    gone: bool = False
    attached: list[Resumed] = field(default_factory=list)
    detachable: bool = False  # connect() opens sessions that can be let go of, too

    async def connect(
        self, upstream: Upstream, offer: ClientOffer, on_unsolicited: Receiver
    ) -> FakeSession:
        if not self.detachable:
            return await super().connect(upstream, offer, on_unsolicited)
        session = Resumed(CARRIED, listen=True, gone=False)
        self.sessions.append(session)
        return session

    async def attach(
        self,
        upstream: Upstream,
        offer: ClientOffer,
        on_unsolicited: Receiver,
        resumption: Resumption,
        *,
        listen: bool = True,
    ) -> Resumed:
        session = Resumed(resumption, listen=listen, gone=self.gone)
        self.attached.append(session)
        return session


async def _nowhere(message: Message) -> None:
    return None


async def lookup(name: str) -> Upstream:
    return Upstream.remote(name, "http://127.0.0.1:9/mcp")


async def test_a_resumed_owner_carries_on_the_upstream_session_it_was_given() -> None:
    connector = Attaching(answer)
    pool = UpstreamPool(lookup, connector, timeout=5.0)
    pool.resume("session-1", {"http": CARRIED})
    session = await pool.session("session-1", "http", OFFER)
    assert connector.attached == [session]
    assert connector.sessions == []  # nothing opened
    assert connector.attached[0].resumption_used == CARRIED
    await pool.aclose()
    assert connector.attached[0].detached  # kept open upstream for the others
    assert not connector.attached[0].ended


async def test_a_session_the_upstream_forgot_is_opened_afresh() -> None:
    connector = Attaching(answer, gone=True)
    pool = UpstreamPool(lookup, connector, timeout=5.0)
    pool.resume("session-1", {"http": CARRIED})
    session = await pool.session("session-1", "http", OFFER)
    assert connector.sessions == [session]
    assert connector.attached[0].closed
    await pool.aclose()


async def test_letting_go_keeps_upstream_sessions_and_ending_ends_them_all() -> None:
    connector = Attaching(answer)
    pool = UpstreamPool(lookup, connector, timeout=5.0)
    pool.resume("idle", {"http": CARRIED})
    await pool.session("idle", "http", OFFER)
    await pool.detach_owner("idle")
    assert connector.attached[0].detached
    assert not connector.attached[0].ended
    # Ended (DELETE): the one used here, and the one never used here too.
    pool.resume("ended", {"http": CARRIED, "other": CARRIED})
    await pool.session("ended", "http", OFFER)
    await pool.close_owner("ended")
    used, unused = connector.attached[1:]
    assert used.ended
    assert unused.ended
    assert not unused.listen  # opened only to be ended
    await pool.aclose()


async def test_only_owners_kept_open_outlive_the_pool() -> None:
    connector = Attaching(answer, detachable=True)
    pool = UpstreamPool(lookup, connector, timeout=5.0)
    grants = await pool.session("grant:g1", "http", OFFER)
    unsealed = await pool.session("stdio-session", "http", OFFER)
    sealed = await pool.session("sealed-session", "http", OFFER)
    pool.keep_open("sealed-session")
    await pool.aclose()
    assert isinstance(grants, Resumed)
    assert isinstance(unsealed, Resumed)
    assert isinstance(sealed, Resumed)
    assert grants.ended
    assert unsealed.ended
    assert sealed.detached
    assert not sealed.ended
