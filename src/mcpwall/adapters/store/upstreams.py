"""Upstreams in SQL: their secrets are sealed on the way in and opened on the way out."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from mcpwall.adapters.store import rows
from mcpwall.adapters.store.schema import (
    grant_bindings,
    grants,
    instruction_pins,
    tool_pins,
    upstreams,
)
from mcpwall.adapters.store.transactions import SQLBase
from mcpwall.core.audit import Action, upstream_change
from mcpwall.core.errors import NotFound
from mcpwall.core.registry import Status, Upstream, status_at, upstream_exists, upstream_in_use


class SQLUpstreams(SQLBase):
    """The ``UpstreamStore`` part of ``SQLStore``."""

    def add_upstream(self, upstream: Upstream, *, actor: str) -> Upstream:
        with self._change(actor) as change:
            if self._find_upstream(change.connection, upstream.name) is not None:
                raise upstream_exists(upstream.name)
            values = rows.upstream_values(upstream, self._box)
            times = {"created_at": change.now, "updated_at": change.now}
            change.connection.execute(insert(upstreams).values(**values, **times))
            change.record(upstream_change(Action.UPSTREAM_ADD, upstream))
        return upstream

    def update_upstream(self, upstream: Upstream, *, actor: str) -> Upstream:
        with self._change(actor) as change:
            self._get_upstream(change.connection, upstream.name)
            values = rows.upstream_values(upstream, self._box)
            where = upstreams.c.name == upstream.name
            statement = update(upstreams).where(where).values(**values, updated_at=change.now)
            change.connection.execute(statement)
            change.record(upstream_change(Action.UPSTREAM_UPDATE, upstream))
        return upstream

    def get_upstream(self, name: str) -> Upstream:
        with self._transaction() as connection:
            return self._get_upstream(connection, name)

    def list_upstreams(self) -> list[Upstream]:
        with self._transaction() as connection:
            found = connection.execute(select(upstreams).order_by(upstreams.c.name))
            return [rows.upstream_from(row, self._box) for row in found]

    def remove_upstream(self, name: str, *, actor: str) -> None:
        with self._change(actor) as change:
            upstream = self._get_upstream(change.connection, name)
            labels = self._active_labels_bound_to(change.connection, name, change.now)
            if labels:
                raise upstream_in_use(name, labels)
            # Its pins go with it, in the same transaction.
            change.connection.execute(tool_pins.delete().where(tool_pins.c.upstream == name))
            where = instruction_pins.c.upstream == name
            change.connection.execute(instruction_pins.delete().where(where))
            change.connection.execute(upstreams.delete().where(upstreams.c.name == name))
            change.record(upstream_change(Action.UPSTREAM_REMOVE, upstream))

    def _find_upstream(self, connection: Connection, name: str) -> Upstream | None:
        row = connection.execute(select(upstreams).where(upstreams.c.name == name)).first()
        return None if row is None else rows.upstream_from(row, self._box)

    def _get_upstream(self, connection: Connection, name: str) -> Upstream:
        upstream = self._find_upstream(connection, name)
        if upstream is None:
            raise NotFound("upstream", name)
        return upstream

    @staticmethod
    def _active_labels_bound_to(connection: Connection, name: str, now: datetime) -> list[str]:
        query = (
            select(grants.c.label, grants.c.expires_at)
            .join(grant_bindings, grant_bindings.c.grant_id == grants.c.id)
            .where(grant_bindings.c.upstream == name, grants.c.revoked_at.is_(None))
        )
        found = connection.execute(query)
        return [r.label for r in found if status_at(now, r.expires_at, None) is Status.ACTIVE]
