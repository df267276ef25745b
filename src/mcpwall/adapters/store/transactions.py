"""The transactions every ``SQLStore`` method runs in, and the base class that holds them.

Concurrency: every change runs in one transaction that first locks the single ``store_meta``
row (``SELECT … FOR UPDATE`` on PostgreSQL; on SQLite ``BEGIN IMMEDIATE`` already admits one
writer at a time). Changes are therefore serialized across processes and replicas: a check
(is this label free? does this upstream exist?) still holds when the transaction writes, the
next policy version is always ``current + 1``, and the revision grows by one per change, in
commit order. Reads take no lock; each is one statement, so it sees one consistent snapshot.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Engine, Text, cast, func, insert, select, update

from mcpwall.adapters.secrets import SecretBox
from mcpwall.adapters.store import rows
from mcpwall.adapters.store.changes import REVISION_CHANNEL
from mcpwall.adapters.store.engine import WRITE, translate_errors
from mcpwall.adapters.store.schema import audit_events, store_meta
from mcpwall.core.audit import AuditEvent, Change
from mcpwall.core.registry import check_actor
from mcpwall.ports.clock import Clock


@dataclass
class Changing:
    """A write transaction in progress: its connection, its time, and what it changed."""

    connection: Connection
    now: datetime
    actor: str
    changes: list[Change] = field(default_factory=list)

    def record(self, change: Change) -> None:
        self.changes.append(change)


class SQLBase:
    """The engine, key and clock of a SQL store, and its two kinds of transaction."""

    def __init__(self, engine: Engine, box: SecretBox, clock: Clock, url: str) -> None:
        self._engine = engine
        self._box = box
        self._clock = clock
        self.url = url  # without its password

    @contextmanager
    def _transaction(self, *, write: bool = False) -> Iterator[Connection]:
        with translate_errors(self.url), self._engine.connect() as connection:
            if write:
                connection.execution_options(**WRITE)
            with connection.begin():
                yield connection

    @contextmanager
    def _change(self, actor: str) -> Iterator[Changing]:
        """A transaction that may change things: locked, then recorded and counted if it did."""
        check_actor(actor)
        with self._transaction(write=True) as connection:
            lock = select(store_meta.c.revision).where(store_meta.c.id == 1).with_for_update()
            connection.execute(lock)
            change = Changing(connection, self._clock.now(), actor)
            yield change
            if change.changes:
                for done in change.changes:
                    self._insert_audit(connection, change.now, actor, done)
                bump = store_meta.c.revision + len(change.changes)
                connection.execute(update(store_meta).values(revision=bump))
                if connection.dialect.name == "postgresql":
                    # Gateways LISTEN for this (adapters/store/changes.py); it is delivered
                    # when, and only if, the transaction commits.
                    notify = select(
                        func.pg_notify(REVISION_CHANNEL, cast(store_meta.c.revision, Text))
                    )
                    connection.execute(notify.where(store_meta.c.id == 1))

    def _insert_audit(
        self, connection: Connection, at: datetime, actor: str, change: Change
    ) -> AuditEvent:
        details = rows.plain_json(change.details)
        values = {
            "at": at,
            "actor": actor,
            "action": change.action,
            "object_kind": change.object_kind,
            "object_id": change.object_id,
            "details": details,
        }
        inserted = connection.execute(insert(audit_events).values(values)).inserted_primary_key
        assert inserted is not None
        event_id = int(inserted[0])
        kind, object_id = change.object_kind, change.object_id
        return AuditEvent(event_id, at, actor, change.action, kind, object_id, change.details)
