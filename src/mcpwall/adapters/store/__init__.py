"""The SQL store: one SQLAlchemy Core implementation of ``Store`` for SQLite and PostgreSQL.

>>> store = open_store(None, Path(".mcpwall"))                     # doctest: +SKIP
>>> store = open_store("postgresql://mcpwall@db/mcpwall", home)    # doctest: +SKIP

Both names load SQLAlchemy on first use, not with this package: ``mcpwall stdio`` reads its
upstream from the embedded store's file first, with the standard library alone (``peek``), to
spawn it before the store is opened (issue 16 §3).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TypeGuard

if TYPE_CHECKING:
    from mcpwall.adapters.store.opening import open_store
    from mcpwall.adapters.store.sql_store import SQLStore


def __getattr__(name: str) -> object:
    if name == "open_store":
        from mcpwall.adapters.store.opening import open_store

        return open_store
    if name == "SQLStore":
        from mcpwall.adapters.store.sql_store import SQLStore

        return SQLStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def is_sql_store(store: object) -> TypeGuard[SQLStore]:
    """Whether ``store`` is a :class:`SQLStore`, asked without loading SQLAlchemy: there is
    none before its module is loaded."""
    module = sys.modules.get("mcpwall.adapters.store.sql_store")
    return module is not None and isinstance(store, module.SQLStore)


__all__ = ["SQLStore", "is_sql_store", "open_store"]
