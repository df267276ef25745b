"""Database URLs, engines, and the one seam where database errors become mcpwall errors.

``MCPWALL_DATABASE_URL`` is ``sqlite:///PATH`` or ``postgresql://…`` (driven by psycopg 3);
without one the store is the SQLite file ``mcpwall.db`` in ``MCPWALL_HOME``. On PostgreSQL the
tables go to the connection's first schema, so several stores can share a database with
``postgresql://…/db?options=-csearch_path%3Dmyschema`` (the tests do).

SQLite runs in WAL mode (readers never wait for the writer) with a busy timeout (a writer
waits for another instead of failing at once). Write transactions start with
``BEGIN IMMEDIATE``, so two writers queue at the start instead of one failing mid-way.
"""

from __future__ import annotations

import os
import re
import sqlite3
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, Engine, create_engine, event, exc, make_url

from mcpwall.adapters.store.embedded import DATABASE_FILE, WAIT_SECONDS
from mcpwall.core.errors import Conflict, InvalidValue, StoreUnavailable

LOCKED_RETRY_SECONDS = 0.01  # between two attempts to put a new database in WAL mode

# The execution option that makes a transaction a write transaction (BEGIN IMMEDIATE on SQLite).
WRITE: dict[str, Any] = {"mcpwall_write": True}


class _NeverRaisedError(Exception):
    """Stands for a driver's exception while the driver is not loaded (so cannot raise it)."""


def psycopg_error(name: str = "Error") -> type[Exception]:
    """psycopg's exception class ``name`` if psycopg is loaded, else one never raised.

    psycopg loads only when a PostgreSQL store opens (SQLAlchemy imports it then): an
    embedded store's processes, ``mcpwall stdio`` first, start without it."""
    module = sys.modules.get("psycopg")
    if module is None:
        return _NeverRaisedError
    error = getattr(module, name)
    assert isinstance(error, type)
    assert issubclass(error, Exception)
    return error


_DRIVERS = {
    "sqlite": "sqlite+pysqlite",
    "sqlite+pysqlite": "sqlite+pysqlite",
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
    "postgresql+psycopg": "postgresql+psycopg",
}
_EXPECTED_URL = "sqlite:///PATH or postgresql://USER@HOST[:PORT]/DATABASE"


def database_url(url: str | None, home: Path) -> URL:
    """The SQLAlchemy URL for ``url``, or for the default SQLite file in ``home``."""
    if not url:
        return URL.create("sqlite+pysqlite", database=str(home / DATABASE_FILE))
    try:
        parsed = make_url(url)
    except exc.ArgumentError:
        # An unparsable URL can't be redacted, so its text is not shown: it may hold a password.
        raise InvalidValue("database URL", url, _EXPECTED_URL, secret=True) from None
    driver = _DRIVERS.get(parsed.drivername)
    if driver is None:
        raise InvalidValue("database URL scheme", parsed.drivername, "sqlite or postgresql")
    if driver.startswith("sqlite") and parsed.database in (None, "", ":memory:"):
        raise InvalidValue("database URL", shown_url(parsed), "sqlite:///PATH to a file")
    return parsed.set(drivername=driver)


def shown_url(url: URL) -> str:
    """``url`` as messages show it: its password masked, in the user part and in the query
    (``?password=…``, ``?sslpassword=…``) alike; other parameters (``sslmode``) are kept."""
    shown = url.render_as_string(hide_password=True)
    return _SECRET_PARAMETER.sub(r"\1=***", shown)


# A query parameter holding a secret, and its value (up to the next parameter).
_SECRET_PARAMETER = re.compile(r"([?&][^=&]*(?:password|secret|token)[^=&]*)=[^&]*", re.IGNORECASE)


def create(url: URL) -> Engine:
    """An engine for ``url``, set up for its backend."""
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    connect_args = {} if "connect_timeout" in url.query else {"connect_timeout": WAIT_SECONDS}
    return create_engine(url, connect_args=connect_args, pool_pre_ping=True)


def create_private_file(path: Path) -> None:
    """Create the SQLite file readable by its owner only, unless it exists.

    It holds token hashes and sealed secrets; SQLite gives its ``-wal`` and ``-shm`` files the
    same mode.
    """
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


def _sqlite_engine(url: URL) -> Engine:
    connect_args = {} if "timeout" in url.query else {"timeout": WAIT_SECONDS}
    engine = create_engine(url, connect_args=connect_args)

    @event.listens_for(engine, "connect")
    def _on_connect(connection: sqlite3.Connection, _record: object) -> None:
        # Take transactions out of the sqlite3 module's hands: it would BEGIN too late (at the
        # first write) and never IMMEDIATE. See SQLAlchemy's "Serializable isolation" notes.
        connection.isolation_level = None
        connection.execute("PRAGMA foreign_keys = ON")
        _use_wal(connection)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get("mcpwall_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _use_wal(connection: sqlite3.Connection) -> None:
    """Put the database in WAL mode, unless it already is (the mode is the file's, set once).

    Switching takes a lock SQLite does not wait for, busy timeout or not: two processes that
    open a new database at once (``mcpwall serve`` and a CLI command, say) race for it, and
    the loser is told "database is locked". It asks again, for as long as the busy timeout
    would have waited, and by then usually finds the mode set by the winner.
    """
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        try:
            mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal":
                connection.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
            time.sleep(LOCKED_RETRY_SECONDS)


@contextmanager
def translate_errors(url: str) -> Iterator[None]:
    """Turn database errors into :class:`StoreUnavailable` or :class:`Conflict`.

    ``url`` is the redacted URL to name. Other database errors (a bug in a query, a damaged
    schema) are left as they are: they are not the user's to fix.
    """
    try:
        yield
    except exc.IntegrityError as error:
        raise Conflict(f"the database refused the change: {_first_line(error.orig)}") from error
    except (exc.OperationalError, exc.InterfaceError) as error:
        raise StoreUnavailable(url, _first_line(error.orig)) from error
    except (sqlite3.OperationalError, psycopg_error("OperationalError")) as error:
        # Raised outside a statement (in the connect hook), so SQLAlchemy did not wrap it.
        raise StoreUnavailable(url, _first_line(error)) from error


def _first_line(error: BaseException | None) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
