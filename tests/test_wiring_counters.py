"""Which counter store the data plane gets, and ``MCPWALL_LIMITS_FAIL_OPEN`` (``wiring.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcpwall.adapters.counters import RedisCounters, SQLCounters
from mcpwall.adapters.store import open_store
from mcpwall.core.errors import InvalidValue
from mcpwall.ports.clock import FakeClock
from mcpwall.ports.counters import MemoryCounters
from mcpwall.ports.memory_store import MemoryStore
from mcpwall.wiring import limits_fail_open, open_counters

pytestmark = pytest.mark.anyio


async def test_the_sql_store_keeps_the_counters_by_default(tmp_path: Path) -> None:
    store = open_store(None, tmp_path, environ={})
    try:
        counters = open_counters(store, {})
        assert isinstance(counters, SQLCounters)
        await counters.aclose()
    finally:
        store.close()


async def test_a_redis_url_puts_them_on_redis(tmp_path: Path) -> None:
    store = open_store(None, tmp_path, environ={})
    try:
        counters = open_counters(store, {"MCPWALL_REDIS_URL": "redis://127.0.0.1:9/0"})
        assert isinstance(counters, RedisCounters)
        await counters.aclose()
    finally:
        store.close()


async def test_a_redis_url_from_a_file_puts_them_on_redis(tmp_path: Path) -> None:
    mounted = tmp_path / "redis-url"
    mounted.write_text("redis://127.0.0.1:9/0\n")
    store = open_store(None, tmp_path, environ={})
    try:
        counters = open_counters(store, {"MCPWALL_REDIS_URL_FILE": str(mounted)})
        assert isinstance(counters, RedisCounters)
        await counters.aclose()
    finally:
        store.close()


def test_a_store_in_memory_gets_counters_in_memory() -> None:
    assert isinstance(open_counters(MemoryStore(FakeClock()), {}), MemoryCounters)


@pytest.mark.parametrize(
    ("text", "expected"),
    [(None, False), ("", False), ("0", False), ("false", False), ("1", True), (" TRUE ", True)],
)
def test_fail_open_is_off_unless_asked_for(text: str | None, expected: bool) -> None:
    environ = {} if text is None else {"MCPWALL_LIMITS_FAIL_OPEN": text}
    assert limits_fail_open(environ) is expected


def test_an_unreadable_fail_open_setting_is_an_error_not_a_guess() -> None:
    with pytest.raises(InvalidValue, match=r'MCPWALL_LIMITS_FAIL_OPEN "maybe": expected 1'):
        limits_fail_open({"MCPWALL_LIMITS_FAIL_OPEN": "maybe"})
