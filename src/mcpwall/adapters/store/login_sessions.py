"""Dashboard logins in SQL (``LoginSessionStore``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, insert, or_, select, update

from mcpwall.adapters.store import rows
from mcpwall.adapters.store.admin_tokens import SQLAdminTokens
from mcpwall.adapters.store.schema import login_sessions
from mcpwall.core.audit import Action, admin_token_change
from mcpwall.core.errors import NotFound
from mcpwall.core.logins import LoginSession
from mcpwall.core.registry import check_actor, token_hash_in_use


class SQLLoginSessions(SQLAdminTokens):
    """The ``LoginSessionStore`` part of ``SQLStore``: sessions of admin tokens (revoking a
    token deletes its sessions, in ``SQLAdminTokens.revoke_admin_token``).

    A login or logout writes its audit event in the same transaction as the session row,
    but takes no store lock and bumps no revision: it changes nothing a gateway serves.
    """

    def add_login_session(self, session: LoginSession, *, actor: str) -> None:
        check_actor(actor)
        with self._transaction(write=True) as connection:
            token = self._get_admin_token(connection, session.admin_token_id)
            if self._find(connection, session.secret_hash) is not None:
                raise token_hash_in_use()
            connection.execute(insert(login_sessions).values(rows.columns_of(session)))
            change = admin_token_change(Action.DASHBOARD_LOGIN, token)
            self._insert_audit(connection, self._clock.now(), actor, change)

    def find_login_session(self, secret_hash: str) -> LoginSession | None:
        with self._transaction() as connection:
            return self._find(connection, secret_hash)

    def touch_login_session(self, secret_hash: str) -> None:
        with self._transaction(write=True) as connection:
            touch = update(login_sessions).where(login_sessions.c.secret_hash == secret_hash)
            if connection.execute(touch.values(last_seen_at=self._clock.now())).rowcount == 0:
                raise NotFound("login session", "(its secret is not shown)")

    def end_login_session(self, secret_hash: str, *, actor: str) -> bool:
        check_actor(actor)
        with self._transaction(write=True) as connection:
            session = self._find(connection, secret_hash)
            if session is None:
                return False
            where = login_sessions.c.secret_hash == secret_hash
            connection.execute(delete(login_sessions).where(where))
            token = self._get_admin_token(connection, session.admin_token_id)
            change = admin_token_change(Action.DASHBOARD_LOGOUT, token)
            self._insert_audit(connection, self._clock.now(), actor, change)
            return True

    def prune_login_sessions(self, idle_since: datetime) -> int:
        table = login_sessions.c
        ended = or_(table.expires_at <= self._clock.now(), table.last_seen_at < idle_since)
        with self._transaction(write=True) as connection:
            return int(connection.execute(delete(login_sessions).where(ended)).rowcount)

    @staticmethod
    def _find(connection: Connection, secret_hash: str) -> LoginSession | None:
        query = select(login_sessions).where(login_sessions.c.secret_hash == secret_hash)
        row = connection.execute(query).first()
        if row is None:
            return None
        return LoginSession(
            row.secret_hash, row.admin_token_id, row.created_at, row.last_seen_at, row.expires_at
        )
