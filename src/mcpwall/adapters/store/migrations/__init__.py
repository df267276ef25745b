"""Alembic migrations of the store's schema, run by :func:`mcpwall.adapters.store.migrate.upgrade`.

A new migration is a hand-written file ``versions/vNNNN_what.py`` whose ``down_revision`` is the
previous one's ``revision``; ``tests/adapters/store/test_migrations.py`` checks that the
migrated schema matches ``schema.py``.
"""
