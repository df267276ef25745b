"""Alembic's entry point: migrate over the connection that ``migrate.upgrade`` passes in.

There is no ``alembic.ini``: the configuration is built in code, and the caller owns the
connection and its transaction (which holds the lock that keeps two migrators apart).
"""

from __future__ import annotations

from alembic import context

from mcpwall.adapters.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with mcpwall.adapters.store.migrate.upgrade(engine)")

context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
