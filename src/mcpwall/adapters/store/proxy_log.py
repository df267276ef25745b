"""The proxy log in the store's database: a ``LogWriter`` and a ``LogReader`` over one table.

Batches are inserted in one transaction each (``BEGIN IMMEDIATE`` on SQLite, like every
write). Rows older than the retention are deleted while writing, at most once per
:data:`PRUNE_EVERY`, a chunk per transaction so that a large backlog never holds the write
lock for long.

Beside the rows, ``proxy_log_rollup`` counts the decided calls per hour
(``core.logquery.rollup``), changed in the same transaction as the rows: a batch adds its
counts, a pruned chunk has the hours it touched counted again from the rows left. So it is
exact at every commit, and :meth:`SQLProxyLog.summary` adds up whole hours from it and reads
raw rows only for the partial hour at ``since`` — at 10 million rows the summary costs what
the rollup's size and one hour of rows cost (``bench/scale.py``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Row,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)

from mcpwall.adapters.store.engine import WRITE, translate_errors
from mcpwall.adapters.store.schema import proxy_log, proxy_log_rollup
from mcpwall.core.logquery import (
    DECIDED_METHOD,
    ROLLUP_BUCKET,
    LogFilter,
    RollupRow,
    StoredRecord,
    SummaryRow,
    TimelineRow,
    category,
    check_timeline,
    check_top,
    merge_summaries,
    rollup,
    rollup_bucket,
    rollup_edge,
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
_ROLLUP_KEY = ("bucket", "upstream", "tool", "decision", "rule")
_SQLITE_ROLLUP_ADD = (
    "INSERT INTO proxy_log_rollup (bucket, upstream, tool, decision, rule, n, last_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (bucket, upstream, tool, decision, rule) "
    "DO UPDATE SET n = n + excluded.n, last_at = max(last_at, excluded.last_at)"
)
# The hour of a stored time, as migration 0008 computes it (see there).
_HOUR = {
    "sqlite": "substr(at, 1, 13) || ':00:00.000000'",
    "postgresql": "date_trunc('hour', at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
}


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
                _add_to_rollup(connection, rollup(records))
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
        """Whole hours from the rollup, the raw rows of [since, the next hour) added: one
        transaction, so both parts see the same commit."""
        edge = rollup_edge(since)
        table, counted = proxy_log.c, proxy_log_rollup.c
        groups = (table.upstream, table.tool, table.decision, table.rule)
        raw = (
            select(*groups, func.count(), func.max(table.at))
            .where(table.at >= since, table.at < edge, table.decision != "")
            .group_by(*groups)
        )
        rolled = (counted.upstream, counted.tool, counted.decision, counted.rule)
        hours = (
            select(*rolled, func.sum(counted.n), func.max(counted.last_at))
            .where(counted.bucket >= edge)
            .group_by(*rolled)
        )
        with self._transaction() as connection:
            parts = [connection.execute(raw).all(), connection.execute(hours).all()]
        return merge_summaries(
            *([SummaryRow(u, t, d, r, int(n), last) for u, t, d, r, n, last in p] for p in parts)
        )

    def raw_summary(self, since: datetime) -> list[SummaryRow]:
        """The summary counted from the rows alone, without the rollup: what
        :meth:`summary` must equal (tests), and its baseline (``bench/scale.py``)."""
        table = proxy_log.c
        groups = (table.upstream, table.tool, table.decision, table.rule)
        statement = (
            select(*groups, func.count(), func.max(table.at))
            .where(table.at >= since, table.decision != "")
            .group_by(*groups)
        )
        with self._transaction() as connection:
            rows = connection.execute(statement).all()
        return merge_summaries(SummaryRow(u, t, d, r, int(n), last) for u, t, d, r, n, last in rows)

    def rollup_rows(self) -> list[RollupRow]:
        """The rollup as stored, in key order (tests compare it with ``core.logquery.rollup``)."""
        table = proxy_log_rollup.c
        statement = select(proxy_log_rollup).order_by(*(table[k] for k in _ROLLUP_KEY))
        with self._transaction() as connection:
            return [
                RollupRow(b, u, t, d, r, int(n), last)
                for b, u, t, d, r, n, last in connection.execute(statement)
            ]

    def recount_rollup(self) -> None:
        """Count the rollup afresh from the rows, as migration 0008 does: for rows loaded
        around :meth:`write_batch` (``bench/scale.py`` generates millions in SQL)."""
        with self._transaction(write=True) as connection:
            hour = _HOUR[connection.dialect.name]
            connection.execute(delete(proxy_log_rollup))
            connection.execute(
                text(
                    "INSERT INTO proxy_log_rollup "  # noqa: S608 (our own SQL)
                    "(bucket, upstream, tool, decision, rule, n, last_at) "
                    f"SELECT {hour}, upstream, tool, decision, rule, count(*), max(at) "
                    f"FROM proxy_log WHERE decision != '' "
                    f"GROUP BY {hour}, upstream, tool, decision, rule"
                )
            )

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
        """Delete rows older than ``before``, :data:`PRUNE_CHUNK` per transaction, and count
        again, in the same transaction, the rollup's hours the chunk touched."""
        table = proxy_log.c
        oldest = (
            select(table.id, table.at, table.upstream, table.tool, table.decision, table.rule)
            .where(table.at < before)
            .limit(PRUNE_CHUNK)
        )
        pruned = 0
        while True:
            with self._transaction(write=True) as connection:
                found = connection.execute(oldest).all()
                if found:
                    ids = [row.id for row in found]
                    connection.execute(delete(proxy_log).where(table.id.in_(ids)))
                    touched = {(rollup_bucket(at), u, t, d, r) for _, at, u, t, d, r in found if d}
                    _recount(connection, sorted(touched))
            pruned += len(found)
            if len(found) < PRUNE_CHUNK:
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


def _add_to_rollup(connection: Connection, rows: list[RollupRow]) -> None:
    """Add a batch's counts to the rollup (rows in key order: writers on PostgreSQL lock
    the rollup's rows in one order, so two of them wait for each other, never deadlock)."""
    if not rows:
        return
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(
            _SQLITE_ROLLUP_ADD,
            [
                (r.bucket.strftime(_SQLITE_TIME), r.upstream, r.tool, r.decision, r.rule,
                 r.count, r.last_seen.astimezone(UTC).strftime(_SQLITE_TIME))
                for r in rows
            ],
        )  # fmt: skip
        return
    # PostgreSQL's own INSERT, loaded only there: SQLite's ``mcpwall stdio`` never needs it,
    # and would wait for it at every start (issue 16 §3).
    from sqlalchemy.dialects import postgresql

    statement = postgresql.insert(proxy_log_rollup)
    statement = statement.on_conflict_do_update(
        index_elements=list(_ROLLUP_KEY),
        set_={
            "n": proxy_log_rollup.c.n + statement.excluded.n,
            "last_at": func.greatest(proxy_log_rollup.c.last_at, statement.excluded.last_at),
        },
    )
    connection.execute(
        statement,
        [
            {"bucket": r.bucket, "upstream": r.upstream, "tool": r.tool, "decision": r.decision,
             "rule": r.rule, "n": r.count, "last_at": r.last_seen}
            for r in rows
        ],
    )  # fmt: skip


def _recount(connection: Connection, keys: list[tuple[datetime, str, str, str, str]]) -> None:
    """Count the rollup's rows at ``keys`` again from the proxy log (after a prune)."""
    table, counted = proxy_log.c, proxy_log_rollup.c
    for bucket, upstream, tool, decision, rule in keys:
        group = (table.upstream == upstream, table.tool == tool, table.decision == decision)
        n, last = connection.execute(
            select(func.count(), func.max(table.at)).where(
                *group,
                table.rule == rule,
                table.at >= bucket,
                table.at < bucket + ROLLUP_BUCKET,
            )
        ).one()
        where = and_(
            counted.bucket == bucket, counted.upstream == upstream, counted.tool == tool,
            counted.decision == decision, counted.rule == rule,
        )  # fmt: skip
        if n:
            connection.execute(update(proxy_log_rollup).where(where).values(n=n, last_at=last))
        else:
            connection.execute(delete(proxy_log_rollup).where(where))


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
