"""What only the Redis counters do: key names and expiry, the script, an unreachable server."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio

from mcpwall.adapters.counters import RedisCounters
from mcpwall.adapters.counters.redis import RESERVE, shown_redis_url
from mcpwall.core.errors import InvalidValue, LimitsUnavailable
from mcpwall.core.windows import Budget, CounterKey
from mcpwall.ports.counters import Reservation
from tests.adapters.counters.conftest import counted_threads, delete_keys, redis_prefix
from tests.fixtures.redis_server import PrivateRedis, private_redis, redis_server_binary
from tests.fixtures.servers import free_port

pytestmark = pytest.mark.anyio

T0 = 1_800_000_000.0
HOUR = Budget(CounterKey("delete_pod", "grant", "grt_0123456789abcdef"), 5, 3600.0)
SHARED = Budget(CounterKey("all", "upstream", "k8s"), 600, 3600.0)


@pytest.fixture
async def client(redis_server: str) -> AsyncIterator[redis.asyncio.Redis]:
    made = redis.asyncio.Redis.from_url(redis_server, decode_responses=True)
    yield made
    await made.aclose()


@pytest.fixture
async def counters(redis_server: str) -> AsyncIterator[RedisCounters]:
    prefix = redis_prefix()
    made = RedisCounters.from_url(redis_server, prefix=prefix)
    yield made
    await made.aclose()
    delete_keys(redis_server, prefix)


def key(counters: RedisCounters, budget: Budget) -> str:
    return counters._key(budget)


async def test_keys_are_named_by_grant_id_and_expire_a_window_after_the_last_call(
    counters: RedisCounters, client: redis.asyncio.Redis
) -> None:
    assert key(counters, HOUR).endswith(":limits:3600:grant:grt_0123456789abcdef:delete_pod")
    taken = await counters.reserve([HOUR, SHARED], T0)
    assert isinstance(taken, Reservation)
    for budget in (HOUR, SHARED):
        assert await client.zrange(key(counters, budget), 0, -1, withscores=True) == [
            (taken.token, T0)
        ]
        assert 3_600_000 < await client.pttl(key(counters, budget)) <= 3_601_000


async def test_release_removes_the_calls_member(
    counters: RedisCounters, client: redis.asyncio.Redis
) -> None:
    first = await counters.reserve([HOUR, SHARED], T0)
    second = await counters.reserve([HOUR], T0 + 1)
    assert isinstance(first, Reservation)
    assert isinstance(second, Reservation)
    await counters.release(first)
    assert await client.zrange(key(counters, HOUR), 0, -1) == [second.token]
    assert await client.exists(key(counters, SHARED)) == 0


async def test_a_retried_script_finds_its_call_reserved_and_counts_it_once(
    counters: RedisCounters, client: redis.asyncio.Redis
) -> None:
    """A reply lost after the script ran: redis-py retries once; the call must count once."""
    name = key(counters, HOUR)
    args = [repr(T0), "member-1", repr(T0 - 3600), "1", "3601000"]
    assert await client.eval(RESERVE, 1, name, *args) == [-1]
    assert await client.eval(RESERVE, 1, name, *args) == [-1]
    assert await client.zcard(name) == 1
    refused = await client.eval(RESERVE, 1, name, repr(T0), "member-2", *args[2:])
    assert refused == [0, str(int(T0))]  # the 1st newest call in the window decides


async def test_reading_usage_counts_the_window_and_changes_nothing(
    counters: RedisCounters, client: redis.asyncio.Redis
) -> None:
    for at in (0, 1, 2):
        await counters.reserve([HOUR], T0 + at)
    before = await client.zrange(key(counters, HOUR), 0, -1, withscores=True)
    ttl = await client.pttl(key(counters, HOUR))
    assert await counters.usage([HOUR, SHARED], T0 + 3600) == [2, 0]  # the call at 0 left
    assert await client.zrange(key(counters, HOUR), 0, -1, withscores=True) == before
    assert await client.exists(key(counters, SHARED)) == 0
    assert await client.pttl(key(counters, HOUR)) <= ttl


async def test_an_unreachable_redis_makes_limits_unavailable_and_says_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    counters = RedisCounters.from_url(f"redis://:hunter2@127.0.0.1:{free_port()}/0")
    try:
        with caplog.at_level(logging.WARNING, logger="mcpwall.limits"):
            for _ in range(2):
                with pytest.raises(LimitsUnavailable) as raised:
                    await counters.reserve([HOUR], T0)
            with pytest.raises(LimitsUnavailable, match=r"redis://:\*\*\*@127\.0\.0\.1"):
                await counters.usage([HOUR], T0)
            await counters.release(Reservation((HOUR,), T0, token="m"))  # never raises
    finally:
        await counters.aclose()
    assert "redis://:***@127.0.0.1" in str(raised.value)
    assert "hunter2" not in str(raised.value) + caplog.text
    unavailable = [r for r in caplog.records if "are unavailable" in r.getMessage()]
    assert len(unavailable) == 1
    assert "stays counted" in caplog.text


async def test_redis_stopping_and_coming_back_is_noticed(
    private_redis_server: PrivateRedis, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    counters = RedisCounters.from_url(private_redis_server.url)
    try:
        assert isinstance(await counters.reserve([HOUR], T0), Reservation)
        private_redis_server.stop()
        with caplog.at_level(logging.WARNING, logger="mcpwall.limits"):
            with pytest.raises(LimitsUnavailable, match="unavailable"):
                await counters.reserve([HOUR], T0)
            binary = redis_server_binary()
            assert binary is not None
            with private_redis(binary, tmp_path, private_redis_server.port):
                # A new, empty server (it keeps nothing on disk): counting starts afresh.
                assert isinstance(await counters.reserve([HOUR], T0), Reservation)
    finally:
        await counters.aclose()
    said = [record.getMessage() for record in caplog.records]
    assert len(said) == 2
    assert " are unavailable (" in said[0]
    assert said[1].endswith(" are available again")


async def test_a_ping_says_when_redis_is_gone_and_back(
    private_redis_server: PrivateRedis, tmp_path: Path
) -> None:
    counters = RedisCounters.from_url(private_redis_server.url)
    try:
        await counters.ping()
        private_redis_server.stop()
        with pytest.raises(LimitsUnavailable, match=r"counters at redis://127\.0\.0\.1:"):
            await counters.ping()
        binary = redis_server_binary()
        assert binary is not None
        with private_redis(binary, tmp_path, private_redis_server.port):
            await counters.ping()
    finally:
        await counters.aclose()


def test_urls_are_shown_without_their_password() -> None:
    assert shown_redis_url("redis://user:pw@host:6380/2") == "redis://user:***@host:6380/2"
    assert shown_redis_url("rediss://:pw@host") == "rediss://:***@host"
    assert shown_redis_url("redis://host:6379") == "redis://host:6379"
    assert "pw" not in shown_redis_url("redis://:pw@[::1")


def test_a_url_redis_cannot_read_is_refused_without_showing_it() -> None:
    with pytest.raises(InvalidValue, match=r"MCPWALL_REDIS_URL \(not shown"):
        RedisCounters.from_url("http://:secret@host")


class CountingConnection(redis.asyncio.Connection):
    """A connection counting what it sends (one write per round trip) and the replies read."""

    sent = 0
    replies = 0

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.sent += 1
        await super().send_packed_command(command, check_health)

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        CountingConnection.replies += 1
        return await super().read_response(*args, **kwargs)


async def test_a_reservation_is_one_round_trip_and_no_thread(redis_server: str) -> None:
    prefix = redis_prefix()
    client = redis.asyncio.Redis.from_url(redis_server, connection_class=CountingConnection)
    counters = RedisCounters(client, redis_server, prefix=prefix)
    try:
        await counters.reserve([HOUR, SHARED], T0)  # connects, loads the script
        with counted_threads() as threads:
            for offset in (1, 2, 3, 4, 5):  # the 5th is refused, still one round trip
                CountingConnection.sent = CountingConnection.replies = 0
                await counters.reserve([HOUR, SHARED], T0 + offset)
                assert (CountingConnection.sent, CountingConnection.replies) == (1, 1)
            assert threads.submitted == 0
    finally:
        await counters.aclose()
        delete_keys(redis_server, prefix)
