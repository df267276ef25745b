"""``SQLStore``: the ``Store`` on SQLAlchemy Core, for SQLite and PostgreSQL alike.

Each part of the ``Store`` protocol has a module of its own (``upstreams``, ``tool_pins``,
``policies``, ``grants``, ``admin_tokens``, ``login_sessions``); the transactions they share,
and why changes cannot race, are in ``transactions``. This module adds the revision, the audit
trail and the secret key check.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from sqlalchemy import ColumnElement, Engine, func, select, update

from mcpwall.adapters.secrets import SECRET_KEY_VARIABLE
from mcpwall.adapters.store import rows
from mcpwall.adapters.store.changes import PostgresChangeSignal, SQLiteChangeSignal
from mcpwall.adapters.store.ended_sessions import SQLEndedSessions
from mcpwall.adapters.store.grants import SQLGrants
from mcpwall.adapters.store.login_sessions import SQLLoginSessions
from mcpwall.adapters.store.policies import SQLPolicies
from mcpwall.adapters.store.schema import audit_events, store_meta
from mcpwall.adapters.store.tool_pins import SQLPins
from mcpwall.core.audit import JSON, AuditEvent, AuditFilter, Change, check_page_size
from mcpwall.core.errors import SecretKeyError
from mcpwall.core.registry import check_actor
from mcpwall.ports.changes import ChangeSignal


class SQLStore(SQLPins, SQLPolicies, SQLGrants, SQLLoginSessions, SQLEndedSessions):
    """A ``Store`` in a SQL database; build one with :func:`mcpwall.adapters.store.open_store`."""

    def verify_secret_key(self) -> None:
        """Check that the key opens this database's secrets; the first key used becomes its key."""
        with self._transaction(write=True) as connection:
            query = select(store_meta.c.key_check).where(store_meta.c.id == 1).with_for_update()
            stored = connection.execute(query).scalar_one()
            if stored is None:
                connection.execute(update(store_meta).values(key_check=self._box.key_check))
            elif not hmac.compare_digest(stored, self._box.key_check):
                raise SecretKeyError(
                    f"the secret key from {self._box.source} is not the key the secrets in "
                    f"{self.url} were stored with; set {SECRET_KEY_VARIABLE} to that key "
                    "(every process sharing a database needs the same one)"
                )

    @property
    def engine(self) -> Engine:
        """The engine, for adapters keeping tables of their own here (``adapters/counters``)."""
        return self._engine

    def revision(self) -> int:
        with self._transaction() as connection:
            query = select(store_meta.c.revision).where(store_meta.c.id == 1)
            return int(connection.execute(query).scalar_one())

    def close(self) -> None:
        self._engine.dispose()

    def change_signal(self) -> ChangeSignal:
        """A cheap signal that moves when this database changes (see ``changes.py``)."""
        url = self._engine.url
        if url.get_backend_name() == "sqlite":
            assert url.database is not None
            return SQLiteChangeSignal(url.database)
        return PostgresChangeSignal(url)

    def append_audit(
        self,
        actor: str,
        action: str,
        object_kind: str,
        object_id: str,
        details: Mapping[str, JSON] | None = None,
    ) -> AuditEvent:
        check_actor(actor)
        change = Change(action, object_kind, object_id, details or {})
        with self._transaction(write=True) as connection:
            return self._insert_audit(connection, self._clock.now(), actor, change)

    def list_audit(
        self, *, limit: int = 100, before: int | None = None, only: AuditFilter | None = None
    ) -> list[AuditEvent]:
        check_page_size(limit)
        table = audit_events.c
        query = select(audit_events).order_by(table.id.desc()).limit(limit)
        if before is not None:
            query = query.where(table.id < before)
        if only is not None:
            query = query.where(*_audit_conditions(only))
        with self._transaction() as connection:
            return [rows.audit_event_from(row) for row in connection.execute(query)]


def _audit_conditions(only: AuditFilter) -> list[ColumnElement[bool]]:
    """``AuditFilter.matches`` in SQL (a kind of action by its first characters, not LIKE,
    which folds case on SQLite, nor a range, which a locale's collation may order otherwise)."""
    table = audit_events.c
    conditions: list[ColumnElement[bool]] = []
    if only.actor is not None:
        conditions.append(table.actor == only.actor)
    prefix = only.action_prefix
    if prefix is not None:
        conditions.append(func.substr(table.action, 1, len(prefix)) == prefix)
    elif only.action is not None:
        conditions.append(table.action == only.action)
    if only.object_kind is not None:
        conditions.append(table.object_kind == only.object_kind)
    if only.object_id is not None:
        conditions.append(table.object_id == only.object_id)
    return conditions
