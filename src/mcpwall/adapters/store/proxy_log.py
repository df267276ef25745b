"""The proxy log in the store's database: a ``LogWriter`` and a ``LogReader`` over one table.

Batches are inserted in one transaction each (``BEGIN IMMEDIATE`` on SQLite, like every
write). Rows older than the retention are deleted while writing, at most once per
:data:`PRUNE_EVERY`, a chunk per transaction so that a large backlog never holds the write
lock for long.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import BigInteger, Connection, Engine, Row, delete, func, insert, or_, select

from mcpwall.adapters.store.engine import WRITE, translate_errors
from mcpwall.adapters.store.schema import proxy_log
from mcpwall.core.logquery import (
    DECIDED_METHOD,
    LogFilter,
    StoredRecord,
    SummaryRow,
    TimelineRow,
    category,
    check_timeline,
    check_top,
    ordered,
)
from mcpwall.core.proxylog import ProxyLogRecord
from mcpwall.ports.clock import Clock

PRUNE_EVERY = timedelta(hours=1)
PRUNE_CHUNK = 10_000

_COLUMNS = [c.name for c in proxy_log.columns if c.name != "id"]
_SQLITE_INSERT = (
    f"INSERT INTO proxy_log ({', '.join(_COLUMNS)}) "  # noqa: S608 (our own column names)
    f"VALUES ({', '.join('?' for _ in _COLUMNS)})"
)
# How SQLAlchemy stores a DateTime on SQLite (UTC, no zone): rows written either way compare
# and read back alike.
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"


class SQLProxyLog:
    """The ``proxy_log`` table of a SQL store; ``retention`` None keeps every row."""

    def __init__(
        self, engine: Engine, url: str, clock: Clock, retention: timedelta | None = None
    ) -> None:
        self._engine = engine
        self._url = url
        self._clock = clock
        self._retention = retention
        self._pruned_at: datetime | None = None

    # -- LogWriter ---------------------------------------------------------------------------------

    def write_batch(self, records: Sequence[ProxyLogRecord]) -> None:
        if records:
            with self._transaction(write=True) as connection:
                if connection.dialect.name == "sqlite":
                    # The hot spot of the whole log: one executemany of plain tuples costs a
                    # quarter of SQLAlchemy's per-row processing (bench/proxylog.py).
                    connection.exec_driver_sql(_SQLITE_INSERT, [_sqlite_row(r) for r in records])
                else:
                    connection.execute(insert(proxy_log), [_row(record) for record in records])
        self._prune_when_due()

    def close(self) -> None:
        return None  # the engine belongs to the store

    # -- LogReader ---------------------------------------------------------------------------------

    def read(self, query: LogFilter) -> list[StoredRecord]:
        table = proxy_log.c
        statement = select(proxy_log).where(*_conditions(query)).limit(query.limit)
        statement = statement.order_by(table.id if query.after is not None else table.id.desc())
        with self._transaction() as connection:
            return [_stored(row) for row in connection.execute(statement)]

    def summary(self, since: datetime) -> list[SummaryRow]:
        table = proxy_log.c
        groups = (table.upstream, table.tool, table.decision, table.rule)
        statement = (
            select(*groups, func.count(), func.max(table.at))
            .where(table.at >= since, table.decision != "")
            .group_by(*groups)
        )
        with self._transaction() as connection:
            rows = connection.execute(statement).all()
        return ordered(SummaryRow(u, t, d, r, int(n), last) for u, t, d, r, n, last in rows)

    def timeline(self, since: datetime, until: datetime, bucket_seconds: int) -> list[TimelineRow]:
        """Counted in SQL by bucket, decision, rule and outcome (whole seconds since the
        epoch, so SQLite and PostgreSQL agree with the fake to the second), then put in
        categories by :func:`~mcpwall.core.logquery.category` itself: one definition."""
        check_timeline(since, until, bucket_seconds)
        table = proxy_log.c
        start = int(since.timestamp())
        with self._transaction() as connection:
            seconds = _epoch_seconds(connection.dialect.name, table.at)
            bucket = (seconds - start) // bucket_seconds  # never negative: at ≥ since
            groups = (bucket, table.decision, table.rule, table.outcome)
            statement = (
                select(*groups, func.count())
                .where(
                    table.at >= since,
                    table.at < until,
                    table.decision != "",
                    table.method == DECIDED_METHOD,
                )
                .group_by(*groups)
            )
            found = connection.execute(statement).all()
        counts: dict[tuple[int, str], int] = {}
        for index, decision, rule, outcome, count in found:
            kind = category(decision, rule, outcome)
            if kind is not None:
                counts[int(index), kind] = counts.get((int(index), kind), 0) + int(count)
        return [TimelineRow(i, kind, n) for (i, kind), n in sorted(counts.items())]

    def top_denied(self, since: datetime, field: str, limit: int) -> list[tuple[str, int]]:
        check_top(field, limit)
        column = proxy_log.c[field]
        count = func.count().label("n")
        statement = (
            select(column, count)
            .where(
                proxy_log.c.at >= since,
                proxy_log.c.decision == "deny",
                proxy_log.c.method == DECIDED_METHOD,
            )
            .group_by(column)
            .order_by(count.desc(), column)
            .limit(limit)
        )
        with self._transaction() as connection:
            return [(str(key), int(n)) for key, n in connection.execute(statement)]

    def outcomes(self, since: datetime) -> dict[tuple[str, str], int]:
        table = proxy_log.c
        statement = (
            select(table.upstream, table.outcome, func.count())
            .where(table.at >= since)
            .group_by(table.upstream, table.outcome)
        )
        with self._transaction() as connection:
            return {(u, o): int(n) for u, o, n in connection.execute(statement)}

    def prune(self, before: datetime) -> int:
        """Delete rows older than ``before``, :data:`PRUNE_CHUNK` per transaction."""
        oldest = select(proxy_log.c.id).where(proxy_log.c.at < before).limit(PRUNE_CHUNK)
        pruned = 0
        while True:
            with self._transaction(write=True) as connection:
                ids = list(connection.execute(oldest).scalars())
                if ids:
                    connection.execute(delete(proxy_log).where(proxy_log.c.id.in_(ids)))
            pruned += len(ids)
            if len(ids) < PRUNE_CHUNK:
                return pruned

    def _prune_when_due(self) -> None:
        if self._retention is None:
            return
        now = self._clock.now()
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = now
        self.prune(now - self._retention)

    @contextmanager
    def _transaction(self, *, write: bool = False) -> Iterator[Connection]:
        with translate_errors(self._url), self._engine.connect() as connection:
            if write:
                connection.execution_options(**WRITE)
            with connection.begin():
                yield connection


def _epoch_seconds(dialect: str, column: Any) -> Any:
    """Whole seconds since the epoch of a stored time (its fraction dropped)."""
    if dialect == "sqlite":
        # Without its fraction first: SQLite's time functions round to the millisecond, which
        # would put 23:59:59.9999 in the next day.
        return func.strftime("%s", func.substr(column, 1, 19)).cast(BigInteger)
    return func.floor(func.extract("epoch", column)).cast(BigInteger)


def _conditions(query: LogFilter) -> list[Any]:
    table = proxy_log.c
    conditions: list[Any] = []
    if query.since is not None:
        conditions.append(table.at >= query.since)
    if query.until is not None:
        conditions.append(table.at < query.until)
    if query.rule is not None:
        conditions.append(table.rule == query.rule)
    if query.outcome is not None:
        conditions.append(table.outcome == query.outcome)
    if query.method is not None:
        conditions.append(table.method == query.method)
    if query.decision is not None:
        conditions.append(table.decision == query.decision)
    if query.tool is not None:
        conditions.append(table.tool == query.tool)
    if query.upstream is not None:
        conditions.append(table.upstream == query.upstream)
    if query.grant is not None:
        # Labels are what people filter by (and indexed); an id is matched too.
        conditions.append(or_(table.grant_label == query.grant, table.grant_id == query.grant))
    if query.before is not None:
        conditions.append(table.id < query.before)
    if query.after is not None:
        conditions.append(table.id > query.after)
    return conditions


def _sqlite_row(record: ProxyLogRecord) -> tuple[object, ...]:
    return (
        _sqlite_time(record.at), record.request_id, record.grant_id,
        record.grant_label, record.upstream, record.method, record.tool, record.policy,
        record.policy_version, record.decision, record.rule, record.message,
        orjson.dumps(record.argument_keys).decode(), record.outcome, record.decision_ms,
        record.upstream_ms, record.total_ms, int(record.fail_open), record.pin,
    )  # fmt: skip


def _sqlite_time(at: datetime) -> str:
    """``at`` as :data:`_SQLITE_TIME` formats it; ``isoformat`` is the faster way to the same
    text (its fraction always six digits, as ``%f``'s)."""
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _row(record: ProxyLogRecord) -> dict[str, object]:
    row = {name: getattr(record, name) for name in _COLUMNS}
    row["argument_keys"] = list(record.argument_keys)
    return row


def _stored(row: Row[Any]) -> StoredRecord:
    values = row._mapping
    fields = {name: values[name] for name in _COLUMNS}
    fields["argument_keys"] = tuple(values["argument_keys"])
    return StoredRecord(int(values["id"]), ProxyLogRecord(**fields))
