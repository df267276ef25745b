"""The upstream pool: sessions per owner, reopened when they die, listeners kept; stdio
processes bounded, queued for, given back and, when idle, stopped to make room."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from mcpwall.core.errors import GatewayOverCapacity, GrantOverCapacity, UpstreamUnavailable
from mcpwall.core.registry import Upstream
from mcpwall.gateway import upstreams
from mcpwall.gateway.processes import ProcessSlot, ProcessSlots
from mcpwall.gateway.upstreams import UpstreamPool
from mcpwall.ports.fake_upstream import FakeConnector, Related, result
from mcpwall.ports.upstream import ClientOffer, Message
from tests.conftest import HandClock, hand_clock

pytestmark = pytest.mark.anyio

LIST_CHANGED: Message = {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}


async def answer(method: str, params: Mapping[str, object] | None, related: Related) -> Message:
    return result({"tools": [{"name": "echo"}]} if method == "tools/list" else {})


async def lookup(name: str) -> Upstream:
    return Upstream.stdio(name, "server")


async def test_a_dead_session_is_reopened_and_its_listener_kept() -> None:
    connector = FakeConnector(answer)
    pool = UpstreamPool(lookup, connector, timeout=5.0)
    heard: list[Message] = []

    async def listener(message: Message) -> None:
        heard.append(message)

    first = await pool.session("session-1", "k8s", ClientOffer(), listener)
    await connector.sessions[0].push(LIST_CHANGED)
    connector.sessions[0].crash()
    second = await pool.session("session-1", "k8s", ClientOffer())  # no listener passed again
    assert second is not first
    assert len(connector.sessions) == 2
    await connector.sessions[1].push(LIST_CHANGED)
    assert heard == [LIST_CHANGED, LIST_CHANGED]
    await pool.close_owner("session-1")
    assert connector.sessions[1].closed


async def test_owners_get_sessions_of_their_own() -> None:
    connector = FakeConnector(answer)
    pool = UpstreamPool(lookup, connector, timeout=5.0)
    one = await pool.session("session-1", "k8s", ClientOffer())
    again = await pool.session("session-1", "k8s", ClientOffer())
    other = await pool.session("grant:grt_1", "k8s", ClientOffer())
    assert one is again
    assert other is not one
    assert (await pool.tool_index("session-1", "k8s", ClientOffer())).names == frozenset({"echo"})
    await pool.aclose()


# -- stdio processes ---------------------------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> HandClock:
    return hand_clock(monkeypatch, upstreams)


def bounded(
    connector: FakeConnector, limit: int = 2, per_grant: int = 1, wait: float = 30.0
) -> UpstreamPool:
    return UpstreamPool(
        lookup, connector, timeout=5.0, processes=ProcessSlots(limit, per_grant, wait=wait)
    )


async def opening(pool: UpstreamPool, owner: str) -> asyncio.Task[object]:
    """``owner`` opening a session with ``k8s``, waiting for a process."""
    waiting = pool.processes.waiting
    task = asyncio.ensure_future(pool.session(owner, "k8s", ClientOffer()))
    for _ in range(20):  # it queues within its first few steps
        await asyncio.sleep(0)
        if pool.processes.waiting > waiting:
            return task
    raise AssertionError("the opener never queued")


async def test_stdio_sessions_never_run_more_processes_than_the_cap() -> None:
    connector = FakeConnector(answer)
    pool = bounded(connector)
    pool.charge("session-1", "grt_a")
    await pool.session("session-1", "k8s", ClientOffer())
    await pool.session("grant:grt_b", "k8s", ClientOffer())
    third = await opening(pool, "grant:grt_c")
    assert (len(connector.sessions), pool.processes.running) == (2, 2)
    await pool.close_owner("session-1")  # its process given back: the waiter's turn
    await third
    assert len(connector.sessions) == 3
    assert connector.sessions[0].closed
    await pool.aclose()
    assert pool.processes.running == 0


async def test_a_grants_legacy_sessions_and_its_own_share_one_quota() -> None:
    connector = FakeConnector(answer)
    pool = bounded(connector, limit=3, per_grant=2, wait=0.01)
    for owner in ("session-1", "session-2"):
        pool.charge(owner, "grt_a")
        await pool.session(owner, "k8s", ClientOffer())
    with pytest.raises(GrantOverCapacity) as refused:
        await pool.session("grant:grt_a", "k8s", ClientOffer())
    assert refused.value.data["cap"] == "MCPWALL_STDIO_PROCESSES_PER_GRANT"  # type: ignore[index]
    assert refused.value.upstream == "k8s"
    assert refused.value.message == (
        'upstream "k8s": this grant runs as many stdio upstream processes as one grant may '
        "(MCPWALL_STDIO_PROCESSES_PER_GRANT=2), and none was free within 0.01 s: end a "
        "session; retry in 5 s"
    )
    await pool.session("grant:grt_b", "k8s", ClientOffer())  # another grant is not held back
    with pytest.raises(GatewayOverCapacity):
        await pool.session("grant:grt_c", "k8s", ClientOffer())
    await pool.aclose()


async def test_remote_upstreams_take_no_process() -> None:
    async def remote(name: str) -> Upstream:
        return Upstream.remote(name, "https://127.0.0.1:9/mcp")

    connector = FakeConnector(answer)
    pool = UpstreamPool(remote, connector, timeout=5.0, processes=ProcessSlots(2, 1, wait=0.01))
    for owner in ("grant:a", "grant:b", "grant:c"):
        await pool.session(owner, "docs", ClientOffer())
    assert pool.processes.running == 0
    await pool.aclose()


async def test_a_crashed_process_is_given_back_and_restarted_on_demand() -> None:
    connector = FakeConnector(answer)
    pool = bounded(connector, limit=2, per_grant=1)
    await pool.session("grant:a", "k8s", ClientOffer())
    await pool.session("grant:b", "k8s", ClientOffer())
    waiter = await opening(pool, "grant:c")
    connector.sessions[0].crash()
    await waiter  # the crashed one's process went to the first in line
    assert pool.processes.running_for("a") == 0
    restarted = await opening(pool, "grant:a")  # a's next request: its turn comes again
    connector.sessions[1].crash()
    await restarted
    assert [s.closed for s in connector.sessions] == [True, True, False, False]
    await pool.aclose()


async def test_a_start_that_fails_gives_its_process_back() -> None:
    connector = FakeConnector(answer, unavailable="no such program")
    pool = bounded(connector, limit=2, per_grant=1)
    with pytest.raises(UpstreamUnavailable):
        await pool.session("grant:a", "k8s", ClientOffer())
    assert pool.processes.running == 0


async def test_an_idle_process_is_stopped_to_start_one_another_grant_needs(
    clock: HandClock,
) -> None:
    connector = FakeConnector(answer)
    pool = bounded(connector, limit=2, per_grant=1)
    await pool.session("grant:idle", "k8s", ClientOffer())
    clock.now += 3
    await pool.session("grant:busy", "k8s", ClientOffer())
    clock.now += 3  # idle for 6 s, over the 5 s timeout: no request of its can still run
    await pool.session("grant:new", "k8s", ClientOffer())
    assert [s.closed for s in connector.sessions] == [True, False, False]
    assert pool.opened("grant:idle") == []
    await pool.aclose()


async def test_a_process_used_within_the_timeout_is_not_stopped(clock: HandClock) -> None:
    connector = FakeConnector(answer)
    pool = bounded(connector, limit=2, per_grant=1, wait=0.01)
    await pool.session("grant:a", "k8s", ClientOffer())
    await pool.session("grant:b", "k8s", ClientOffer())
    clock.now += 6
    await pool.request("grant:a", "k8s", ClientOffer(), "tools/list", None)  # a is in use
    await pool.session("grant:b", "k8s", ClientOffer())  # and so is b
    with pytest.raises(GatewayOverCapacity) as refused:
        await pool.session("grant:c", "k8s", ClientOffer())
    assert refused.value.retry_after_s == 5  # when the least recently used will be idle
    assert not any(s.closed for s in connector.sessions)
    await pool.aclose()


async def test_a_grant_at_its_share_stops_an_idle_process_of_its_own_only(clock: HandClock) -> None:
    connector = FakeConnector(answer)
    pool = bounded(connector, limit=3, per_grant=2, wait=0.01)
    await pool.session("grant:other", "k8s", ClientOffer())  # idle longest, but not a's
    for owner in ("session-1", "session-2"):
        pool.charge(owner, "a")
        await pool.session(owner, "k8s", ClientOffer())
        clock.now += 1
    clock.now += 10
    pool.charge("session-3", "a")
    await pool.session("session-3", "k8s", ClientOffer())
    assert [s.closed for s in connector.sessions] == [False, True, False, False]
    await pool.aclose()


class Gated(ProcessSlots):
    """Processes of which none comes free: each wait for one ends, in vain, when the test
    says (``over``); ``waits`` counts the waits."""

    def __init__(self) -> None:
        super().__init__(2, 1, wait=30.0)
        self.waits = 0
        self.over = asyncio.Event()

    async def acquire(self, grant: str) -> ProcessSlot | None:
        self.waits += 1
        await self.over.wait()
        return None


async def test_requests_queued_behind_an_opener_refused_a_process_do_not_wait_again() -> None:
    connector = FakeConnector(answer)
    gated = Gated()
    pool = UpstreamPool(lookup, connector, timeout=5.0, processes=gated)
    pool.charge("session-1", "grt_a")
    await pool.session("session-1", "k8s", ClientOffer())  # the grant's one process
    calls = [
        asyncio.ensure_future(pool.session("grant:grt_a", "k8s", ClientOffer()))
        for _ in range(3)  # a grant's concurrent 2026-07-28 calls: one owner
    ]
    for _ in range(20):  # the first waits for a process, the others for the first
        await asyncio.sleep(0)
        if gated.waits:
            break
    assert gated.waits == 1
    gated.over.set()
    refused = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(error, GrantOverCapacity) for error in refused), refused
    assert gated.waits == 1  # one wait, not one after the other for each of them
    with pytest.raises(GrantOverCapacity):  # a request that comes later waits its own turn
        await pool.session("grant:grt_a", "k8s", ClientOffer())
    assert gated.waits == 2
    await pool.aclose()


async def test_a_session_refused_a_process_leaves_nothing_behind_once_ended() -> None:
    connector = FakeConnector(answer)
    pool = bounded(connector, limit=2, per_grant=1, wait=0.01)
    pool.charge("session-1", "grt_a")
    await pool.session("session-1", "k8s", ClientOffer())
    for number in range(2, 5):  # sessions the gateway refuses at initialize, and ends
        owner = f"session-{number}"
        pool.charge(owner, "grt_a")
        with pytest.raises(GrantOverCapacity):
            await pool.session(owner, "k8s", ClientOffer())
        await pool.close_owner(owner)
    assert list(pool._opening) == [("session-1", "k8s")]
    assert list(pool._charged) == ["session-1"]
    await pool.aclose()
