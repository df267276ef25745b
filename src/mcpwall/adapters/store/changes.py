"""Change signals for the SQL store, so a gateway notices changes without a query per call.

- SQLite: ``PRAGMA data_version`` on a connection of our own moves whenever another
  connection commits (another process, or this one's other connections). It is answered from
  SQLite's shared memory, in microseconds.
- PostgreSQL: every change sends ``NOTIFY mcpwall_revision`` in its transaction
  (``transactions.py``); a thread LISTENs and keeps the newest revision. A change made on any
  replica reaches every gateway within the time a notification takes to be delivered.
  If the listening connection drops, the signal moves on every call until it is back, so
  caches fall back to asking the store (correct, slower) rather than trusting stale data.
"""

from __future__ import annotations

import itertools
import logging
import sqlite3
import threading

import psycopg
from sqlalchemy import URL

from mcpwall.adapters.store.transactions import REVISION_CHANNEL

log = logging.getLogger("mcpwall.store")

RECONNECT_SECONDS = 1.0


class SQLiteChangeSignal:
    """``PRAGMA data_version`` of a private read-only connection to the database file."""

    def __init__(self, path: str) -> None:
        self._connection = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, check_same_thread=False
        )
        self._lock = threading.Lock()

    def generation(self) -> int:
        with self._lock:
            return int(self._connection.execute("PRAGMA data_version").fetchone()[0])

    def close(self) -> None:
        self._connection.close()


class PostgresChangeSignal:
    """The newest revision announced on ``mcpwall_revision``, kept by a listening thread."""

    def __init__(self, url: URL) -> None:
        self._conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._revision = 0
        self._connected = threading.Event()
        self._stopping = threading.Event()
        self._unknown = itertools.count(-1, -1)  # moves on every call while disconnected
        self._thread = threading.Thread(target=self._listen, name="mcpwall-listen", daemon=True)
        self._thread.start()
        self._connected.wait(timeout=RECONNECT_SECONDS * 5)

    def generation(self) -> int:
        if not self._connected.is_set():
            return next(self._unknown)
        return self._revision

    def close(self) -> None:
        self._stopping.set()

    def _listen(self) -> None:
        while not self._stopping.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as connection:
                    connection.execute(f"LISTEN {REVISION_CHANNEL}")
                    self._revision += 1  # anything may have changed while we were away
                    self._connected.set()
                    while not self._stopping.is_set():
                        # Returns after the timeout when nothing came, so stopping is noticed.
                        for notice in connection.notifies(timeout=RECONNECT_SECONDS):
                            self._revision = max(self._revision + 1, int(notice.payload or 0))
            except psycopg.Error as error:
                self._connected.clear()
                log.warning("listening for store changes failed, retrying: %s", error)
                self._stopping.wait(RECONNECT_SECONDS)
