"""Run the Alembic migrations packaged with mcpwall, on every open of a store.

Safe to run twice (a migrated database is left alone) and from two processes at once: the
migration runs inside one transaction that first takes a lock, ``BEGIN IMMEDIATE`` on SQLite
and an advisory lock on PostgreSQL, so the second process waits, then finds nothing to do.
DDL is transactional on both, so a failed migration leaves the schema as it was.

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

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from mcpwall.adapters.store.engine import WRITE

MIGRATIONS = Path(__file__).with_name("migrations")

logger = logging.getLogger("mcpwall.store")

# An arbitrary constant naming mcpwall's migration lock among other advisory locks.
_LOCK_CLASS = 0x6D637077  # "mcpw"


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, built in code: the packaged scripts and the given connection."""
    config = Config()
    # ConfigParser would read a % in the path as interpolation.
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest migration's revision id."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None
    return revision


def current(connection: Connection) -> str | None:
    """The revision the database is at, or None before the first migration."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Migrate the database behind ``engine`` to the newest schema; log what changed, if any."""
    newest = head()
    with _alembic_quiet(), engine.connect() as connection:
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
