"""Admin tokens in SQL."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, delete, insert, select, update

from mcpwall.adapters.store import rows
from mcpwall.adapters.store.schema import admin_tokens, login_sessions
from mcpwall.adapters.store.transactions import SQLBase
from mcpwall.core.audit import Action, admin_token_change
from mcpwall.core.errors import NotFound
from mcpwall.core.registry import (
    ADMIN_ID_PREFIX,
    AdminToken,
    Role,
    check_new_admin_token,
    token_hash_in_use,
)
from mcpwall.core.tokens import make_id


class SQLAdminTokens(SQLBase):
    """The ``AdminTokenStore`` part of ``SQLStore``."""

    def create_admin_token(
        self,
        role: Role,
        token_hash: str,
        *,
        label: str | None = None,
        expires_at: datetime | None = None,
        actor: str,
    ) -> AdminToken:
        role = check_new_admin_token(role, token_hash, label, expires_at)
        with self._change(actor) as change:
            if self._admin_tokens_where(change.connection, admin_tokens.c.token_hash == token_hash):
                raise token_hash_in_use()
            token_id = make_id(ADMIN_ID_PREFIX, secrets.token_bytes(8))
            token = AdminToken(
                token_id, label, role, token_hash, change.now, actor, expires_at=expires_at
            )
            values = rows.columns_of(token) | {"role": role.value}
            change.connection.execute(insert(admin_tokens).values(values))
            change.record(admin_token_change(Action.ADMIN_TOKEN_CREATE, token))
        return token

    def find_admin_token_by_token_hash(self, token_hash: str) -> AdminToken | None:
        with self._transaction() as connection:
            found = self._admin_tokens_where(connection, admin_tokens.c.token_hash == token_hash)
        return found[0] if found else None

    def get_admin_token(self, token_id: str) -> AdminToken:
        with self._transaction() as connection:
            return self._get_admin_token(connection, token_id)

    def list_admin_tokens(self) -> list[AdminToken]:
        with self._transaction() as connection:
            return self._admin_tokens_where(connection, None)

    def revoke_admin_token(self, token_id: str, *, actor: str) -> AdminToken:
        with self._change(actor) as change:
            token = self._get_admin_token(change.connection, token_id)
            if token.revoked_at is not None:
                return token
            where = admin_tokens.c.id == token_id
            statement = update(admin_tokens).where(where).values(revoked_at=change.now)
            change.connection.execute(statement)
            # Its dashboard sessions end with it, in the same transaction.
            sessions = login_sessions.c.admin_token_id == token_id
            change.connection.execute(delete(login_sessions).where(sessions))
            revoked = self._get_admin_token(change.connection, token_id)
            change.record(admin_token_change(Action.ADMIN_TOKEN_REVOKE, revoked))
        return revoked

    def touch_admin_token(self, token_id: str) -> None:
        with self._transaction(write=True) as connection:
            touch = update(admin_tokens).where(admin_tokens.c.id == token_id)
            if connection.execute(touch.values(last_used_at=self._clock.now())).rowcount == 0:
                raise NotFound("admin token", token_id)

    @staticmethod
    def _admin_tokens_where(
        connection: Connection, condition: ColumnElement[bool] | None
    ) -> list[AdminToken]:
        query = select(admin_tokens).order_by(admin_tokens.c.created_at, admin_tokens.c.id)
        if condition is not None:
            query = query.where(condition)
        return [rows.admin_token_from(row) for row in connection.execute(query)]

    def _get_admin_token(self, connection: Connection, token_id: str) -> AdminToken:
        found = self._admin_tokens_where(connection, admin_tokens.c.id == token_id)
        if not found:
            raise NotFound("admin token", token_id)
        return found[0]
