"""Grants in SQL, with their bindings in a table of their own.

``grants.active_label`` holds a grant's label while the grant holds it, and is unique: that is
how a label stays unique among active grants, under concurrent writers too.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, insert, select, update

from mcpwall.adapters.store import rows
from mcpwall.adapters.store.schema import grant_bindings, grants, policies, upstreams
from mcpwall.adapters.store.transactions import SQLBase
from mcpwall.core.audit import Action, grant_change
from mcpwall.core.errors import NotFound
from mcpwall.core.registry import (
    GRANT_ID_PREFIX,
    Grant,
    Status,
    check_bindings_exist,
    check_new_grant,
    grant_not_active,
    is_grant_id,
    label_in_use,
    token_hash_in_use,
)
from mcpwall.core.tokens import check_token_hash, make_id


class SQLGrants(SQLBase):
    """The ``GrantStore`` part of ``SQLStore``."""

    def issue_grant(
        self,
        label: str,
        bindings: Mapping[str, str],
        token_hash: str,
        *,
        expires_at: datetime | None = None,
        actor: str,
    ) -> Grant:
        checked = check_new_grant(label, bindings, token_hash, expires_at)
        with self._change(actor) as change:
            connection = change.connection
            self._check_bindings_exist(connection, checked)
            self._take_label(connection, label, change.now)
            self._check_new_grant_hash(connection, token_hash)
            grant_id = make_id(GRANT_ID_PREFIX, secrets.token_bytes(8))
            grant = Grant(grant_id, label, token_hash, checked, change.now, expires_at)
            values = rows.columns_of(grant, exclude={"bindings"})
            connection.execute(insert(grants).values(**values, active_label=label))
            bound = [{"grant_id": grant_id, "upstream": u, "policy": p} for u, p in checked.items()]
            connection.execute(insert(grant_bindings), bound)
            change.record(grant_change(Action.GRANT_ISSUE, grant))
        return grant

    def get_grant(self, ref: str) -> Grant:
        with self._transaction() as connection:
            return self._get_grant(connection, ref)

    def find_grant_by_token_hash(self, token_hash: str) -> Grant | None:
        with self._transaction() as connection:
            found = self._grants_where(connection, grants.c.token_hash == token_hash)
        return found[0] if found else None

    def list_grants(self) -> list[Grant]:
        with self._transaction() as connection:
            return self._grants_where(connection, None)

    def revoke_grant(self, ref: str, *, actor: str) -> Grant:
        with self._change(actor) as change:
            grant = self._get_grant(change.connection, ref)
            if grant.revoked_at is not None:
                return grant
            values = {"revoked_at": change.now, "active_label": None}
            change.connection.execute(update(grants).where(grants.c.id == grant.id).values(values))
            revoked = self._get_grant(change.connection, grant.id)
            change.record(grant_change(Action.GRANT_REVOKE, revoked))
        return revoked

    def rotate_grant(self, ref: str, token_hash: str, *, actor: str) -> Grant:
        check_token_hash(token_hash)
        with self._change(actor) as change:
            connection = change.connection
            grant = self._get_grant(connection, ref)
            status = grant.status(change.now)
            if status is not Status.ACTIVE:
                raise grant_not_active(grant, status)
            self._check_new_grant_hash(connection, token_hash)
            where = grants.c.id == grant.id
            connection.execute(update(grants).where(where).values(token_hash=token_hash))
            rotated = self._get_grant(connection, grant.id)
            change.record(grant_change(Action.GRANT_ROTATE, rotated))
        return rotated

    def touch_grant(self, grant_id: str) -> None:
        with self._transaction(write=True) as connection:
            touch = update(grants).where(grants.c.id == grant_id)
            if connection.execute(touch.values(last_used_at=self._clock.now())).rowcount == 0:
                raise NotFound("grant", grant_id)

    def _grants_where(
        self, connection: Connection, condition: ColumnElement[bool] | None
    ) -> list[Grant]:
        query = (
            select(grants, grant_bindings.c.upstream, grant_bindings.c.policy)
            .select_from(grants.outerjoin(grant_bindings))
            .order_by(grants.c.created_at, grants.c.id, grant_bindings.c.upstream)
        )
        if condition is not None:
            query = query.where(condition)
        return rows.grants_from(connection.execute(query))

    def _get_grant(self, connection: Connection, ref: str) -> Grant:
        column = grants.c.id if is_grant_id(ref) else grants.c.active_label
        found = self._grants_where(connection, column == ref)
        if not found:
            raise NotFound("grant", ref)
        return found[0]

    def _check_bindings_exist(self, connection: Connection, bindings: Mapping[str, str]) -> None:
        known_upstreams = connection.execute(
            select(upstreams.c.name).where(upstreams.c.name.in_(list(bindings)))
        ).scalars()
        known_policies = connection.execute(
            select(policies.c.name).where(policies.c.name.in_(list(bindings.values())))
        ).scalars()
        check_bindings_exist(bindings, set(known_upstreams), set(known_policies))

    def _take_label(self, connection: Connection, label: str, now: datetime) -> None:
        """Make ``label`` free for a new grant: refuse if an active grant holds it."""
        found = self._grants_where(connection, grants.c.active_label == label)
        if not found:
            return
        holder = found[0]
        if holder.is_active(now):
            raise label_in_use(label, holder)
        # An expired grant gives its label up and stays expired (not revoked).
        where = grants.c.id == holder.id
        connection.execute(update(grants).where(where).values(active_label=None))

    @staticmethod
    def _check_new_grant_hash(connection: Connection, token_hash: str) -> None:
        query = select(grants.c.id).where(grants.c.token_hash == token_hash)
        if connection.execute(query).first() is not None:
            raise token_hash_in_use()
