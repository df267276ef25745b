"""Ended legacy sessions in SQL (``EndedSessionStore``, see ``ports/ended_sessions.py``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, select

from mcpwall.adapters.store.schema import ended_sessions, store_meta
from mcpwall.adapters.store.transactions import SQLBase
from mcpwall.ports.ended_sessions import Ended


class SQLEndedSessions(SQLBase):
    """The ``EndedSessionStore`` part of ``SQLStore``.

    Rows are numbered; a replica asks for those after the last number it saw. Ending a
    session locks the ``store_meta`` row, as changes do (without bumping the revision: a
    gateway's caches of grants and policies stay), so that numbers are committed in order
    and a reader never skips one committed late. Expired rows go when the next one is written.
    """

    def end_session(self, key: str, expires_at: datetime) -> None:
        with self._transaction(write=True) as connection:
            lock = select(store_meta.c.revision).where(store_meta.c.id == 1).with_for_update()
            connection.execute(lock)
            expired = ended_sessions.c.expires_at <= self._clock.now()
            connection.execute(delete(ended_sessions).where(expired))
            connection.execute(insert(ended_sessions).values(key=key, expires_at=expires_at))

    def ended_sessions(self, after: int) -> Ended:
        table = ended_sessions.c
        query = select(table.id, table.key, table.expires_at).where(table.id > after)
        with self._transaction() as connection:
            found = connection.execute(query.order_by(table.id)).all()
        keys = {row.key: row.expires_at for row in found}
        return Ended(keys, max((row.id for row in found), default=after))
