"""Run the Alembic migrations packaged with mcpwall, on every open of a store.

Safe to run twice (a migrated database is left alone) and from two processes at once: the
migration runs inside one transaction that first takes a lock, ``BEGIN IMMEDIATE`` on SQLite
and an advisory lock on PostgreSQL, so the second process waits, then finds nothing to do.
DDL is transactional on both, so a failed migration leaves the schema as it was.

Fast when there is nothing to do: every start but the first finds the schema current, so
:func:`upgrade` first reads ``alembic_version`` with plain SQL and compares it with
:data:`HEAD`, the newest revision recorded here (a test proves it is Alembic's own head); only
a database behind it loads Alembic (about a quarter of ``mcpwall stdio``'s imports).

Silent unless it changes something: Alembic's own chatter (``Context impl SQLiteImpl.``, ``Will
assume non-transactional DDL.``) is kept out of the logs — ``mcpwall stdio`` writes INFO to
stderr, where a desktop agent shows it at every start — and a migration that ran is reported
in one line of mcpwall's own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, exc, text

from mcpwall.adapters.store.embedded import HEAD as HEAD  # the newest revision, kept there
from mcpwall.adapters.store.engine import WRITE

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")

logger = logging.getLogger("mcpwall.store")

# An arbitrary constant naming mcpwall's migration lock among other advisory locks.
_LOCK_CLASS = 0x6D637077  # "mcpw"


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, built in code: the packaged scripts and the given connection."""
    from alembic.config import Config

    config = Config()
    # ConfigParser would read a % in the path as interpolation.
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest migration's revision id, as Alembic finds it in the packaged scripts."""
    from alembic.script import ScriptDirectory

    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None
    return revision


def current(connection: Connection) -> str | None:
    """The revision the database is at, or None before the first migration."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def is_current(engine: Engine) -> bool:
    """Whether the database is at :data:`HEAD` already, read without Alembic (False when
    there is no ``alembic_version`` table yet, or it cannot be read)."""
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    except exc.DBAPIError:
        return False  # no table yet (or another problem, which the full path will report)
    return [tuple(row) for row in rows] == [(HEAD,)]


def upgrade(engine: Engine) -> None:
    """Migrate the database behind ``engine`` to the newest schema; log what changed, if any."""
    if is_current(engine):
        return
    with _alembic_quiet(), engine.connect() as connection:
        from alembic import command  # quiet: importing it logs its plugins at INFO

        newest = head()
        connection.execution_options(**WRITE)
        with connection.begin():
            if connection.dialect.name == "postgresql":
                # Keyed by schema, so stores in different schemas of one database don't wait.
                lock = "SELECT pg_advisory_xact_lock(:lock_class, hashtext(current_schema()))"
                connection.execute(text(lock), {"lock_class": _LOCK_CLASS})
            before = current(connection)
            if before == newest:
                return
            command.upgrade(alembic_config(connection), "head")
    if before is None:
        logger.info("created the database schema (revision %s)", newest)
    else:
        logger.info("upgraded the database schema from revision %s to %s", before, newest)


@contextmanager
def _alembic_quiet() -> Iterator[None]:
    """Alembic's INFO lines off while it works (its warnings and errors still get through)."""
    alembic = logging.getLogger("alembic")
    level = alembic.level
    alembic.setLevel(logging.WARNING)
    try:
        yield
    finally:
        alembic.setLevel(level)
