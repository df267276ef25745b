"""The proxy log's rollup on SQLite and PostgreSQL: kept exact by every batch and every
prune, built from the rows already there by migration 0008, and the summary read from it is
the summary of the raw rows — the same answer the in-memory log gives."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import URL, insert

from mcpwall.adapters.store import SQLStore, open_store, proxy_log as proxy_log_module
from mcpwall.adapters.store.engine import create, database_url
from mcpwall.adapters.store.migrate import alembic_config, upgrade
from mcpwall.adapters.store.proxy_log import SQLProxyLog
from mcpwall.adapters.store.schema import proxy_log
from mcpwall.core.logquery import rollup, summarize
from mcpwall.core.proxylog import ProxyLogRecord
from mcpwall.ports.clock import FakeClock
from mcpwall.ports.logsink import LogReader, LogWriter, MemorySink
from tests.adapters.proxylog.records import START, generated, record

# Each kind of edge: on an hour, a microsecond either side, mid-hour, before every row.
SINCES = (
    START + timedelta(days=7),
    START + timedelta(days=7, microseconds=1),
    START + timedelta(days=7) - timedelta(microseconds=1),
    START + timedelta(days=3, minutes=17, seconds=5, microseconds=250),
    START - timedelta(days=1),
)


@pytest.fixture
def sql_store(database_url: str, tmp_path: Path) -> Iterator[SQLStore]:
    store = open_store(database_url, tmp_path / "home", environ={})
    yield store
    store.close()


@pytest.fixture
def table(sql_store: SQLStore) -> SQLProxyLog:
    return SQLProxyLog(sql_store.engine, sql_store.url, FakeClock(START + timedelta(days=14)))


class Log(LogReader, LogWriter):  # the two ports at once, as both implementations are
    pass


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Log]:
    """An empty proxy log of each kind."""
    if request.param == "memory":
        yield MemorySink()  # type: ignore[misc]
        return
    url = None if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    store = open_store(url, tmp_path / "home", environ={})
    assert isinstance(store, SQLStore)
    yield SQLProxyLog(store.engine, store.url, FakeClock(START))  # type: ignore[misc]
    store.close()


def database_url_for(url: str) -> URL:
    return database_url(url, Path("unused"))


def on_edges(count: int) -> list[ProxyLogRecord]:
    """The generated log, plus rows on and beside each hour's edge near day 7."""
    edge = START + timedelta(days=7)
    made = generated(count)
    for n, shift in enumerate((-1, 0, 1, 3_599_999_999)):
        made.append(record(n, at=edge + timedelta(microseconds=shift), rule="(default deny)"))
    return sorted(made, key=lambda r: r.at)


def kept(log: list[ProxyLogRecord], before: datetime) -> list[ProxyLogRecord]:
    return [r for r in log if r.at >= before]


def test_every_kind_of_log_summarises_alike_through_writes_and_prunes(log: Log) -> None:
    made = on_edges(1500)
    for start in range(0, len(made), 400):
        log.write_batch(made[start : start + 400])
    for since in SINCES:
        assert log.summary(since) == summarize(made, since), since
    before = START + timedelta(days=5, minutes=31)
    assert log.prune(before) == len(made) - len(kept(made, before))
    for since in SINCES:
        assert log.summary(since) == summarize(kept(made, before), since), since


def test_the_rollup_is_the_pure_rollup_after_every_batch(table: SQLProxyLog) -> None:
    made = on_edges(2000)
    for start in range(0, len(made), 300):
        table.write_batch(made[start : start + 300])
        assert table.rollup_rows() == rollup(made[: start + 300])
    for since in SINCES:
        assert table.summary(since) == table.raw_summary(since) == summarize(made, since)


def test_a_prune_in_small_chunks_counts_the_hours_it_touched_again(
    table: SQLProxyLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(proxy_log_module, "PRUNE_CHUNK", 97)
    made = on_edges(1200)
    table.write_batch(made)
    for before in (START + timedelta(days=2, minutes=45), START + timedelta(days=7)):
        table.prune(before)
        assert table.rollup_rows() == rollup(kept(made, before))
        assert table.summary(START) == summarize(kept(made, before), START)
    table.prune(START + timedelta(days=30))
    assert table.rollup_rows() == []


def test_retention_while_writing_keeps_the_rollup_exact(sql_store: SQLStore) -> None:
    clock = FakeClock(START + timedelta(days=4, minutes=20))
    table = SQLProxyLog(sql_store.engine, sql_store.url, clock, retention=timedelta(days=3))
    made = on_edges(600)
    table.write_batch(made)  # writes, then prunes what is older than 3 days
    left = kept(made, clock.now() - timedelta(days=3))
    assert len(left) < len(made)
    assert table.rollup_rows() == rollup(left)


def test_the_migration_counts_the_rows_already_there(database_url: str, tmp_path: Path) -> None:
    made = on_edges(700)
    engine = create(database_url_for(database_url))
    try:
        with engine.connect() as connection, connection.begin():
            command.upgrade(alembic_config(connection), "0007")
            rows = [r._asdict() | {"argument_keys": list(r.argument_keys)} for r in made]
            connection.execute(insert(proxy_log), rows)
        upgrade(engine)
    finally:
        engine.dispose()
    store = open_store(database_url, tmp_path / "home", environ={})
    try:
        assert isinstance(store, SQLStore)
        table = SQLProxyLog(store.engine, store.url, FakeClock(START))
        assert table.rollup_rows() == rollup(made)
        for since in SINCES:
            assert table.summary(since) == summarize(made, since)
        table.recount_rollup()  # the same count, made by the adapter
        assert table.rollup_rows() == rollup(made)
    finally:
        store.close()


batches = st.lists(
    st.lists(
        st.tuples(
            st.integers(0, 6 * 3600 * 1000),  # milliseconds into six hours
            st.sampled_from(("k8s", "db")),
            st.sampled_from((("deny", "(hidden)"), ("allow", "(allowed)"), ("deny", "/all_tools/limits/0"))),
            st.booleans(),  # a tools/call, or a tools/list (no decision)
        ),
        max_size=25,
    ),
    max_size=4,
)  # fmt: skip
moments = st.integers(-3600, 7 * 3600).map(
    lambda s: START + timedelta(seconds=s, microseconds=s % 7)
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches, moments, moments)
def test_any_batches_prune_and_since_keep_the_summary_the_raw_one(
    table: SQLProxyLog,
    written: list[list[tuple[int, str, tuple[str, str], bool]]],
    before: datetime,
    since: datetime,
) -> None:
    table.prune(START + timedelta(days=365))  # the previous example's rows, and their counts
    assert table.rollup_rows() == []
    made: list[ProxyLogRecord] = []
    for batch in written:
        rows = [
            record(ms, at=START + timedelta(milliseconds=ms), upstream=upstream,
                   decision=decision, rule=rule, method="tools/call" if call else "tools/list")
            for ms, upstream, (decision, rule), call in batch
        ]  # fmt: skip
        table.write_batch(rows)
        made += rows
    table.prune(before)
    left = kept(made, before)
    assert table.rollup_rows() == rollup(left)
    assert table.summary(since) == summarize(left, since)
    assert table.summary(since.astimezone(UTC)) == table.raw_summary(since)
