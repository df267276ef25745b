"""Change signals for the SQL store, so a gateway notices changes without a query per call.

- SQLite: the revision itself, read on a read-only connection of our own, and read again only
  after something was committed. SQLite's WAL-index header (the first 48 bytes of the
  ``-shm`` file, https://www.sqlite.org/walformat.html) changes with every commit, from any
  process or connection: while it reads the same, nothing was committed. Reading it is one
  ``pread``, where ``PRAGMA data_version`` before took a statement and two file locks per
  request (``bench/compare.py``: 19 µs less added per allowed call).
- PostgreSQL: every change sends ``NOTIFY mcpwall_revision`` in its transaction
  (``transactions.py``); a thread LISTENs and keeps the newest revision. A change made on any
  replica reaches every gateway within the time a notification takes to be delivered.
  If the listening connection drops, the signal moves on every call until it is back, so
  caches fall back to asking the store (correct, slower) rather than trusting stale data.
  It is a :class:`~mcpwall.ports.changes.PushedSignal`: ``serve`` is woken by each
  notification, so open streams of a revoked grant end at once rather than at its next
  one-second review.
"""

from __future__ import annotations

import itertools
import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import URL

log = logging.getLogger("mcpwall.store")

RECONNECT_SECONDS = 1.0
WAL_INDEX_HEADER_BYTES = 48  # one copy of the header; every commit rewrites it
REVISION_CHANNEL = "mcpwall_revision"
"""The PostgreSQL channel every change is announced on, with the new revision as payload."""
REVISION_QUERY = "SELECT revision FROM store_meta WHERE id = 1"  # schema.store_meta


class SQLiteChangeSignal:
    """The store's revision, read again only when the WAL-index header says a commit happened.

    The header is read before the revision: a commit that lands between the two shows as a
    changed header on the next call, which reads the revision again. When the header can't
    be read (no ``-shm`` file: the database is not in WAL mode), every call reads the
    revision: exact, only slower.
    """

    def __init__(self, path: str) -> None:
        self._connection = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, check_same_thread=False
        )
        self._shm_path = f"{path}-shm"
        self._shm: int | None = None
        self._header: bytes | None = None
        self._revision = 0
        self._lock = threading.Lock()

    def generation(self) -> int:
        with self._lock:
            header = self._wal_header()
            if header is None or header != self._header:
                self._revision = self._read_revision()
                self._header = header
            return self._revision

    def close(self) -> None:
        if self._shm is not None:
            os.close(self._shm)
            self._shm = None
        self._connection.close()

    def _read_revision(self) -> int:
        row = self._connection.execute(REVISION_QUERY).fetchone()
        return int(row[0]) if row is not None else 0

    def _wal_header(self) -> bytes | None:
        """The first copy of the WAL-index header, or None when there is none to read."""
        if self._shm is None:
            try:
                self._shm = os.open(self._shm_path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                return None
        header = os.pread(self._shm, WAL_INDEX_HEADER_BYTES, 0)
        return header if len(header) == WAL_INDEX_HEADER_BYTES else None


class PostgresChangeSignal:
    """The newest revision announced on ``mcpwall_revision``, kept by a listening thread."""

    def __init__(self, url: URL) -> None:
        self._conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._revision = 0
        self._connected = threading.Event()
        self._stopping = threading.Event()
        self._unknown = itertools.count(-1, -1)  # moves on every call while disconnected
        self._wake: Callable[[], None] | None = None
        self._thread = threading.Thread(target=self._listen, name="mcpwall-listen", daemon=True)
        self._thread.start()
        self._connected.wait(timeout=RECONNECT_SECONDS * 5)

    def generation(self) -> int:
        if not self._connected.is_set():
            return next(self._unknown)
        return self._revision

    def on_change(self, wake: Callable[[], None] | None) -> None:
        self._wake = wake

    def close(self) -> None:
        self._wake = None
        self._stopping.set()

    def _moved(self) -> None:
        wake = self._wake
        if wake is not None:
            try:
                wake()
            except Exception:  # the listening thread must outlive a broken callback
                log.exception("telling of a store change failed")

    def _listen(self) -> None:
        import psycopg  # PostgreSQL only: an embedded store's processes start without it

        failing = False  # said once per run of failures: a lost store fails every second
        while not self._stopping.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as connection:
                    connection.execute(f"LISTEN {REVISION_CHANNEL}")
                    self._revision += 1  # anything may have changed while we were away
                    self._connected.set()
                    if failing:
                        log.warning("listening for store changes again")
                    failing = False
                    self._moved()
                    while not self._stopping.is_set():
                        # Returns after the timeout when nothing came, so stopping is noticed.
                        for notice in connection.notifies(timeout=RECONNECT_SECONDS):
                            self._revision = max(self._revision + 1, int(notice.payload or 0))
                            self._moved()
            except psycopg.Error as error:
                self._connected.clear()
                if not failing:
                    reason = (str(error).strip() or type(error).__name__).splitlines()[0]
                    log.warning("listening for store changes failed, retrying: %s", reason)
                failing = True
                self._stopping.wait(RECONNECT_SECONDS)
