"""Counters on Redis (``MCPWALL_REDIS_URL``), shared by every gateway replica.

Each log is a sorted set with one member per counted call, scored by the call's time.
Checking a call's limits and recording it is one Lua script (:data:`RESERVE`), and Redis runs
a script atomically — no other command runs on the server meanwhile — so two reservations on
one log never interleave, whichever replicas send them: exact across replicas, in one round
trip (``EVALSHA``; the script is loaded once per server). A release removes the call's member
(``ZREM``), in one round trip too. Reading usage (for the dashboard) is a ``ZCOUNT`` of each
log's window, pipelined in one round trip, and changes nothing.

Keys are ``mcpwall:limits:WINDOW:SCOPE:SUBJECT:COUNTER`` (:func:`~mcpwall.core.windows.
log_name`): a grant id, an upstream name, never a token. Each key expires one window and a
second after its newest call, so idle counters disappear on their own; the script also drops
the calls that left the window before it counts.

Times are the gateway's own (the ``now`` each reservation is given): replicas should keep their
clocks in step (NTP); a skew of d seconds moves a window's edge by at most d.

When Redis can't be reached, ``reserve`` raises :class:`~mcpwall.core.errors.LimitsUnavailable`
after one immediate retry (a pooled connection may simply have gone stale) and short timeouts,
so a dead Redis refuses calls in milliseconds (or a second, when it hangs) instead of stalling
them. The first failure and the recovery are logged, not every call.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from mcpwall.core.errors import InvalidValue, LimitsUnavailable
from mcpwall.core.windows import Budget, Refusal, wait_for
from mcpwall.ports.counters import Reservation

log = logging.getLogger("mcpwall.limits")

PREFIX = "mcpwall:limits"
TIMEOUT_SECONDS = 1.0
EXPIRY_SLACK_MS = 1000
EXPECTED_URL = "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] or rediss://… (TLS)"

# KEYS: the call's logs, one per limit, in the order asked (a log may repeat).
# ARGV: now, the call's member, then for each key: window start, max, expiry in ms.
# Returns {-1} when reserved, else {index of the first full log (0-based), the score of the
# max-th newest call in it ('' for max 0)}. Numbers travel as the strings Python wrote, so no
# time is rounded by Lua's number formatting.
RESERVE = """
local now, member = ARGV[1], ARGV[2]
if redis.call('ZSCORE', KEYS[1], member) then
  return {-1}  -- a retry of a call whose reply was lost: it is reserved already
end
for i = 1, #KEYS do
  local start, max = ARGV[3 * i], tonumber(ARGV[3 * i + 1])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', start)
  local count = redis.call('ZCARD', KEYS[i])
  if count >= max then
    if max == 0 then
      return {i - 1, ''}
    end
    local blocking = redis.call('ZRANGE', KEYS[i], count - max, count - max, 'WITHSCORES')
    return {i - 1, blocking[2]}
  end
end
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], now, member)
  redis.call('PEXPIRE', KEYS[i], ARGV[3 * i + 2])
end
return {-1}
"""


class RedisCounters:
    """A ``CounterStore`` on Redis; open one with :meth:`from_url`."""

    def __init__(self, client: Redis, shown_url: str, *, prefix: str = PREFIX) -> None:
        self._client = client
        self._url = shown_url
        self._prefix = prefix
        self._script = client.register_script(RESERVE)
        self._reachable = True

    @classmethod
    def from_url(cls, url: str, *, prefix: str = PREFIX) -> RedisCounters:
        """Counters on the Redis server at ``url`` (nothing is connected until the first call)."""
        shown = shown_redis_url(url)
        try:
            client = Redis.from_url(
                url,
                socket_timeout=TIMEOUT_SECONDS,
                socket_connect_timeout=TIMEOUT_SECONDS,
                retry=Retry(NoBackoff(), 1),
            )
        except ValueError as error:
            raise InvalidValue("MCPWALL_REDIS_URL", url, EXPECTED_URL, secret=True) from error
        return cls(client, shown, prefix=prefix)

    async def reserve(self, requests: Sequence[Budget], now: float) -> Reservation | Refusal:
        if not requests:
            return Reservation((), now)
        member = secrets.token_hex(8)
        args: list[str] = [repr(now), member]
        for budget in requests:
            expiry = math.ceil(budget.window * 1000) + EXPIRY_SLACK_MS
            args += [repr(now - budget.window), str(budget.maximum), str(expiry)]
        try:
            reply = await self._script(keys=[self._key(b) for b in requests], args=args)
        except (RedisError, OSError) as error:
            self._unreachable(error)
            raise LimitsUnavailable(self._url, _reason(error)) from error
        self._reached()
        index = int(reply[0])
        if index < 0:
            return Reservation(tuple(requests), now, token=member)
        budget = requests[index]
        blocking = float(reply[1]) if reply[1] else None
        wait = wait_for(blocking, now, budget.window, budget.maximum)
        return Refusal(index, budget.window if wait is None else wait)

    async def release(self, reservation: Reservation) -> None:
        member = reservation.token
        if not isinstance(member, str):
            return
        keys = dict.fromkeys(self._key(budget) for budget in reservation.requests)
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.zrem(key, member)
                await pipe.execute()
        except (RedisError, OSError) as error:
            log.warning(
                "a reservation could not be given back to %s, it stays counted: %s",
                self._url,
                _reason(error),
            )

    async def usage(self, requests: Sequence[Budget], now: float) -> list[int]:
        if not requests:
            return []
        logs = {self._key(budget): budget.window for budget in requests}  # one count per log
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for key, window in logs.items():
                    pipe.zcount(key, f"({now - window!r}", "+inf")  # after the window's start
                replies = await pipe.execute()
        except (RedisError, OSError) as error:
            self._unreachable(error)
            raise LimitsUnavailable(self._url, _reason(error)) from error
        self._reached()
        counts = dict(zip(logs, (int(reply) for reply in replies), strict=True))
        return [counts[self._key(budget)] for budget in requests]

    async def ping(self) -> None:
        try:
            await self._client.ping()
        except (RedisError, OSError) as error:
            self._unreachable(error)
            raise LimitsUnavailable(self._url, _reason(error)) from error
        self._reached()

    async def aclose(self) -> None:
        await self._client.aclose()

    def _key(self, budget: Budget) -> str:
        return f"{self._prefix}:{budget.log}"

    def _unreachable(self, error: BaseException) -> None:
        if self._reachable:
            self._reachable = False
            log.warning(
                "rate-limit counters at %s are unavailable (%s): calls with limits are refused, "
                "or let through unchecked with MCPWALL_LIMITS_FAIL_OPEN=1",
                self._url,
                _reason(error),
            )

    def _reached(self) -> None:
        if not self._reachable:
            self._reachable = True
            log.warning("rate-limit counters at %s are available again", self._url)


def shown_redis_url(url: str) -> str:
    """``url`` as messages show it: its password replaced by ``***``."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "MCPWALL_REDIS_URL (not shown: it could not be read)"
    if password is None:
        return url
    user, _, host = parts.netloc.rpartition("@")
    name = user.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{name}:***@{host}"))


def _reason(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
